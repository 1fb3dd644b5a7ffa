r"""A Gaussian mixture with everything known in closed form.

Introduced in *The generative modelling problem* (Part I); used by every part as
analytic ground truth.

The mixture is :math:`p_0(x) = \sum_k w_k\, \mathcal N(x; \mu_k, s_k^2 I)`. Under a
Gaussian path :math:`x_t = \alpha_t x_0 + \sigma_t \varepsilon` the marginal is again a
mixture,

.. math:: p_t(x) = \sum_k w_k\, \mathcal N(x;\ \alpha_t \mu_k,\ v_k I), \qquad v_k = \alpha_t^2 s_k^2 + \sigma_t^2,

so its log-density, score, posterior means and the flow-matching velocity
:math:`u_t(x) = \mathbb E[\dot\alpha_t x_0 + \dot\sigma_t \varepsilon \mid x_t = x]` are all exact.
Times are per-sample tensors of shape ``(B,)`` or scalars; nothing here assumes a schedule.
"""
from __future__ import annotations

import math

import torch

from ..utils import check_positive, check_tensor, expand_like
from .splits import take_split

__all__ = ["GaussianMixture", "ring", "default", "load", "N_TOTAL", "GRID_LIM", "GRID_BINS"]

N_TOTAL = 10_000
# the window [-GRID_LIM, GRID_LIM]^2 and the GRID_BINS x GRID_BINS grid on which token models
# (the autoregressive transformer of Part VII) read these points
GRID_LIM, GRID_BINS = 3.5, 64


