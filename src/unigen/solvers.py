r"""Fixed-step solvers for ODEs :math:`dx/dt = f(x, t)` and SDEs :math:`dx = f\,dt + g\,dW`.

Introduced in *Score SDEs and the probability-flow ODE* (Part IV); the flow-matching
part (Part V) samples and computes likelihoods with the same functions.

Conventions shared by every solver here:

- ``f(x, t)`` takes the state ``x`` and a time tensor ``t`` of shape ``(B,)`` (one
  time per sample, on ``x``'s device and dtype), the call a time-conditioned network
  expects, and returns the time derivative with ``x``'s structure.
- The state ``x`` is a tensor ``(B, ...)`` or a tuple of such tensors with the same
  batch size ``B`` (e.g. a point and its running log-density); ``f`` then returns a
  tuple of the same length.
- Time may run forwards (``t0 < t1``, data to noise) or backwards (``t0 > t1``, a
  sampler going from noise to data). Give ``steps`` for an even grid from ``t0`` to
  ``t1``, or a 1-D ``grid`` of monotone times (``grid[0]`` is the start).
- Every solver returns a :class:`SolverOutput`: the final state, the number of
  function evaluations (NFE) per sample, and optionally the whole trajectory.

Orders of accuracy (global error :math:`O(h^p)` for step :math:`h`): Euler 1, Heun 2,
RK4 4; Euler–Maruyama has strong order 1/2 and weak order 1.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch

from .utils import check_in, expand_like

__all__ = ["SolverOutput", "time_grid", "euler", "heun", "rk4", "integrate", "METHODS", "euler_maruyama"]

METHODS = ("euler", "heun", "rk4")


@dataclass
class SolverOutput:
    """What a solver returns.

    Attributes:
        x: the state at the last time (a tensor, or a tuple like the input).
        nfe: evaluations of ``f`` per sample (Euler: steps, Heun: 2 steps, RK4: 4 steps).
        trajectory: if asked for, the states at every grid time, stacked on a new first
            axis on the CPU: ``(S + 1, B, ...)`` (a tuple of such for a tuple state).
        t: the time grid ``(S + 1,)`` that was used.
    """

    x: torch.Tensor | tuple
    nfe: int
    trajectory: torch.Tensor | tuple | None = None
    t: torch.Tensor | None = None


# ---- small helpers over "a tensor or a tuple of tensors" -------------------------------------

def _is_tuple(x) -> bool:
    return isinstance(x, (tuple, list))


def _leaves(x) -> tuple:
    return tuple(x) if _is_tuple(x) else (x,)


def _pack(leaves, like):
    return tuple(leaves) if _is_tuple(like) else leaves[0]


def _axpy(x, h, *terms):
    """``x + h * sum(c_i * k_i)`` over each leaf, for ``terms = ((c_1, k_1), ...)``."""
    out = []
    for i, leaf in enumerate(_leaves(x)):
        acc = leaf
        for c, k in terms:
            acc = acc + (h * c) * _leaves(k)[i]
        out.append(acc)
    return _pack(out, x)


def _check_state(x):
    leaves = _leaves(x)
    if not leaves or not all(isinstance(v, torch.Tensor) for v in leaves):
        raise ValueError("x must be a tensor or a tuple of tensors")
    if any(v.dim() < 1 for v in leaves) or len({v.shape[0] for v in leaves}) != 1:
        raise ValueError("x must have a batch dimension, shared by every tensor of a tuple")
    if not all(v.is_floating_point() for v in leaves):
        raise ValueError("x must be floating point")
    return leaves[0]


def time_grid(t0: float, t1: float, steps: int, *, dtype=torch.float64, device=None) -> torch.Tensor:
    """An even grid of ``steps + 1`` times from ``t0`` to ``t1`` (either direction)."""
    if not isinstance(steps, int) or isinstance(steps, bool) or steps < 1:
        raise ValueError(f"steps must be a positive int, got {steps!r}")
    for name, v in (("t0", t0), ("t1", t1)):
        if not isinstance(v, (int, float)) or isinstance(v, bool):
            raise ValueError(f"{name} must be a number, got {v!r}")
    if t0 == t1:
        raise ValueError("t0 and t1 must differ")
    return torch.linspace(float(t0), float(t1), steps + 1, dtype=dtype, device=device)


def _resolve_grid(t0, t1, steps, grid, like: torch.Tensor) -> torch.Tensor:
    if grid is None:
        if steps is None or t0 is None or t1 is None:
            raise ValueError("give t0, t1 and steps, or a time grid")
        return time_grid(t0, t1, steps, dtype=like.dtype, device=like.device)
    if steps is not None:
        raise ValueError("give steps or grid, not both")
    if not isinstance(grid, torch.Tensor) or grid.dim() != 1 or grid.shape[0] < 2:
        raise ValueError("grid must be a 1-D tensor of at least 2 times")
    d = grid[1:] - grid[:-1]
    if not ((d > 0).all() or (d < 0).all()):
        raise ValueError("grid must be strictly monotone")
    return grid.to(device=like.device, dtype=like.dtype)


def _check_f(f):
    if not callable(f):
        raise ValueError(f"f must be callable as f(x, t), got {type(f).__name__}")


def _stack(traj, like):
    if _is_tuple(like):
        return tuple(torch.stack([_leaves(s)[i] for s in traj]) for i in range(len(_leaves(like))))
    return torch.stack(traj)


def _detached_cpu(x):
    return _pack([v.detach().cpu() for v in _leaves(x)], x)


# ---- one step of each method -------------------------------------------------------------------

def _step_euler(f, x, t, h):
    return _axpy(x, h, (1.0, f(x, t))), 1


def _step_heun(f, x, t, h):
    k1 = f(x, t)
    k2 = f(_axpy(x, h, (1.0, k1)), t + h)
    return _axpy(x, h, (0.5, k1), (0.5, k2)), 2


def _step_rk4(f, x, t, h):
    k1 = f(x, t)
    k2 = f(_axpy(x, h, (0.5, k1)), t + 0.5 * h)
    k3 = f(_axpy(x, h, (0.5, k2)), t + 0.5 * h)
    k4 = f(_axpy(x, h, (1.0, k3)), t + h)
    return _axpy(x, h, (1 / 6, k1), (1 / 3, k2), (1 / 3, k3), (1 / 6, k4)), 4


_STEPS = {"euler": _step_euler, "heun": _step_heun, "rk4": _step_rk4}


def integrate(f: Callable, x, t0: float | None = None, t1: float | None = None, steps: int | None = None, *,
              grid: torch.Tensor | None = None, method: str = "rk4",
              return_trajectory: bool = False) -> SolverOutput:
    r"""Solve :math:`dx/dt = f(x, t)` from ``t0`` to ``t1`` with a fixed-step ``method``.

    - ``"euler"``: :math:`x_{n+1} = x_n + h f(x_n, t_n)`;
    - ``"heun"``: the trapezoid rule with an Euler predictor,
      :math:`x_{n+1} = x_n + \tfrac h2\big(f(x_n, t_n) + f(x_n + h f(x_n, t_n), t_{n+1})\big)`;
    - ``"rk4"``: the classical fourth-order Runge–Kutta method.

    ``h = t_{n+1} - t_n`` is negative when time runs backwards. See the module
    docstring for ``x``, ``f``, ``steps`` and ``grid``.
    """
    _check_f(f)
    check_in("method", method, METHODS)
    first = _check_state(x)
    ts = _resolve_grid(t0, t1, steps, grid, first)
    B = first.shape[0]
    step = _STEPS[method]
    nfe, traj = 0, [_detached_cpu(x)] if return_trajectory else None
    for n in range(ts.shape[0] - 1):
        t = ts[n].expand(B)
        h = ts[n + 1] - ts[n]
        x, k = step(f, x, t, h)
        nfe += k
        if return_trajectory:
            traj.append(_detached_cpu(x))
    return SolverOutput(x=x, nfe=nfe, trajectory=_stack(traj, x) if return_trajectory else None, t=ts)


def euler(f, x, t0=None, t1=None, steps=None, *, grid=None, return_trajectory=False) -> SolverOutput:
    """Explicit Euler (order 1); see :func:`integrate`."""
    return integrate(f, x, t0, t1, steps, grid=grid, method="euler", return_trajectory=return_trajectory)


def heun(f, x, t0=None, t1=None, steps=None, *, grid=None, return_trajectory=False) -> SolverOutput:
    """Heun's method (explicit trapezoid, order 2, 2 NFE per step); see :func:`integrate`."""
    return integrate(f, x, t0, t1, steps, grid=grid, method="heun", return_trajectory=return_trajectory)


