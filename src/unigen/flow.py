r"""Flow matching: learn the velocity of a Gaussian path, sample with an ODE solver, straighten with reflow.

Introduced in *Flow matching* (the loss, sampling, likelihood and the conversions) and
*Rectified flow* (straightness, reflow pairs and one-step distillation), Part V.

A **velocity** is any callable ``velocity(x, t)`` that maps points ``x`` ``(B, ...)``
and times ``t`` ``(B,)`` to ``dx/dt`` with ``x``'s shape: a network trained with
:func:`cfm_loss`, a diffusion network read through :func:`reparameterize`, or the exact
field of ``mixture2d`` (:func:`mixture_velocity`). The solvers of :mod:`unigen.solvers`
integrate it and the likelihood of :mod:`unigen.sde` measures it, so Part IV and Part V
share one ODE code path.

**Time runs from data to noise**, as everywhere in the book: :math:`t = 0` is data,
:math:`t = 1` is noise, :math:`x_t = \alpha_t x_0 + \sigma_t\varepsilon` on any
:class:`~unigen.schedules.GaussianPath`, and a sampler integrates *backwards* from
:math:`t = 1` to :math:`t = 0`. Lipman et al. (2023) run time the other way (their
:math:`t' = 1 - t`), so their velocity is minus ours. The optimal-transport path is
:class:`~unigen.schedules.LinearPath`, :math:`x_t = (1 - t)\,x_0 + t\,\varepsilon`, whose conditional
velocity is :math:`\varepsilon - x_0`.

One Gaussian path, five readings of a network's output at :math:`(x_t, t)`
(``PARAMETERIZATIONS``): the velocity :math:`u = \dot\alpha_t x_0 + \dot\sigma_t\varepsilon`, ε,
:math:`x_0`, Salimans & Ho's :math:`v = \alpha_t\varepsilon - \sigma_t x_0`, and the score
:math:`-\varepsilon/\sigma_t`. :func:`to_velocity` and :func:`from_velocity` convert between them,
reusing the ε/:math:`x_0`/v/score conversions of :mod:`unigen.ddpm`.

The three verbs of every paradigm module (:mod:`unigen.outputs`): :func:`loss`
(:func:`cfm_loss`), :func:`sample` (an ODE solver from the prior) and :func:`nll`
(:func:`log_likelihood`, an :class:`~unigen.outputs.NLL` of kind ``"exact"``, or
``"estimate"`` with Hutchinson's trace).
"""
from __future__ import annotations

from typing import Callable

import torch

from . import solvers
from .likelihood import LogLikelihood, velocity_log_likelihood
from .losses import gaussian_loss, uniform_times
from .outputs import NLL, SampleOutput
from .parameterizations import (PARAMETERIZATIONS, eps_x0_from_velocity, from_velocity, to_velocity,
                                velocity_from_eps_x0)
from .paths import GaussianPath, LinearPath, check_path, noised
from .utils import check_callable, check_in, check_tensor, expand_like, gaussian_noise

__all__ = [
    "loss", "nll",
    "PARAMETERIZATIONS", "conditional_path", "cfm_loss",
    "velocity_from_eps_x0", "eps_x0_from_velocity", "to_velocity", "from_velocity",
    "reparameterize", "mixture_velocity", "time_at_log_snr", "change_path",
    "sample", "log_likelihood", "straightness", "reflow_pairs", "distill_loss",
]



def _check_t_eps(t_eps):
    if isinstance(t_eps, bool) or not isinstance(t_eps, (int, float)) or not 0.0 <= t_eps < 1.0:
        raise ValueError(f"t_eps must lie in [0, 1), got {t_eps!r}")
    return float(t_eps)


def _times(t, x: torch.Tensor) -> torch.Tensor:
    """``t`` (a number or a ``(B,)`` tensor) as a ``(B,)`` tensor on ``x``'s device and dtype."""
    if isinstance(t, bool) or not isinstance(t, (int, float, torch.Tensor)):
        raise ValueError(f"t must be a number or a tensor of shape (B,), got {type(t).__name__}")
    t = torch.as_tensor(t, dtype=x.dtype, device=x.device)
    if t.dim() == 0:
        t = t.expand(x.shape[0])
    if t.shape != (x.shape[0],):
        raise ValueError(f"t must be a number or have shape ({x.shape[0]},), got {tuple(t.shape)}")
    return t


# ---- the conditional path and the loss ----------------------------------------------------------

