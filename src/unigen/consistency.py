r"""Consistency models: one network that maps any point of a probability-flow ODE path to its end.

Introduced in *Consistency models* (Part V), after *Rectified flow*. Song et al. (2023).

Time runs from data to noise as everywhere in the book: :math:`t = 0` is data, :math:`t = 1`
noise, :math:`x_t = \alpha_t x_0 + \sigma_t\varepsilon` on a :class:`~unigen.schedules.GaussianPath`,
and the probability-flow ODE :math:`dx/dt = u_t(x)` is integrated from 1 down to 0. The
**consistency function** of that ODE, :math:`f(x_t, t)`, is the end point :math:`x_{t_{\min}}` of the
ODE path through :math:`x_t`. It is

- the identity at the boundary, :math:`f(x, t_{\min}) = x`, which :class:`ConsistencyModel`
  builds in: :math:`f_\theta(x, t) = c_{\text{skip}}(t)\,x + c_{\text{out}}(t)\,F_\theta(x, t)` with
  :math:`c_{\text{skip}}(t_{\min}) = 1`, :math:`c_{\text{out}}(t_{\min}) = 0` (:func:`skip_out`);
- constant along every ODE path, :math:`f(x_t, t) = f(x_s, s)`: *self-consistency*, which the
  two losses impose between neighbouring times :math:`t_n < t_{n+1}` of a grid ``times``:

  - :func:`cd_loss` (distillation): :math:`x_{t_n}` is one solver step of a teacher ODE
    (:func:`teacher_step`) from :math:`x_{t_{n+1}}`;
  - :func:`ct_loss` (training, no teacher): :math:`x_{t_n}` and :math:`x_{t_{n+1}}` share the data
    point and the noise.

:func:`sample` draws in one step (:math:`f_\theta(x_1, 1)`) or several, re-noising the estimate
to an intermediate time between the steps. A teacher is any callable ``teacher(x, t)`` read as one
of :data:`unigen.flow.PARAMETERIZATIONS` (a velocity, an ε-network, ...).
"""
from __future__ import annotations

from typing import Callable, Sequence

import torch
import torch.nn as nn

from . import ddpm, flow
from .ddpm import SampleOutput
from .paths import GaussianPath, check_path
from .sde import SDE
from .utils import check_callable, check_in, check_positive, check_tensor, expand_like, gaussian_noise

__all__ = ["skip_out", "ConsistencyModel", "teacher_step", "cd_loss", "ct_loss", "sample",
           "TEACHER_METHODS", "DISTANCES", "build_for_recipe", "train_for_recipe"]

TEACHER_METHODS = ("ddim", "heun")
DISTANCES = ("l2", "pseudo_huber")


def _check_t_min(t_min) -> float:
    if isinstance(t_min, bool) or not isinstance(t_min, (int, float)) or not 0.0 <= t_min < 1.0:
        raise ValueError(f"t_min must lie in [0, 1), got {t_min!r}")
    return float(t_min)


def _check_times(times) -> torch.Tensor:
    """A grid ``t_0 < t_1 < ... < t_N`` in [0, 1] with N >= 1, as a float64 CPU tensor."""
    check_tensor("times", times, dim=1, floating=True)
    times = times.detach().double().cpu()
    if len(times) < 2 or (times.diff() <= 0).any() or times[0] < 0 or times[-1] > 1:
        raise ValueError("times must increase strictly within [0, 1] and hold at least 2 values, "
                         f"got {times.tolist()}")
    return times


# ---- the parameterisation ------------------------------------------------------------------

def skip_out(t, path: GaussianPath, *, sigma_data: float = 0.5, t_min: float = 0.0) -> tuple:
    r"""Song et al.'s (2023) coefficients, with their noise level written as the path's :math:`\sigma_t`:

    .. math:: c_{\text{skip}}(t) = \frac{\sigma_d^2}{(\sigma_t - \sigma_{t_{\min}})^2 + \sigma_d^2}, \qquad
              c_{\text{out}}(t) = \frac{\sigma_d\,(\sigma_t - \sigma_{t_{\min}})}{\sqrt{\sigma_d^2 + \sigma_t^2}},

    so :math:`c_{\text{skip}}(t_{\min}) = 1` and :math:`c_{\text{out}}(t_{\min}) = 0` exactly (both
    are computed from the same float :math:`\sigma_{t_{\min}}`). ``sigma_data`` is the data's
    standard deviation :math:`\sigma_d`. Returns ``(c_skip, c_out)`` with ``t``'s shape and dtype.
    """
    check_path(path)
    check_positive("sigma_data", sigma_data)
    t_min = _check_t_min(t_min)
    t = torch.as_tensor(t, dtype=torch.float64) if not isinstance(t, torch.Tensor) else t
    if t.numel() and t.min() < t_min - 1e-6:
        raise ValueError(f"t must be >= t_min = {t_min}, got {t.min().item():.4g}")
    s = path.sigma(t)
    s_min = path.sigma(torch.full_like(t, t_min))
    d = s - s_min
    c_skip = sigma_data**2 / (d**2 + sigma_data**2)
    c_out = sigma_data * d / (sigma_data**2 + s**2).sqrt()
    return c_skip, c_out


