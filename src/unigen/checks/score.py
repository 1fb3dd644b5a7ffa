"""Checks for the exercises of Part IV: *Score functions and Langevin dynamics*, *Score SDEs*, *Likelihoods in bits/dim*.

Each check tries a small case with short numbers first (so that a failure can be
read off by hand), then random inputs. The small cases have as many examples as
dimensions (B = D), where a per-example coefficient ``(B,)`` that is not
broadcast as ``[:, None]`` still runs, silently scaling the columns instead of the rows.
"""
from __future__ import annotations

import math

import torch

from .. import metrics, sde
from ._framework import compare, register_inputs

__all__ = ["langevin_step", "dsm_target", "hutchinson_estimate", "vp_pf_velocity",
           "discretized_log_prob", "dequantized_bpd"]

F64 = torch.float64


def _points(gen, D=2):
    B = int(torch.randint(1, 7, (1,), generator=gen))
    return B, torch.randn(B, D, generator=gen, dtype=F64)


def _t(rows) -> torch.Tensor:
    return torch.tensor(rows, dtype=F64)


# ---- langevin_step ----------------------------------------------------------------------------

# step_size = 0.02, so sqrt(2 * step_size) = 0.2 exactly.
_LANGEVIN_CASES = [(_t([[0.0, 1.0], [2.0, -1.0]]), _t([[1.0, -1.0], [0.5, 0.0]]), 0.02,
                    _t([[1.0, 0.0], [-1.0, 2.0]]))]


def _make_langevin(gen):
    B, x = _points(gen)
    return (x, torch.randn(B, 2, generator=gen, dtype=F64), float(torch.rand(1, generator=gen)) * 0.1 + 1e-3,
            torch.randn(B, 2, generator=gen, dtype=F64))


register_inputs("langevin_step", _make_langevin, cases=_LANGEVIN_CASES)


def _langevin_step(x, score_x, step_size, z):
    return x + step_size * score_x + math.sqrt(2 * step_size) * z


def langevin_step(fn, **kw) -> None:
    """Exercise: ``fn(x (B, D), score_x (B, D), step_size float, z (B, D)) -> (B, D)``, one Langevin step."""
    compare(fn, _langevin_step, _make_langevin, cases=_LANGEVIN_CASES, name="langevin_step",
            inputs=("x", "score_x", "step_size", "z"), outputs=("x_next",), **kw)


# ---- dsm_target -------------------------------------------------------------------------------

_DSM_CASES = [(_t([[1.0, 0.5], [-1.0, 2.0]]), _t([[0.5, 1.0], [0.0, 1.0]]), _t([0.8, 0.5]), _t([0.5, 0.25]))]


def _make_dsm(gen):
    B, x0 = _points(gen)
    alpha_t = torch.rand(B, generator=gen, dtype=F64) * 0.9 + 0.1
    sigma_t = torch.rand(B, generator=gen, dtype=F64) * 0.9 + 0.1
    x_t = alpha_t[:, None] * x0 + sigma_t[:, None] * torch.randn(B, 2, generator=gen, dtype=F64)
    return x_t, x0, alpha_t, sigma_t


register_inputs("dsm_target", _make_dsm, cases=_DSM_CASES)


def _dsm_target(x_t, x0, alpha_t, sigma_t):
    return -(x_t - alpha_t[:, None] * x0) / sigma_t[:, None] ** 2


def dsm_target(fn, **kw) -> None:
    """Exercise: ``fn(x_t, x0, alpha_t (B,), sigma_t (B,)) -> (B, D)``, the conditional score of DSM."""
    compare(fn, _dsm_target, _make_dsm, cases=_DSM_CASES, name="dsm_target",
            inputs=("x_t", "x0", "alpha_t", "sigma_t"), outputs=("score",), **kw)


# ---- hutchinson_estimate ----------------------------------------------------------------------

def _field(gen):
    A = torch.randn(3, 3, generator=gen, dtype=F64)
    b = torch.randn(3, generator=gen, dtype=F64)

    def f(x):
        return torch.tanh(x @ A.T + b) + 0.5 * x**2
    return f


def _make_hutchinson(gen):
    B = int(torch.randint(1, 6, (1,), generator=gen))
    x = torch.randn(B, 3, generator=gen, dtype=F64)
    v = torch.randint(0, 2, (B, 3), generator=gen).double() * 2 - 1
    return _field(gen), x, v


register_inputs("hutchinson_estimate", _make_hutchinson)


def _hutchinson_estimate(f, x, v):
    return sde.divergence_hutchinson(lambda z, t: f(z), x, torch.zeros(len(x), dtype=x.dtype), v)[1]


