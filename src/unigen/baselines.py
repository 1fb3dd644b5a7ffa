r"""The simple baselines of Part I, which every later model must beat.

Introduced in *The generative modelling problem* (Part I):

- :class:`NGram`: a count-based character n-gram with add-:math:`\alpha` smoothing;
- :class:`GaussianFit`: the maximum-likelihood Gaussian for continuous data;
- :class:`Histogram2D`: a smoothed 2-D histogram density;
- :class:`IndependentPixels`: one categorical per pixel for 17-level digits.

Each has ``fit`` and ``log_prob``; the later chapters reuse them as outside judges.
"""
from __future__ import annotations

import math

import torch

from .utils import check_positive, check_tensor

__all__ = ["smoothed_logprobs", "NGram", "GaussianFit", "Histogram2D", "IndependentPixels"]


def smoothed_logprobs(counts: torch.Tensor, alpha: float) -> torch.Tensor:
    r"""Add-:math:`\alpha` estimate :math:`\log \frac{c_{ij} + \alpha}{\sum_j c_{ij} + V\alpha}` along the last axis."""
    check_tensor("counts", counts, dim=(1, 2))
    if (counts < 0).any():
        raise ValueError("counts must be >= 0")
    check_positive("alpha", alpha)
    c = counts.double() + alpha
    return torch.log(c) - torch.log(c.sum(-1, keepdim=True))