class ConsistencyModel(nn.Module):
    r""":math:`f_\theta(x, t) = c_{\text{skip}}(t)\,x + c_{\text{out}}(t)\,F_\theta(x, t)`, any network ``net(x, t)`` as :math:`F_\theta`.

    The coefficients are :func:`skip_out`'s, so :math:`f_\theta(x, t_{\min}) = x` for every
    :math:`\theta`: the boundary condition holds by construction. Called as ``model(x, t)`` with
    ``x`` ``(B, ...)`` and ``t`` a number or ``(B,)``; ``t`` must lie in ``[t_min, 1]``.
    """

    def __init__(self, net: nn.Module, path: GaussianPath, *, sigma_data: float = 0.5, t_min: float = 0.0):
        super().__init__()
        if not isinstance(net, nn.Module):
            raise ValueError(f"net must be a torch.nn.Module called as net(x, t), got {type(net).__name__}")
        self.net, self.path = net, check_path(path)
        self.sigma_data = float(check_positive("sigma_data", sigma_data))
        self.t_min = _check_t_min(t_min)

    def forward(self, x: torch.Tensor, t) -> torch.Tensor:
        check_tensor("x", x, floating=True)
        t = flow._times(t, x)
        c_skip, c_out = skip_out(t, self.path, sigma_data=self.sigma_data, t_min=self.t_min)
        return expand_like(c_skip, x) * x + expand_like(c_out, x) * self.net(x, t)

    def extra_repr(self) -> str:
        return f"path={self.path!r}, sigma_data={self.sigma_data}, t_min={self.t_min}"


# ---- the teacher's ODE step -----------------------------------------------------------------

def _eps_x0(out, x, coefs, parameterization):
    """A network output read as ``parameterization`` at ``x``: the pair ``(eps, x0)``."""
    a, s, da, ds = coefs
    if parameterization in ddpm.PARAMETERIZATIONS:
        return ddpm.to_eps_x0(out, x, a, s, parameterization)
    if parameterization == "score":
        return ddpm.to_eps_x0(ddpm.eps_from_score(out, s), x, a, s, "eps")
    return flow.eps_x0_from_velocity(x, out, a, s, da, ds)


@torch.no_grad()
def teacher_step(teacher: Callable, x: torch.Tensor, t, s, path: GaussianPath, *,
                 parameterization: str = "velocity", method: str = "ddim",
                 clip_x0: float | None = None) -> torch.Tensor:
    r"""One step of the teacher's probability-flow ODE from time ``t`` down to ``s`` (numbers or ``(B,)``).

    - ``"ddim"`` (1 NFE): read :math:`(\hat\varepsilon, \hat x_0)` off the teacher at :math:`(x, t)` and
      move both to time ``s``, :math:`x_s = \alpha_s\hat x_0 + \sigma_s\hat\varepsilon`. On the linear path
      this is Euler's step :math:`x + (s - t)\,u_t(x)`; on a VP path it is deterministic DDIM.
    - ``"heun"`` (2 NFE): the trapezoid rule on the teacher's velocity (needs a velocity that is
      finite at ``t`` and ``s``).

    ``clip_x0`` clamps :math:`\hat x_0` (and recomputes :math:`\hat\varepsilon` from it), as the image
    samplers of Part III do.
    """
    check_callable("teacher", teacher)
    check_path(path)
    check_tensor("x", x, floating=True)
    check_in("parameterization", parameterization, flow.PARAMETERIZATIONS)
    check_in("method", method, TEACHER_METHODS)
    if clip_x0 is not None:
        check_positive("clip_x0", clip_x0)
    t, s = flow._times(t, x), flow._times(s, x)
    if (s > t).any():
        raise ValueError("s must not be later than t: the teacher's ODE runs from noise to data")

    def eps_x0(z, time):
        coefs = path(time)
        eps, x0 = _eps_x0(teacher(z, time), z, coefs, parameterization)
        if clip_x0 is not None:
            x0 = x0.clamp(-clip_x0, clip_x0)
            eps = ddpm.eps_from_x0(z, x0, coefs[0], coefs[1])
        return eps, x0

    def velocity(z, time):
        eps, x0 = eps_x0(z, time)
        _, _, da, ds = path(time)
        return flow.velocity_from_eps_x0(eps, x0, da, ds)

    if method == "ddim":
        eps, x0 = eps_x0(x, t)
        a_s, s_s = (expand_like(c, x) for c in path(s)[:2])
        return a_s * x0 + s_s * eps
    h = expand_like(s - t, x)
    u1 = velocity(x, t)
    u2 = velocity(x + h * u1, s)
    return x + h * 0.5 * (u1 + u2)


