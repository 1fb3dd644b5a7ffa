r"""Score-based generative modelling with SDEs: forward SDEs, samplers driven by a score, and exact likelihoods.

Introduced in *Score functions and Langevin dynamics* (Langevin samplers, denoising
score matching) and *Score SDEs and the probability-flow ODE* (the rest), Part IV.

A **score function** is any callable ``score(x, t)`` that maps points ``x`` of shape
``(B, ...)`` and times ``t`` of shape ``(B,)`` to an estimate of
:math:`\nabla_x \log p_t(x)`. :func:`mixture_score` wraps the exact score of
``unigen.data.mixture2d``; :func:`model_score` wraps a network trained with
:func:`dsm_loss`. Every sampler and the likelihood take either.

The forward SDEs are linear, :math:`dx = f(t)\,x\,dt + g(t)\,dW`, so each one is a
Gaussian path :math:`x_t = \alpha_t x_0 + \sigma_t\varepsilon` of :mod:`unigen.schedules`:

- :class:`VPSDE` on :class:`~unigen.schedules.LinearVP`, the limit of DDPM (Ho et al., 2020);
- :class:`SubVPSDE` on :class:`SubVP` (defined here; Song et al., 2021);
- :class:`VESDE` on :class:`~unigen.schedules.GeometricVE`, the limit of NCSN (Song & Ermon, 2019).

Samplers (time runs from 1, noise, down to a small ``t_eps``; all take ``generator=``):
:func:`reverse_sde_sample` (Euler–Maruyama on Anderson's reverse SDE), :func:`pc_sample`
(predictor–corrector), :func:`pf_ode_sample` (the probability-flow ODE), and the
Langevin samplers :func:`langevin` and :func:`annealed_langevin`. They return a
:class:`~unigen.ddpm.SampleOutput`, like Part III's samplers.

Likelihood: :func:`velocity_log_likelihood` integrates the instantaneous change of
variables of any velocity field with :func:`divergence_exact` or the Hutchinson
estimator :func:`divergence_hutchinson`; :func:`ode_log_likelihood` applies it to the
probability-flow ODE of a score (Part V applies it to flow-matching velocities).

The three verbs of every paradigm module (:mod:`unigen.outputs`) take a network trained
with :func:`dsm_loss`: :func:`loss` (:func:`dsm_loss`), :func:`sample` (the reverse SDE, the
probability-flow ODE or predictor–corrector) and :func:`nll` (:func:`ode_log_likelihood`,
an :class:`~unigen.outputs.NLL` of kind ``"exact"``, or ``"estimate"`` with Hutchinson's trace).
"""
from __future__ import annotations

import math
from typing import Callable

import torch

from . import solvers
from .losses import gaussian_loss, uniform_times
from .likelihood import (LogLikelihood, divergence_exact, divergence_hutchinson, draw_probe,
                         velocity_log_likelihood)
from .outputs import NLL, SampleOutput
from .parameterizations import score_from_eps
from .paths import GaussianPath, GeometricVE, LinearVP
from .utils import check_in, check_positive, check_tensor, expand_like, gaussian_noise

__all__ = [
    "loss", "sample", "nll", "SAMPLERS",
    "SubVP", "SDE", "VPSDE", "SubVPSDE", "VESDE",
    "mixture_score", "model_score", "likelihood_times", "dsm_loss",
    "langevin", "annealed_langevin",
    "reverse_drift", "pf_ode_drift", "reverse_sde_sample", "corrector_step_size", "pc_sample",
    "pf_ode_sample",
    "draw_probe", "divergence_exact", "divergence_hutchinson", "LogLikelihood", "velocity_log_likelihood",
    "ode_log_likelihood",
]


# ---- the forward SDEs ---------------------------------------------------------------------------