def rk4(f, x, t0=None, t1=None, steps=None, *, grid=None, return_trajectory=False) -> SolverOutput:
    """Classical Runge–Kutta (order 4, 4 NFE per step); see :func:`integrate`."""
    return integrate(f, x, t0, t1, steps, grid=grid, method="rk4", return_trajectory=return_trajectory)


# ---- stochastic ---------------------------------------------------------------------------------

def euler_maruyama(f: Callable, g: Callable, x: torch.Tensor, t0: float | None = None, t1: float | None = None,
                   steps: int | None = None, *, grid: torch.Tensor | None = None,
                   generator: torch.Generator | None = None, last_step_noise: bool = True,
                   return_trajectory: bool = False) -> SolverOutput:
    r"""Euler–Maruyama for :math:`dx = f(x, t)\,dt + g(x, t)\,dW`:

    .. math:: x_{n+1} = x_n + f(x_n, t_n)\,h + g(x_n, t_n)\sqrt{|h|}\;z_n, \qquad z_n \sim \mathcal N(0, I).

    ``g(x, t)`` returns a scalar, a ``(B,)`` tensor (one diffusion coefficient per
    sample) or a tensor of ``x``'s shape (a diagonal one). Time may run backwards
    (``t0 > t1``): :math:`\sqrt{|h|}` keeps the noise real, as for the reverse-time SDE.
    With ``last_step_noise=False`` the final step adds no noise (a sampler's usual
    "denoise the last step"). Noise is drawn with ``generator``. ``nfe`` counts
    evaluations of ``f``. ``x`` must be a single tensor.
    """
    _check_f(f)
    if not callable(g):
        raise ValueError(f"g must be callable as g(x, t), got {type(g).__name__}")
    if not isinstance(x, torch.Tensor):
        raise ValueError("x must be a tensor for euler_maruyama")
    _check_state(x)
    ts = _resolve_grid(t0, t1, steps, grid, x)
    B = x.shape[0]
    gen_device = generator.device if generator is not None else x.device
    traj = [x.detach().cpu()] if return_trajectory else None
    S = ts.shape[0] - 1
    for n in range(S):
        t = ts[n].expand(B)
        h = ts[n + 1] - ts[n]
        drift = f(x, t)
        x_next = x + h * drift
        if last_step_noise or n < S - 1:
            g_t = torch.as_tensor(g(x, t), dtype=x.dtype, device=x.device)
            g_t = g_t if g_t.shape == x.shape else expand_like(g_t, x)
            z = torch.randn(x.shape, generator=generator, device=gen_device, dtype=x.dtype).to(x.device)
            x_next = x_next + g_t * h.abs().sqrt() * z
        x = x_next
        if return_trajectory:
            traj.append(x.detach().cpu())
    return SolverOutput(x=x, nfe=S, trajectory=torch.stack(traj) if return_trajectory else None, t=ts)