def conditional_path(path: GaussianPath, x0: torch.Tensor, noise: torch.Tensor, t) -> tuple:
    r"""A point of the conditional path and its velocity: ``(x_t, u_t)``.

    .. math:: x_t = \alpha_t x_0 + \sigma_t\varepsilon, \qquad
              u_t(x_t \mid x_0, \varepsilon) = \frac{d x_t}{dt} = \dot\alpha_t x_0 + \dot\sigma_t\varepsilon.

    ``x0`` and ``noise`` have the same shape ``(B, ...)``; ``t`` is a number or ``(B,)``.
    """
    check_path(path)
    check_tensor("x0", x0, floating=True)
    check_tensor("noise", noise, floating=True)
    if noise.shape != x0.shape or x0.dim() < 2:
        raise ValueError(f"x0 and noise must share a shape (B, ...), got {tuple(x0.shape)} "
                         f"and {tuple(noise.shape)}")
    a, s, da, ds = path(_times(t, x0))
    return noised(x0, noise, a, s), velocity_from_eps_x0(noise, x0, da, ds)


def cfm_loss(model: Callable, x0: torch.Tensor, path: GaussianPath | None = None, *,
             noise: torch.Tensor | None = None, velocity: Callable | None = None,
             t_eps: float = 0.0, generator: torch.Generator | None = None) -> torch.Tensor:
    r"""Conditional flow matching, :math:`\mathbb E\,\|v_\theta(x_t, t) - (\dot\alpha_t x_0 + \dot\sigma_t\varepsilon)\|^2`.

    Lipman et al. (2023); Liu et al. (2023) on the linear path (the default path): the velocity
    reading of :func:`unigen.losses.gaussian_loss`, with weight 1.
    ``t`` is uniform on ``[t_eps, 1]`` (a variance-preserving path needs ``t_eps > 0``,
    where :math:`\dot\sigma_0` is infinite). ``noise`` is the ε paired with each ``x0``:
    independent :math:`\mathcal N(0, I)` draws if ``None`` (drawn before the times), the ODE pairs
    of :func:`reflow_pairs` for reflow. With ``velocity`` (a callable ``u(x, t)``, e.g. the
    exact :func:`mixture_velocity`) the target is the *marginal* velocity instead: the
    flow-matching loss, whose gradient the conditional one matches. Returns the mean
    over every entry.
    """
    check_callable("model", model)
    path = check_path(path if path is not None else LinearPath())
    check_tensor("x0", x0, floating=True)
    t_eps = _check_t_eps(t_eps)
    if velocity is not None:
        check_callable("velocity", velocity)
    if noise is None:
        noise = gaussian_noise(x0.shape, generator, x0)
    return gaussian_loss(model, x0, uniform_times(path, t_eps), parameterization="velocity",
                         noise=noise, target=velocity, generator=generator)


def reparameterize(fn: Callable, path: GaussianPath, source: str = "eps",
                   target: str = "velocity") -> Callable:
    """``fn(x, t)``, whose output is read as ``source`` on ``path``, turned into a ``target``-prediction.

    E.g. a diffusion ε-network as a velocity field (``"eps"`` to ``"velocity"``), to sample it
    as a flow, or a flow's velocity as a score (``"velocity"`` to ``"score"``).
    """
    check_callable("fn", fn)
    check_path(path)
    check_in("source", source, PARAMETERIZATIONS)
    check_in("target", target, PARAMETERIZATIONS)

    def predict(x, t):
        t = _times(t, x)
        coefs = path(t)
        return from_velocity(to_velocity(fn(x, t), x, coefs, source), x, coefs, target)
    return predict


def mixture_velocity(mixture, path: GaussianPath) -> Callable:
    r"""The exact marginal velocity :math:`u_t(x) = \mathbb E[\dot\alpha_t x_0 + \dot\sigma_t\varepsilon \mid x_t = x]` of a mixture."""
    if not hasattr(mixture, "velocity_t"):
        raise ValueError("mixture must have a velocity_t method (a data.mixture2d.GaussianMixture)")
    check_path(path)

    def velocity(x, t):
        return mixture.velocity_t(x, *path(_times(t, x)))
    return velocity