class GaussianMixture:
    """An isotropic Gaussian mixture in ``D`` dimensions.

    Args:
        means: ``(K, D)`` component means :math:`\\mu_k`.
        stds: ``(K,)`` component standard deviations :math:`s_k` (each >= 0).
        weights: ``(K,)`` mixing weights; normalised here. Default: uniform.
    """

    def __init__(self, means: torch.Tensor, stds: torch.Tensor, weights: torch.Tensor | None = None):
        means = check_tensor("means", torch.as_tensor(means), dim=2).to(torch.float64)
        K, D = means.shape
        stds = torch.as_tensor(stds, dtype=torch.float64)
        if stds.shape != (K,) or (stds < 0).any():
            raise ValueError(f"stds must have shape ({K},) and be >= 0, got {tuple(stds.shape)}")
        weights = torch.full((K,), 1.0 / K, dtype=torch.float64) if weights is None else \
            torch.as_tensor(weights, dtype=torch.float64)
        if weights.shape != (K,) or (weights <= 0).any():
            raise ValueError(f"weights must have shape ({K},) and be > 0, got {tuple(weights.shape)}")
        self.means, self.stds, self.weights = means, stds, weights / weights.sum()
        self.dim, self.n_components = D, K

    def __repr__(self):
        return f"GaussianMixture(K={self.n_components}, D={self.dim})"

    # ---- sampling --------------------------------------------------------------
    def sample(self, n: int, generator: torch.Generator | None = None, *, return_labels: bool = False):
        """Draw ``n`` points (float32, shape ``(n, D)``), optionally with their component labels."""
        if not isinstance(n, int) or n < 1:
            raise ValueError(f"n must be a positive int, got {n!r}")
        k = torch.multinomial(self.weights, n, replacement=True, generator=generator)
        eps = torch.randn(n, self.dim, generator=generator, dtype=torch.float64)
        x = (self.means[k] + self.stds[k, None] * eps).float()
        return (x, k) if return_labels else x

    # ---- the marginal p_t ------------------------------------------------------
    def _check(self, x_t, *coefs):
        check_tensor("x_t", x_t, dim=2, last=self.dim, floating=True)
        return [expand_like(c, x_t).reshape(-1, 1).to(torch.float64) for c in coefs]

    def _responsibilities(self, x, a, s):
        """Component log-densities terms: returns (log r_k, diff, v) with diff = x - a mu_k."""
        x = x.to(torch.float64)
        v = a**2 * self.stds**2 + s**2                                # (B or 1, K)
        if (v <= 0).any():
            raise ValueError("the marginal is degenerate: alpha_t * s_k and sigma_t are both 0")
        diff = x[:, None, :] - a[:, :, None] * self.means             # (B, K, D)
        log_comp = (-0.5 * (diff**2).sum(-1) / v - 0.5 * self.dim * torch.log(2 * math.pi * v)
                    + torch.log(self.weights))                          # (B, K)
        return log_comp, diff, v

    def log_prob_t(self, x_t: torch.Tensor, alpha_t=1.0, sigma_t=0.0) -> torch.Tensor:
        """:math:`\\log p_t(x_t)` for the path :math:`x_t = \\alpha_t x_0 + \\sigma_t\\varepsilon`; shape ``(B,)``."""
        a, s = self._check(x_t, alpha_t, sigma_t)
        log_comp, _, _ = self._responsibilities(x_t, a, s)
        return torch.logsumexp(log_comp, -1).to(x_t.dtype)

    def log_prob(self, x: torch.Tensor) -> torch.Tensor:
        """Exact data log-density :math:`\\log p_0(x)`, shape ``(B,)``."""
        return self.log_prob_t(x, 1.0, 0.0)

    def score_t(self, x_t: torch.Tensor, alpha_t=1.0, sigma_t=0.0) -> torch.Tensor:
        """Exact score :math:`\\nabla_x \\log p_t(x_t) = -\\sum_k r_k(x_t)\\,(x_t - \\alpha_t\\mu_k)/v_k`."""
        a, s = self._check(x_t, alpha_t, sigma_t)
        log_comp, diff, v = self._responsibilities(x_t, a, s)
        r = torch.softmax(log_comp, -1)
        return (-(r / v)[:, :, None] * diff).sum(1).to(x_t.dtype)

    def score(self, x: torch.Tensor) -> torch.Tensor:
        """Exact data score :math:`\\nabla_x \\log p_0(x)`."""
        return self.score_t(x, 1.0, 0.0)

    def posterior_t(self, x_t: torch.Tensor, alpha_t, sigma_t):
        """Exact posterior means :math:`(\\mathbb E[x_0\\mid x_t],\\ \\mathbb E[\\varepsilon\\mid x_t])`.

        Per component, :math:`\\mathbb E[x_0\\mid x_t,k] = \\mu_k + \\alpha_t s_k^2 (x_t-\\alpha_t\\mu_k)/v_k` and
        :math:`\\mathbb E[\\varepsilon\\mid x_t,k] = \\sigma_t (x_t-\\alpha_t\\mu_k)/v_k`; both are averaged
        with the responsibilities :math:`r_k(x_t)`. Valid at :math:`\\alpha_t = 0` too.
        """
        a, s = self._check(x_t, alpha_t, sigma_t)
        log_comp, diff, v = self._responsibilities(x_t, a, s)
        r = torch.softmax(log_comp, -1)[:, :, None]
        x0 = (r * (self.means + (a * self.stds**2 / v)[:, :, None] * diff)).sum(1)
        eps = (r * (s / v)[:, :, None] * diff).sum(1)
        return x0.to(x_t.dtype), eps.to(x_t.dtype)

    def eps_function(self, path):
        r"""The exact noise prediction :math:`\varepsilon^*(x_t, t) = \mathbb E[\varepsilon \mid x_t]` on ``path``.

        ``path`` is any object with ``alpha(t)`` and ``sigma(t)`` (a
        :class:`~unigen.schedules.GaussianPath`). The returned ``eps(x_t, t, y=None)`` has the
        signature of a diffusion network (``y`` is ignored), evaluates the coefficients in float64
        on the CPU and returns a tensor like ``x_t``: the ideal network of Parts III and VII.
        """
        if not (callable(getattr(path, "alpha", None)) and callable(getattr(path, "sigma", None))):
            raise ValueError("path must have alpha(t) and sigma(t) methods (a schedules.GaussianPath)")

        def eps(x_t, t, y=None):
            t64 = torch.as_tensor(t).double().cpu()
            return self.posterior_t(x_t.cpu(), path.alpha(t64), path.sigma(t64))[1].to(x_t)
        return eps

    def velocity_t(self, x_t: torch.Tensor, alpha_t, sigma_t, d_alpha_t, d_sigma_t) -> torch.Tensor:
        """Exact marginal flow-matching velocity :math:`u_t(x) = \\dot\\alpha_t\\,\\mathbb E[x_0|x_t] + \\dot\\sigma_t\\,\\mathbb E[\\varepsilon|x_t]`.

        With the book's convention (t=0 data, t=1 noise) this field moves points
        towards noise as t grows; a sampler integrates it from t=1 down to t=0.
        """
        x0, eps = self.posterior_t(x_t, alpha_t, sigma_t)
        da, ds = (expand_like(c, x_t) for c in (d_alpha_t, d_sigma_t))
        return da * x0 + ds * eps

    # ---- information-theoretic quantities --------------------------------------------
    def entropy_mc(self, n: int = 200_000, generator: torch.Generator | None = None):
        """Monte-Carlo differential entropy :math:`H = -\\mathbb E\\log p(x)` in nats, with its standard error."""
        lp = self.log_prob(self.sample(n, generator).double())
        return float(-lp.mean()), float(lp.std() / math.sqrt(n))


def ring(n_modes: int = 8, radius: float = 2.0, std: float = 0.25) -> GaussianMixture:
    """``n_modes`` equal-weight Gaussians of std ``std`` evenly spaced on a circle of ``radius``."""
    if not isinstance(n_modes, int) or n_modes < 1:
        raise ValueError(f"n_modes must be a positive int, got {n_modes!r}")
    check_positive("radius", radius, allow_zero=True)
    check_positive("std", std)
    angle = 2 * math.pi * torch.arange(n_modes, dtype=torch.float64) / n_modes
    means = radius * torch.stack([torch.cos(angle), torch.sin(angle)], 1)
    return GaussianMixture(means, torch.full((n_modes,), float(std)))


def default() -> GaussianMixture:
    """The book's ``mixture2d``: 8 Gaussians (std 0.25) on a ring of radius 2."""
    return ring()


def load(split: str = "train", *, seed: int = 0) -> torch.Tensor:
    """The fixed ``mixture2d`` dataset: ``N_TOTAL`` points drawn with ``seed``, split 80/10/10."""
    x = default().sample(N_TOTAL, torch.Generator().manual_seed(seed))
    return take_split(x, split, seed=seed)
