r"""Noise schedules as Gaussian paths :math:`x_t = \alpha_t x_0 + \sigma_t \varepsilon`, in continuous time.

Introduced in *The forward process* (Part III); the score-SDE and flow-matching
parts build on the same classes.

Time runs from data to noise: :math:`t = 0` is data, :math:`t = 1` is noise.
A schedule is a small object whose methods take a tensor ``t`` with values in
[0, 1] (any shape; a Python number works too) and return tensors of the same
shape, dtype and device:

- :meth:`GaussianPath.alpha`, :meth:`~GaussianPath.sigma` and their time
  derivatives :meth:`~GaussianPath.d_alpha`, :meth:`~GaussianPath.d_sigma`;
- ``path(t)`` returns all four at once as a :class:`PathCoefficients`
  ``(alpha_t, sigma_t, d_alpha_t, d_sigma_t)``, the interface of Meta's
  ``flow_matching`` schedulers;
- :meth:`~GaussianPath.log_snr`, :math:`\lambda_t = \log(\alpha_t^2/\sigma_t^2)`;
- :meth:`~GaussianPath.sde_coefficients`, the drift and diffusion coefficients
  :math:`f(t), g^2(t)` of the forward SDE :math:`dx = f(t)\,x\,dt + g(t)\,dW` that has
  the same marginals.

The paths:

============================  ===========================================  ======================
class                         :math:`\alpha_t`, :math:`\sigma_t`           kind
============================  ===========================================  ======================
:class:`LinearVP`             DDPM's linear :math:`\beta`, in continuous time  variance preserving
:class:`InterpolatedVP`       through a grid's :math:`\bar\alpha_k`, constant rate per step  variance preserving
:class:`CosineVP`             Nichol & Dhariwal's cosine schedule         variance preserving
:class:`LinearPath`           :math:`1 - t`, :math:`t` (OT / rectified flow)   neither
:class:`GeometricVE`          :math:`1`, geometric from ``sigma_min`` to ``sigma_max``  variance exploding
============================  ===========================================  ======================

DDPM's discrete chain, the grids :math:`\bar\alpha_k`, :math:`\beta_k` at steps :math:`k = 1..T`,
lives in :mod:`unigen.discrete_time`, which builds on these paths; :mod:`unigen.schedules`
gathers both under the name the chapters use.
"""
from __future__ import annotations

import math
from typing import NamedTuple

import torch

from .utils import check_positive, check_tensor, expand_like, gaussian_noise

__all__ = [
    "PathCoefficients", "GaussianPath", "VariancePreserving", "LinearVP", "CosineVP", "LinearPath",
    "GeometricVE", "InterpolatedVP", "check_path", "noised",
]

def noised(x0: torch.Tensor, eps: torch.Tensor, alpha_t, sigma_t) -> torch.Tensor:
    r""":math:`x_t = \alpha_t x_0 + \sigma_t\varepsilon`, with one coefficient per example (or a number).

    The one place the book's forward process is written: the paths, DDPM's ``q_sample``, the
    Gaussian loss and the flow's conditional path all call it.
    """
    return expand_like(alpha_t, x0) * x0 + expand_like(sigma_t, x0) * eps


class PathCoefficients(NamedTuple):
    r"""The coefficients of a Gaussian path at times ``t``: :math:`(\alpha_t, \sigma_t, \dot\alpha_t, \dot\sigma_t)`.

    A ``NamedTuple``, so ``alpha_t, sigma_t, d_alpha_t, d_sigma_t = path(t)`` works.
    """

    alpha_t: torch.Tensor
    sigma_t: torch.Tensor
    d_alpha_t: torch.Tensor
    d_sigma_t: torch.Tensor


def _as_time(t) -> torch.Tensor:
    """Validate ``t``: a float tensor (any shape) or a number, with values in [0, 1]."""
    if isinstance(t, bool):
        raise ValueError(f"t must be a float tensor or a number in [0, 1], got {t!r}")
    if isinstance(t, (int, float)):
        t = torch.tensor(float(t), dtype=torch.float64)
    if not isinstance(t, torch.Tensor):
        raise ValueError(f"t must be a float tensor or a number in [0, 1], got {type(t).__name__}")
    if not t.is_floating_point():
        raise ValueError(f"t must be a floating-point tensor, got {t.dtype}")
    if t.numel() and (torch.isnan(t).any() or t.min() < 0 or t.max() > 1):
        raise ValueError(f"t must lie in [0, 1], got values in [{t.min().item():.4g}, {t.max().item():.4g}]")
    return t


