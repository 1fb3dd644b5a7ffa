r"""Editing with a trained diffusion model: SDEdit, DDIM inversion, class swaps and outpainting masks.

Introduced in *Editing with diffusion* (Part III). Nothing here trains a network: every
function takes a trained ε-network (``model(x_t, t)`` or ``model(x_t, t, y)``, as in
:mod:`unigen.ddpm`) and a :class:`~unigen.schedules.DiscreteSchedule`, and reuses the
samplers of :mod:`unigen.ddpm`.

- :func:`sdedit` (Meng et al., 2022): noise an input to a level :math:`t_0` with the forward
  process, then run the reverse sampler from :math:`t_0` to 0.
- :func:`ddim_invert` (Song et al., 2021, section 5.4): run the deterministic DDIM update
  *upwards*, from a data point to a latent :math:`x_{t_0}`, so that DDIM sampling from that
  latent gives the data point back (up to the error of discretising the ODE).
- :func:`class_swap` (after the dual implicit bridges of Su et al., 2023): invert with one
  label, regenerate with another, with classifier-free guidance (Ho & Salimans, 2022).
- :func:`outpaint_mask`: the masks of outpainting, for :func:`unigen.ddpm.inpaint`.
- :func:`render_strokes`: "hand-drawn" inputs, polylines rendered as 8×8 images.

Time runs as everywhere in the book: :math:`t = 0` is the data, :math:`t = 1` the noise, and
step ``k`` of the grid sits at ``schedule.t[k]``.
"""
from __future__ import annotations

import numbers

import torch

from . import ddpm
from .discrete_time import DiscreteSchedule, respace
from .utils import check_in, check_tensor

__all__ = ["step_of", "truncate", "sdedit", "ddim_invert", "class_swap", "outpaint_mask", "render_strokes"]


def _check_schedule(schedule):
    if not isinstance(schedule, DiscreteSchedule):
        raise ValueError(f"schedule must be a schedules.DiscreteSchedule, got {type(schedule).__name__}")
    return schedule


def _check_time(name: str, t0) -> float:
    if isinstance(t0, bool) or not isinstance(t0, numbers.Real) or not 0.0 <= float(t0) <= 1.0:
        raise ValueError(f"{name} must be a number in [0, 1], got {t0!r}")
    return float(t0)


def _check_steps(steps):
    if steps is not None and (isinstance(steps, bool) or not isinstance(steps, int) or steps < 1):
        raise ValueError(f"steps must be None or a positive int, got {steps!r}")
    return steps


def _check_images(name: str, x) -> torch.Tensor:
    check_tensor(name, x, floating=True)
    if x.dim() < 2 or x.shape[0] < 1:
        raise ValueError(f"{name} must have shape (B, ...) with B >= 1, got {tuple(x.shape)}")
    return x


def step_of(schedule: DiscreteSchedule, t0: float) -> int:
    """The step ``k`` of ``schedule`` whose time ``schedule.t[k]`` is nearest to ``t0`` (in [0, 1])."""
    _check_schedule(schedule)
    t0 = _check_time("t0", t0)
    return int((schedule.t - t0).abs().argmin())


def truncate(schedule: DiscreteSchedule, k0: int) -> DiscreteSchedule:
    r"""The grid of steps :math:`0..k_0` of ``schedule``: the same times and :math:`\bar\alpha_k`, ending at :math:`t_{k_0}`.

    A sampler run on it starts at step :math:`k_0` (from a given ``x_T``, which is then
    :math:`x_{k_0}`) and queries the network at the original times.
    """
    _check_schedule(schedule)
    if isinstance(k0, bool) or not isinstance(k0, int) or not 1 <= k0 <= schedule.T:
        raise ValueError(f"k0 must be an int in 1..{schedule.T}, got {k0!r}")
    return DiscreteSchedule(t=schedule.t[:k0 + 1].clone(), alpha_bar=schedule.alpha_bar[:k0 + 1].clone(),
                            beta=schedule.beta[:k0 + 1].clone(), path=schedule.path)


