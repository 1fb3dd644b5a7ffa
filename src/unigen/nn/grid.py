r"""A denoiser for data on a grid: a network's guess, sharpened by each pixel's exact likelihood.

Introduced in *Likelihoods in bits/dim* (Part IV). Digits take 17 levels, so given a noisy
pixel :math:`x_t = \alpha_t x_0 + \sigma_t\varepsilon` the posterior over its level is known in
closed form *up to the prior*: once :math:`\sigma_t` is well below the bin width, :math:`x_t` alone
says which bin :math:`x_0` came from. A plain network has to learn this sharp "snap to the
grid" map, and any error there costs many bits because the likelihood weights small
noise levels heavily. :class:`GridDenoiser` computes it exactly and lets the network supply
only the prior: per pixel

.. math:: p(\ell \mid x_t) \propto \pi_\ell(x_t, t)\; p(x_t \mid \ell), \qquad
          \hat x_0 = \sum_\ell p(\ell \mid x_t)\,\mathbb E[x_0 \mid \ell, x_t],

with :math:`\pi_\ell \propto \exp(-(c_\ell - m)^2 / 2\tau_t^2)` around the network's guess
:math:`m(x_t, t)`. The data are either the bin centres :math:`c_\ell` themselves
(``dequantized=False``; then :math:`\mathbb E[x_0\mid\ell, x_t] = c_\ell`) or uniform in each bin
(``dequantized=True``; then :math:`p(x_t\mid\ell)` is a difference of normal CDFs and
:math:`\mathbb E[x_0\mid\ell, x_t]` the mean of a truncated normal). The output is
:math:`\hat x_0` ``(B, D)``; :func:`unigen.flow.reparameterize` reads it as ε, a score or a
velocity.
"""
from __future__ import annotations

import math

import torch
import torch.nn as nn

from ..likelihood import log_normal_mass
from ..paths import GaussianPath
from ..utils import check_tensor

__all__ = ["grid_posterior_mean", "GridDenoiser"]

_LOG_SQRT_2PI = 0.5 * math.log(2 * math.pi)


def grid_posterior_mean(x_t: torch.Tensor, alpha_t: torch.Tensor, sigma_t: torch.Tensor,
                        prior_logits: torch.Tensor, levels: torch.Tensor, *,
                        dequantized: bool = False) -> torch.Tensor:
    r""":math:`\mathbb E[x_0 \mid x_t]` per pixel, for :math:`x_0` on ``levels`` with a given prior.

    ``x_t`` is ``(B, D)``, ``alpha_t`` and ``sigma_t`` are ``(B,)`` (:math:`\sigma_t > 0`),
    ``prior_logits`` ``(B, D, L)`` give the prior ``softmax(prior_logits)`` over the ``levels``
    ``(L,)``, equally spaced bin centres. With ``dequantized=True`` each level stands for the
    uniform density on its bin of width :math:`\Delta` = the spacing of ``levels``.
    """
    check_tensor("x_t", x_t, dim=2, floating=True)
    check_tensor("levels", levels, dim=1, floating=True)
    if prior_logits.shape != (*x_t.shape, levels.shape[0]):
        raise ValueError(f"prior_logits must have shape {(*x_t.shape, levels.shape[0])}, "
                         f"got {tuple(prior_logits.shape)}")
    a, s = alpha_t.to(x_t)[:, None, None], sigma_t.to(x_t)[:, None, None]
    if not (s > 0).all():
        raise ValueError("sigma_t must be > 0")
    x, c = x_t[..., None], levels.to(x_t)
    if not dequantized:
        log_lik = -0.5 * ((x - a * c) / s) ** 2
        return ((prior_logits + log_lik).softmax(-1) * c).sum(-1)
    delta = (c[1] - c[0]).abs()
    lo, hi = (x - a * (c + delta / 2)) / s, (x - a * (c - delta / 2)) / s     # z-range of the bin
    width = hi - lo                                                                 # a * delta / s
    narrow = width < 1e-3                          # the bin looks like a point: midpoint rule
    mid = 0.5 * (lo + hi)
    hi_safe = torch.where(narrow, lo + 1.0, hi)     # the unused branch and its gradient stay finite
    log_mass = log_normal_mass(lo, hi_safe)
    log_point = -0.5 * mid**2 - _LOG_SQRT_2PI + torch.log(width.clamp_min(1e-30))
    log_lik = torch.where(narrow, log_point, log_mass)
    # mean of the truncated normal in x0: (x_t + sigma * (phi(hi) - phi(lo)) / mass) / alpha
    ratio = torch.exp(-0.5 * hi**2 - _LOG_SQRT_2PI - log_mass) \
        - torch.exp(-0.5 * lo**2 - _LOG_SQRT_2PI - log_mass)
    inside = (x + s * ratio) / a.clamp_min(1e-12)
    nearly_flat = c + delta**2 / 12 * a * (x - a * c) / s**2          # first order in the width
    mean_l = torch.where(narrow, nearly_flat, inside)
    mean_l = torch.minimum(torch.maximum(mean_l, c - delta / 2), c + delta / 2)
    return ((prior_logits + log_lik).softmax(-1) * mean_l).sum(-1)


class GridDenoiser(nn.Module):
    r"""``(x_t (B, D), t (B,)) -> x0_hat (B, D)`` for data on ``n_levels`` levels of [-1, 1].

    ``body`` (e.g. :class:`~unigen.nn.mlp.TimeMLP`) maps ``(x_t, t)`` to the guess :math:`m`
    ``(B, D)``; a small network of the log-SNR gives the width :math:`\tau_t`; and
    :func:`grid_posterior_mean` combines them with the exact likelihood of each pixel.
    """

    def __init__(self, body: nn.Module, path: GaussianPath, *, n_levels: int = 17,
                 dequantized: bool = False):
        super().__init__()
        if not isinstance(path, GaussianPath):
            raise ValueError(f"path must be a schedules.GaussianPath, got {type(path).__name__}")
        if not isinstance(n_levels, int) or n_levels < 2:
            raise ValueError(f"n_levels must be an int >= 2, got {n_levels!r}")
        self.body, self.path, self.dequantized = body, path, bool(dequantized)
        self.register_buffer("levels", torch.linspace(-1.0, 1.0, n_levels))
        self.log_tau = nn.Sequential(nn.Linear(1, 32), nn.SiLU(), nn.Linear(32, 1))

    def forward(self, x_t: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        check_tensor("t", t, dim=1, floating=True)
        alpha_t, sigma_t = self.path.alpha(t).to(x_t), self.path.sigma(t).to(x_t)
        m = self.body(x_t, t)                                                  # (B, D)
        log_snr = 2 * (alpha_t.clamp_min(1e-12).log() - sigma_t.log())
        log_tau = self.log_tau((log_snr / 10)[:, None]) - 1.0                  # (B, 1)
        prior_logits = -0.5 * ((self.levels - m[..., None]) / log_tau.exp()[..., None]) ** 2
        return grid_posterior_mean(x_t, alpha_t, sigma_t, prior_logits, self.levels,
                                   dequantized=self.dequantized)