# ---- the two losses -----------------------------------------------------------------------

def _distance(a: torch.Tensor, b: torch.Tensor, distance: str) -> torch.Tensor:
    r"""Per example: mean squared error (``"l2"``), or the pseudo-Huber
    :math:`\sqrt{\|a - b\|^2/D + c^2} - c` with :math:`c = 0.03` (Song & Dhariwal, 2024)."""
    sq = (a - b).square().reshape(len(a), -1).mean(1)
    if distance == "l2":
        return sq
    c = 0.03
    return (sq + c**2).sqrt() - c


def _pair_times(times: torch.Tensor, x0: torch.Tensor, generator) -> tuple:
    """Draw n uniformly from 0..N-1 for each example: ``(t_n, t_{n+1})``, each ``(B,)`` like ``x0``."""
    gen_device = generator.device if generator is not None else x0.device
    n = torch.randint(0, len(times) - 1, (x0.shape[0],), generator=generator, device=gen_device).cpu()
    return times[n].to(x0), times[n + 1].to(x0)


def _check_loss_inputs(model, x0, path, times, target, distance):
    check_callable("model", model)
    check_tensor("x0", x0, floating=True)
    if x0.dim() < 2:
        raise ValueError(f"x0 must have shape (B, ...), got {tuple(x0.shape)}")
    check_path(path)
    times = _check_times(times)
    if target is not None:
        check_callable("target", target)
    check_in("distance", distance, DISTANCES)
    return times


def cd_loss(model: Callable, x0: torch.Tensor, teacher: Callable, path: GaussianPath, times: torch.Tensor, *,
            parameterization: str = "velocity", method: str = "ddim", clip_x0: float | None = None,
            target: Callable | None = None, distance: str = "l2",
            generator: torch.Generator | None = None) -> torch.Tensor:
    r"""Consistency distillation (Song et al., 2023, eq. 7), with uniform weights :math:`\lambda = 1`:

    .. math:: \mathbb E_{n, x_0, \varepsilon}\; d\big(f_\theta(x_{t_{n+1}}, t_{n+1}),\ f_{\theta^-}(\hat x_{t_n}, t_n)\big),
              \qquad x_{t_{n+1}} = \alpha_{t_{n+1}} x_0 + \sigma_{t_{n+1}}\varepsilon,

    where :math:`\hat x_{t_n}` is one :func:`teacher_step` (``method``) of the teacher's ODE from
    :math:`x_{t_{n+1}}`, ``n`` is uniform on 0..N-1 over the grid ``times`` :math:`t_0 < \dots < t_N`, and
    :math:`f_{\theta^-}` is ``target`` (an EMA copy of the model), by default the model itself under
    ``torch.no_grad`` (a stop-gradient, :math:`\theta^- = \theta`). ``d`` is ``distance``.
    Returns the mean over the batch.
    """
    times = _check_loss_inputs(model, x0, path, times, target, distance)
    check_callable("teacher", teacher)
    t_n, t_next = _pair_times(times, x0, generator)
    eps = gaussian_noise(x0.shape, generator, x0)
    x_next, _ = flow.conditional_path(path, x0, eps, t_next)
    x_n = teacher_step(teacher, x_next, t_next, t_n, path, parameterization=parameterization,
                       method=method, clip_x0=clip_x0)
    with torch.no_grad():
        aim = (target or model)(x_n, t_n)
    return _distance(model(x_next, t_next), aim, distance).mean()


def ct_loss(model: Callable, x0: torch.Tensor, path: GaussianPath, times: torch.Tensor, *,
            target: Callable | None = None, distance: str = "l2",
            generator: torch.Generator | None = None) -> torch.Tensor:
    r"""Consistency training (Song et al., 2023, eq. 10): no teacher, both points share :math:`x_0` and ε.

    .. math:: \mathbb E\; d\big(f_\theta(\alpha_{t_{n+1}}x_0 + \sigma_{t_{n+1}}\varepsilon,\ t_{n+1}),\
              f_{\theta^-}(\alpha_{t_n}x_0 + \sigma_{t_n}\varepsilon,\ t_n)\big).

    The second point is :func:`teacher_step`'s DDIM step with the one-sample estimate
    :math:`(\hat\varepsilon, \hat x_0) = (\varepsilon, x_0)` in place of a teacher's conditional mean.
    Arguments as in :func:`cd_loss`.
    """
    times = _check_loss_inputs(model, x0, path, times, target, distance)
    t_n, t_next = _pair_times(times, x0, generator)
    eps = gaussian_noise(x0.shape, generator, x0)
    x_next, _ = flow.conditional_path(path, x0, eps, t_next)
    x_n, _ = flow.conditional_path(path, x0, eps, t_n)
    with torch.no_grad():
        aim = (target or model)(x_n, t_n)
    return _distance(model(x_next, t_next), aim, distance).mean()


