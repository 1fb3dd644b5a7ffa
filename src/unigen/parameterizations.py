r"""Every reading of a network's output on a Gaussian path, and the conversions between them.

A network evaluated at :math:`(x_t, t)` on a path :math:`x_t = \alpha_t x_0 + \sigma_t\varepsilon`
(:class:`~unigen.schedules.GaussianPath`) can be trained to predict any of five quantities
(:data:`PARAMETERIZATIONS`): the noise ε, the clean point :math:`x_0`, Salimans & Ho's
:math:`v = \alpha_t\varepsilon - \sigma_t x_0`, the score :math:`-\varepsilon/\sigma_t`, or the velocity
:math:`u = \dot\alpha_t x_0 + \dot\sigma_t\varepsilon`. Given :math:`x_t`, each one determines the others:
the first four need only :math:`(\alpha_t, \sigma_t)`, the velocity also the derivatives. Diffusion
(Part III), score models (Part IV) and flow matching (Part V) all read their networks through this
module, which is what lets one network be sampled by another family's sampler.

Introduced in *DDIM and fast sampling* (ε, :math:`x_0`, v) and *Flow matching* (the velocity).
"""
from __future__ import annotations

from .paths import PathCoefficients
from .utils import check_in, expand_like

__all__ = [
    "PARAMETERIZATIONS", "DIFFUSION_PARAMETERIZATIONS",
    "x0_from_eps", "eps_from_x0", "v_from_eps_x0", "eps_x0_from_v", "score_from_eps", "eps_from_score",
    "to_eps_x0", "target", "velocity_from_eps_x0", "eps_x0_from_velocity", "to_velocity", "from_velocity",
]

#: Every reading of a network's output at :math:`(x_t, t)`.
PARAMETERIZATIONS = ("velocity", "eps", "x0", "v", "score")
#: The three a diffusion loss regresses (:func:`target`); the velocity needs the path's derivatives.
DIFFUSION_PARAMETERIZATIONS = ("eps", "x0", "v")


# ---- eps <-> x0 <-> v <-> score (only alpha_t and sigma_t needed) -------------------------------

def x0_from_eps(x_t, eps, alpha_t, sigma_t):
    r""":math:`\hat x_0 = (x_t - \sigma_t\varepsilon)/\alpha_t` (needs :math:`\alpha_t > 0`)."""
    return (x_t - expand_like(sigma_t, x_t) * eps) / expand_like(alpha_t, x_t)


def eps_from_x0(x_t, x0, alpha_t, sigma_t):
    r""":math:`\varepsilon = (x_t - \alpha_t x_0)/\sigma_t` (needs :math:`\sigma_t > 0`)."""
    return (x_t - expand_like(alpha_t, x_t) * x0) / expand_like(sigma_t, x_t)


def v_from_eps_x0(eps, x0, alpha_t, sigma_t):
    r"""The v-target of Salimans & Ho (2022): :math:`v = \alpha_t\varepsilon - \sigma_t x_0`."""
    return expand_like(alpha_t, eps) * eps - expand_like(sigma_t, eps) * x0


def eps_x0_from_v(x_t, v, alpha_t, sigma_t):
    r"""Invert :math:`(x_t, v) = (\alpha x_0 + \sigma\varepsilon,\ \alpha\varepsilon - \sigma x_0)`: returns ``(eps, x0)``.

    :math:`x_0 = (\alpha x_t - \sigma v)/(\alpha^2+\sigma^2)`, :math:`\varepsilon = (\sigma x_t + \alpha v)/(\alpha^2+\sigma^2)`;
    the denominator is 1 on a variance-preserving path. Valid for every t.
    """
    a, s = expand_like(alpha_t, x_t), expand_like(sigma_t, x_t)
    norm = a**2 + s**2
    return (s * x_t + a * v) / norm, (a * x_t - s * v) / norm


def score_from_eps(eps, sigma_t):
    r""":math:`\nabla_x \log p_t(x_t) = -\varepsilon/\sigma_t` (Tweedie / denoising score matching, Vincent 2011)."""
    return -eps / expand_like(sigma_t, eps)


def eps_from_score(score, sigma_t):
    r""":math:`\varepsilon = -\sigma_t\,\nabla_x\log p_t(x_t)`."""
    return -expand_like(sigma_t, score) * score