class SubVP(GaussianPath):
    r"""The sub-VP path of Song et al. (2021): :math:`\alpha_t` of a :class:`~unigen.schedules.LinearVP`, and

    .. math:: \sigma_t = 1 - \alpha_t^2 = 1 - e^{-\int_0^t \beta(s)\,ds} \quad\text{(no square root).}

    Its variance :math:`\sigma_t^2` is below the VP variance :math:`1 - \alpha_t^2` at every t.
    """

    def __init__(self, beta_min: float = 0.1, beta_max: float = 20.0):
        self.vp = LinearVP(beta_min, beta_max)

    def _alpha(self, t):
        return self.vp._alpha(t)

    def _sigma(self, t):
        return -torch.expm1(2.0 * self.vp._log_alpha(t))

    def _d_alpha(self, t):
        return self.vp._d_alpha(t)

    def _d_sigma(self, t):
        return -2.0 * self.vp._alpha(t) * self.vp._d_alpha(t)


def _time_like(t, x: torch.Tensor) -> torch.Tensor:
    """``t`` (a number, a scalar or a ``(B,)`` tensor) as a tensor on ``x``'s device and dtype."""
    if isinstance(t, bool) or not isinstance(t, (int, float, torch.Tensor)):
        raise ValueError(f"t must be a number or a tensor, got {type(t).__name__}")
    return torch.as_tensor(t, dtype=x.dtype, device=x.device)


class SDE:
    r"""A linear forward SDE :math:`dx = f(t)\,x\,dt + g(t)\,dW` on :math:`t \in [0, 1]`, built from a Gaussian path.

    Matching the mean and variance of :math:`x_t \mid x_0 = \mathcal N(\alpha_t x_0, \sigma_t^2 I)` gives

    .. math:: f(t) = \frac{\dot\alpha_t}{\alpha_t}, \qquad
              g^2(t) = \frac{d\sigma_t^2}{dt} - 2 f(t)\,\sigma_t^2,

    which on a variance-preserving path simplifies to :math:`g^2 = -2\dot\alpha_t/\alpha_t`
    (finite at t = 0, where the general formula is 0 times infinity). The prior is
    :math:`\mathcal N(0, \sigma_1^2 I)`, the marginal at t = 1 up to the tiny :math:`\alpha_1`.
    """

    def __init__(self, path: GaussianPath):
        if not isinstance(path, GaussianPath):
            raise ValueError(f"path must be a schedules.GaussianPath, got {type(path).__name__}")
        self.path = path

    def __repr__(self):
        return f"{type(self).__name__}({self.path!r})"

    def marginal(self, t):
        r""":math:`(\alpha_t, \sigma_t)`: :math:`x_t \mid x_0 \sim \mathcal N(\alpha_t x_0, \sigma_t^2 I)`."""
        return self.path.alpha(t), self.path.sigma(t)

    def coefficients(self, t) -> tuple[torch.Tensor, torch.Tensor]:
        r""":math:`(f(t), g^2(t))` with t's shape (the path's :meth:`~unigen.schedules.GaussianPath.sde_coefficients`)."""
        return self.path.sde_coefficients(t)

    def drift(self, x: torch.Tensor, t) -> torch.Tensor:
        """The forward drift :math:`f(t)\\,x`."""
        f, _ = self.coefficients(_time_like(t, x))
        return expand_like(f, x) * x

    def diffusion(self, t) -> torch.Tensor:
        """:math:`g(t)`."""
        return self.coefficients(t)[1].clamp_min(0.0).sqrt()

    def sample_marginal(self, x0: torch.Tensor, t, *, generator: torch.Generator | None = None):
        r"""Draw :math:`x_t = \alpha_t x_0 + \sigma_t\varepsilon`; returns ``(x_t, eps)``."""
        check_tensor("x0", x0, floating=True)
        return self.path.sample(x0, _time_like(t, x0), generator=generator)

    @property
    def prior_std(self) -> float:
        r""":math:`\sigma_1`, the standard deviation of the prior :math:`\mathcal N(0, \sigma_1^2 I)`."""
        return self.path.prior_std

    def prior_sample(self, shape, *, generator=None, device=None, dtype=torch.float32) -> torch.Tensor:
        """Draw from the prior :math:`\\mathcal N(0, \\sigma_1^2 I)` of the path, shape ``shape``."""
        return self.path.prior_sample(shape, generator=generator, device=device, dtype=dtype)

    def prior_log_prob(self, x: torch.Tensor) -> torch.Tensor:
        """:math:`\\log \\mathcal N(x; 0, \\sigma_1^2 I)`, summed over every axis but the batch: ``(B,)``."""
        return self.path.prior_log_prob(x)