def _checked_level(schedule, t0, steps) -> tuple[float, int]:
    """Check the schedule, the level ``t0`` and ``steps``; return ``t0`` and its step on the grid."""
    _check_schedule(schedule)
    t0 = _check_time("t0", t0)
    _check_steps(steps)
    return t0, step_of(schedule, t0)


def sdedit(model, x: torch.Tensor, schedule: DiscreteSchedule, t0: float, *, steps: int | None = None,
           eta: float = 1.0, clip_x0: float | None = None, y=None, guidance_scale=None, null_label=None,
           generator: torch.Generator | None = None, return_trajectory: bool = False) -> ddpm.SampleOutput:
    r"""SDEdit (Meng et al., 2022): noise ``x`` to the step :math:`k_0` nearest to ``t0``, then denoise it.

    .. math::
        x_{k_0} = \sqrt{\bar\alpha_{k_0}}\,x + \sqrt{1-\bar\alpha_{k_0}}\,\varepsilon,\quad
        \varepsilon \sim \mathcal N(0, I), \qquad
        \hat x = \text{reverse sampler from } x_{k_0} \text{ down to step } 0.

    The reverse sampler is DDIM with ``eta`` (1, the default, is DDPM's ancestral sampler, the
    stochastic sampler of the paper; 0 is deterministic), on ``steps`` evenly spaced steps of
    :math:`0..k_0` (default: all :math:`k_0` of them; at most :math:`k_0`). Small ``t0`` keeps
    the input (``t0`` rounding to step 0 returns a copy of it with ``nfe = 0``); ``t0 = 1``
    forgets it and samples afresh. ``y``, ``guidance_scale``, ``null_label``, ``clip_x0``: as
    in :func:`unigen.ddpm.ddim_sample`. Returns a :class:`~unigen.ddpm.SampleOutput`.
    """
    x = _check_images("x", x)
    t0, k0 = _checked_level(schedule, t0, steps)
    if k0 == 0:
        traj = x.detach().cpu().clone()[None] if return_trajectory else None
        return ddpm.SampleOutput(x=x.clone(), nfe=0, trajectory=traj)
    x_k0 = ddpm.q_sample(x, k0, schedule, generator=generator)
    return ddpm.ddim_sample(model, None, truncate(schedule, k0), steps=min(steps or k0, k0), eta=eta,
                            clip_x0=clip_x0, y=y, guidance_scale=guidance_scale, null_label=null_label,
                            x_T=x_k0, generator=generator, return_trajectory=return_trajectory)


@torch.no_grad()
def ddim_invert(model, x0: torch.Tensor, schedule: DiscreteSchedule, *, steps: int | None = None,
                t0: float = 1.0, y=None, guidance_scale=None, null_label=None,
                return_trajectory: bool = False) -> ddpm.SampleOutput:
    r"""Deterministic DDIM inversion: from the data ``x0`` up to a latent at the step :math:`k_0` nearest to ``t0``.

    On the grid of ``steps`` evenly spaced steps of :math:`0..k_0` (:func:`truncate`, then
    :func:`~unigen.schedules.respace`; default all :math:`k_0`), each step from :math:`k-1` up to
    :math:`k` reads the noise at the current point and re-noises the implied clean point to level k:

    .. math::
        \hat\varepsilon = \varepsilon_\theta(x_{k-1}, t_{k-1}),\quad
        \hat x_0 = \frac{x_{k-1} - \sigma_{k-1}\hat\varepsilon}{\alpha_{k-1}},\quad
        x_k = \alpha_k\,\hat x_0 + \sigma_k\,\hat\varepsilon,

    with :math:`(\alpha_k, \sigma_k) = (\sqrt{\bar\alpha_k}, \sqrt{1-\bar\alpha_k})`. At the first
    step :math:`\sigma_0 = 0`, so no noise can be read off the data point: the network is queried
    at :math:`t_1` instead. This is the η = 0 DDIM step (:func:`unigen.ddpm.ddim_step`) run
    backwards, with :math:`\hat\varepsilon` taken at the *start* of each interval; the sampler takes it
    at the other end, so inversion followed by :func:`unigen.ddpm.ddim_sample` on the same grid
    returns ``x0`` only up to a discretisation error that shrinks as ``steps`` grows.

    ``y``, ``guidance_scale`` and ``null_label`` condition the network as in
    :func:`unigen.ddpm.predict`. Returns a :class:`~unigen.ddpm.SampleOutput` whose ``x`` is the
    latent; its ``trajectory`` (if asked for) runs from ``x0`` up to the latent.
    """
    x0 = _check_images("x0", x0)
    t0, k0 = _checked_level(schedule, t0, steps)
    if k0 == 0:
        raise ValueError(f"t0 must be at least one step above 0 (>= {schedule.t[1].item():.3g}), got {t0!r}")
    grid = respace(truncate(schedule, k0), min(steps or k0, k0))
    x, nfe = x0, 0
    trajectory = [x.detach().cpu()] if return_trajectory else None
    for k in range(1, grid.T + 1):
        eps, _, n = ddpm.predict(model, x, max(k - 1, 1), grid, y=y, guidance_scale=guidance_scale,
                                 null_label=null_label)
        nfe += n
        a_prev, s_prev = grid.coefficients(k - 1, x)
        x0_hat = ddpm.x0_from_eps(x, eps, a_prev, s_prev)
        a_k, s_k = grid.coefficients(k, x)
        x = a_k * x0_hat + s_k * eps
        if return_trajectory:
            trajectory.append(x.detach().cpu())
    traj = torch.stack(trajectory) if return_trajectory else None
    return ddpm.SampleOutput(x=x, nfe=nfe, trajectory=traj)


