r"""One loss for every Gaussian family: regress a reading of the noise, at a random time.

Diffusion (Part III), score matching (Part IV) and flow matching (Part V) train their networks with
losses that look different and are one. Draw a time :math:`t \sim q(t)`, a data point :math:`x_0` and
noise :math:`\varepsilon \sim \mathcal N(0, I)`, form :math:`x_t = \alpha_t x_0 + \sigma_t\varepsilon`
(:class:`~unigen.schedules.GaussianPath`), and regress one reading of the noise
(:mod:`~unigen.parameterizations`): ε, :math:`x_0`, v, the score :math:`-\varepsilon/\sigma_t` or the
velocity :math:`\dot\alpha_t x_0 + \dot\sigma_t\varepsilon`:

.. math:: \mathcal L(\theta) = \mathbb E_{t\sim q,\,x_0,\,\varepsilon}\Big[w(t)\,
          \tfrac1D\big\|f_\theta(x_t, t) - \text{target}(x_0, \varepsilon, t)\big\|^2\Big].

:func:`gaussian_loss` is that formula, with the three choices as arguments: the **time sampler**
:math:`q` (``times``), the **parameterisation** (the target) and the **weighting** :math:`w`. At a fixed
:math:`x_t` every target is an affine function of ε, so for a network read as ε, each reading's squared
error is the ε-error times a factor of :math:`t` alone:

- :math:`x_0`: :math:`1/\mathrm{SNR}_t = \sigma_t^2/\alpha_t^2`;
- v: :math:`(\alpha_t^2 + \sigma_t^2)^2/\alpha_t^2`;
- score: :math:`1/\sigma_t^2`;
- velocity: :math:`(\dot\sigma_t - \dot\alpha_t\sigma_t/\alpha_t)^2`.

So the families' losses differ only by a weighting over time, and by which times they draw. The
named losses are thin wrappers: :func:`unigen.ddpm.ddpm_loss` (k uniform on 1..T, target ε, x0 or v),
:func:`unigen.sde.dsm_loss` (t uniform, or drawn :math:`\propto g^2/\sigma^2`; target the score with
weight :math:`\sigma_t^2`, which is the ε-loss) and :func:`unigen.flow.cfm_loss` (t uniform, target the
velocity, weight 1).

**Reduction.** Every loss is the mean over the batch *and over the D dimensions* of each example.
A sum over dimensions would make the loss and its gradients D times larger on 64-pixel digits than on
2-D points, so one learning rate and one gradient-clipping threshold could not serve both.
"""
from __future__ import annotations

from typing import Callable

import torch

from .parameterizations import (DIFFUSION_PARAMETERIZATIONS, PARAMETERIZATIONS, score_from_eps,
                                target as diffusion_target, velocity_from_eps_x0)
from .paths import GaussianPath, PathCoefficients, check_path, noised
from .utils import check_callable, check_in, check_tensor, expand_like, gaussian_noise

__all__ = ["gaussian_loss", "uniform_times", "regression_target"]


def uniform_times(path: GaussianPath, t_eps: float = 0.0) -> Callable:
    r"""The time sampler :math:`t \sim \mathcal U(t_\varepsilon, 1)` on ``path``, for :func:`gaussian_loss`.

    Returns ``times(B, generator, x0) -> (t (B,), path(t))``: one uniform draw per example, made
    with ``generator`` on its device, in ``x0``'s dtype and moved to ``x0``'s device.
    """
    check_path(path)
    if isinstance(t_eps, bool) or not isinstance(t_eps, (int, float)) or not 0.0 <= t_eps < 1.0:
        raise ValueError(f"t_eps must lie in [0, 1), got {t_eps!r}")

    def times(B: int, generator, x0: torch.Tensor):
        gen_device = generator.device if generator is not None else x0.device
        u = torch.rand(B, generator=generator, device=gen_device, dtype=x0.dtype).to(x0.device)
        t = t_eps + (1.0 - t_eps) * u
        return t, path(t)
    return times


def regression_target(x0: torch.Tensor, eps: torch.Tensor, coefficients: PathCoefficients,
                      parameterization: str = "eps") -> torch.Tensor:
    """What a network read as ``parameterization`` should output at :math:`x_t`, given the draw ``(x0, eps)``."""
    check_in("parameterization", parameterization, PARAMETERIZATIONS)
    alpha_t, sigma_t, d_alpha_t, d_sigma_t = coefficients
    if parameterization in DIFFUSION_PARAMETERIZATIONS:
        return diffusion_target(x0, eps, alpha_t, sigma_t, parameterization)
    if parameterization == "score":
        return score_from_eps(eps, sigma_t)
    if d_alpha_t is None or d_sigma_t is None:
        raise ValueError("the velocity target needs the path's derivatives: use times whose "
                         "coefficients carry d_alpha_t and d_sigma_t")
    return velocity_from_eps_x0(eps, x0, d_alpha_t, d_sigma_t)


def _noise(x0, noise, generator) -> torch.Tensor:
    if noise is None:
        return gaussian_noise(x0.shape, generator, x0)
    check_tensor("noise", noise, floating=True)
    if noise.shape != x0.shape:
        raise ValueError(f"x0 and noise must share a shape (B, ...), got {tuple(x0.shape)} "
                         f"and {tuple(noise.shape)}")
    return noise


def gaussian_loss(model: Callable, x0: torch.Tensor, times: Callable, *, parameterization: str = "eps",
                  weighting: Callable | None = None, noise: torch.Tensor | None = None,
                  target: Callable | None = None,
                  generator: torch.Generator | None = None) -> torch.Tensor:
    r"""The Gaussian families' one loss (module docstring): :math:`\mathbb E\,w(t)\,\tfrac1D\|f(x_t, t) - \text{target}\|^2`.

    - ``times(B, generator, x0) -> (t, coefficients)`` draws the times first (:func:`uniform_times`,
      or a wrapper's own: DDPM's integer steps, likelihood-weighted times); ``t`` (B,) is what the
      network sees, ``coefficients`` a :class:`~unigen.schedules.PathCoefficients` at those times
      (the derivatives may be ``None`` unless the target is the velocity);
    - then the noise: ``noise`` if given (e.g. the ODE pairs of reflow), else a standard normal draw
      with ``generator``;
    - ``parameterization``: the reading regressed (:func:`regression_target`), unless ``target(x_t, t)``
      gives the target directly (e.g. the exact marginal velocity);
    - ``weighting(coefficients) -> (B,)``: a weight per example (``None``: 1).

    Returns the weighted mean over the batch and every dimension.
    """
    check_callable("model", model)
    check_tensor("x0", x0, floating=True)
    if x0.dim() < 2:
        raise ValueError(f"x0 must have shape (B, ...), got {tuple(x0.shape)}")
    check_callable("times", times)
    check_in("parameterization", parameterization, PARAMETERIZATIONS)
    if weighting is not None:
        check_callable("weighting", weighting)
    t, coefficients = times(x0.shape[0], generator, x0)
    eps = _noise(x0, noise, generator)
    x_t = noised(x0, eps, coefficients[0], coefficients[1])
    goal = (regression_target(x0, eps, coefficients, parameterization) if target is None
            else check_callable("target", target)(x_t, t))
    sq = (model(x_t, t) - goal).square()
    if weighting is None:
        return sq.mean()
    w = weighting(coefficients)
    if not isinstance(w, torch.Tensor) or w.shape != (x0.shape[0],):
        raise ValueError(f"weighting must return one weight per example, shape ({x0.shape[0]},)")
    return (expand_like(w, sq) * sq).mean()