def time_at_log_snr(path: GaussianPath, log_snr: torch.Tensor, iters: int = 60) -> torch.Tensor:
    r"""The time :math:`t` with :math:`\lambda_t` = ``log_snr`` on ``path``, by bisection (:math:`\lambda_t` decreases).

    Values beyond the path's range map to 0 or 1. Returns float64 with ``log_snr``'s shape.
    """
    check_path(path)
    check_tensor("log_snr", log_snr, floating=True)
    lam = log_snr.double().cpu()
    lo, hi = torch.zeros_like(lam), torch.ones_like(lam)
    for _ in range(iters):
        mid = 0.5 * (lo + hi)
        above = path.log_snr(mid) > lam          # mid is still too close to the data
        lo, hi = torch.where(above, mid, lo), torch.where(above, hi, mid)
    return (0.5 * (lo + hi)).to(log_snr.device)


def change_path(eps_model: Callable, source: GaussianPath, target: GaussianPath) -> Callable:
    r"""An ε-prediction on ``source`` as an ε-prediction on ``target``, by matching the signal-to-noise ratio.

    At equal :math:`\lambda`, :math:`x^{\text{source}}_\tau = c\,x^{\text{target}}_t` with
    :math:`c = \alpha^{\text{s}}_\tau/\alpha^{\text{t}}_t = \sigma^{\text{s}}_\tau/\sigma^{\text{t}}_t` and the same ε, so
    :math:`\hat\varepsilon^{\text{target}}(x, t) = \hat\varepsilon^{\text{source}}(c\,x, \tau(t))` (Kingma et al., 2021).
    """
    check_callable("eps_model", eps_model)
    check_path(source)
    check_path(target)

    def eps(x, t):
        t = _times(t, x)
        tau = time_at_log_snr(source, target.log_snr(t.double()))
        t64 = t.double()
        c = (source.alpha(tau) + source.sigma(tau)) / (target.alpha(t64) + target.sigma(t64))
        return eps_model(expand_like(c, x) * x, tau.to(x))
    return eps


# ---- sampling and likelihood --------------------------------------------------------------------

@torch.no_grad()
def sample(velocity: Callable, shape=None, steps: int = 100, *, method: str = "euler",
           path: GaussianPath | None = None, t_end: float = 0.0, x_1: torch.Tensor | None = None,
           generator: torch.Generator | None = None, device=None,
           return_trajectory: bool = False) -> SampleOutput:
    r"""Integrate :math:`dx/dt = v(x, t)` from :math:`t = 1` down to ``t_end`` with ``steps`` steps of ``method``.

    Starts from ``x_1``, or from the prior :math:`\mathcal N(0, \sigma_1^2 I)` of ``path``
    (default: the linear path, :math:`\sigma_1 = 1`) with ``shape``. ``nfe`` counts velocity
    evaluations per sample (Euler 1, Heun 2, RK4 4 per step).
    """
    check_callable("velocity", velocity)
    path = check_path(path if path is not None else LinearPath())
    if x_1 is None:
        if shape is None:
            raise ValueError("give shape or x_1")
        x_1 = path.prior_sample(shape, generator=generator, device=device)
    check_tensor("x_1", x_1, floating=True)
    out = solvers.integrate(velocity, x_1, 1.0, _check_t_eps(t_end), steps, method=method,
                            return_trajectory=return_trajectory)
    return SampleOutput(x=out.x, nfe=out.nfe, trajectory=out.trajectory)


def log_likelihood(velocity: Callable, x: torch.Tensor, path: GaussianPath | None = None,
                   steps: int = 100, *, method: str = "rk4", divergence: str = "exact", t_eps: float = 1e-5,
                   generator: torch.Generator | None = None) -> LogLikelihood:
    r"""Exact :math:`\log p(x)` under the flow of ``velocity``, with the prior :math:`\mathcal N(0, \sigma_1^2 I)` of ``path``.

    The same code as Part IV: :func:`unigen.likelihood.velocity_log_likelihood` (instantaneous change
    of variables, exact or Hutchinson divergence), integrated from ``t_eps`` to 1.
    """
    path = check_path(path if path is not None else LinearPath())
    return velocity_log_likelihood(velocity, x, path.prior_log_prob, steps, method=method,
                                   divergence=divergence, t_eps=t_eps, generator=generator)


def loss(model: Callable, batch: torch.Tensor, path: GaussianPath | None = None, **kw) -> torch.Tensor:
    """The training verb: :func:`cfm_loss` of ``batch`` ``(B, ...)`` on ``path`` (keywords as there)."""
    check_tensor("batch", batch, floating=True)
    return cfm_loss(model, batch, path, **kw)


