"""Checks for the exercises of Part I, *The generative modelling problem*."""
from __future__ import annotations

import torch

from .. import baselines
from ._framework import compare

__all__ = ["bigram_logprobs", "gaussian_fit_nll"]


def bigram_logprobs(fn, **kw) -> None:
    """Exercise: ``fn(counts (V, V) int64, alpha float) -> (V, V)`` add-alpha smoothed log P(next | prev)."""
    def make(gen):
        V = int(torch.randint(2, 8, (1,), generator=gen))
        counts = torch.randint(0, 6, (V, V), generator=gen) * (torch.rand(V, V, generator=gen) < 0.7)
        alpha = float(torch.rand(1, generator=gen)) + 0.05
        return counts, alpha
    compare(fn, baselines.smoothed_logprobs, make, name="bigram_logprobs", **kw)


def gaussian_fit_nll(fn, **kw) -> None:
    """Exercise: ``fn(x_train (N, D), x_test (M, D)) -> float`` mean test NLL of the MLE Gaussian."""
    def make(gen):
        D = int(torch.randint(1, 4, (1,), generator=gen))
        A = torch.randn(D, D, generator=gen, dtype=torch.float64)
        x = torch.randn(300, D, generator=gen, dtype=torch.float64) @ A + torch.randn(D, generator=gen)
        return x[:200], x[200:]

    def reference(x_train, x_test):
        return float(-baselines.GaussianFit().fit(x_train).log_prob(x_test).mean())
    reference.__name__ = "gaussian_fit_nll"
    compare(fn, reference, make, name="gaussian_fit_nll", **kw)