class NGram:
    r"""Character n-gram :math:`p(x_i \mid x_{i-n+1:i-1})` from counts, with add-:math:`\alpha` smoothing.

    Sequences are token tensors of shape ``(N, L)`` whose rows end with the END
    token 0 (as from :func:`unigen.data.surnames.encode`). Each sequence is
    left-padded with ``n - 1`` END tokens as its start context, and the model
    predicts every letter plus the first END, so a name of length :math:`\ell`
    contributes :math:`\ell + 1` predictions.
    """

    def __init__(self, n: int, vocab_size: int, alpha: float = 0.1, end: int = 0):
        if not isinstance(n, int) or not 1 <= n <= 6:
            raise ValueError(f"n must be an int in 1..6, got {n!r}")
        if not isinstance(vocab_size, int) or vocab_size < 2 or vocab_size ** n > 5e8:
            raise ValueError(f"vocab_size must be an int >= 2 with vocab_size**n <= 5e8, got {vocab_size!r}")
        check_positive("alpha", alpha)
        self.n, self.V, self.alpha, self.end = n, vocab_size, alpha, end
        self.counts = None

    def _windows(self, ids: torch.Tensor):
        """All (context, next) windows as flat indices, plus the mask of real predictions."""
        check_tensor("ids", ids, dim=2, floating=False)
        if ids.numel() and (ids.min() < 0 or ids.max() >= self.V):
            raise ValueError(f"ids must lie in 0..{self.V - 1}")
        N, L = ids.shape
        is_end = ids == self.end
        if not is_end.any(1).all():
            raise ValueError("ids: every row must contain the END token")
        length = is_end.int().argmax(1)                                   # position of the first END
        pad = torch.full((N, self.n - 1), self.end, dtype=ids.dtype)
        win = torch.cat([pad, ids], 1).unfold(1, self.n, 1)                # (N, L, n)
        powers = self.V ** torch.arange(self.n - 1, -1, -1)
        flat = (win * powers).sum(-1)                                      # (N, L)
        mask = torch.arange(L)[None, :] <= length[:, None]
        return flat, mask

    def fit(self, ids: torch.Tensor) -> "NGram":
        """Count every n-gram in ``ids``."""
        flat, mask = self._windows(ids)
        self.counts = torch.bincount(flat[mask], minlength=self.V ** self.n).reshape(-1, self.V)
        self._log_totals = torch.log(self.counts.sum(1).double() + self.V * self.alpha)
        return self

    def token_logprobs(self, ids: torch.Tensor):
        """Per-position log-probabilities ``(N, L)`` and the mask of positions that count."""
        if self.counts is None:
            raise RuntimeError("call fit() first")
        flat, mask = self._windows(ids)
        ctx, nxt = flat // self.V, flat % self.V
        lp = torch.log(self.counts[ctx, nxt].double() + self.alpha) - self._log_totals[ctx]
        return lp * mask, mask

    def context_counts(self, ids: torch.Tensor) -> torch.Tensor:
        """How often each prediction's context occurred in training, for the real predictions (1-D)."""
        if self.counts is None:
            raise RuntimeError("call fit() first")
        flat, mask = self._windows(ids)
        return self.counts.sum(1)[flat // self.V][mask]

    def log_prob(self, ids: torch.Tensor) -> torch.Tensor:
        """Exact log-probability of each whole sequence (nats), shape ``(N,)``."""
        lp, _ = self.token_logprobs(ids)
        return lp.sum(1)

    def nll_per_token(self, ids: torch.Tensor) -> float:
        """Mean negative log-likelihood per predicted token (nats/char, END included)."""
        lp, mask = self.token_logprobs(ids)
        return float(-lp.sum() / mask.sum())

    @torch.no_grad()
    def sample(self, n: int, max_len: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """Draw ``n`` sequences of at most ``max_len`` tokens; returns ``(n, max_len + 1)`` ids ending in END."""
        if self.counts is None:
            raise RuntimeError("call fit() first")
        if not isinstance(n, int) or n < 1 or not isinstance(max_len, int) or max_len < 1:
            raise ValueError(f"n and max_len must be positive ints, got {n!r}, {max_len!r}")
        out = torch.full((n, max_len + 1), self.end, dtype=torch.int64)
        ctx = torch.full((n,), 0, dtype=torch.int64)            # all-END context has index 0 when end == 0
        ctx = ctx + sum(self.end * self.V ** k for k in range(self.n - 1))
        done = torch.zeros(n, dtype=torch.bool)
        for i in range(max_len):
            probs = self.counts[ctx].double() + self.alpha
            nxt = torch.multinomial(probs, 1, generator=generator)[:, 0]
            nxt = torch.where(done, torch.full_like(nxt, self.end), nxt)
            out[:, i] = nxt
            done |= nxt == self.end
            ctx = (ctx * self.V + nxt) % (self.V ** max(self.n - 1, 0)) if self.n > 1 else ctx
        return out


class GaussianFit:
    r"""The maximum-likelihood Gaussian :math:`\mathcal N(\hat\mu, \hat\Sigma)` with :math:`\hat\Sigma = \frac1N\sum (x-\hat\mu)(x-\hat\mu)^\top`."""

    def fit(self, x: torch.Tensor) -> "GaussianFit":
        check_tensor("x", x, dim=2, floating=True)
        x = x.double()
        self.mean = x.mean(0)
        self.cov = (x - self.mean).T @ (x - self.mean) / len(x)
        self.dist = torch.distributions.MultivariateNormal(self.mean, covariance_matrix=self.cov)
        return self

    def log_prob(self, x: torch.Tensor) -> torch.Tensor:
        check_tensor("x", x, dim=2, last=self.mean.shape[0], floating=True)
        return self.dist.log_prob(x.double())

    def entropy(self) -> float:
        r""":math:`\tfrac12 \log\det(2\pi e \hat\Sigma)`: its expected NLL under its own fit."""
        return float(self.dist.entropy())


class Histogram2D:
    """A piecewise-constant density on ``[-lim, lim]^2`` with ``bins x bins`` cells and add-alpha counts.

    The density is zero outside the window, so points there are rejected
    with a ``ValueError`` rather than given an infinite NLL.
    """

    def __init__(self, bins: int = 40, lim: float = 3.5, alpha: float = 0.5):
        if not isinstance(bins, int) or bins < 1:
            raise ValueError(f"bins must be a positive int, got {bins!r}")
        check_positive("lim", lim)
        check_positive("alpha", alpha)
        self.bins, self.lim, self.alpha = bins, lim, alpha
        self.cell_area = (2 * lim / bins) ** 2

    def _cells(self, x):
        check_tensor("x", x, dim=2, last=2, floating=True)
        if (x.abs() >= self.lim).any():
            raise ValueError(f"x must lie inside (-lim, lim)^2 = (-{self.lim}, {self.lim})^2")
        ij = ((x.double() + self.lim) / (2 * self.lim) * self.bins).long().clamp(0, self.bins - 1)
        return ij[:, 0] * self.bins + ij[:, 1]

    def fit(self, x: torch.Tensor) -> "Histogram2D":
        counts = torch.bincount(self._cells(x), minlength=self.bins ** 2).double()
        self.log_density = smoothed_logprobs(counts, self.alpha) - math.log(self.cell_area)
        return self

    def log_prob(self, x: torch.Tensor) -> torch.Tensor:
        return self.log_density[self._cells(x)]

    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """Draw ``n`` points (float32): pick a cell by its probability, then a uniform point in it."""
        if not isinstance(n, int) or n < 1:
            raise ValueError(f"n must be a positive int, got {n!r}")
        cells = torch.multinomial(self.log_density.exp(), n, replacement=True, generator=generator)
        ij = torch.stack([cells // self.bins, cells % self.bins], 1).double()
        u = torch.rand(n, 2, generator=generator, dtype=torch.float64)
        return (-self.lim + (ij + u) * (2 * self.lim / self.bins)).float()


class IndependentPixels:
    """One add-alpha categorical per pixel: :math:`p(x) = \\prod_d p_d(x_d)`, for token images ``(N, D)``."""

    def __init__(self, n_levels: int = 17, alpha: float = 0.5):
        if not isinstance(n_levels, int) or n_levels < 2:
            raise ValueError(f"n_levels must be an int >= 2, got {n_levels!r}")
        check_positive("alpha", alpha)
        self.n_levels, self.alpha = n_levels, alpha

    def _check(self, x):
        check_tensor("x", x, dim=2, floating=False)
        if x.numel() and (x.min() < 0 or x.max() >= self.n_levels):
            raise ValueError(f"x must lie in 0..{self.n_levels - 1}")
        return x

    def fit(self, x: torch.Tensor) -> "IndependentPixels":
        x = self._check(x)
        counts = torch.nn.functional.one_hot(x, self.n_levels).sum(0)     # (D, levels)
        self.logp = smoothed_logprobs(counts, self.alpha)
        return self

    def log_prob(self, x: torch.Tensor) -> torch.Tensor:
        x = self._check(x)
        if x.shape[1] != self.logp.shape[0]:
            raise ValueError(f"x must have {self.logp.shape[0]} pixels per row, got {x.shape[1]}")
        return self.logp.gather(1, x.T).sum(0)
