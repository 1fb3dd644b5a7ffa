"""Checks for the exercises of Part III, *Diffusion models*."""
from __future__ import annotations

import torch

from .. import ddpm, schedules
from ..nn import dit
from ._framework import compare

__all__ = ["q_sample", "cosine_alpha_bar", "posterior_mean_variance", "ddim_update", "cfg_combine", "patchify"]


def _two_step_grid(alpha_bar_k: float, alpha_bar_prev: float) -> schedules.DiscreteSchedule:
    """A grid whose step k = 2 has these alpha_bar values (k = 0 is the data)."""
    ab = torch.tensor([1.0, alpha_bar_prev, alpha_bar_k], dtype=torch.float64)
    beta = torch.cat([torch.zeros(1, dtype=torch.float64), 1 - ab[1:] / ab[:-1]])
    return schedules.DiscreteSchedule(t=torch.tensor([0.0, 0.5, 1.0], dtype=torch.float64), alpha_bar=ab, beta=beta)


def _alpha_bars(gen):
    ab_prev = float(torch.rand(1, generator=gen)) * 0.9 + 0.05
    return ab_prev * (float(torch.rand(1, generator=gen)) * 0.9 + 0.05), ab_prev


def q_sample(fn, **kw) -> None:
    """Exercise: ``fn(x0 (B, D), alpha_bar (B,), eps (B, D)) -> x_t`` with :math:`x_t = \\sqrt{\\bar\\alpha}x_0 + \\sqrt{1-\\bar\\alpha}\\varepsilon`."""
    def make(gen):
        B, D = int(torch.randint(1, 6, (1,), generator=gen)), int(torch.randint(1, 4, (1,), generator=gen))
        return (torch.randn(B, D, generator=gen), torch.rand(B, generator=gen) * 0.98 + 0.01,
                torch.randn(B, D, generator=gen))

    def reference(x0, alpha_bar, eps):
        return alpha_bar.sqrt()[:, None] * x0 + (1 - alpha_bar).sqrt()[:, None] * eps
    reference.__name__ = "q_sample"
    compare(fn, reference, make, name="q_sample", **kw)


def cosine_alpha_bar(fn, **kw) -> None:
    """Exercise: ``fn(t (N,) float64, s float) -> (N,)`` the cosine schedule's :math:`\\bar\\alpha(t) = f(t)/f(0)`."""
    def make(gen):
        return torch.rand(int(torch.randint(1, 9, (1,), generator=gen)), generator=gen, dtype=torch.float64), \
            float(torch.rand(1, generator=gen)) * 0.02 + 0.001

    def reference(t, s):
        return schedules.CosineVP(s).alpha(t) ** 2
    reference.__name__ = "cosine_alpha_bar"
    compare(fn, reference, make, name="cosine_alpha_bar", atol=1e-8, rtol=1e-6, **kw)


def posterior_mean_variance(fn, **kw) -> None:
    """Exercise: ``fn(x0, x_t, alpha_bar_k, alpha_bar_prev) -> (mean (B, D), variance float)`` of :math:`q(x_{k-1}|x_k, x_0)`."""
    def make(gen):
        ab_k, ab_prev = _alpha_bars(gen)
        B = int(torch.randint(1, 6, (1,), generator=gen))
        return (torch.randn(B, 2, generator=gen, dtype=torch.float64), torch.randn(B, 2, generator=gen, dtype=torch.float64),
                ab_k, ab_prev)

    def reference(x0, x_t, ab_k, ab_prev):
        mean, var = ddpm.q_posterior_mean_variance(x0, x_t, 2, _two_step_grid(ab_k, ab_prev))
        return mean, float(var.reshape(-1)[0])
    reference.__name__ = "posterior_mean_variance"
    compare(fn, reference, make, name="posterior_mean_variance", atol=1e-8, rtol=1e-6, **kw)


def ddim_update(fn, **kw) -> None:
    """Exercise: ``fn(x_t, eps, alpha_bar_k, alpha_bar_prev, eta, noise) -> x_prev``, one DDIM step from the predicted ε."""
    def make(gen):
        ab_k, ab_prev = _alpha_bars(gen)
        B = int(torch.randint(1, 6, (1,), generator=gen))
        x_t, eps, noise = (torch.randn(B, 2, generator=gen, dtype=torch.float64) for _ in range(3))
        eta = [0.0, 1.0, float(torch.rand(1, generator=gen))][int(torch.randint(0, 3, (1,), generator=gen))]
        return x_t, eps, ab_k, ab_prev, eta, noise

    def reference(x_t, eps, ab_k, ab_prev, eta, noise):
        grid = _two_step_grid(ab_k, ab_prev)
        a, s = grid.coefficients(2, x_t)
        return ddpm.ddim_step(x_t, eps, ddpm.x0_from_eps(x_t, eps, a, s), 2, grid, noise, eta=eta)
    reference.__name__ = "ddim_update"
    compare(fn, reference, make, name="ddim_update", atol=1e-8, rtol=1e-6, **kw)


def cfg_combine(fn, **kw) -> None:
    """Exercise: ``fn(out_cond, out_uncond, w) -> guided output`` (w = 0 unconditional, 1 conditional)."""
    def make(gen):
        shape = (int(torch.randint(1, 5, (1,), generator=gen)), 1, 8, 8)
        return torch.randn(shape, generator=gen), torch.randn(shape, generator=gen), float(torch.rand(1, generator=gen) * 5)
    compare(fn, ddpm.cfg_combine, make, name="cfg_combine", **kw)


def patchify(fn, **kw) -> None:
    """Exercise: ``fn(x (B, 1, H, W), p) -> (B, (H/p)(W/p), p*p)``, patches in raster order, each flattened row by row."""
    def make(gen):
        p = [1, 2, 4][int(torch.randint(0, 3, (1,), generator=gen))]
        return torch.randn(int(torch.randint(1, 4, (1,), generator=gen)), 1, 8, 8, generator=gen), p
    compare(fn, dit.patchify, make, name="patchify", **kw)
