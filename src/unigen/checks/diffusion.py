"""Checks for the exercises of Part III, *Diffusion models*.

Each check tries a small case with short numbers first (so that a failure can be
read off by hand), then random inputs.
"""
from __future__ import annotations

import torch

from .. import ddpm, schedules
from ..nn import dit
from ._framework import compare, register_inputs

__all__ = ["q_sample", "cosine_alpha_bar", "posterior_mean_variance", "ancestral_step", "ddim_update",
           "ddim_invert", "cfg_combine", "patchify"]

F64 = torch.float64


def _grid(alpha_bar_k: float, alpha_bar_prev: float) -> tuple[schedules.DiscreteSchedule, int]:
    """A grid and a step k with these alpha_bar values at k and k - 1 (k = 0 is the data).

    ``alpha_bar_prev = 1`` is the first step (k = 1).
    """
    if alpha_bar_prev == 1.0:
        ab = torch.tensor([1.0, alpha_bar_k], dtype=F64)
        t = torch.tensor([0.0, 1.0], dtype=F64)
    else:
        ab = torch.tensor([1.0, alpha_bar_prev, alpha_bar_k], dtype=F64)
        t = torch.tensor([0.0, 0.5, 1.0], dtype=F64)
    beta = torch.cat([torch.zeros(1, dtype=F64), 1 - ab[1:] / ab[:-1]])
    return schedules.DiscreteSchedule(t=t, alpha_bar=ab, beta=beta), len(ab) - 1


def _alpha_bars(gen):
    ab_prev = float(torch.rand(1, generator=gen)) * 0.9 + 0.05
    return ab_prev * (float(torch.rand(1, generator=gen)) * 0.9 + 0.05), ab_prev


def _short(x: torch.Tensor) -> torch.Tensor:
    """Round to two decimals, so that the printed case is short."""
    return (x * 100).round() / 100


# ---- q_sample ---------------------------------------------------------------------------------

# B = 2, D = 3, then B = D = 3 (where a per-column alpha_bar broadcasts silently).
_Q_SAMPLE_CASES = [
    (torch.tensor([[1.0, -0.5, 2.0], [0.25, 0.0, -1.5]]), torch.tensor([0.9, 0.2]),
     torch.tensor([[0.5, 1.0, -1.0], [-2.0, 0.75, 0.5]])),
    (torch.tensor([[1.0, 2.0, 3.0], [-1.0, 0.0, 1.0], [0.5, -0.5, 2.0]]), torch.tensor([0.64, 0.36, 0.04]),
     torch.tensor([[0.0, 1.0, -1.0], [1.0, 1.0, 1.0], [-0.5, 0.5, 0.0]])),
]


def _make_q_sample(gen):
    B, D = int(torch.randint(1, 6, (1,), generator=gen)), int(torch.randint(1, 4, (1,), generator=gen))
    return (torch.randn(B, D, generator=gen), torch.rand(B, generator=gen) * 0.98 + 0.01,
            torch.randn(B, D, generator=gen))


register_inputs("q_sample", _make_q_sample, cases=_Q_SAMPLE_CASES)


def _q_sample(x0, alpha_bar, eps):
    return alpha_bar.sqrt()[:, None] * x0 + (1 - alpha_bar).sqrt()[:, None] * eps


def q_sample(fn, **kw) -> None:
    """Exercise: ``fn(x0 (B, D), alpha_bar (B,), eps (B, D)) -> x_t`` with :math:`x_t = \\sqrt{\\bar\\alpha}x_0 + \\sqrt{1-\\bar\\alpha}\\varepsilon`."""
    compare(fn, _q_sample, _make_q_sample, cases=_Q_SAMPLE_CASES, name="q_sample",
            inputs=("x0", "alpha_bar", "eps"), outputs=("x_t",), **kw)


# ---- cosine_alpha_bar -------------------------------------------------------------------------

# Both ends: alpha_bar(0) = 1 exactly (the normalisation), alpha_bar(1) = 0 (the 1 + s).
_COSINE_CASES = [(torch.tensor([0.0, 0.25, 0.5, 0.75, 1.0], dtype=F64), 0.008)]


def _make_cosine(gen):
    t = torch.rand(int(torch.randint(1, 9, (1,), generator=gen)), generator=gen, dtype=F64)
    return t, float(torch.rand(1, generator=gen)) * 0.02 + 0.001