def class_swap(model, x0: torch.Tensor, y_new: torch.Tensor, schedule: DiscreteSchedule, *, null_label: int,
               guidance_scale: float, steps: int | None = 50, t0: float = 1.0, y_source=None,
               clip_x0: float | None = None) -> ddpm.SampleOutput:
    r"""Edit ``x0`` into the class ``y_new``: invert it with DDIM, then regenerate from the latent with the new label.

    1. :func:`ddim_invert` up to ``t0`` on ``steps`` steps, with the source labels ``y_source``
       (default: none, i.e. the unconditional network);
    2. :func:`unigen.ddpm.ddim_sample` (η = 0) from that latent on the same grid, with labels
       ``y_new`` and classifier-free guidance ``guidance_scale`` (Ho & Salimans, 2022):
       :math:`\tilde\varepsilon = \varepsilon_\theta(x, \varnothing) + w\,(\varepsilon_\theta(x, y) - \varepsilon_\theta(x, \varnothing))`.

    With ``guidance_scale = 0`` and no ``y_source`` the second pass is the unconditional sampler,
    so the result is the plain reconstruction of ``x0``. The latent keeps the layout of the
    input; the label and the guidance decide how far the regeneration departs from it.
    Returns the edited images, with ``nfe`` counting both passes.
    """
    x0 = _check_images("x0", x0)
    if not isinstance(y_new, torch.Tensor) or y_new.is_floating_point() or y_new.shape != (x0.shape[0],):
        raise ValueError(f"y_new must be an integer tensor of shape ({x0.shape[0]},), got {y_new!r:.60}")
    if isinstance(guidance_scale, bool) or not isinstance(guidance_scale, numbers.Real):
        raise ValueError(f"guidance_scale must be a number, got {guidance_scale!r}")
    if isinstance(null_label, bool) or not isinstance(null_label, int):
        raise ValueError(f"null_label must be an int, got {null_label!r}")
    latent = ddim_invert(model, x0, schedule, steps=steps, t0=t0, y=y_source)
    k0 = step_of(schedule, t0)
    out = ddpm.ddim_sample(model, None, truncate(schedule, k0), steps=min(steps or k0, k0), eta=0.0,
                           clip_x0=clip_x0, y=y_new.to(x0.device), guidance_scale=float(guidance_scale),
                           null_label=null_label, x_T=latent.x)
    return ddpm.SampleOutput(x=out.x, nfe=latent.nfe + out.nfe)


_KEEP = ("left", "right", "top", "bottom", "centre")


