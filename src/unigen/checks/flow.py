"""Checks for the exercises of Part V, *Flow matching* and *Rectified flow*.

Each check tries a small case with short numbers first (so that a failure can be
read off by hand), then random inputs. The small cases of the velocity exercises
have as many examples as dimensions (B = D), where a per-example coefficient ``(B,)``
that is not broadcast as ``[:, None]`` still runs, silently scaling the columns.
"""
from __future__ import annotations

import torch

from .. import flow, schedules, solvers
from ._framework import compare, register_inputs

__all__ = ["conditional_velocity", "velocity_from_eps", "euler_sample", "straightness"]

F64 = torch.float64


def _t(rows) -> torch.Tensor:
    return torch.tensor(rows, dtype=F64)


def _batch(gen, D=2):
    B = int(torch.randint(1, 7, (1,), generator=gen))
    return B, torch.randn(B, D, generator=gen, dtype=F64)


def _coefs(gen, B):
    """Coefficients of a random VP or linear path at random times ``(B,)``."""
    path = schedules.CosineVP() if torch.rand(1, generator=gen) < 0.5 else schedules.LinearPath()
    return path(torch.rand(B, generator=gen, dtype=F64) * 0.9 + 0.05)


# ---- conditional_velocity ---------------------------------------------------------------------

# Not the linear path: d_alpha_t and d_sigma_t differ from -1 and 1.
_COND_CASES = [(_t([[1.0, -1.0], [0.5, 2.0]]), _t([[0.5, 0.0], [-1.0, 1.0]]), _t([-1.0, -2.0]), _t([1.0, 0.5]))]


def _make_conditional(gen):
    B, x0 = _batch(gen)
    _, _, da, ds = _coefs(gen, B)
    return x0, torch.randn(B, 2, generator=gen, dtype=F64), da, ds


register_inputs("conditional_velocity", _make_conditional, cases=_COND_CASES)


def _conditional_velocity(x0, eps, d_alpha_t, d_sigma_t):
    return flow.velocity_from_eps_x0(eps, x0, d_alpha_t, d_sigma_t)


def conditional_velocity(fn, **kw) -> None:
    """Exercise: ``fn(x0 (B, D), eps (B, D), d_alpha_t (B,), d_sigma_t (B,)) -> (B, D)``, the CFM target."""
    compare(fn, _conditional_velocity, _make_conditional, cases=_COND_CASES, name="conditional_velocity",
            inputs=("x0", "eps", "d_alpha_t", "d_sigma_t"), outputs=("velocity",), **kw)


# ---- velocity_from_eps ------------------------------------------------------------------------

# A VP path with alpha_t^2 + sigma_t^2 = 1 at two times.
_EPS_CASES = [(_t([[1.0, -0.5], [0.5, 2.0]]), _t([[0.5, 1.0], [-1.0, 0.0]]), _t([0.8, 0.6]), _t([0.6, 0.8]),
               _t([-0.6, -0.8]), _t([0.8, 0.6]))]


def _make_from_eps(gen):
    B, x_t = _batch(gen)
    return (x_t, torch.randn(B, 2, generator=gen, dtype=F64), *_coefs(gen, B))


register_inputs("velocity_from_eps", _make_from_eps, cases=_EPS_CASES)


def _velocity_from_eps(x_t, eps_hat, alpha_t, sigma_t, d_alpha_t, d_sigma_t):
    return flow.to_velocity(eps_hat, x_t, (alpha_t, sigma_t, d_alpha_t, d_sigma_t), "eps")


def velocity_from_eps(fn, **kw) -> None:
    """Exercise: ``fn(x_t, eps_hat, alpha_t, sigma_t, d_alpha_t, d_sigma_t) -> (B, D)``, an ε-prediction as a velocity.

    The random inputs come from the cosine VP path and from the linear path.
    """
    compare(fn, _velocity_from_eps, _make_from_eps, cases=_EPS_CASES, name="velocity_from_eps",
            inputs=("x_t", "eps_hat", "alpha_t", "sigma_t", "d_alpha_t", "d_sigma_t"), outputs=("velocity",), **kw)


# ---- euler_sample -----------------------------------------------------------------------------

def _velocity(gen):
    A = torch.randn(2, 2, generator=gen, dtype=F64)

    def velocity(x, t):
        return torch.tanh(x @ A.T) * (1 + t[:, None]) - x
    return velocity


def _make_euler(gen):
    B, x_1 = _batch(gen)
    return _velocity(gen), x_1, int(torch.randint(1, 9, (1,), generator=gen))


register_inputs("euler_sample", _make_euler)


def _euler_sample(velocity, x_1, steps):
    return solvers.euler(velocity, x_1, 1.0, 0.0, steps).x


def euler_sample(fn, **kw) -> None:
    """Exercise: ``fn(velocity, x_1 (B, D), steps int) -> (B, D)``, Euler's method from t = 1 to t = 0.

    ``velocity`` is a random field that depends on t, so the failing case is rebuilt with
    ``checks.failing_inputs``; ``steps`` runs from 1 to 8.
    """
    compare(fn, _euler_sample, _make_euler, name="euler_sample",
            inputs=("velocity", "x_1", "steps"), outputs=("x_0",), **kw)


# ---- straightness -----------------------------------------------------------------------------

# One bent path of two steps on an uneven grid: 0.25 wide, then 0.75 wide.
_STRAIGHT_CASES = [(_t([[[0.0, 0.0]], [[1.0, 1.0]], [[2.0, 0.0]]]), _t([1.0, 0.75, 0.0]))]


def _make_straightness(gen):
    B, _ = _batch(gen)
    S = int(torch.randint(2, 9, (1,), generator=gen))
    # an uneven grid that need not span [0, 1]: a formula that ignores t is caught
    start, end = 1.0 - 0.3 * torch.rand(1, generator=gen, dtype=F64), 0.3 * torch.rand(1, generator=gen, dtype=F64)
    inner = torch.rand(S - 1, generator=gen, dtype=F64).sort(descending=True).values
    t = torch.cat([start, end + (start - end) * (0.05 + 0.9 * inner), end])
    return torch.randn(S + 1, B, 2, generator=gen, dtype=F64), t


register_inputs("straightness", _make_straightness, cases=_STRAIGHT_CASES)


def _straightness(trajectory, t):
    return flow.straightness(trajectory, t)


def straightness(fn, **kw) -> None:
    """Exercise: ``fn(trajectory (S + 1, B, D), t (S + 1,)) -> (B,)``, the straightness of each path.

    The time grids are uneven and need not span [0, 1].
    """
    compare(fn, _straightness, _make_straightness, cases=_STRAIGHT_CASES, name="straightness",
            inputs=("trajectory", "t"), outputs=("straightness",), **kw)