register_inputs("cosine_alpha_bar", _make_cosine, cases=_COSINE_CASES)


def _cosine_alpha_bar(t, s):
    return schedules.CosineVP(s).alpha(t) ** 2


def cosine_alpha_bar(fn, **kw) -> None:
    """Exercise: ``fn(t (N,) float64, s float) -> (N,)`` the cosine schedule's :math:`\\bar\\alpha(t) = f(t)/f(0)`."""
    kw = {"atol": 1e-8, "rtol": 1e-6, **kw}
    compare(fn, _cosine_alpha_bar, _make_cosine, cases=_COSINE_CASES, name="cosine_alpha_bar",
            inputs=("t", "s"), outputs=("alpha_bar",), **kw)


# ---- posterior_mean_variance ------------------------------------------------------------------

# An ordinary step, then the first step (alpha_bar_prev = 1: mean x0, variance 0).
_POSTERIOR_CASES = [
    (torch.tensor([[1.0, -1.0], [0.5, 2.0]], dtype=F64), torch.tensor([[0.5, 0.0], [-1.0, 1.5]], dtype=F64),
     0.5, 0.8),
    (torch.tensor([[1.0, -1.0], [0.5, 2.0]], dtype=F64), torch.tensor([[0.5, 0.0], [-1.0, 1.5]], dtype=F64),
     0.9, 1.0),
]


def _make_posterior(gen):
    ab_k, ab_prev = _alpha_bars(gen)
    B = int(torch.randint(1, 6, (1,), generator=gen))
    return (torch.randn(B, 2, generator=gen, dtype=F64), torch.randn(B, 2, generator=gen, dtype=F64),
            ab_k, ab_prev)


register_inputs("posterior_mean_variance", _make_posterior, cases=_POSTERIOR_CASES)


def _posterior_mean_variance(x0, x_t, alpha_bar_k, alpha_bar_prev):
    grid, k = _grid(alpha_bar_k, alpha_bar_prev)
    mean, var = ddpm.q_posterior_mean_variance(x0, x_t, k, grid)
    return mean, float(var.reshape(-1)[0])


def posterior_mean_variance(fn, **kw) -> None:
    """Exercise: ``fn(x0, x_t, alpha_bar_k, alpha_bar_prev) -> (mean (B, D), variance float)``.

    The mean and variance of the forward posterior :math:`q(x_{k-1}|x_k, x_0)`.

    The cases include the first step, ``alpha_bar_prev = 1``, where the mean is ``x0`` and the variance 0.
    """
    kw = {"atol": 1e-8, "rtol": 1e-6, **kw}
    compare(fn, _posterior_mean_variance, _make_posterior, cases=_POSTERIOR_CASES, name="posterior_mean_variance",
            inputs=("x0", "x_t", "alpha_bar_k", "alpha_bar_prev"), outputs=("mean", "variance"), **kw)


# ---- ancestral_step ---------------------------------------------------------------------------

_XA = torch.tensor([[1.0, -0.5], [0.25, 2.0]], dtype=F64)
_EA = torch.tensor([[0.5, 1.0], [-1.0, 0.0]], dtype=F64)
_ZA = torch.tensor([[-1.0, 0.5], [2.0, 1.0]], dtype=F64)
# An ordinary step (beta_k = 0.375, beta_tilde_k = 0.15), then the last step (alpha_bar_prev = 1: x0_hat, no noise).
_ANCESTRAL_CASES = [(_XA, _EA, 0.5, 0.8, _ZA), (_XA, _EA, 0.9, 1.0, _ZA)]


def _make_ancestral(gen):
    ab_k, ab_prev = _alpha_bars(gen)
    B = int(torch.randint(1, 6, (1,), generator=gen))
    x_t, eps_hat, z = (torch.randn(B, 2, generator=gen, dtype=F64) for _ in range(3))
    return x_t, eps_hat, ab_k, ab_prev, z


register_inputs("ancestral_step", _make_ancestral, cases=_ANCESTRAL_CASES)


def _ancestral_step(x_t, eps_hat, alpha_bar_k, alpha_bar_prev, z):
    grid, k = _grid(alpha_bar_k, alpha_bar_prev)
    a, s = grid.coefficients(k, x_t)
    return ddpm.ddpm_step(x_t, ddpm.x0_from_eps(x_t, eps_hat, a, s), k, grid, z)