def outpaint_mask(keep: str, size: int = 8, width: int | None = None) -> torch.Tensor:
    """A ``(1, 1, size, size)`` mask for :func:`unigen.ddpm.inpaint`: 1 on the kept pixels, 0 on those to generate.

    ``keep`` is ``"left"``, ``"right"``, ``"top"`` or ``"bottom"`` (that many ``width`` columns or
    rows are kept, default half the image) or ``"centre"`` (a centred ``width`` × ``width``
    square is kept, default half the size, and the border around it is generated).
    """
    check_in("keep", keep, _KEEP)
    if isinstance(size, bool) or not isinstance(size, int) or size < 2:
        raise ValueError(f"size must be an int >= 2, got {size!r}")
    width = size // 2 if width is None else width
    if isinstance(width, bool) or not isinstance(width, int) or not 1 <= width < size:
        raise ValueError(f"width must be an int in 1..{size - 1}, got {width!r}")
    if keep == "centre" and (size - width) % 2:
        raise ValueError(f"width must have the parity of size = {size} to centre it, got {width!r}")
    mask = torch.zeros(1, 1, size, size)
    if keep == "left":
        mask[..., :, :width] = 1.0
    elif keep == "right":
        mask[..., :, size - width:] = 1.0
    elif keep == "top":
        mask[..., :width, :] = 1.0
    elif keep == "bottom":
        mask[..., size - width:, :] = 1.0
    else:
        lo = (size - width) // 2
        mask[..., lo:lo + width, lo:lo + width] = 1.0
    return mask


def render_strokes(strokes, size: int = 8, *, width: float = 0.12, oversample: int = 4) -> torch.Tensor:
    """Draw polylines as one image ``(1, size, size)`` in [-1, 1], background -1, ink +1 (the digits' convention).

    ``strokes`` is a list of polylines, each a list of ``(x, y)`` points in the unit square
    (x to the right, y downwards). A pixel of a fine grid, ``oversample`` times finer, is ink
    when it lies within ``width`` of a segment; each output pixel is the mean of its fine
    pixels, so thin or passing strokes give grey levels.
    """
    if isinstance(strokes, (str, bytes)) or not isinstance(strokes, (list, tuple)) or not strokes:
        raise ValueError("strokes must be a non-empty list of polylines [(x, y), ...]")
    pts = []
    for s in strokes:
        p = torch.as_tensor(s, dtype=torch.float64) if len(s) else torch.empty(0)
        if p.dim() != 2 or p.shape[1] != 2 or p.shape[0] < 2:
            raise ValueError(f"strokes must hold polylines of at least 2 points (x, y), got {s!r:.60}")
        pts.append(p)
    if isinstance(size, bool) or not isinstance(size, int) or size < 2:
        raise ValueError(f"size must be an int >= 2, got {size!r}")
    if isinstance(width, bool) or not isinstance(width, numbers.Real) or not width > 0:
        raise ValueError(f"width must be a positive number, got {width!r}")
    if isinstance(oversample, bool) or not isinstance(oversample, int) or oversample < 1:
        raise ValueError(f"oversample must be a positive int, got {oversample!r}")
    n = size * oversample
    c = (torch.arange(n, dtype=torch.float64) + 0.5) / n
    grid = torch.stack(torch.meshgrid(c, c, indexing="xy"), -1).reshape(-1, 2)    # (n*n, 2): (x, y)
    dist = torch.full((n * n,), float("inf"), dtype=torch.float64)
    for p in pts:
        a, b = p[:-1], p[1:]                                               # segments (S, 2)
        ab = b - a
        u = ((grid[:, None] - a) * ab).sum(-1) / ab.square().sum(-1).clamp_min(1e-12)
        closest = a + u.clamp(0, 1)[..., None] * ab                        # (n*n, S, 2)
        dist = torch.minimum(dist, (grid[:, None] - closest).norm(dim=-1).min(1).values)
    ink = (dist <= width).double().reshape(n, n)
    ink = ink.reshape(size, oversample, size, oversample).mean((1, 3))
    return (2 * ink - 1).float()[None]
