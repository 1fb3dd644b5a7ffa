"""Checks for the exercises of *Editing with diffusion* (Part III).

Each check tries a small case with short numbers first (so that a failure can be
read off by hand), then random inputs on cosine and linear grids of a few steps.
"""
from __future__ import annotations

import torch

from .. import ddpm, editing, schedules
from ._framework import compare, register_inputs

__all__ = ["sdedit_start", "sdedit_level"]

F64 = torch.float64


def _random_grid(gen) -> schedules.DiscreteSchedule:
    T = int(torch.randint(2, 21, (1,), generator=gen))
    if int(torch.randint(0, 2, (1,), generator=gen)):
        return schedules.ddpm_cosine(T)
    return schedules.ddpm_linear(T)


# ---- sdedit_start -----------------------------------------------------------------------------

# A 4-step grid: t0 = 0.3 rounds to step 1, 0.6 to step 2, 1.0 is the last step, 0.1 is step 0.
_AB4 = torch.tensor([1.0, 0.9, 0.6, 0.3, 0.1], dtype=F64)
_X_S = torch.tensor([[1.0, -1.0], [0.5, 0.0]], dtype=F64)
_E_S = torch.tensor([[0.5, 2.0], [-1.0, 1.0]], dtype=F64)
_START_CASES = [(_X_S, t0, _AB4, _E_S) for t0 in (0.3, 0.6, 1.0, 0.1)]


def _make_start(gen):
    ab = _random_grid(gen).alpha_bar
    T = len(ab) - 1
    # a time between two grid points, away from the midpoints where rounding could go either way
    k = int(torch.randint(0, T + 1, (1,), generator=gen))
    t0 = min(max((k + 0.8 * (float(torch.rand(1, generator=gen)) - 0.5)) / T, 0.0), 1.0)
    B = int(torch.randint(1, 6, (1,), generator=gen))
    return torch.randn(B, 2, generator=gen, dtype=F64), t0, ab, torch.randn(B, 2, generator=gen, dtype=F64)


register_inputs("sdedit_start", _make_start, cases=_START_CASES)


def _sdedit_start(x, t0, alpha_bar, eps):
    T = len(alpha_bar) - 1
    grid = schedules.DiscreteSchedule(t=torch.arange(T + 1, dtype=F64) / T, alpha_bar=alpha_bar,
                                      beta=torch.cat([torch.zeros(1, dtype=F64), 1 - alpha_bar[1:] / alpha_bar[:-1]]))
    return ddpm.q_sample(x, editing.step_of(grid, t0), grid, eps=eps)


def sdedit_start(fn, **kw) -> None:
    """Exercise: ``fn(x (B, D), t0 float, alpha_bar (T+1,), eps (B, D)) -> x_k0 (B, D)``, SDEdit's noising.

    ``k0`` is the step nearest to ``t0`` on the grid ``t_k = k / T`` (``T = len(alpha_bar) - 1``),
    and :math:`x_{k_0} = \\sqrt{\\bar\\alpha_{k_0}}\\,x + \\sqrt{1-\\bar\\alpha_{k_0}}\\,\\varepsilon`. The cases include
    ``t0`` rounding to step 0, where the input comes back unchanged.
    """
    kw = {"atol": 1e-8, "rtol": 1e-6, **kw}
    compare(fn, _sdedit_start, _make_start, cases=_START_CASES, name="sdedit_start",
            inputs=("x", "t0", "alpha_bar", "eps"), outputs=("x_k0",), **kw)


# ---- sdedit_level -----------------------------------------------------------------------------

# On _AB4 the SNRs are 9, 1.5, 3/7 and 1/9: a zero distance (step 1), distances that cross the
# threshold at steps 1, 2, 3 and 4, and one that never gets below it (then the last step, T).
_LEVEL_CASES = [(torch.tensor([0.0, 0.2, 1.0, 4.0, 15.0, 200.0], dtype=F64), _AB4, 1.0)]


def _make_level(gen):
    ab = _random_grid(gen).alpha_bar
    B = int(torch.randint(1, 7, (1,), generator=gen))
    dist_sq = torch.rand(B, generator=gen, dtype=F64) * 40
    return dist_sq, ab, float(torch.rand(1, generator=gen)) * 2 + 0.1


register_inputs("sdedit_level", _make_level, cases=_LEVEL_CASES)


def _sdedit_level(dist_sq, alpha_bar, kl_max):
    snr = alpha_bar[1:] / (1 - alpha_bar[1:])                     # (T,), steps 1..T
    ok = snr[None, :] * dist_sq[:, None] / 2 <= kl_max            # (B, T)
    first = ok.to(torch.int64).argmax(1) + 1
    return torch.where(ok.any(1), first, torch.full_like(first, len(alpha_bar) - 1))


def sdedit_level(fn, **kw) -> None:
    """Exercise: ``fn(dist_sq (B,), alpha_bar (T+1,), kl_max float) -> k (B,) int64``.

    The smallest step ``k >= 1`` at which
    :math:`\\mathrm{KL}(q(x_k\\mid x)\\,\\|\\,q(x_k\\mid x')) = \\frac{\\bar\\alpha_k}{1-\\bar\\alpha_k}\\,\\frac{\\|x - x'\\|^2}{2}`
    is at most ``kl_max``, and ``T`` where no step gets there. The case covers a zero distance,
    thresholds crossed at each step and one never crossed.
    """
    compare(fn, _sdedit_level, _make_level, cases=_LEVEL_CASES, name="sdedit_level",
            inputs=("dist_sq", "alpha_bar", "kl_max"), outputs=("k",), **kw)