class VPSDE(SDE):
    r"""Variance preserving: :math:`dx = -\tfrac12\beta(t)\,x\,dt + \sqrt{\beta(t)}\,dW`, the limit of DDPM."""

    def __init__(self, beta_min: float = 0.1, beta_max: float = 20.0):
        super().__init__(LinearVP(beta_min, beta_max))


class SubVPSDE(SDE):
    r"""Sub-VP: :math:`dx = -\tfrac12\beta\,x\,dt + \sqrt{\beta(t)\big(1 - e^{-2\int_0^t\beta}\big)}\,dW` (:class:`SubVP`)."""

    def __init__(self, beta_min: float = 0.1, beta_max: float = 20.0):
        super().__init__(SubVP(beta_min, beta_max))


class VESDE(SDE):
    r"""Variance exploding: :math:`dx = \sqrt{d\sigma_t^2/dt}\,dW` with geometric :math:`\sigma_t`, the limit of NCSN."""

    def __init__(self, sigma_min: float = 0.01, sigma_max: float = 10.0):
        super().__init__(GeometricVE(sigma_min, sigma_max))


def _check_sde(sde):
    if not isinstance(sde, SDE):
        raise ValueError(f"sde must be a unigen.sde.SDE, got {type(sde).__name__}")
    return sde


def _check_score(score):
    if not callable(score):
        raise ValueError(f"score must be callable as score(x, t), got {type(score).__name__}")
    return score


# ---- score functions ----------------------------------------------------------------------------

def mixture_score(mixture, sde: SDE) -> Callable:
    r"""The exact score :math:`\nabla\log p_t` of a :class:`~unigen.data.mixture2d.GaussianMixture` under ``sde``."""
    _check_sde(sde)
    if not hasattr(mixture, "score_t"):
        raise ValueError("mixture must have a score_t method (a data.mixture2d.GaussianMixture)")

    def score(x, t):
        alpha_t, sigma_t = sde.marginal(_time_like(t, x))
        return mixture.score_t(x, alpha_t, sigma_t)
    return score


def model_score(model: Callable, sde: SDE, parameterization: str = "eps") -> Callable:
    r"""A network as a score function: :math:`s_\theta = -\hat\varepsilon_\theta/\sigma_t` (``"eps"``) or its raw output (``"score"``)."""
    _check_sde(sde)
    check_in("parameterization", parameterization, ("eps", "score"))
    if not callable(model):
        raise ValueError("model must be callable as model(x, t)")

    def score(x, t):
        t = _time_like(t, x).expand(x.shape[0])
        out = model(x, t)
        if parameterization == "score":
            return out
        return score_from_eps(out, sde.marginal(t)[1])
    return score