def nll(model: Callable, x: torch.Tensor, *, steps: int = 100, divergence: str = "exact",
        path: GaussianPath | None = None, **kw) -> NLL:
    r"""The likelihood verb: :math:`-\log p_\theta(x)` of each row under the flow (:func:`log_likelihood`).

    Of kind ``"exact"`` with ``divergence="exact"``, ``"estimate"`` with a Hutchinson probe
    (``"gaussian"``, ``"rademacher"``). Other keywords (``method``, ``t_eps``, ``generator``)
    go to :func:`log_likelihood`.
    """
    check_in("divergence", divergence, ("exact", "gaussian", "rademacher"))
    out = log_likelihood(model, x, path, steps, divergence=divergence, **kw)
    return NLL(-out.log_prob, "exact" if divergence == "exact" else "estimate")


# ---- rectified flow -----------------------------------------------------------------------------

def straightness(trajectory: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    r"""How far each path is from a straight line at constant speed, ``(B,)`` (Liu et al., 2023).

    .. math:: S = \frac{1}{|t_N - t_0|}\sum_n |h_n|\,\Big\|\frac{x_{n+1} - x_n}{h_n} - \frac{x_N - x_0}{t_N - t_0}\Big\|^2,

    the discrete form of :math:`\int_0^1 \|\dot x_t - (x_1 - x_0)\|^2 dt` along a solver's
    ``trajectory`` ``(S + 1, B, ...)`` on the times ``t`` ``(S + 1,)``. Zero exactly when every
    path is straight and travelled at constant speed.
    """
    check_tensor("trajectory", trajectory, floating=True)
    check_tensor("t", t, dim=1, floating=True)
    if trajectory.dim() < 3 or trajectory.shape[0] != t.shape[0] or t.shape[0] < 2:
        raise ValueError(f"trajectory must have shape (S + 1, B, ...) with S + 1 = len(t) >= 2, "
                         f"got {tuple(trajectory.shape)} and {tuple(t.shape)}")
    traj = trajectory.reshape(trajectory.shape[0], trajectory.shape[1], -1)
    t = t.to(traj)
    h = t.diff()                                                      # (S,)
    speed = traj.diff(dim=0) / h[:, None, None]                       # (S, B, D)
    chord = (traj[-1] - traj[0]) / (t[-1] - t[0])                     # (B, D)
    return ((speed - chord).square().sum(-1) * h.abs()[:, None]).sum(0) / (t[-1] - t[0]).abs()


@torch.no_grad()
def reflow_pairs(velocity: Callable, noise: torch.Tensor, steps: int = 50, *, method: str = "heun",
                 path: GaussianPath | None = None, batch_size: int = 4096) -> tuple:
    r"""Couple each noise with its own ODE image: returns ``(x0, noise)`` with :math:`x_0^{(i)} = \mathrm{ODE}_{1\to 0}(\varepsilon^{(i)})`.

    Liu et al.'s reflow trains a new flow on these pairs (:func:`cfm_loss` with
    ``noise=``): the coupling is deterministic, so the new paths cross less and are
    straighter. The ODE runs in chunks of ``batch_size``; row i of ``x0`` always comes from
    row i of ``noise``.
    """
    check_callable("velocity", velocity)
    check_tensor("noise", noise, floating=True)
    if not isinstance(batch_size, int) or isinstance(batch_size, bool) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive int, got {batch_size!r}")
    x0 = torch.cat([sample(velocity, steps=steps, method=method, path=path, x_1=chunk).x
                    for chunk in noise.split(batch_size)])
    return x0, noise


def distill_loss(model: Callable, x0: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
    r"""One-step distillation of a reflowed flow: :math:`\mathbb E\,\|\varepsilon - v_\theta(\varepsilon, 1) - x_0\|^2`.

    A single Euler step from :math:`t = 1` to 0 maps ε to :math:`\varepsilon - v_\theta(\varepsilon, 1)`; fitting it
    to the ODE image :math:`x_0` of ε (a pair from :func:`reflow_pairs`) gives a one-step
    generator (Liu et al., 2023, section 2.3). Returns the mean over every entry.
    """
    check_callable("model", model)
    check_tensor("x0", x0, floating=True)
    check_tensor("noise", noise, floating=True)
    if noise.shape != x0.shape:
        raise ValueError(f"x0 and noise must share a shape, got {tuple(x0.shape)} and {tuple(noise.shape)}")
    t = torch.ones(noise.shape[0], dtype=noise.dtype, device=noise.device)
    return (noise - model(noise, t) - x0).square().mean()