def ancestral_step(fn, **kw) -> None:
    """Exercise: ``fn(x_t, eps_hat, alpha_bar_k, alpha_bar_prev, z) -> x_prev``.

    One ancestral step of DDPM: :math:`\\hat x_0` from the predicted noise, then
    :math:`\\tilde\\mu_k(x_t, \\hat x_0) + \\sqrt{\\tilde\\beta_k}\\,z`.

    The cases include the last step (``alpha_bar_prev = 1``), which returns :math:`\\hat x_0` and adds no noise.
    """
    kw = {"atol": 1e-8, "rtol": 1e-6, **kw}
    compare(fn, _ancestral_step, _make_ancestral, cases=_ANCESTRAL_CASES, name="ancestral_step",
            inputs=("x_t", "eps_hat", "alpha_bar_k", "alpha_bar_prev", "z"), outputs=("x_prev",), **kw)


# ---- ddim_update ------------------------------------------------------------------------------

_X = torch.tensor([[1.0, -0.5], [0.25, 2.0]], dtype=F64)
_E = torch.tensor([[0.5, 1.0], [-1.0, 0.0]], dtype=F64)
_Z = torch.tensor([[-1.0, 0.5], [2.0, 1.0]], dtype=F64)
# eta = 0 (deterministic), 1 (DDPM's variance), 0.5; then the last step (alpha_bar_prev = 1).
_DDIM_CASES = [(_X, _E, 0.5, 0.8, eta, _Z) for eta in (0.0, 1.0, 0.5)] + [(_X, _E, 0.9, 1.0, 1.0, _Z)]


def _make_ddim(gen):
    ab_k, ab_prev = _alpha_bars(gen)
    B = int(torch.randint(1, 6, (1,), generator=gen))
    x_t, eps, noise = (torch.randn(B, 2, generator=gen, dtype=F64) for _ in range(3))
    eta = [0.0, 1.0, float(torch.rand(1, generator=gen))][int(torch.randint(0, 3, (1,), generator=gen))]
    return x_t, eps, ab_k, ab_prev, eta, noise


register_inputs("ddim_update", _make_ddim, cases=_DDIM_CASES)


def _ddim_update(x_t, eps, alpha_bar_k, alpha_bar_prev, eta, noise):
    grid, k = _grid(alpha_bar_k, alpha_bar_prev)
    a, s = grid.coefficients(k, x_t)
    return ddpm.ddim_step(x_t, eps, ddpm.x0_from_eps(x_t, eps, a, s), k, grid, noise, eta=eta)


def ddim_update(fn, **kw) -> None:
    """Exercise: ``fn(x_t, eps, alpha_bar_k, alpha_bar_prev, eta, noise) -> x_prev``.

    One DDIM step from the predicted ε.

    The cases cover ``eta`` = 0, 1 and in between, and the last step (``alpha_bar_prev = 1``).
    """
    kw = {"atol": 1e-8, "rtol": 1e-6, **kw}
    compare(fn, _ddim_update, _make_ddim, cases=_DDIM_CASES, name="ddim_update",
            inputs=("x_t", "eps", "alpha_bar_k", "alpha_bar_prev", "eta", "noise"), outputs=("x_prev",), **kw)


# ---- ddim_invert ------------------------------------------------------------------------------

def toy_eps(x, t):
    """A made-up noise predictor for the check of ``ddim_invert``: smooth, nonlinear in ``x``, varying with ``t``.

    ``t`` may be a float, a 0-d tensor or a ``(B,)`` tensor.
    """
    t = torch.as_tensor(t, dtype=x.dtype, device=x.device).reshape(-1, *[1] * (x.dim() - 1))
    return torch.sin(2 * x) * (1 - t) + t * x


# Two points on a 10-step cosine grid: 5 respaced steps, all 10 steps, and a single step.
_X0_INV = torch.tensor([[1.0, -0.5], [0.25, 2.0]], dtype=F64)
_INVERT_CASES = [(_X0_INV, toy_eps, schedules.ddpm_cosine(10), steps) for steps in (5, 10, 1)]


def _make_invert(gen):
    T = int(torch.randint(2, 13, (1,), generator=gen))
    schedule = schedules.ddpm_cosine(T) if int(torch.randint(0, 2, (1,), generator=gen)) else schedules.ddpm_linear(T)
    steps = int(torch.randint(1, T + 1, (1,), generator=gen))
    B = int(torch.randint(1, 6, (1,), generator=gen))
    return torch.randn(B, 2, generator=gen, dtype=F64), toy_eps, schedule, steps


