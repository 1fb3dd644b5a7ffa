r"""Noise schedules: the Gaussian paths in continuous time and DDPM's grids of discrete steps.

Introduced in *The forward process* (Part III); the score-SDE and flow-matching parts build on the
same classes. This module gathers two modules under the name the chapters use, ``schedules.*``:

- :mod:`unigen.paths`: the paths :math:`x_t = \alpha_t x_0 + \sigma_t\varepsilon` in continuous time,
  :math:`t = 0` data and :math:`t = 1` noise (:class:`GaussianPath`, :class:`PathCoefficients`,
  :class:`LinearVP`, :class:`CosineVP`, :class:`InterpolatedVP`, :class:`LinearPath`,
  :class:`GeometricVE`, and :func:`noised`, the one place :math:`x_t` is formed);
- :mod:`unigen.discrete_time`: DDPM's chain at steps :math:`k = 1..T` (:class:`DiscreteSchedule`,
  :func:`discretize`, :func:`respace`, :func:`ddpm_linear`, :func:`linear_vp_grid`,
  :func:`ddpm_cosine`), built on the paths.
"""
from __future__ import annotations

from .discrete_time import (DiscreteSchedule, ddpm_cosine, ddpm_linear, discretize, linear_vp_grid,
                            respace)
from .paths import (CosineVP, GaussianPath, GeometricVE, InterpolatedVP, LinearPath, LinearVP,
                    PathCoefficients, VariancePreserving, check_path, noised)

__all__ = [
    "PathCoefficients", "GaussianPath", "VariancePreserving", "LinearVP", "CosineVP", "LinearPath",
    "GeometricVE", "InterpolatedVP", "DiscreteSchedule", "discretize", "respace", "ddpm_linear",
    "linear_vp_grid", "ddpm_cosine", "check_path", "noised",
]