def to_eps_x0(out, x_t, alpha_t, sigma_t, parameterization: str = "eps"):
    """Read a network output ``out`` as ``parameterization`` and return both ``(eps, x0_hat)``."""
    check_in("parameterization", parameterization, DIFFUSION_PARAMETERIZATIONS)
    if parameterization == "eps":
        return out, x0_from_eps(x_t, out, alpha_t, sigma_t)
    if parameterization == "x0":
        return eps_from_x0(x_t, out, alpha_t, sigma_t), out
    return eps_x0_from_v(x_t, out, alpha_t, sigma_t)


def target(x0, eps, alpha_t, sigma_t, parameterization: str = "eps"):
    """The regression target of each parameterisation: ε, :math:`x_0`, or :math:`v = \\alpha\\varepsilon - \\sigma x_0`."""
    check_in("parameterization", parameterization, DIFFUSION_PARAMETERIZATIONS)
    if parameterization == "eps":
        return eps
    if parameterization == "x0":
        return x0
    return v_from_eps_x0(eps, x0, alpha_t, sigma_t)


# ---- the velocity, which needs the derivatives too --------------------------------------------

def velocity_from_eps_x0(eps, x0, d_alpha_t, d_sigma_t):
    r""":math:`u = \dot\alpha_t x_0 + \dot\sigma_t\varepsilon`."""
    return expand_like(d_alpha_t, eps) * x0 + expand_like(d_sigma_t, eps) * eps


def eps_x0_from_velocity(x_t, u, alpha_t, sigma_t, d_alpha_t, d_sigma_t):
    r"""Solve :math:`x_t = \alpha x_0 + \sigma\varepsilon`, :math:`u = \dot\alpha x_0 + \dot\sigma\varepsilon` for ``(eps, x0)``.

    With :math:`\Delta = \alpha\dot\sigma - \sigma\dot\alpha`:
    :math:`x_0 = (\dot\sigma x_t - \sigma u)/\Delta` and :math:`\varepsilon = (\alpha u - \dot\alpha x_t)/\Delta`.
    :math:`\Delta = 1` on the linear path and :math:`-\dot\alpha/\sigma > 0` on a VP path, so this
    holds at every t where the coefficients are finite.
    """
    a, s, da, ds = (expand_like(c, x_t) for c in (alpha_t, sigma_t, d_alpha_t, d_sigma_t))
    det = a * ds - s * da
    return (a * u - da * x_t) / det, (ds * x_t - s * u) / det


def _coefficients(coefs) -> PathCoefficients:
    if not isinstance(coefs, tuple) or len(coefs) != 4:
        raise ValueError("coefs must be the 4 coefficients path(t): alpha_t, sigma_t, d_alpha_t, d_sigma_t")
    return PathCoefficients(*coefs)


def to_velocity(out, x_t, coefs, parameterization: str = "eps"):
    r"""Read a network output ``out`` at ``x_t`` as ``parameterization`` and return the velocity.

    ``coefs`` is ``path(t)``. ε and the score need :math:`\alpha_t > 0` (they say nothing about
    :math:`x_0` at pure noise), :math:`x_0` needs :math:`\sigma_t > 0`; v and the velocity work at every t.
    """
    check_in("parameterization", parameterization, PARAMETERIZATIONS)
    a, s, da, ds = _coefficients(coefs)
    if parameterization == "velocity":
        return out
    if parameterization == "score":
        out, parameterization = eps_from_score(out, s), "eps"
    eps, x0 = to_eps_x0(out, x_t, a, s, parameterization)
    return velocity_from_eps_x0(eps, x0, da, ds)


def from_velocity(u, x_t, coefs, parameterization: str = "eps"):
    """The inverse of :func:`to_velocity`: the ``parameterization`` output that gives velocity ``u`` at ``x_t``."""
    check_in("parameterization", parameterization, PARAMETERIZATIONS)
    a, s, da, ds = _coefficients(coefs)
    if parameterization == "velocity":
        return u
    eps, x0 = eps_x0_from_velocity(x_t, u, a, s, da, ds)
    if parameterization == "score":
        return score_from_eps(eps, s)
    return target(x0, eps, a, s, parameterization)
