"""Checks for the exercises of Part I, *The generative modelling problem*."""
from __future__ import annotations

import torch

from .. import baselines
from ._framework import compare, register_inputs

__all__ = ["bigram_logprobs", "gaussian_fit_nll"]


# ---- bigram_logprobs --------------------------------------------------------------------------

# A small readable case first: a row with no counts at all, an asymmetric table.
_BIGRAM_CASES = [(torch.tensor([[0, 0, 0], [5, 0, 1], [2, 3, 0]]), 0.5)]


def _make_bigram(gen):
    V = int(torch.randint(2, 8, (1,), generator=gen))
    counts = torch.randint(0, 6, (V, V), generator=gen) * (torch.rand(V, V, generator=gen) < 0.7)
    alpha = float(torch.rand(1, generator=gen)) + 0.05
    return counts, alpha


register_inputs("bigram_logprobs", _make_bigram, cases=_BIGRAM_CASES)


def bigram_logprobs(fn, **kw) -> None:
    """Exercise: ``fn(counts (V, V) int64, alpha float) -> (V, V)`` add-alpha smoothed log P(next | prev).

    Row ``i`` of the output is :math:`\\log\\frac{c_{ij}+\\alpha}{\\sum_j c_{ij} + V\\alpha}`.
    """
    compare(fn, baselines.smoothed_logprobs, _make_bigram, cases=_BIGRAM_CASES, name="bigram_logprobs",
            inputs=("counts", "alpha"), outputs=("log_probs",), **kw)


# ---- gaussian_fit_nll -------------------------------------------------------------------------

# A small 2-D case first (a diagonal covariance or the 1/(N-1) estimate both fail on it),
# with numbers short enough to read.
_GAUSS_CASES = [(
    torch.tensor([[0.5, 1.0], [1.5, 2.5], [-0.5, -1.0], [2.0, 2.5], [0.0, 1.5], [1.0, -0.5]],
                 dtype=torch.float64),
    torch.tensor([[0.0, 0.0], [1.0, 2.0], [2.0, 1.0]], dtype=torch.float64),
)]


def _make_gauss(gen):
    D = int(torch.randint(1, 4, (1,), generator=gen))
    A = torch.randn(D, D, generator=gen, dtype=torch.float64)
    x = torch.randn(300, D, generator=gen, dtype=torch.float64) @ A + torch.randn(D, generator=gen)
    return x[:200], x[200:]


register_inputs("gaussian_fit_nll", _make_gauss, cases=_GAUSS_CASES)


def _gaussian_fit_nll(x_train, x_test):
    return float(-baselines.GaussianFit().fit(x_train).log_prob(x_test).mean())


def gaussian_fit_nll(fn, **kw) -> None:
    """Exercise: ``fn(x_train (N, D), x_test (M, D)) -> float`` mean test NLL of the MLE Gaussian.

    The covariance is the maximum-likelihood one, with 1/N. The first case is 2-D and small.
    """
    compare(fn, _gaussian_fit_nll, _make_gauss, cases=_GAUSS_CASES, name="gaussian_fit_nll",
            inputs=("x_train", "x_test"), outputs=("nll",), **kw)