def likelihood_times(sde: SDE, n: int, *, t_eps: float = 1e-3, generator: torch.Generator | None = None,
                     device=None, dtype=torch.float32, grid_size: int = 4096) -> torch.Tensor:
    r"""Draw ``n`` times from :math:`q(t) \propto g^2(t)/\sigma_t^2` on :math:`[t_\varepsilon, 1]`.

    Used by :func:`dsm_loss` with ``weighting="likelihood"``: the ε-loss weighted by
    :math:`g^2/\sigma_t^2` (the weight :math:`\lambda = g^2` of the score loss, under which
    score matching bounds the KL divergence; Song et al., 2021b) has lower variance when
    t is drawn from q than when the weight multiplies a uniform draw. The CDF of q is
    tabulated on a geometric grid and inverted by linear interpolation. ``t_eps > 0``:
    on a VP path q behaves like 1/t near 0.
    """
    _check_sde(sde)
    if not isinstance(n, int) or n < 1:
        raise ValueError(f"n must be a positive int, got {n!r}")
    if not (isinstance(t_eps, (int, float)) and 0.0 < t_eps < 1.0):
        raise ValueError(f"t_eps must lie in (0, 1) for likelihood weighting, got {t_eps!r}")
    ts = torch.logspace(math.log10(t_eps), 0.0, grid_size, dtype=torch.float64)
    w = sde.coefficients(ts)[1] / sde.marginal(ts)[1] ** 2
    cdf = torch.cat([torch.zeros(1, dtype=torch.float64), torch.cumsum(0.5 * (w[1:] + w[:-1]) * ts.diff(), 0)])
    cdf = cdf / cdf[-1]
    gen_device = generator.device if generator is not None else device
    u = torch.rand(n, generator=generator, device=gen_device, dtype=torch.float64).cpu()
    i = torch.searchsorted(cdf, u).clamp(1, grid_size - 1)
    frac = (u - cdf[i - 1]) / (cdf[i] - cdf[i - 1]).clamp_min(1e-300)
    t = ts[i - 1] + frac * (ts[i] - ts[i - 1])
    return t.to(device=device, dtype=dtype)


def dsm_loss(model: Callable, x0: torch.Tensor, sde: SDE, *, parameterization: str = "eps",
             t_eps: float = 1e-3, weighting: str = "uniform",
             generator: torch.Generator | None = None) -> torch.Tensor:
    r"""Denoising score matching (Vincent, 2011) over :math:`t \sim \mathcal U(t_\varepsilon, 1)`.

    :func:`unigen.losses.gaussian_loss` on the SDE's path. With :math:`x_t = \alpha_t x_0 + \sigma_t\varepsilon`,
    the conditional score is :math:`\nabla\log p(x_t\mid x_0) = -\varepsilon/\sigma_t`, and

    - ``"score"``: :math:`\mathbb E\,\sigma_t^2\,\|s_\theta(x_t, t) + \varepsilon/\sigma_t\|^2`
      (Song et al.'s weighting :math:`\lambda(t) = \sigma_t^2`);
    - ``"eps"``: :math:`\mathbb E\,\|\hat\varepsilon_\theta(x_t, t) - \varepsilon\|^2`, the same number when
      :math:`s_\theta = -\hat\varepsilon_\theta/\sigma_t`: DDPM's simple loss.

    ``weighting="likelihood"`` draws t from :func:`likelihood_times` instead of uniformly,
    which weights the ε-loss by :math:`g^2(t)/\sigma_t^2` (up to a constant). Like every Gaussian
    loss it returns the mean over the batch and over each example's entries (the squared norm
    of Song et al. divided by the dimension D).
    """
    check_tensor("x0", x0, floating=True)
    _check_sde(sde)
    check_in("parameterization", parameterization, ("eps", "score"))
    if not (isinstance(t_eps, (int, float)) and 0.0 <= t_eps < 1.0):
        raise ValueError(f"t_eps must lie in [0, 1), got {t_eps!r}")
    check_in("weighting", weighting, ("uniform", "likelihood"))
    if weighting == "likelihood":
        def times(B, gen, x):
            t = likelihood_times(sde, B, t_eps=t_eps, generator=gen, device=x.device, dtype=x.dtype)
            return t, sde.path(t)
    else:
        times = uniform_times(sde.path, t_eps)
    if parameterization == "eps":
        return gaussian_loss(model, x0, times, parameterization="eps", generator=generator)
    return gaussian_loss(model, x0, times, parameterization="score", generator=generator,
                         weighting=lambda c: c.sigma_t**2)


