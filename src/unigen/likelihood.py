r"""The likelihood machinery: divergences, the change of variables, bits/dim, dequantisation.

Exact likelihoods of continuous-time models were introduced in *Score SDEs and the
probability-flow ODE* (Part IV) and are used again by *Flow matching* (Part V): any velocity
field, the probability-flow ODE of a score model or a flow-matching network, gives an exact
log-likelihood through :func:`velocity_log_likelihood`, with the exact divergence
(:func:`divergence_exact`, one backward pass per dimension) or Hutchinson's unbiased estimate
(:func:`divergence_hutchinson`, one vector-Jacobian product per probe of :func:`draw_probe`).

Reading a likelihood, from *The generative modelling problem* (Part I) and *Likelihoods in
bits/dim* (Part IV): a negative log-likelihood in nats per example becomes bits per dimension
(:func:`nats_to_bits`, :func:`bits_per_dim`), so that models of different data compare; a
continuous density is put on the discrete scale of quantised data by uniform dequantisation
(:func:`dequantize`, :func:`dequantized_nll`) or by integrating a Gaussian over each bin, the
discretised decoder (:func:`discretized_gaussian_log_prob`, with the stable
:func:`log_normal_mass`). :mod:`unigen.metrics` re-exports these, as the chapters call them
``metrics.*``.
"""
from __future__ import annotations

import math
from typing import Callable, NamedTuple

import torch

from . import solvers
from .utils import check_in, check_positive, check_tensor

__all__ = ["draw_probe", "divergence_exact", "divergence_hutchinson", "LogLikelihood",
           "velocity_log_likelihood",
           "LN2", "nats_to_bits", "bits_per_dim", "dequantize", "dequantized_nll", "log_normal_mass",
           "discretized_gaussian_log_prob"]


# ---- divergences and the instantaneous change of variables -----------------------------

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


# ---- bits per dimension ----------------------------------------------------------------

LN2 = math.log(2.0)


def _check_number_or_tensor(name: str, value):
    if isinstance(value, torch.Tensor):
        return check_tensor(name, value, floating=True)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"{name} must be a number or a floating-point tensor, got {type(value).__name__}")
    return value


def nats_to_bits(x):
    """Convert nats to bits: ``x / ln 2``. Accepts a number or a floating-point tensor."""
    _check_number_or_tensor("x", x)
    return x / LN2


def bits_per_dim(nll_nats, dims: int):
    r"""Negative log-likelihood per example in nats -> bits per dimension.

    .. math:: \mathrm{bpd} = \frac{-\log p(x)}{D \ln 2}

    ``dims`` is :math:`D`, e.g. 64 for an 8x8 image. Accepts a number or a tensor
    (returned with the same type).
    """
    _check_number_or_tensor("nll_nats", nll_nats)
    if not isinstance(dims, int) or isinstance(dims, bool):
        raise ValueError(f"dims must be a positive int, got {dims!r}")
    check_positive("dims", dims)
    return nll_nats / (dims * LN2)


# ---- discrete data, continuous models ------------------------------------------------
# Introduced in *Likelihoods in bits/dim* (Part IV). Data on a grid of bins of width
# ``bin_width`` (digits: 17 levels on [-1, 1], width 1/8) meet a continuous density
# either through uniform noise inside each bin or through a decoder integrated over it.

def dequantize(x: torch.Tensor, bin_width: float, *, generator: torch.Generator | None = None) -> torch.Tensor:
    r"""Uniform dequantisation :math:`y = x + u`, :math:`u \sim \mathcal U[-\Delta/2, \Delta/2)^D`, for bin centres ``x``.

    ``x`` is ``(B, ...)`` float; ``bin_width`` is :math:`\Delta`. The noise is drawn with
    ``generator`` (on its device) and moved to ``x``'s device.
    """
    check_tensor("x", x, floating=True)
    check_positive("bin_width", bin_width)
    gen_device = generator.device if generator is not None else x.device
    u = torch.rand(x.shape, generator=generator, device=gen_device, dtype=x.dtype).to(x.device)
    return x + bin_width * (u - 0.5)