def hutchinson_estimate(fn, **kw) -> None:
    """Exercise: ``fn(f, x (B, D), v (B, D)) -> (B,)``, the estimate :math:`v^\\top (\\partial f/\\partial x)\\, v` per example.

    ``f`` is a random non-linear field, so the failing case is rebuilt with ``checks.failing_inputs``.
    """
    compare(fn, _hutchinson_estimate, _make_hutchinson, name="hutchinson_estimate",
            inputs=("f", "x", "v"), outputs=("estimate",), **kw)


# ---- vp_pf_velocity ---------------------------------------------------------------------------

_VP_CASES = [(_t([[1.0, -1.0], [0.5, 2.0]]), _t([[0.5, 1.0], [-1.0, 0.0]]), _t([1.0, 4.0]))]


def _make_vp(gen):
    B, x = _points(gen)
    return x, torch.randn(B, 2, generator=gen, dtype=F64), torch.rand(B, generator=gen, dtype=F64) * 20


register_inputs("vp_pf_velocity", _make_vp, cases=_VP_CASES)


def _vp_pf_velocity(x, score_x, beta_t):
    return -0.5 * beta_t[:, None] * (x + score_x)


def vp_pf_velocity(fn, **kw) -> None:
    """Exercise: ``fn(x (B, D), score_x (B, D), beta_t (B,)) -> (B, D)``, the VP probability-flow velocity."""
    compare(fn, _vp_pf_velocity, _make_vp, cases=_VP_CASES, name="vp_pf_velocity",
            inputs=("x", "score_x", "beta_t"), outputs=("velocity",), **kw)


# ---- discretized_log_prob ---------------------------------------------------------------------

# The 17 levels of [-1, 1] (delta = 1/8): both open edge bins and an inner one; then 5 levels.
_DISC_CASES = [(_t([[-1.0, 0.0, 1.0]]), _t([[-0.9, 0.1, 0.5]]), 0.25, 0.125),
               (_t([[-1.0, -0.5, 0.5, 1.0]]), _t([[0.0, -0.5, 0.4, 1.2]]), 0.3, 0.5)]


def _make_discretized(gen):
    B, D = int(torch.randint(1, 6, (1,), generator=gen)), 4
    n_levels = [17, 17, 9, 256][int(torch.randint(0, 4, (1,), generator=gen))]
    delta = 2 / (n_levels - 1)
    x = torch.randint(0, n_levels, (B, D), generator=gen).double() * delta - 1
    x[0, 0], x[-1, -1] = -1.0, 1.0                                    # both open edge bins
    mean = x + 0.15 * torch.randn(B, D, generator=gen, dtype=F64)
    return x, mean, float(torch.rand(1, generator=gen)) * 0.3 + 0.1, delta


register_inputs("discretized_log_prob", _make_discretized, cases=_DISC_CASES)


def _discretized_log_prob(x, mean, std, delta):
    return metrics.discretized_gaussian_log_prob(x, mean, std, n_bins=round(2 / delta) + 1)


def discretized_log_prob(fn, **kw) -> None:
    """Exercise: ``fn(x (B, D), mean (B, D), std float, delta float) -> (B, D)``, the log-mass of each bin.

    Levels ``delta`` apart on [-1, 1], edge bins open, as :func:`unigen.metrics.discretized_gaussian_log_prob`.
    Most inputs use the 17 levels of the chapter (``delta = 1/8``); some use 5, 9 or 256 levels,
    so that a bin width written as a number instead of ``delta`` is caught.
    """
    compare(fn, _discretized_log_prob, _make_discretized, cases=_DISC_CASES, name="discretized_log_prob",
            inputs=("x", "mean", "std", "delta"), outputs=("log_prob",), **kw)


# ---- dequantized_bpd --------------------------------------------------------------------------

# 5 levels (delta = 0.5) and 4 dimensions; then 256 levels of a 3 x 32 x 32 image.
_BPD_CASES = [(_t([-10.0, 0.0, 5.0]), 4, 5), (_t([-2000.0]), 3072, 256)]


def _make_bpd(gen):
    B = int(torch.randint(1, 6, (1,), generator=gen))
    dims = int(torch.randint(1, 100, (1,), generator=gen))
    return torch.randn(B, generator=gen, dtype=F64) * 20, dims, int(torch.randint(2, 300, (1,), generator=gen))


register_inputs("dequantized_bpd", _make_bpd, cases=_BPD_CASES)


def _dequantized_bpd(log_p, dims, n_levels):
    nll = metrics.dequantized_nll(-log_p, dims, 2.0 / (n_levels - 1))
    return metrics.bits_per_dim(nll, dims)


def dequantized_bpd(fn, **kw) -> None:
    """Exercise: ``fn(log_p (B,), dims int, n_levels int) -> (B,)``, the discrete bits/dim bound.

    ``log_p`` is the log-density of dequantised data on [-1, 1] with ``n_levels`` levels.
    """
    compare(fn, _dequantized_bpd, _make_bpd, cases=_BPD_CASES, name="dequantized_bpd",
            inputs=("log_p", "dims", "n_levels"), outputs=("bpd",), **kw)