# ---- Langevin dynamics ----------------------------------------------------------------------------

def langevin(score: Callable, x: torch.Tensor, step_size: float, n_steps: int, *,
             generator: torch.Generator | None = None, return_trajectory: bool = False) -> SampleOutput:
    r"""Unadjusted Langevin dynamics :math:`x \leftarrow x + \epsilon\,s(x) + \sqrt{2\epsilon}\,z` for a fixed density.

    ``score(x)`` takes only the points. Its stationary law tends to :math:`p` as
    :math:`\epsilon \to 0` (the step adds an :math:`O(\epsilon)` bias).
    """
    _check_score(score)
    check_tensor("x", x, floating=True)
    check_positive("step_size", step_size)
    if not isinstance(n_steps, int) or n_steps < 1:
        raise ValueError(f"n_steps must be a positive int, got {n_steps!r}")
    traj = [x.detach().cpu()] if return_trajectory else None
    for _ in range(n_steps):
        x = x + step_size * score(x) + math.sqrt(2 * step_size) * gaussian_noise(x.shape, generator, x)
        if return_trajectory:
            traj.append(x.detach().cpu())
    return SampleOutput(x=x, nfe=n_steps, trajectory=torch.stack(traj) if return_trajectory else None)


def annealed_langevin(score: Callable, x: torch.Tensor, path: GaussianPath, levels: torch.Tensor,
                      n_steps: int, step_size: float, *, generator: torch.Generator | None = None,
                      return_trajectory: bool = False) -> SampleOutput:
    r"""Annealed Langevin dynamics (Song & Ermon, 2019, Algorithm 1) over decreasing times ``levels``.

    At level :math:`t_i` it runs ``n_steps`` Langevin steps on :math:`p_{t_i}` with step
    :math:`\epsilon_i = \epsilon\,\sigma_{t_i}^2/\sigma_{t_L}^2`, where ``step_size`` is :math:`\epsilon`
    and :math:`t_L` the last level, so the noise per step scales with the level's width.
    ``score(x, t)`` is the score of :math:`p_t` under ``path``. The trajectory keeps the
    state after each level.
    """
    _check_score(score)
    check_tensor("x", x, floating=True)
    if not isinstance(path, GaussianPath):
        raise ValueError(f"path must be a schedules.GaussianPath, got {type(path).__name__}")
    check_tensor("levels", levels, dim=1, floating=True)
    if len(levels) > 1 and not (levels[1:] < levels[:-1]).all():
        raise ValueError("levels must be strictly decreasing times (from noise towards data)")
    check_positive("step_size", step_size)
    if not isinstance(n_steps, int) or n_steps < 1:
        raise ValueError(f"n_steps must be a positive int, got {n_steps!r}")
    sigmas = path.sigma(levels.double())
    if (sigmas <= 0).any():
        raise ValueError("levels must have sigma_t > 0")
    traj = [x.detach().cpu()] if return_trajectory else None
    B = x.shape[0]
    for t_i, s_i in zip(levels.tolist(), sigmas.tolist()):
        eps_i = step_size * (s_i / sigmas[-1].item()) ** 2
        t = torch.full((B,), t_i, dtype=x.dtype, device=x.device)
        for _ in range(n_steps):
            x = x + eps_i * score(x, t) + math.sqrt(2 * eps_i) * gaussian_noise(x.shape, generator, x)
        if return_trajectory:
            traj.append(x.detach().cpu())
    return SampleOutput(x=x, nfe=n_steps * len(levels),
                        trajectory=torch.stack(traj) if return_trajectory else None)


# ---- the reverse SDE and the probability-flow ODE ---------------------------------------------------