# ---- sampling ------------------------------------------------------------------------------

@torch.no_grad()
def sample(model: Callable, shape=None, times: Sequence[float] = (1.0,), *, path: GaussianPath | None = None,
           x_1: torch.Tensor | None = None, generator: torch.Generator | None = None, device=None,
           return_trajectory: bool = False) -> SampleOutput:
    r"""Multistep consistency sampling (Song et al., 2023, Algorithm 1), one NFE per entry of ``times``.

    Start from ``x_1`` or the prior :math:`\mathcal N(0, \sigma_1^2 I)` of ``path`` (default: the
    linear path), read :math:`\hat x_0 = f(x, \tau_1)` at ``times[0]`` (normally 1); then for each
    further :math:`\tau` of the decreasing ``times``, re-noise :math:`x_\tau = \alpha_\tau\hat x_0 + \sigma_\tau z` with
    fresh noise :math:`z` and denoise again, :math:`\hat x_0 = f(x_\tau, \tau)`. ``trajectory``
    (if asked for) holds each :math:`\hat x_0`, on the CPU.
    """
    check_callable("model", model)
    path = check_path(path if path is not None else flow.LinearPath())
    if isinstance(times, torch.Tensor):
        times = times.tolist()
    if (not isinstance(times, (list, tuple)) or not times
            or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in times)):
        raise ValueError(f"times must be a non-empty list of numbers, got {times!r}")
    if any(not 0.0 < v <= 1.0 for v in times) or any(b >= a for a, b in zip(times, times[1:])):
        raise ValueError(f"times must decrease strictly within (0, 1], got {list(times)}")
    if x_1 is None:
        if shape is None:
            raise ValueError("give shape or x_1")
        x_1 = SDE(path).prior_sample(shape, generator=generator, device=device)
    x = check_tensor("x_1", x_1, floating=True)
    x0 = model(x, times[0])
    trajectory = [x0.cpu()]
    for tau in times[1:]:
        a, s = (float(c) for c in path(torch.tensor(float(tau), dtype=torch.float64))[:2])
        x = a * x0 + s * gaussian_noise(x0.shape, generator, x0)
        x0 = model(x, tau)
        trajectory.append(x0.cpu())
    return SampleOutput(x=x0, nfe=len(times), trajectory=torch.stack(trajectory) if return_trajectory else None)


# ---- the shipped digit model (unigen.pretrained) ------------------------------------------

def build_for_recipe(recipe: dict, device="cpu") -> ConsistencyModel:
    """The consistency model of a :mod:`unigen.pretrained` recipe: a digit U-Net in :class:`ConsistencyModel`."""
    from . import schedules
    from .nn import unet
    path = getattr(schedules, recipe["schedule"])(recipe["T"]).path
    net = unet.UNet(channels=recipe["channels"])
    return ConsistencyModel(net, path, sigma_data=recipe["sigma_data"]).to(device)


def train_for_recipe(name: str, recipe: dict, steps: int | None = None, device=None, progress: bool = True,
                     patience: int | None = None):
    r"""Consistency distillation of a digit U-Net from the recipe's teacher (:func:`unigen.pretrained.load`).

    The student's U-Net starts from the teacher's weights; the teacher steps by DDIM on the grid
    :math:`t_n = n\,t_{\max}/N` with :math:`\hat x_0` clipped to [-1, 1]; the target is the student
    itself under a stop-gradient. With the recipe's validation split, the weights with the lowest
    distillation loss on it are kept (:func:`unigen.pretrained.validation`, with ``patience``).
    Returns ``(model, history)``, the model being the EMA copy.
    """
    from . import pretrained, train, utils
    from .data import digits
    gen = utils.seed_everything(recipe["seed"])
    teacher, _ = pretrained.load(recipe["teacher"], device)
    model = build_for_recipe(recipe, device or "cpu")
    model.net.load_state_dict(teacher.state_dict())
    times = torch.linspace(0.0, recipe["t_max"], recipe["N"] + 1, dtype=torch.float64)
    x, _ = digits.load("train")

    def loss_fn(m, x0, generator=gen):
        return cd_loss(m, x0, teacher, m.path, times, parameterization="eps", method="ddim",
                       clip_x0=1.0, distance=recipe["distance"], generator=generator)
    hist = train.train(model, loss_fn, x, steps=steps or recipe["steps"], batch_size=recipe["batch_size"],
                       lr=recipe["lr"], ema_decay=recipe["ema_decay"], generator=gen, device=device,
                       progress=progress, desc=name, **pretrained.validation(recipe, patience))
    return hist.ema, hist
