"""Checks for the exercises of Part V, *Flow matching* and *Rectified flow*."""
from __future__ import annotations

import torch

from .. import flow, schedules, solvers
from ._framework import compare

__all__ = ["conditional_velocity", "velocity_from_eps", "euler_sample", "straightness"]


def _batch(gen, D=2):
    B = int(torch.randint(1, 7, (1,), generator=gen))
    return B, torch.randn(B, D, generator=gen, dtype=torch.float64)


def _coefs(gen, B):
    """Coefficients of a random VP or linear path at random times ``(B,)``."""
    path = schedules.CosineVP() if torch.rand(1, generator=gen) < 0.5 else schedules.LinearPath()
    return path(torch.rand(B, generator=gen, dtype=torch.float64) * 0.9 + 0.05)


def conditional_velocity(fn, **kw) -> None:
    """Exercise: ``fn(x0 (B, D), eps (B, D), d_alpha_t (B,), d_sigma_t (B,)) -> (B, D)``, the CFM target."""
    def make(gen):
        B, x0 = _batch(gen)
        _, _, da, ds = _coefs(gen, B)
        return x0, torch.randn(B, 2, generator=gen, dtype=torch.float64), da, ds

    def reference(x0, eps, d_alpha_t, d_sigma_t):
        return flow.velocity_from_eps_x0(eps, x0, d_alpha_t, d_sigma_t)
    reference.__name__ = "conditional_velocity"
    compare(fn, reference, make, name="conditional_velocity", **kw)


def velocity_from_eps(fn, **kw) -> None:
    """Exercise: ``fn(x_t, eps_hat, alpha_t, sigma_t, d_alpha_t, d_sigma_t) -> (B, D)``, an ε-prediction as a velocity."""
    def make(gen):
        B, x_t = _batch(gen)
        return (x_t, torch.randn(B, 2, generator=gen, dtype=torch.float64), *_coefs(gen, B))

    def reference(x_t, eps, *coefs):
        return flow.to_velocity(eps, x_t, tuple(coefs), "eps")
    reference.__name__ = "velocity_from_eps"
    compare(fn, reference, make, name="velocity_from_eps", **kw)


def _velocity(gen):
    A = torch.randn(2, 2, generator=gen, dtype=torch.float64)

    def velocity(x, t):
        return torch.tanh(x @ A.T) * (1 + t[:, None]) - x
    return velocity


def euler_sample(fn, **kw) -> None:
    """Exercise: ``fn(velocity, x_1 (B, D), steps int) -> (B, D)``, Euler's method from t = 1 to t = 0."""
    def make(gen):
        B, x_1 = _batch(gen)
        return _velocity(gen), x_1, int(torch.randint(1, 9, (1,), generator=gen))

    def reference(velocity, x_1, steps):
        return solvers.euler(velocity, x_1, 1.0, 0.0, steps).x
    reference.__name__ = "euler_sample"
    compare(fn, reference, make, name="euler_sample", **kw)


def straightness(fn, **kw) -> None:
    """Exercise: ``fn(trajectory (S + 1, B, D), t (S + 1,)) -> (B,)``, the straightness of each path."""
    def make(gen):
        B, _ = _batch(gen)
        S = int(torch.randint(2, 9, (1,), generator=gen))
        # an uneven grid that need not span [0, 1]: a formula that ignores t is caught
        start, end = 1.0 - 0.3 * torch.rand(1, generator=gen, dtype=torch.float64), \
            0.3 * torch.rand(1, generator=gen, dtype=torch.float64)
        inner = torch.rand(S - 1, generator=gen, dtype=torch.float64).sort(descending=True).values
        t = torch.cat([start, end + (start - end) * (0.05 + 0.9 * inner), end])
        return torch.randn(S + 1, B, 2, generator=gen, dtype=torch.float64), t

    def reference(trajectory, t):
        return flow.straightness(trajectory, t)
    reference.__name__ = "straightness"
    compare(fn, reference, make, name="straightness", **kw)