def _score_drift(sde: SDE, score: Callable, weight: float) -> Callable:
    r""":math:`f(t)x - w\,g^2(t)\,s(x, t)`: the reverse SDE's drift (w = 1) or the probability flow (w = 1/2)."""
    _check_sde(sde)
    _check_score(score)

    def drift(x, t):
        _, g2 = sde.coefficients(t)
        return sde.drift(x, t) - weight * expand_like(g2, x) * score(x, t)
    return drift


def reverse_drift(sde: SDE, score: Callable) -> Callable:
    r"""Anderson's reverse-time drift :math:`\bar f(x, t) = f(t)x - g^2(t)\,s(x, t)`, to be integrated with dt < 0."""
    return _score_drift(sde, score, 1.0)


def pf_ode_drift(sde: SDE, score: Callable) -> Callable:
    r"""The probability-flow velocity :math:`v(x, t) = f(t)x - \tfrac12 g^2(t)\,s(x, t)`."""
    return _score_drift(sde, score, 0.5)


def _start(sde, shape, x_T, generator, device):
    if x_T is not None:
        return check_tensor("x_T", x_T, floating=True)
    return sde.prior_sample(shape, generator=generator, device=device)


def _check_t_eps(t_eps):
    if not (isinstance(t_eps, (int, float)) and 0.0 <= t_eps < 1.0):
        raise ValueError(f"t_eps must lie in [0, 1), got {t_eps!r}")


def reverse_sde_sample(sde: SDE, score: Callable, shape=None, steps: int = 500, *, t_eps: float = 1e-3,
                       x_T: torch.Tensor | None = None, generator: torch.Generator | None = None,
                       device=None, return_trajectory: bool = False) -> SampleOutput:
    r"""Euler–Maruyama on the reverse SDE :math:`dx = [f x - g^2 s(x, t)]\,dt + g\,d\bar W` from t = 1 to ``t_eps``.

    Starts from ``x_T`` or a prior draw of ``shape``; the last step adds no noise.
    """
    _check_sde(sde)
    _check_score(score)
    _check_t_eps(t_eps)
    x = _start(sde, shape, x_T, generator, device)
    out = solvers.euler_maruyama(reverse_drift(sde, score), lambda x, t: sde.diffusion(t), x, 1.0, t_eps,
                                 steps, generator=generator, last_step_noise=False,
                                 return_trajectory=return_trajectory)
    return SampleOutput(x=out.x, nfe=out.nfe, trajectory=out.trajectory)


def pf_ode_sample(sde: SDE, score: Callable, shape=None, steps: int = 100, *, method: str = "heun",
                  t_eps: float = 1e-3, x_T: torch.Tensor | None = None, generator=None, device=None,
                  return_trajectory: bool = False) -> SampleOutput:
    r"""Integrate the probability-flow ODE :math:`dx/dt = f x - \tfrac12 g^2 s(x, t)` from t = 1 to ``t_eps``."""
    _check_sde(sde)
    _check_score(score)
    _check_t_eps(t_eps)
    x = _start(sde, shape, x_T, generator, device)
    out = solvers.integrate(pf_ode_drift(sde, score), x, 1.0, t_eps, steps, method=method,
                            return_trajectory=return_trajectory)
    return SampleOutput(x=out.x, nfe=out.nfe, trajectory=out.trajectory)