class GaussianPath:
    r"""Base class of a Gaussian path :math:`x_t = \alpha_t x_0 + \sigma_t \varepsilon`, :math:`t \in [0, 1]`.

    A subclass implements :meth:`_alpha`, :meth:`_sigma`, :meth:`_d_alpha` and
    :meth:`_d_sigma` on a validated tensor; everything else is derived here.
    """

    #: True when :math:`\alpha_t^2 + \sigma_t^2 = 1` for every t.
    variance_preserving: bool = False

    # ---- what a subclass provides ----------------------------------------------------
    def _alpha(self, t: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def _sigma(self, t: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def _d_alpha(self, t: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def _d_sigma(self, t: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    # ---- the public interface ---------------------------------------------------------
    def _coefficient(name: str, doc: str):       # builds the four accessors below, then is deleted
        """The public method ``name(t)``: validate ``t``, then call the subclass's ``_name``."""
        def accessor(self, t) -> torch.Tensor:
            return getattr(self, "_" + name)(_as_time(t))
        accessor.__name__, accessor.__qualname__, accessor.__doc__ = name, f"GaussianPath.{name}", doc
        return accessor

    alpha = _coefficient("alpha", r"Signal scale :math:`\alpha_t`.")
    sigma = _coefficient("sigma", r"Noise scale :math:`\sigma_t`.")
    d_alpha = _coefficient("d_alpha", r":math:`\dot\alpha_t = d\alpha_t/dt`.")
    d_sigma = _coefficient("d_sigma", r":math:`\dot\sigma_t = d\sigma_t/dt`.")
    del _coefficient

    def __call__(self, t) -> PathCoefficients:
        r"""All four coefficients :math:`(\alpha_t, \sigma_t, \dot\alpha_t, \dot\sigma_t)` at once."""
        t = _as_time(t)
        return PathCoefficients(self._alpha(t), self._sigma(t), self._d_alpha(t), self._d_sigma(t))

    def snr(self, t) -> torch.Tensor:
        r"""Signal-to-noise ratio :math:`\alpha_t^2 / \sigma_t^2` (``inf`` where :math:`\sigma_t = 0`)."""
        t = _as_time(t)
        return self._alpha(t) ** 2 / self._sigma(t) ** 2

    def log_snr(self, t) -> torch.Tensor:
        r"""Log signal-to-noise ratio :math:`\lambda_t = 2\log\alpha_t - 2\log\sigma_t`; decreasing in t."""
        t = _as_time(t)
        return 2.0 * (torch.log(self._alpha(t)) - torch.log(self._sigma(t)))

    def sde_coefficients(self, t) -> tuple[torch.Tensor, torch.Tensor]:
        r"""Drift and squared diffusion :math:`(f(t), g^2(t))` of the linear SDE with this path's marginals.

        For :math:`dx = f(t)\,x\,dt + g(t)\,dW`, matching the mean and variance of
        :math:`x_t \mid x_0` gives :math:`f = \dot\alpha_t/\alpha_t` and
        :math:`g^2 = 2\sigma_t\dot\sigma_t - 2 f \sigma_t^2` (Kingma et al., 2021, eq. 17), which on a
        variance-preserving path simplifies to :math:`g^2 = -2\dot\alpha_t/\alpha_t` (finite at
        t = 0, where the general formula is 0 times infinity).
        """
        a, s, da, ds = self(t)
        f = da / a
        if self.variance_preserving:
            return f, -2.0 * f
        return f, 2.0 * s * ds - 2.0 * f * s**2

    # ---- drawing from the path and its prior --------------------------------------------
    def sample(self, x0: torch.Tensor, t, eps: torch.Tensor | None = None, *,
               generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        r"""Draw :math:`x_t = \alpha_t x_0 + \sigma_t\varepsilon` (``eps`` drawn with ``generator`` if not given).

        ``t`` is a number or one time per example, ``(B,)``. Returns ``(x_t, eps)``.
        """
        check_tensor("x0", x0, floating=True)
        t = torch.as_tensor(t, dtype=x0.dtype, device=x0.device)
        t = t.expand(len(x0)) if t.dim() == 0 else t
        if eps is None:
            eps = gaussian_noise(x0.shape, generator, x0)
        elif not isinstance(eps, torch.Tensor) or eps.shape != x0.shape:
            raise ValueError(f"eps must be a tensor of x0's shape {tuple(x0.shape)}")
        return noised(x0, eps, self.alpha(t), self.sigma(t)), eps

    @property
    def prior_std(self) -> float:
        r""":math:`\sigma_1`, the standard deviation of the prior :math:`\mathcal N(0, \sigma_1^2 I)`."""
        return float(self.sigma(1.0))

    def prior_sample(self, shape, *, generator=None, device=None, dtype=torch.float32) -> torch.Tensor:
        """Draw from the prior :math:`\\mathcal N(0, \\sigma_1^2 I)`, shape ``shape``: where every sampler starts."""
        if not isinstance(shape, (tuple, list, torch.Size)) or not all(isinstance(n, int) and n > 0 for n in shape):
            raise ValueError(f"shape must be a tuple of positive ints, got {shape!r}")
        gen_device = generator.device if generator is not None else device
        z = torch.randn(tuple(shape), generator=generator, device=gen_device, dtype=dtype)
        return (self.prior_std * z).to(device) if device is not None else self.prior_std * z

    def prior_log_prob(self, x: torch.Tensor) -> torch.Tensor:
        """:math:`\\log \\mathcal N(x; 0, \\sigma_1^2 I)`, summed over every axis but the batch: ``(B,)``."""
        check_tensor("x", x, floating=True)
        D = x[0].numel()
        s2 = self.prior_std**2
        return -0.5 * x.reshape(len(x), -1).square().sum(1) / s2 - 0.5 * D * math.log(2 * math.pi * s2)

    def __repr__(self):
        fields = ", ".join(f"{k}={v!r}" for k, v in vars(self).items())
        return f"{type(self).__name__}({fields})"


def check_path(path) -> GaussianPath:
    """``path`` if it is a :class:`GaussianPath`, else a ``ValueError`` that names it."""
    if not isinstance(path, GaussianPath):
        raise ValueError(f"path must be a schedules.GaussianPath, got {type(path).__name__}")
    return path


class VariancePreserving(GaussianPath):
    r"""A variance-preserving path, defined by :math:`\bar\alpha(t) = \alpha_t^2`: :math:`\sigma_t = \sqrt{1 - \bar\alpha(t)}`.

    A subclass gives :meth:`_log_alpha` (of :math:`\alpha_t`, not of :math:`\bar\alpha`) and its
    derivative :meth:`_d_log_alpha`. Then :math:`\dot\alpha_t = \alpha_t\,(\log\alpha_t)'` and
    :math:`\dot\sigma_t = -\alpha_t\dot\alpha_t / \sigma_t`, which is infinite at
    :math:`t = 0` where :math:`\sigma_0 = 0`.
    """

    variance_preserving = True

    def _log_alpha(self, t):
        raise NotImplementedError

    def _d_log_alpha(self, t):
        raise NotImplementedError

    def _alpha(self, t):
        return torch.exp(self._log_alpha(t))

    def _sigma(self, t):
        # sqrt(1 - exp(2 log a)) computed as sqrt(-expm1(...)) to keep precision near t = 0
        return torch.sqrt((-torch.expm1(2.0 * self._log_alpha(t))).clamp_min(0.0).abs())  # abs: no -0.0

    def _d_alpha(self, t):
        return self._alpha(t) * self._d_log_alpha(t)

    def _d_sigma(self, t):
        return -self._alpha(t) * self._d_alpha(t) / self._sigma(t)

    def log_snr(self, t) -> torch.Tensor:
        r""":math:`\lambda_t = \log\bar\alpha - \log(1-\bar\alpha)`, computed stably."""
        t = _as_time(t)
        two_log_a = 2.0 * self._log_alpha(t)
        return two_log_a - torch.log(-torch.expm1(two_log_a))


class LinearVP(VariancePreserving):
    r"""DDPM's linear schedule in continuous time (Ho et al., 2020; Song et al., 2021).

    :math:`\beta(t) = \beta_{\min} + t(\beta_{\max} - \beta_{\min})` and
    :math:`\alpha_t = \exp\!\big(-\tfrac12\int_0^t \beta(s)\,ds\big)
    = \exp\!\big(-\tfrac12\beta_{\min} t - \tfrac14(\beta_{\max}-\beta_{\min})t^2\big)`.
    The defaults 0.1 and 20 are :math:`T` times Ho et al.'s first and last betas at ``T = 1000``,
    so this is the continuous-time limit of their grid. Discretised,
    :func:`linear_vp_grid` ``(1000)``, it is close to :func:`ddpm_linear` ``(1000)`` but not
    equal: its betas are the integrals of :math:`\beta(t)` over each step
    (:math:`\beta_1 = 1.0994\cdot10^{-4}`, not :math:`10^{-4}`).
    """

    def __init__(self, beta_min: float = 0.1, beta_max: float = 20.0):
        check_positive("beta_min", beta_min, allow_zero=True)
        check_positive("beta_max", beta_max)
        if beta_max < beta_min:
            raise ValueError(f"beta_max must be >= beta_min = {beta_min}, got {beta_max}")
        self.beta_min, self.beta_max = float(beta_min), float(beta_max)

    def beta(self, t) -> torch.Tensor:
        r"""The noise rate :math:`\beta(t)`."""
        t = _as_time(t)
        return self.beta_min + t * (self.beta_max - self.beta_min)

    def _log_alpha(self, t):
        return -0.5 * self.beta_min * t - 0.25 * (self.beta_max - self.beta_min) * t**2

    def _d_log_alpha(self, t):
        return -0.5 * (self.beta_min + t * (self.beta_max - self.beta_min))


class CosineVP(VariancePreserving):
    r"""The cosine schedule of Nichol & Dhariwal (2021).

    :math:`\alpha_t = \cos\!\big(\tfrac{t + s}{1 + s}\tfrac\pi2\big) / \cos\!\big(\tfrac{s}{1+s}\tfrac\pi2\big)`, so
    :math:`\bar\alpha(t) = \alpha_t^2` is their :math:`f(t)/f(0)`. The offset ``s`` keeps
    :math:`\beta` from being tiny near :math:`t = 0`. At :math:`t = 1`, :math:`\alpha_1 = 0`
    (the log-SNR is :math:`-\infty`); :func:`discretize` clips :math:`\beta_T` as the paper does.
    """

    def __init__(self, s: float = 0.008):
        check_positive("s", s)
        self.s = float(s)

    @property
    def _cos0(self) -> float:
        return math.cos(self.s / (1 + self.s) * math.pi / 2)

    def _angle(self, t):
        return (t + self.s) / (1.0 + self.s) * (math.pi / 2)

    def _log_alpha(self, t):
        log_a = torch.log(torch.cos(self._angle(t)).clamp_min(0.0)) - math.log(self._cos0)
        return log_a.clamp_max(0.0)

    def _d_log_alpha(self, t):
        return -torch.tan(self._angle(t)) * (math.pi / 2) / (1.0 + self.s)

    def _alpha(self, t):
        # exact zero at t = 1 rather than exp(log(6e-17))
        return (torch.cos(self._angle(t)).clamp_min(0.0) / self._cos0).clamp_max(1.0)

    def _d_alpha(self, t):
        return -torch.sin(self._angle(t)) * (math.pi / 2) / (1.0 + self.s) / self._cos0


class InterpolatedVP(VariancePreserving):
    r"""The VP path through given :math:`\bar\alpha_k` at times :math:`t_k`, with :math:`\log\alpha_t` linear in between.

    So :math:`\alpha_{t_k}^2 = \bar\alpha_k` at every knot, and the noise rate
    :math:`\beta(t) = -2\,d\log\alpha_t/dt` is constant on each step, equal to
    :math:`-\log(1-\beta_k)/(t_k - t_{k-1})`; :func:`discretize` on the same times gives the
    grid back. It is the ``path`` of :func:`ddpm_linear`, so that code which needs
    :math:`(\alpha_t, \sigma_t)` at a time (an exact :math:`\varepsilon^*`, a conversion between
    parameterisations) agrees with the grid there. At a knot the derivatives are those of
    the step that ends there.

    Args:
        t: ``(T+1,)`` float tensor of times increasing from 0 to 1.
        alpha_bar: ``(T+1,)`` float tensor, ``alpha_bar[0] = 1``, positive and non-increasing.
        name: a label for ``repr``.
    """

    def __init__(self, t: torch.Tensor, alpha_bar: torch.Tensor, name: str = "interpolated"):
        for arg, v in (("t", t), ("alpha_bar", alpha_bar)):
            if not isinstance(v, torch.Tensor) or not v.is_floating_point() or v.dim() != 1 or len(v) < 2:
                raise ValueError(f"{arg} must be a 1-D float tensor of length >= 2")
        if t.shape != alpha_bar.shape:
            raise ValueError(f"t and alpha_bar must have the same length, got {len(t)} and {len(alpha_bar)}")
        t, alpha_bar = t.detach().double().cpu(), alpha_bar.detach().double().cpu()
        if t[0] != 0 or t[-1] != 1 or (t.diff() <= 0).any():
            raise ValueError("t must increase from t[0] = 0 to t[-1] = 1")
        if alpha_bar[0] != 1 or (alpha_bar <= 0).any() or (alpha_bar.diff() > 0).any():
            raise ValueError("alpha_bar must start at 1, stay positive and not increase")
        self.name = str(name)
        self._knots, self._log_alpha_knots = t, 0.5 * torch.log(alpha_bar)

    def _step(self, t):
        """For each t: the knots (t0, t1) and log-alphas (l0, l1) of the step (t0, t1] that holds it."""
        knots = self._knots.to(t.device)
        i = torch.searchsorted(knots, t.detach().to(knots).contiguous()).clamp(1, len(knots) - 1)
        logs = self._log_alpha_knots.to(t.device)
        return knots[i - 1], knots[i], logs[i - 1], logs[i]

    def _log_alpha(self, t):
        t0, t1, l0, l1 = self._step(t)
        w = (t.to(t0) - t0) / (t1 - t0)
        return torch.lerp(l0, l1, w).to(t.dtype)

    def _d_log_alpha(self, t):
        t0, t1, l0, l1 = self._step(t)
        return ((l1 - l0) / (t1 - t0)).to(t.dtype)

    def __repr__(self):
        return f"InterpolatedVP({self.name}, T={len(self._knots) - 1})"


class LinearPath(GaussianPath):
    r"""The straight (optimal-transport, rectified-flow) path :math:`\alpha_t = 1 - t`, :math:`\sigma_t = t`.

    Introduced for flow matching (Lipman et al., 2023; Liu et al., 2023); with the
    book's time convention the data sit at :math:`t = 0`.
    """

    def _alpha(self, t):
        return 1.0 - t

    def _sigma(self, t):
        return t.clone()

    def _d_alpha(self, t):
        return torch.full_like(t, -1.0)

    def _d_sigma(self, t):
        return torch.ones_like(t)


class GeometricVE(GaussianPath):
    r"""The variance-exploding path of NCSN / score SDEs: :math:`\alpha_t = 1`,
    :math:`\sigma_t = \sigma_{\min}(\sigma_{\max}/\sigma_{\min})^t` (Song & Ermon, 2019; Song et al., 2021).

    Note :math:`\sigma_0 = \sigma_{\min} > 0`: the path starts from slightly noisy data.
    """

    def __init__(self, sigma_min: float = 0.01, sigma_max: float = 10.0):
        check_positive("sigma_min", sigma_min)
        check_positive("sigma_max", sigma_max)
        if sigma_max <= sigma_min:
            raise ValueError(f"sigma_max must be > sigma_min = {sigma_min}, got {sigma_max}")
        self.sigma_min, self.sigma_max = float(sigma_min), float(sigma_max)

    def _alpha(self, t):
        return torch.ones_like(t)

    def _sigma(self, t):
        return self.sigma_min * (self.sigma_max / self.sigma_min) ** t

    def _d_alpha(self, t):
        return torch.zeros_like(t)

    def _d_sigma(self, t):
        return self._sigma(t) * math.log(self.sigma_max / self.sigma_min)
