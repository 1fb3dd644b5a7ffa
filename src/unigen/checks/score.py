"""Checks for the exercises of Part IV: *Score functions and Langevin dynamics*, *Score SDEs*, *Likelihoods in bits/dim*."""
from __future__ import annotations

import math

import torch

from .. import metrics, sde
from ._framework import compare

__all__ = ["langevin_step", "dsm_target", "hutchinson_estimate", "vp_pf_velocity",
           "discretized_log_prob", "dequantized_bpd"]


def _points(gen, D=2):
    B = int(torch.randint(1, 7, (1,), generator=gen))
    return B, torch.randn(B, D, generator=gen, dtype=torch.float64)


def langevin_step(fn, **kw) -> None:
    """Exercise: ``fn(x (B, D), score_x (B, D), step_size float, z (B, D)) -> (B, D)``, one Langevin step."""
    def make(gen):
        B, x = _points(gen)
        return x, torch.randn(B, 2, generator=gen, dtype=torch.float64), \
            float(torch.rand(1, generator=gen)) * 0.1 + 1e-3, torch.randn(B, 2, generator=gen, dtype=torch.float64)

    def reference(x, score_x, step_size, z):
        return x + step_size * score_x + math.sqrt(2 * step_size) * z
    reference.__name__ = "langevin_step"
    compare(fn, reference, make, name="langevin_step", **kw)


def dsm_target(fn, **kw) -> None:
    """Exercise: ``fn(x_t, x0, alpha_t (B,), sigma_t (B,)) -> (B, D)``, the conditional score of DSM."""
    def make(gen):
        B, x0 = _points(gen)
        alpha_t = torch.rand(B, generator=gen, dtype=torch.float64) * 0.9 + 0.1
        sigma_t = torch.rand(B, generator=gen, dtype=torch.float64) * 0.9 + 0.1
        x_t = alpha_t[:, None] * x0 + sigma_t[:, None] * torch.randn(B, 2, generator=gen, dtype=torch.float64)
        return x_t, x0, alpha_t, sigma_t

    def reference(x_t, x0, alpha_t, sigma_t):
        return -(x_t - alpha_t[:, None] * x0) / sigma_t[:, None] ** 2
    reference.__name__ = "dsm_target"
    compare(fn, reference, make, name="dsm_target", **kw)


def _field(gen):
    A = torch.randn(3, 3, generator=gen, dtype=torch.float64)
    b = torch.randn(3, generator=gen, dtype=torch.float64)

    def f(x):
        return torch.tanh(x @ A.T + b) + 0.5 * x**2
    return f


def hutchinson_estimate(fn, **kw) -> None:
    """Exercise: ``fn(f, x (B, D), v (B, D)) -> (B,)``, the estimate :math:`v^\\top (\\partial f/\\partial x)\\, v` per example."""
    def make(gen):
        B = int(torch.randint(1, 6, (1,), generator=gen))
        x = torch.randn(B, 3, generator=gen, dtype=torch.float64)
        v = torch.randint(0, 2, (B, 3), generator=gen).double() * 2 - 1
        return _field(gen), x, v

    def reference(f, x, v):
        return sde.divergence_hutchinson(lambda z, t: f(z), x, torch.zeros(len(x), dtype=x.dtype), v)[1]
    reference.__name__ = "hutchinson_estimate"
    compare(fn, reference, make, name="hutchinson_estimate", **kw)


def vp_pf_velocity(fn, **kw) -> None:
    """Exercise: ``fn(x (B, D), score_x (B, D), beta_t (B,)) -> (B, D)``, the VP probability-flow velocity."""
    def make(gen):
        B, x = _points(gen)
        return x, torch.randn(B, 2, generator=gen, dtype=torch.float64), \
            torch.rand(B, generator=gen, dtype=torch.float64) * 20

    def reference(x, score_x, beta_t):
        return -0.5 * beta_t[:, None] * (x + score_x)
    reference.__name__ = "vp_pf_velocity"
    compare(fn, reference, make, name="vp_pf_velocity", **kw)


def discretized_log_prob(fn, **kw) -> None:
    """Exercise: ``fn(x (B, D), mean (B, D), std float) -> (B, D)``, the log-mass of each bin.

    17 levels on [-1, 1], edge bins open, as :func:`unigen.metrics.discretized_gaussian_log_prob`.
    """
    def make(gen):
        B, D = int(torch.randint(1, 6, (1,), generator=gen)), 4
        x = torch.randint(0, 17, (B, D), generator=gen).double() / 8 - 1
        x[0, 0], x[-1, -1] = -1.0, 1.0                                    # both open edge bins
        mean = x + 0.15 * torch.randn(B, D, generator=gen, dtype=torch.float64)
        return x, mean, float(torch.rand(1, generator=gen)) * 0.3 + 0.1

    def reference(x, mean, std):
        return metrics.discretized_gaussian_log_prob(x, mean, std, n_bins=17)
    reference.__name__ = "discretized_log_prob"
    compare(fn, reference, make, name="discretized_log_prob", **kw)


def dequantized_bpd(fn, **kw) -> None:
    """Exercise: ``fn(log_p (B,), dims int, n_levels int) -> (B,)``, the discrete bits/dim bound.

    ``log_p`` is the log-density of dequantised data on [-1, 1] with ``n_levels`` levels.
    """
    def make(gen):
        B = int(torch.randint(1, 6, (1,), generator=gen))
        dims = int(torch.randint(1, 100, (1,), generator=gen))
        return torch.randn(B, generator=gen, dtype=torch.float64) * 20, dims, \
            int(torch.randint(2, 300, (1,), generator=gen))

    def reference(log_p, dims, n_levels):
        nll = metrics.dequantized_nll(-log_p, dims, 2.0 / (n_levels - 1))
        return metrics.bits_per_dim(nll, dims)
    reference.__name__ = "dequantized_bpd"
    compare(fn, reference, make, name="dequantized_bpd", **kw)
