"""scikit-learn's 8x8 digits: 1,797 images with integer levels 0..16 and 10 classes.

Introduced in *The generative modelling problem* (Part I). The same images are

- ``"levels"``: ``(N, 8, 8)`` int64 in 0..16;
- ``"continuous"``: ``(N, 1, 8, 8)`` float32 in [-1, 1] (for diffusion and flows), level ``l`` maps to ``2 l / 16 - 1``;
- ``"tokens"``: ``(N, 64)`` int64 in 0..16 in raster order (for AR and masked models).
"""
from __future__ import annotations

import torch
from sklearn.datasets import load_digits

from ..utils import check_in, check_tensor
from .splits import take_split

__all__ = ["load", "N_LEVELS", "levels_to_continuous", "continuous_to_levels", "KINDS"]

N_LEVELS = 17
KINDS = ("levels", "continuous", "tokens")


def levels_to_continuous(levels: torch.Tensor) -> torch.Tensor:
    """Map integer levels 0..16 to floats in [-1, 1]."""
    check_tensor("levels", levels, floating=False)
    if levels.numel() and (levels.min() < 0 or levels.max() >= N_LEVELS):
        raise ValueError(f"levels must lie in 0..{N_LEVELS - 1}")
    return levels.float() * (2.0 / (N_LEVELS - 1)) - 1.0


def continuous_to_levels(x: torch.Tensor) -> torch.Tensor:
    """Round floats in [-1, 1] to the nearest level 0..16 (values outside are clipped)."""
    check_tensor("x", x, floating=True)
    return ((x + 1.0) * ((N_LEVELS - 1) / 2.0)).round().clamp(0, N_LEVELS - 1).long()


def load(split: str = "train", kind: str = "continuous", *, seed: int = 0):
    """Images and labels ``(x, y)`` of ``split`` (80/10/10 with ``seed``), in the format ``kind``."""
    check_in("kind", kind, KINDS)
    bunch = load_digits()
    levels = torch.as_tensor(bunch.images, dtype=torch.int64)           # (1797, 8, 8)
    labels = torch.as_tensor(bunch.target, dtype=torch.int64)
    levels, labels = take_split(levels, split, seed=seed), take_split(labels, split, seed=seed)
    if kind == "levels":
        return levels, labels
    if kind == "tokens":
        return levels.reshape(len(levels), -1), labels
    return levels_to_continuous(levels)[:, None], labels
