r"""DDPM's discrete chain: the grids :math:`\bar\alpha_k`, :math:`\beta_k` of a Gaussian path at steps :math:`k = 0..T`.

Introduced in *The forward process* (Part III). The continuous paths live in :mod:`unigen.paths`;
this module builds on them, and :mod:`unigen.schedules` gathers both (chapters call them
``schedules.*``). (The name says discrete *time*: discrete-*state*
diffusion of tokens is :mod:`unigen.masked`.)

DDPM's discrete chain, with steps :math:`k = 1..T` at :math:`t_k = k/T`, is a
:class:`DiscreteSchedule`. Two ways to get one:

- :func:`discretize` samples a path at the grid times:
  :math:`\bar\alpha_k = \alpha_{t_k}^2` and :math:`\beta_k = 1 - \bar\alpha_k / \bar\alpha_{k-1}`
  (:func:`linear_vp_grid`, :func:`ddpm_cosine`);
- :func:`ddpm_linear` is Ho et al.'s grid as published, betas ``linspace(1e-4, 0.02, T)``;
  its ``path`` is the :class:`~unigen.paths.InterpolatedVP` through its :math:`\bar\alpha_k`.

The two linear grids are close but not equal. :class:`~unigen.paths.LinearVP` has
:math:`\alpha_t^2 = \exp(-\int_0^t \beta(s)\,ds)`, so its grid's betas are
:math:`1 - \exp(-\int_{t_{k-1}}^{t_k}\beta)`; Ho et al.'s :math:`\bar\alpha_k = \prod_{j\le k}(1 - \beta_j)`
differs from :math:`\exp(-\sum_j \beta_j)` because :math:`\log(1-\beta) \ne -\beta`. At ``T = 1000``:
:math:`\beta_1` = 1.0994e-4 against 1e-4, :math:`\bar\alpha_T` = 4.3186e-5 against 4.0358e-5 (7 % apart).

:func:`respace` keeps evenly spaced steps of a grid, for sampling in fewer steps.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from .paths import CosineVP, GaussianPath, InterpolatedVP, LinearVP

__all__ = ["DiscreteSchedule", "discretize", "respace", "ddpm_linear", "linear_vp_grid", "ddpm_cosine"]


# ---- DDPM's discrete chain ---------------------------------------------------------------

@dataclass(frozen=True)
class DiscreteSchedule:
    r"""DDPM's discrete grid: steps :math:`k = 0, 1, \dots, T` at times :math:`t_k = k/T`.

    Every array has length ``T + 1`` and is **indexed by k**, with the data at
    :math:`k = 0`: ``alpha_bar[0] = 1``, ``beta[0] = 0``. So the "previous"
    :math:`\bar\alpha_{k-1}` of the first step :math:`k = 1` is ``alpha_bar[0] = 1``, with
    no special case, and :math:`\tilde\beta_1 = 0`. Arrays are float64 on the CPU;
    :meth:`coefficients` moves them to the device of its caller.

    Attributes:
        t: ``(T+1,)`` increasing times in [0, 1] of the steps (:math:`k/T` for a grid from
            :func:`discretize`; a :func:`respace`-d grid keeps the original times).
        alpha_bar: ``(T+1,)`` :math:`\bar\alpha_k = \prod_{j \le k}(1 - \beta_j)`.
        beta: ``(T+1,)`` :math:`\beta_k = 1 - \bar\alpha_k/\bar\alpha_{k-1}`, with ``beta[0] = 0``.
        path: a continuous path through the grid, :math:`\alpha_{t_k}^2 = \bar\alpha_k` (unless a beta was
            clipped; or ``None``): the path :func:`discretize` sampled, or for :func:`ddpm_linear`
            the :class:`InterpolatedVP` through its :math:`\bar\alpha_k`.
    """

    t: torch.Tensor
    alpha_bar: torch.Tensor
    beta: torch.Tensor
    path: GaussianPath | None = None

    def __post_init__(self):
        for name in ("t", "alpha_bar", "beta"):
            v = getattr(self, name)
            if not isinstance(v, torch.Tensor) or v.dim() != 1 or v.shape[0] < 2:
                raise ValueError(f"{name} must be a 1-D tensor of length T + 1 >= 2")
        if not (self.t.shape == self.alpha_bar.shape == self.beta.shape):
            raise ValueError("t, alpha_bar and beta must have the same length T + 1")
        if self.t[0] != 0 or self.t[-1] > 1 or (self.t[1:] <= self.t[:-1]).any():
            raise ValueError("t must increase from t[0] = 0 and stay within [0, 1]")
        if self.alpha_bar[0] != 1 or self.beta[0] != 0:
            raise ValueError("alpha_bar[0] must be 1 and beta[0] must be 0 (k = 0 is the data)")
        if (self.alpha_bar[1:] <= 0).any() or (self.alpha_bar[1:] >= 1).any():
            raise ValueError("alpha_bar[1:] must lie strictly between 0 and 1")
        if (self.alpha_bar[1:] > self.alpha_bar[:-1]).any():
            raise ValueError("alpha_bar must be non-increasing in k")

    @property
    def T(self) -> int:
        """Number of steps."""
        return self.t.shape[0] - 1

    @property
    def alpha(self) -> torch.Tensor:
        r"""The per-step factor :math:`1 - \beta_k`, so that ``alpha_bar = cumprod(alpha)``.

        Ho et al. (2020) call it :math:`\alpha_k`; the book writes :math:`1 - \beta_k` and keeps
        :math:`\alpha` for the path's :math:`\alpha_{t_k} = \sqrt{\bar\alpha_k}`.
        """
        return 1.0 - self.beta

    @property
    def alpha_bar_prev(self) -> torch.Tensor:
        r""":math:`\bar\alpha_{k-1}` for each k; entry 0 is set to 1 as well."""
        return torch.cat([self.alpha_bar[:1], self.alpha_bar[:-1]])

    @property
    def beta_tilde(self) -> torch.Tensor:
        r"""Posterior variance :math:`\tilde\beta_k = \frac{1-\bar\alpha_{k-1}}{1-\bar\alpha_k}\beta_k`; ``beta_tilde[1] = 0``, ``[0] = 0``."""
        out = (1.0 - self.alpha_bar_prev) / (1.0 - self.alpha_bar).clamp_min(1e-300) * self.beta
        out[0] = 0.0
        return out

    def coefficients(self, k, like: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        r""":math:`(\alpha_t, \sigma_t) = (\sqrt{\bar\alpha_k}, \sqrt{1-\bar\alpha_k})` at integer steps ``k``.

        ``k`` is an int or an integer tensor; the result has ``k``'s shape and ``like``'s dtype and device.
        """
        k = self._check_k(k)
        ab = self.alpha_bar[k.cpu()]
        return ab.sqrt().to(like), (1.0 - ab).sqrt().to(like)

    def _check_k(self, k) -> torch.Tensor:
        if isinstance(k, bool):
            raise ValueError(f"k must be an int or an integer tensor, got {k!r}")
        if isinstance(k, int):
            k = torch.tensor(k)
        if not isinstance(k, torch.Tensor) or k.is_floating_point():
            raise ValueError(f"k must be an int or an integer tensor in 0..{self.T}, got {k!r}")
        if k.numel() and (k.min() < 0 or k.max() > self.T):
            raise ValueError(f"k must lie in 0..{self.T}, got values in [{k.min().item()}, {k.max().item()}]")
        return k

    def __repr__(self):
        return f"DiscreteSchedule(T={self.T}, path={self.path!r})"


def _check_T(T):
    if not isinstance(T, int) or isinstance(T, bool) or T < 1:
        raise ValueError(f"T must be a positive int, got {T!r}")


def discretize(path: GaussianPath, T: int = 1000, *, max_beta: float = 0.999) -> DiscreteSchedule:
    r"""DDPM's grid from a VP path: :math:`\beta_k = \min\big(1 - \alpha_{t_k}^2/\alpha_{t_{k-1}}^2,\ \beta_{\max}\big)`, :math:`t_k = k/T`.

    Then :math:`\bar\alpha_k = \prod_{j\le k}(1-\beta_j)`, which equals :math:`\alpha_{t_k}^2` unless a
    beta was clipped (the cosine schedule's last step, where :math:`\alpha_1 = 0`; Nichol &
    Dhariwal clip at 0.999 so that :math:`\bar\alpha_T > 0`).
    """
    if not isinstance(path, GaussianPath):
        raise ValueError(f"path must be a GaussianPath, got {type(path).__name__}")
    if not path.variance_preserving:
        raise ValueError(f"path must be variance preserving for a DDPM grid, got {type(path).__name__}")
    _check_T(T)
    if not 0.0 < max_beta < 1.0:
        raise ValueError(f"max_beta must lie in (0, 1), got {max_beta!r}")
    t = torch.arange(T + 1, dtype=torch.float64) / T
    ab = path.alpha(t) ** 2
    beta = (1.0 - ab[1:] / ab[:-1]).clamp(0.0, max_beta)
    beta = torch.cat([torch.zeros(1, dtype=torch.float64), beta])
    alpha_bar = torch.cumprod(1.0 - beta, 0)
    return DiscreteSchedule(t=t, alpha_bar=alpha_bar, beta=beta, path=path)


def respace(schedule: DiscreteSchedule, steps: int) -> DiscreteSchedule:
    r"""A sub-grid of ``steps`` evenly spaced steps :math:`0 = k_0 < k_1 < \dots < k_S = T` (Nichol & Dhariwal, 2021).

    The new grid keeps :math:`\bar\alpha` at the chosen steps, so its betas are
    :math:`1 - \bar\alpha_{k_i}/\bar\alpha_{k_{i-1}}`, and its times are the original :math:`t_{k_i}`:
    a network trained on the full grid is queried at the same times. ``steps = T`` returns
    an equal grid.
    """
    if not isinstance(schedule, DiscreteSchedule):
        raise ValueError(f"schedule must be a DiscreteSchedule, got {type(schedule).__name__}")
    if not isinstance(steps, int) or isinstance(steps, bool) or not 1 <= steps <= schedule.T:
        raise ValueError(f"steps must be an int in 1..{schedule.T}, got {steps!r}")
    ks = torch.linspace(0, schedule.T, steps + 1, dtype=torch.float64).round().long()
    ab = schedule.alpha_bar[ks]
    beta = torch.cat([torch.zeros(1, dtype=torch.float64), 1.0 - ab[1:] / ab[:-1]])
    return DiscreteSchedule(t=schedule.t[ks], alpha_bar=ab, beta=beta, path=schedule.path)


def ddpm_linear(T: int = 1000) -> DiscreteSchedule:
    r"""Ho et al.'s (2020) linear grid: :math:`\beta_k` = ``linspace(1e-4, 0.02, T)``, :math:`\bar\alpha_k = \prod_{j\le k}(1-\beta_j)`.

    The betas are the paper's for every ``T`` (first 1e-4, last 0.02); step k sits at
    :math:`t_k = k/T`. Its ``path`` is the :class:`InterpolatedVP` through the grid's
    :math:`\bar\alpha_k`, so ``path.alpha(t[k]) ** 2`` equals ``alpha_bar[k]``. At ``T = 1000``,
    :math:`\bar\alpha_{500} = 0.078587` and :math:`\bar\alpha_{1000} = 4.0358\cdot10^{-5}`. The
    continuous :class:`LinearVP` sampled at :math:`t_k` is :func:`linear_vp_grid`, a slightly
    different grid. The betas do not scale with ``T``: well below ``T = 1000`` the chain stops short
    of noise (:math:`\bar\alpha_T \approx 0.36` at ``T = 100``); to sample in fewer steps, respace a
    ``T = 1000`` grid (:func:`respace`).
    """
    _check_T(T)
    beta = torch.cat([torch.zeros(1, dtype=torch.float64), torch.linspace(1e-4, 0.02, T, dtype=torch.float64)])
    alpha_bar = torch.cumprod(1.0 - beta, 0)
    t = torch.arange(T + 1, dtype=torch.float64) / T
    return DiscreteSchedule(t=t, alpha_bar=alpha_bar, beta=beta, path=InterpolatedVP(t, alpha_bar, "ddpm_linear"))


def linear_vp_grid(T: int = 1000) -> DiscreteSchedule:
    r"""The continuous :class:`LinearVP` sampled at :math:`t_k = k/T`: ``discretize(LinearVP(), T)``.

    :math:`\bar\alpha_k = \alpha_{t_k}^2` exactly. Close to Ho et al.'s :func:`ddpm_linear` but not
    equal (at ``T = 1000``: :math:`\beta_1` = 1.0994e-4, :math:`\bar\alpha_T` = 4.3186e-5).
    """
    return discretize(LinearVP(), T)


def ddpm_cosine(T: int = 1000) -> DiscreteSchedule:
    """The cosine grid of Nichol & Dhariwal, via :class:`CosineVP`."""
    return discretize(CosineVP(), T)