def corrector_step_size(s: torch.Tensor, z: torch.Tensor, snr: float, a=1.0) -> torch.Tensor:
    r"""The Langevin corrector's step :math:`\epsilon = 2a\,(r\,\overline{\|z\|}/\overline{\|s\|})^2` of Song et al. (2021).

    ``s`` is the score and ``z`` the noise of the step, both ``(B, ...)``; the norms are taken
    per example and averaged over the batch, as in the paper's ``LangevinCorrector``;
    ``snr`` is r. ``a`` is their :math:`\alpha_i = 1 - \beta_i` on VP and sub-VP SDEs and 1 on VE
    (:func:`pc_sample` passes :math:`\alpha_{t_n}^2/\alpha_{t_{n+1}}^2`). Returns a 0-d tensor.
    """
    check_tensor("s", s, floating=True)
    if not isinstance(z, torch.Tensor) or z.shape != s.shape:
        raise ValueError(f"z must be a tensor of shape {tuple(s.shape)}")
    check_positive("snr", snr)
    a = torch.as_tensor(a, dtype=s.dtype, device=s.device)
    if a.dim() != 0 or not a.item() > 0.0:
        raise ValueError(f"a must be a positive number, got {a!r}")
    B = s.shape[0]
    z_norm = z.reshape(B, -1).norm(dim=1).mean()
    s_norm = s.reshape(B, -1).norm(dim=1).mean().clamp_min(1e-12)
    return 2 * a * (snr * z_norm / s_norm) ** 2


def pc_sample(sde: SDE, score: Callable, shape=None, steps: int = 250, *, corrector_steps: int = 1,
              snr: float = 0.16, t_eps: float = 1e-3, x_T: torch.Tensor | None = None, generator=None,
              device=None, return_trajectory: bool = False) -> SampleOutput:
    r"""Predictor–corrector sampling (Song et al., 2021, Algorithm 1 with Langevin correction).

    At each grid time :math:`t_n` (from 1 down to ``t_eps``): ``corrector_steps`` Langevin
    steps on :math:`p_{t_n}`, :math:`x \leftarrow x + \epsilon s + \sqrt{2\epsilon}\,z`, then one
    Euler–Maruyama step of the reverse SDE to :math:`t_{n+1}` (noise-free on the last step).
    The corrector's step size is that of the paper's ``LangevinCorrector``,

    .. math:: \epsilon = 2\,a_n\,\big(r\,\overline{\|z\|}/\overline{\|s\|}\big)^2,

    with ``snr`` as r and the norms averaged over the batch as in the paper's code (per
    sample, a point where :math:`s \approx 0` would jump). :math:`a_n` is DDPM's
    :math:`1 - \beta_n` of the step from :math:`t_{n+1}` to :math:`t_n`, taken as the exact ratio
    :math:`a_n = \alpha_{t_n}^2/\alpha_{t_{n+1}}^2` (see :func:`corrector_step_size`): 1 on a VE
    path, as in the paper, and within :math:`O(\Delta t^2)` of their
    :math:`1 - \beta(t_n)\Delta t` on VP and sub-VP paths, while it stays in (0, 1] on grids
    too coarse for that linearisation (which turns negative once :math:`\beta\,\Delta t > 1`).
    ``nfe = steps * (1 + corrector_steps)``.
    """
    _check_sde(sde)
    _check_score(score)
    _check_t_eps(t_eps)
    check_positive("snr", snr)
    if not isinstance(corrector_steps, int) or corrector_steps < 0:
        raise ValueError(f"corrector_steps must be an int >= 0, got {corrector_steps!r}")
    x = _start(sde, shape, x_T, generator, device)
    ts = solvers.time_grid(1.0, t_eps, steps, dtype=x.dtype, device=x.device)
    drift = reverse_drift(sde, score)
    B = x.shape[0]
    traj = [x.detach().cpu()] if return_trajectory else None
    alpha = sde.path.alpha(ts.cpu().double())
    a_corr = (alpha[:-1] / alpha[1:]).square().to(x.device, x.dtype)   # alpha_n^2/alpha_{n+1}^2
    for n in range(steps):
        t = ts[n].expand(B)
        for _ in range(corrector_steps):
            s = score(x, t)
            z = gaussian_noise(x.shape, generator, x)
            step = corrector_step_size(s, z, snr, a_corr[n])
            x = x + step * s + (2 * step).sqrt() * z
        h = ts[n + 1] - ts[n]
        x = x + h * drift(x, t)
        if n < steps - 1:
            x = x + expand_like(sde.diffusion(t), x) * h.abs().sqrt() * gaussian_noise(x.shape, generator, x)
        if return_trajectory:
            traj.append(x.detach().cpu())
    return SampleOutput(x=x, nfe=steps * (1 + corrector_steps),
                        trajectory=torch.stack(traj) if return_trajectory else None)