def dequantized_nll(nll_nats, dims: int, bin_width: float):
    r"""The discrete NLL bound of uniform dequantisation (Theis et al., 2016), in nats per example.

    .. math:: -\log P(x) \le \mathbb E_u\big[-\log p(x + u)\big] - D\log\Delta,
              \qquad P(x) = \int_{\text{bin}(x)} p(y)\,dy,

    by Jensen's inequality. ``nll_nats`` is :math:`-\log p(x + u)` of the continuous
    density at dequantised points (a number or a tensor, one ``u`` per example: an
    unbiased estimate of the expectation), ``dims`` is :math:`D`, ``bin_width`` is :math:`\Delta`.
    """
    _check_number_or_tensor("nll_nats", nll_nats)
    if not isinstance(dims, int) or isinstance(dims, bool):
        raise ValueError(f"dims must be a positive int, got {dims!r}")
    check_positive("dims", dims)
    check_positive("bin_width", bin_width)
    return nll_nats - dims * math.log(bin_width)


def log_normal_mass(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    r""":math:`\log(\Phi(b) - \Phi(a))` elementwise for :math:`a < b` (infinite ends allowed), stable in both tails.

    In the upper tail it uses :math:`\Phi(-a) - \Phi(-b)`, so both CDFs stay small and
    ``log_ndtr`` keeps their precision.
    """
    check_tensor("a", a, floating=True)
    check_tensor("b", b, floating=True)
    flip = a > 0
    a, b = torch.where(flip, -b, a), torch.where(flip, -a, b)
    log_b, log_a = torch.special.log_ndtr(b), torch.special.log_ndtr(a)
    ratio = torch.exp(log_a - log_b).clamp(max=1 - torch.finfo(log_a.dtype).eps)
    return log_b + torch.log1p(-ratio)


def discretized_gaussian_log_prob(x: torch.Tensor, mean: torch.Tensor, std, *, n_bins: int,
                                  low: float = -1.0, high: float = 1.0) -> torch.Tensor:
    r"""Elementwise :math:`\log P(\text{bin of } x)` under :math:`\mathcal N(\text{mean}, \text{std}^2)`, the bin's mass.

    ``n_bins`` bins of width :math:`\Delta = (\text{high} - \text{low})/(\text{n\_bins} - 1)` are centred on
    the levels ``low, low + Δ, ..., high``; the first and last bins reach to :math:`\mp\infty`,
    so the ``n_bins`` probabilities of any Gaussian sum to 1 (the decoder of Ho et al., 2020, section 3.3).
    ``x`` must hold levels; ``mean`` and ``std`` (a number or a tensor) broadcast against it.
    """
    check_tensor("x", x, floating=True)
    check_tensor("mean", mean, floating=True)
    if not isinstance(n_bins, int) or isinstance(n_bins, bool) or n_bins < 2:
        raise ValueError(f"n_bins must be an int >= 2, got {n_bins!r}")
    if not (isinstance(low, (int, float)) and isinstance(high, (int, float)) and low < high):
        raise ValueError(f"low and high must be numbers with low < high, got {low!r}, {high!r}")
    std = torch.as_tensor(std, dtype=mean.dtype, device=mean.device)
    if not (std > 0).all() or not torch.isfinite(std).all():
        raise ValueError("std must be finite and > 0")
    width = (high - low) / (n_bins - 1)
    index = (x - low) / width
    level = index.round()
    if x.numel() and ((index - level).abs().max() > 1e-3 or level.min() < 0 or level.max() > n_bins - 1):
        raise ValueError(f"x must hold bin centres low + i * {width:.4g}, i = 0..{n_bins - 1}")
    centre = low + level * width
    a = (centre - width / 2 - mean) / std
    b = (centre + width / 2 - mean) / std
    a = torch.where(level == 0, torch.full_like(a, -math.inf), a)
    b = torch.where(level == n_bins - 1, torch.full_like(b, math.inf), b)
    return log_normal_mass(a, b)
