"""The one function that splits every dataset into train/val/test."""
from __future__ import annotations

import numpy as np

SPLITS = ("train", "val", "test")


def split_indices(n: int, split: str, *, fractions=(0.8, 0.1, 0.1), seed: int = 0) -> np.ndarray:
    """Indices of ``split`` in a seeded random permutation of ``range(n)``.

    The permutation depends only on ``n`` and ``seed``; the three splits are
    disjoint and cover ``range(n)``. Sizes are ``floor(f * n)`` for train and
    val, and the remainder for test.
    """
    if not isinstance(n, (int, np.integer)) or n < 3:
        raise ValueError(f"n must be an int >= 3, got {n!r}")
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
    if len(fractions) != 3 or min(fractions) <= 0 or abs(sum(fractions) - 1) > 1e-9:
        raise ValueError(f"fractions must be three positive numbers summing to 1, got {fractions!r}")
    perm = np.random.default_rng(seed).permutation(n)
    n_train, n_val = int(fractions[0] * n), int(fractions[1] * n)
    bounds = {"train": (0, n_train), "val": (n_train, n_train + n_val), "test": (n_train + n_val, n)}
    lo, hi = bounds[split]
    return np.sort(perm[lo:hi])


def take_split(x, split: str, **kwargs):
    """Rows of ``x`` (array, tensor or list) that belong to ``split`` (see :func:`split_indices`)."""
    idx = split_indices(len(x), split, **kwargs)
    if isinstance(x, list):
        return [x[i] for i in idx]
    return x[idx]