def ode_log_likelihood(sde: SDE, score: Callable, x: torch.Tensor, steps: int = 100, *, method: str = "rk4",
                       divergence: str = "exact", t_eps: float = 1e-5, grid: torch.Tensor | None = None,
                       prior_log_prob: Callable | None = None,
                       generator: torch.Generator | None = None) -> LogLikelihood:
    r"""Exact log-likelihood of a score model through its probability-flow ODE :math:`v = f x - \tfrac12 g^2 s`.

    :func:`velocity_log_likelihood` with :func:`pf_ode_drift` as the velocity; see there
    for ``divergence``, ``grid`` and ``generator``. ``prior_log_prob`` defaults to
    ``sde.prior_log_prob``.
    """
    _check_sde(sde)
    _check_score(score)
    prior = prior_log_prob or sde.prior_log_prob
    return velocity_log_likelihood(pf_ode_drift(sde, score), x, prior, steps, method=method,
                                   divergence=divergence, t_eps=t_eps, grid=grid, generator=generator)


# ---- the three verbs ----------------------------------------------------------------------------

SAMPLERS = {"sde": reverse_sde_sample, "ode": pf_ode_sample, "pc": pc_sample}


def loss(model: Callable, batch: torch.Tensor, sde: SDE, **kw) -> torch.Tensor:
    """The training verb: :func:`dsm_loss` of ``batch`` ``(B, ...)`` under ``sde`` (keywords as there)."""
    check_tensor("batch", batch, floating=True)
    return dsm_loss(model, batch, sde, **kw)


def sample(model: Callable, shape, sde: SDE, steps: int | None = None, *, method: str = "sde",
           parameterization: str = "eps", t_eps: float = 1e-3, generator: torch.Generator | None = None,
           device=None, **kw) -> SampleOutput:
    """The sampling verb: the network's score (:func:`model_score`) fed to a sampler of ``method``.

    ``"sde"`` is :func:`reverse_sde_sample`, ``"ode"`` :func:`pf_ode_sample` (its solver is
    ``solver=``, default Heun) and ``"pc"`` :func:`pc_sample`; ``steps=None`` takes the sampler's
    default. Other keywords (``x_T``, ``return_trajectory``, ``snr``, ...) go to the sampler.
    """
    check_in("method", method, tuple(SAMPLERS))
    if "solver" in kw:
        if method != "ode":
            raise ValueError(f"solver applies to method='ode' only, got method={method!r}")
        kw["method"] = kw.pop("solver")
    if steps is not None:
        kw["steps"] = steps
    score = model_score(model, sde, parameterization)
    return SAMPLERS[method](sde, score, shape, t_eps=t_eps, generator=generator, device=device, **kw)


def nll(model: Callable, x: torch.Tensor, sde: SDE, steps: int = 100, *, t_eps: float = 1e-3,
        parameterization: str = "eps", divergence: str = "exact",
        generator: torch.Generator | None = None, **kw) -> NLL:
    r""":math:`-\log p_\theta(x)` of each row through the probability-flow ODE (:func:`ode_log_likelihood`).

    Of kind ``"exact"`` with ``divergence="exact"``, ``"estimate"`` with a Hutchinson probe
    (``"gaussian"``, ``"rademacher"``). Other keywords (``method``, ``grid``) go to
    :func:`ode_log_likelihood`.
    """
    check_in("divergence", divergence, ("exact", "gaussian", "rademacher"))
    score = model_score(model, sde, parameterization)
    out = ode_log_likelihood(sde, score, x, steps, t_eps=t_eps, divergence=divergence,
                             generator=generator, **kw)
    return NLL(-out.log_prob, "exact" if divergence == "exact" else "estimate")
