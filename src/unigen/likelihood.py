r"""Exact likelihoods of continuous-time models: divergences and the instantaneous change of variables.

Introduced in *Score SDEs and the probability-flow ODE* (Part IV) and used again by *Flow matching*
(Part V): any velocity field, the probability-flow ODE of a score model or a flow-matching network,
gives an exact log-likelihood through :func:`velocity_log_likelihood`, with the exact divergence
(:func:`divergence_exact`, one backward pass per dimension) or Hutchinson's unbiased estimate
(:func:`divergence_hutchinson`, one vector-Jacobian product per probe of :func:`draw_probe`).
"""
from __future__ import annotations

from typing import Callable, NamedTuple

import torch

from . import solvers
from .utils import check_in, check_tensor

__all__ = ["draw_probe", "divergence_exact", "divergence_hutchinson", "LogLikelihood",
           "velocity_log_likelihood"]


def _check_t_eps(t_eps):
    if not (isinstance(t_eps, (int, float)) and 0.0 <= t_eps < 1.0):
        raise ValueError(f"t_eps must lie in [0, 1), got {t_eps!r}")


def draw_probe(shape, kind: str = "rademacher", *, generator=None, device=None, dtype=torch.float32):
    r"""A Hutchinson probe :math:`v` with :math:`\mathbb E[vv^\top] = I`: Gaussian :math:`\mathcal N(0, I)` or Rademacher :math:`\pm 1`."""
    check_in("kind", kind, ("gaussian", "rademacher"))
    gen_device = generator.device if generator is not None else device
    if kind == "gaussian":
        v = torch.randn(tuple(shape), generator=generator, device=gen_device, dtype=dtype)
    else:
        v = torch.randint(0, 2, tuple(shape), generator=generator, device=gen_device).to(dtype) * 2 - 1
    return v.to(device) if device is not None else v


def divergence_exact(fn: Callable, x: torch.Tensor, t: torch.Tensor):
    r"""``(fn(x, t), div)`` with the exact :math:`\nabla\cdot f = \sum_i \partial f_i/\partial x_i`, by D backward passes.

    Costs one backward pass per dimension, so it is meant for low-dimensional ``x``.
    The result carries no graph.
    """
    check_tensor("x", x, floating=True)
    with torch.enable_grad():
        x = x.detach().requires_grad_(True)
        out = fn(x, t)
        flat = out.reshape(len(x), -1)
        D = flat.shape[1]
        div = torch.zeros(len(x), dtype=x.dtype, device=x.device)
        for i in range(D):
            grad = torch.autograd.grad(flat[:, i].sum(), x, retain_graph=i < D - 1)[0]
            div = div + grad.reshape(len(x), -1)[:, i]
    return out.detach(), div.detach()


def divergence_hutchinson(fn: Callable, x: torch.Tensor, t: torch.Tensor, probe: torch.Tensor):
    r"""``(fn(x, t), est)`` with Hutchinson's unbiased estimate :math:`v^\top (\partial f/\partial x)\, v` (one VJP).

    ``probe`` has ``x``'s shape and :math:`\mathbb E[vv^\top] = I` (see :func:`draw_probe`).
    """
    check_tensor("x", x, floating=True)
    if not isinstance(probe, torch.Tensor) or probe.shape != x.shape:
        raise ValueError(f"probe must be a tensor of shape {tuple(x.shape)}")
    with torch.enable_grad():
        x = x.detach().requires_grad_(True)
        out = fn(x, t)
        vjp = torch.autograd.grad((out * probe).sum(), x)[0]
    return out.detach(), (vjp * probe).reshape(len(x), -1).sum(1).detach()


class LogLikelihood(NamedTuple):
    """What :func:`velocity_log_likelihood` returns: per-example ``log_prob`` ``(B,)``, its parts, and the NFE."""

    log_prob: torch.Tensor
    prior_log_prob: torch.Tensor
    delta: torch.Tensor
    x_T: torch.Tensor
    nfe: int


def velocity_log_likelihood(velocity: Callable, x: torch.Tensor, prior_log_prob: Callable,
                            steps: int = 100, *, method: str = "rk4", divergence: str = "exact", t_eps: float = 1e-5,
                            grid: torch.Tensor | None = None,
                            generator: torch.Generator | None = None) -> LogLikelihood:
    r"""Exact log-likelihood under the flow :math:`dx/dt = v(x, t)`: the instantaneous change of variables.

    Chen et al. (2018).

    Along the flow, :math:`\frac{d}{dt}\log p_t(x_t) = -\nabla\cdot v(x_t, t)`, so

    .. math:: \log p_{t_\varepsilon}(x) = \log p_1(x_1) + \int_{t_\varepsilon}^1 \nabla\cdot v(x_t, t)\,dt,

    integrated forwards from the data at ``t_eps`` to t = 1 together with the point itself.
    ``velocity(x, t)`` is any velocity field (the probability-flow ODE of Part IV, a
    flow-matching network of Part V); ``prior_log_prob(x_1)`` returns ``(B,)``.
    ``divergence`` is ``"exact"`` (:func:`divergence_exact`) or a Hutchinson probe,
    ``"gaussian"`` or ``"rademacher"`` (FFJORD, Grathwohl et al., 2019): one probe per
    example, drawn with ``generator`` and kept fixed along the path, so the estimate of
    the integral is unbiased. ``grid`` replaces the even grid of ``steps`` from ``t_eps`` to 1.
    """
    if not callable(velocity):
        raise ValueError(f"velocity must be callable as velocity(x, t), got {velocity!r:.40}")
    if not callable(prior_log_prob):
        raise ValueError("prior_log_prob must be callable as prior_log_prob(x_1)")
    _check_t_eps(t_eps)
    check_tensor("x", x, floating=True)
    check_in("divergence", divergence, ("exact", "gaussian", "rademacher"))
    if divergence == "exact":
        def augmented(state, t):
            return divergence_exact(velocity, state[0], t)
    else:
        probe = draw_probe(x.shape, divergence, generator=generator, device=x.device, dtype=x.dtype)

        def augmented(state, t):
            return divergence_hutchinson(velocity, state[0], t, probe)

    start = (x.detach(), torch.zeros(len(x), dtype=x.dtype, device=x.device))
    if grid is None:
        out = solvers.integrate(augmented, start, t_eps, 1.0, steps, method=method)
    else:
        out = solvers.integrate(augmented, start, grid=grid, method=method)
    x_T, delta = out.x
    prior = prior_log_prob(x_T)
    return LogLikelihood(log_prob=prior + delta, prior_log_prob=prior, delta=delta, x_T=x_T, nfe=out.nfe)