register_inputs("ddim_invert", _make_invert, cases=_INVERT_CASES)


def _ddim_invert(x0, eps_fn, schedule, steps):
    g = schedules.respace(schedule, steps)
    x = x0
    for k in range(1, g.T + 1):                     # from step k - 1 up to step k
        t = g.t[max(k - 1, 1)].to(x).expand(len(x))   # at k = 1, sigma = 0: eps is read at t_1
        eps = eps_fn(x, t)
        a, s = g.coefficients(k - 1, x)
        x = ddpm.q_sample(ddpm.x0_from_eps(x, eps, a, s), k, g, eps=eps)   # the eta = 0 step, reversed
    return x


def ddim_invert(fn, **kw) -> None:
    """Exercise: ``fn(x0 (B, D), eps_fn, schedule, steps) -> x_T (B, D)``, DDIM's encoder.

    On ``schedules.respace(schedule, steps)``, each step from ``k - 1`` to ``k`` reads
    :math:`\\hat\\varepsilon` = ``eps_fn(x, t_{k-1})`` at the current point, forms :math:`\\hat x_0`, and
    re-noises it to level ``k`` with the same :math:`\\hat\\varepsilon`; the first step, where
    :math:`\\sigma = 0`, reads :math:`\\hat\\varepsilon` at ``t_1``. ``eps_fn`` is :func:`toy_eps` in the check.

    The cases use 5 of 10 steps, all 10, and a single step.
    """
    kw = {"atol": 1e-8, "rtol": 1e-6, **kw}
    compare(fn, _ddim_invert, _make_invert, cases=_INVERT_CASES, name="ddim_invert",
            inputs=("x0", "eps_fn", "schedule", "steps"), outputs=("x_T",), **kw)


# ---- cfg_combine ------------------------------------------------------------------------------

_CFG_CASES = [(torch.tensor([[1.0, 2.0, -1.0], [0.0, 0.5, 3.0]]), torch.tensor([[0.5, 1.0, 1.0], [0.0, -0.5, 1.0]]),
               3.0)]


def _make_cfg(gen):
    shape = (int(torch.randint(1, 5, (1,), generator=gen)), 1, 8, 8)
    return torch.randn(shape, generator=gen), torch.randn(shape, generator=gen), float(torch.rand(1, generator=gen) * 5)


register_inputs("cfg_combine", _make_cfg, cases=_CFG_CASES)


def _cfg_combine(out_cond, out_uncond, w):
    return ddpm.cfg_combine(out_cond, out_uncond, w)


def cfg_combine(fn, **kw) -> None:
    """Exercise: ``fn(out_cond, out_uncond, w) -> guided output`` (w = 0 unconditional, 1 conditional)."""
    compare(fn, _cfg_combine, _make_cfg, cases=_CFG_CASES, name="cfg_combine",
            inputs=("out_cond", "out_uncond", "w"), outputs=("guided",), **kw)


# ---- patchify ---------------------------------------------------------------------------------

# One 2 x 4 image of the numbers 0..7 (so each patch can be read off), cut with p = 2.
_PATCHIFY_CASES = [(torch.arange(8.0).reshape(1, 1, 2, 4), 2)]


def _make_patchify(gen):
    p = [1, 2, 4][int(torch.randint(0, 3, (1,), generator=gen))]
    H, W = (4 * int(torch.randint(1, 4, (1,), generator=gen)) for _ in range(2))   # non-square images too
    return torch.randn(int(torch.randint(1, 4, (1,), generator=gen)), 1, H, W, generator=gen), p


register_inputs("patchify", _make_patchify, cases=_PATCHIFY_CASES)


def _patchify(x, p):
    return dit.patchify(x, p)


def patchify(fn, **kw) -> None:
    """Exercise: ``fn(x (B, 1, H, W), p) -> (B, (H/p)(W/p), p*p)``, patches in raster order, each flattened row by row.

    The images are not all square (H != W), and p is 1, 2 or 4.
    """
    compare(fn, _patchify, _make_patchify, cases=_PATCHIFY_CASES, name="patchify",
            inputs=("x", "p"), outputs=("patches",), **kw)
