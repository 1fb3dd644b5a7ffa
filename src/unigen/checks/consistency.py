"""Checks for the exercises of Part V, *Consistency models*.

Each check tries a small case with short numbers first, then random inputs. The consistency
functions of the random cases are random smooth maps that depend on t, so that a sampler or a
loss that calls them at the wrong time is caught.
"""
from __future__ import annotations

import torch

from .. import consistency, schedules
from ._framework import compare, register_inputs
from .flow import F64, _batch, _t

__all__ = ["skip_out_coefficients", "consistency_sample", "consistency_distillation_loss"]



def _function(gen):
    """A random map f(x, t) ``(B, D), (B,) -> (B, D)`` that depends on t."""
    A = torch.randn(2, 2, generator=gen, dtype=F64)
    b = torch.randn(2, generator=gen, dtype=F64)

    def f(x, t):
        return torch.tanh(x @ A.T + b) * (1 + t[:, None]) + x * (1 - t[:, None])
    return f


# ---- skip_out_coefficients -------------------------------------------------------------------

# sigma_t equal to sigma_min (the boundary), then above it.
_SKIP_CASES = [(_t([0.002, 0.5, 1.0]), 0.002, 0.5)]


def _make_skip(gen):
    s_min = float(torch.rand(1, generator=gen)) * 0.1
    B = int(torch.randint(1, 7, (1,), generator=gen))
    sigma_t = s_min + torch.rand(B, generator=gen, dtype=F64) * 2
    return sigma_t, s_min, float(0.2 + torch.rand(1, generator=gen))


register_inputs("skip_out_coefficients", _make_skip, cases=_SKIP_CASES)


def _skip_out_coefficients(sigma_t, sigma_min, sigma_data):
    d = sigma_t - sigma_min
    return sigma_data**2 / (d**2 + sigma_data**2), sigma_data * d / (sigma_data**2 + sigma_t**2).sqrt()


def skip_out_coefficients(fn, **kw) -> None:
    """Exercise: ``fn(sigma_t (B,), sigma_min float, sigma_data float) -> (c_skip (B,), c_out (B,))``."""
    compare(fn, _skip_out_coefficients, _make_skip, cases=_SKIP_CASES, name="skip_out_coefficients",
            inputs=("sigma_t", "sigma_min", "sigma_data"), outputs=("c_skip", "c_out"), **kw)


# ---- consistency_sample ----------------------------------------------------------------------

def _make_sample(gen):
    B, x_1 = _batch(gen)
    k = int(torch.randint(1, 5, (1,), generator=gen))
    times = [1.0] + sorted(torch.rand(k - 1, generator=gen).mul(0.9).add(0.05).tolist(), reverse=True)
    noises = [torch.randn(B, 2, generator=gen, dtype=F64) for _ in times[1:]]
    return _function(gen), x_1, times, noises


register_inputs("consistency_sample", _make_sample)


def _consistency_sample(f, x_1, times, noises):
    noises = iter(noises)
    x0 = f(x_1, torch.full((len(x_1),), times[0], dtype=x_1.dtype))
    for tau in times[1:]:
        x = (1 - tau) * x0 + tau * next(noises)
        x0 = f(x, torch.full((len(x),), tau, dtype=x.dtype))
    return x0


def consistency_sample(fn, **kw) -> None:
    """Exercise: ``fn(f, x_1 (B, D), times list, noises list of (B, D)) -> (B, D)``, multistep sampling
    on the linear path; ``noises[i]`` re-noises to ``times[i + 1]``. From 1 to 4 steps."""
    compare(fn, _consistency_sample, _make_sample, name="consistency_sample",
            inputs=("f", "x_1", "times", "noises"), outputs=("x_0",), **kw)


# ---- consistency_distillation_loss -----------------------------------------------------------

def _make_cd(gen):
    B, x0 = _batch(gen)
    N = int(torch.randint(2, 9, (1,), generator=gen))
    times = torch.cat([torch.zeros(1, dtype=F64), torch.rand(N, generator=gen, dtype=F64).sort().values])
    times[-1] = 1.0
    n = torch.randint(0, N, (B,), generator=gen)
    eps = torch.randn(B, 2, generator=gen, dtype=F64)
    return _function(gen), _function(gen), x0, eps, n, times


register_inputs("consistency_distillation_loss", _make_cd)


def _consistency_distillation_loss(f, velocity, x0, eps, n, times):
    path = schedules.LinearPath()
    t_n, t_next = times[n], times[n + 1]
    x_next = (1 - t_next)[:, None] * x0 + t_next[:, None] * eps
    x_hat = consistency.teacher_step(velocity, x_next, t_next, t_n, path)
    with torch.no_grad():
        aim = f(x_hat, t_n)
    return (f(x_next, t_next) - aim).square().mean(1).mean()


def consistency_distillation_loss(fn, **kw) -> None:
    """Exercise: ``fn(f, velocity, x0 (B, D), eps (B, D), n (B,) int, times (N + 1,)) -> scalar``, the CD loss
    on the linear path with one Euler step of the teacher and a stop-gradient target."""
    compare(fn, _consistency_distillation_loss, _make_cd, name="consistency_distillation_loss",
            inputs=("f", "velocity", "x0", "eps", "n", "times"), outputs=("loss",), **kw)
