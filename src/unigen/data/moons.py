"""scikit-learn's two moons, standardised: a non-Gaussian 2-D case with no analytic density.

Introduced in *The generative modelling problem* (Part I).
"""
from __future__ import annotations

import torch
from sklearn.datasets import make_moons

from ..utils import check_positive
from .splits import take_split

__all__ = ["load", "N_TOTAL"]

N_TOTAL = 10_000


def load(split: str = "train", *, noise: float = 0.05, seed: int = 0) -> torch.Tensor:
    """Standardised two-moons points (float32, shape ``(n, 2)``), split 80/10/10 with ``seed``.

    Each axis is centred and scaled to unit variance using the whole generated
    set, so the split does not change the scaling.
    """
    check_positive("noise", noise, allow_zero=True)
    x, _ = make_moons(N_TOTAL, noise=noise, random_state=seed)
    x = torch.as_tensor(x, dtype=torch.float32)
    x = (x - x.mean(0)) / x.std(0)
    return take_split(x, split, seed=seed)
