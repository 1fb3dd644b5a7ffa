r"""Denoising diffusion: the forward chain, its posterior, the losses, and the DDPM and DDIM samplers.

Introduced in *The forward process* and *From the ELBO to DDPM* (Part III); DDIM,
respacing and the parameterisations in *DDIM and fast sampling*; guidance and
inpainting in *Diffusion on images*.

Everything works on a :class:`~unigen.schedules.DiscreteSchedule`, whose arrays
are indexed by the step :math:`k = 0..T` (``k = 0`` is the data). A network is
called as ``model(x_t, t)`` or ``model(x_t, t, y)`` with the continuous time
``t = schedule.t[k]`` of shape ``(B,)``, so one network serves every grid and
every respacing. Its output is read as ε, :math:`\hat x_0` or v according to
``parameterization``.

Shapes: ``x`` is ``(B, ...)`` (points ``(B, 2)``, images ``(B, 1, 8, 8)``);
per-sample coefficients are ``(B,)`` or scalars and are broadcast with
:func:`~unigen.utils.expand_like`. New tensors follow the device of the inputs,
and every random draw takes ``generator=``.

The three verbs of every paradigm module (:mod:`unigen.outputs`): :func:`loss`
(:func:`ddpm_loss`), :func:`sample` (:func:`ddim_sample` or :func:`ddpm_sample`) and
:func:`nll` (:func:`nll_bound`, an :class:`~unigen.outputs.NLL` of kind ``"bound"``).
"""
from __future__ import annotations

from typing import Callable

import torch

from . import metrics
from .outputs import NLL, SampleOutput
from .parameterizations import (DIFFUSION_PARAMETERIZATIONS as PARAMETERIZATIONS, eps_from_score,
                                eps_from_x0, eps_x0_from_v, score_from_eps, target, to_eps_x0,
                                v_from_eps_x0, x0_from_eps)
from .losses import gaussian_loss
from .discrete_time import DiscreteSchedule, respace
from .paths import PathCoefficients, noised
from .utils import check_in, check_positive, check_tensor, expand_like, gaussian_noise

__all__ = [
    "loss", "sample", "nll", "SAMPLERS",
    "PARAMETERIZATIONS",
    "q_sample", "q_posterior_mean_variance",
    "x0_from_eps", "eps_from_x0", "v_from_eps_x0", "eps_x0_from_v", "score_from_eps", "eps_from_score",
    "to_eps_x0", "target", "cfg_combine",
    "ddpm_loss", "step_times", "predict", "ddpm_step", "ddim_step",
    "SampleOutput", "ddpm_sample", "ddim_sample", "inpaint", "nll_bound",
]

def _check_schedule(schedule):
    if not isinstance(schedule, DiscreteSchedule):
        raise ValueError(f"schedule must be a schedules.DiscreteSchedule, got {type(schedule).__name__}")
    return schedule


def _steps_tensor(k, x: torch.Tensor, schedule: DiscreteSchedule, lowest: int = 0) -> torch.Tensor:
    """``k`` (int or ``(B,)`` integer tensor) as a ``(B,)`` long tensor on the CPU, checked to lie in lowest..T."""
    k = schedule._check_k(k)
    if k.dim() == 0:
        k = k.expand(x.shape[0])
    if k.dim() != 1 or k.shape[0] != x.shape[0]:
        raise ValueError(f"k must be an int or have shape (B,) with B = {x.shape[0]}, got {tuple(k.shape)}")
    if k.numel() and k.min() < lowest:
        raise ValueError(f"k must be >= {lowest} here, got {k.min().item()}")
    return k.cpu().long()


# ---- the forward process ------------------------------------------------------------------

def q_sample(x0: torch.Tensor, k, schedule: DiscreteSchedule, eps: torch.Tensor | None = None, *,
             generator: torch.Generator | None = None) -> torch.Tensor:
    r"""Draw :math:`x_k \sim q(x_k \mid x_0) = \mathcal N(\sqrt{\bar\alpha_k}\,x_0,\ (1-\bar\alpha_k) I)` in one step.

    ``k`` is an int or a ``(B,)`` integer tensor; ``eps`` (same shape as ``x0``) is
    the noise, drawn with ``generator`` if not given. Ho et al. (2020), eq. 4.
    """
    check_tensor("x0", x0, floating=True)
    _check_schedule(schedule)
    if x0.dim() < 1:
        raise ValueError("x0 must have a batch dimension")
    k = _steps_tensor(k, x0, schedule)
    if eps is None:
        eps = gaussian_noise(x0.shape, generator, x0)
    elif not isinstance(eps, torch.Tensor) or eps.shape != x0.shape:
        raise ValueError(f"eps must be a tensor of shape {tuple(x0.shape)}")
    alpha_t, sigma_t = schedule.coefficients(k, x0)
    return noised(x0, eps, alpha_t, sigma_t)


def q_posterior_mean_variance(x0: torch.Tensor, x_t: torch.Tensor, k, schedule: DiscreteSchedule):
    r"""Mean and variance of the forward posterior :math:`q(x_{k-1} \mid x_k, x_0) = \mathcal N(\tilde\mu_k, \tilde\beta_k I)`.

    .. math::
        \tilde\mu_k = \frac{\sqrt{\bar\alpha_{k-1}}\,\beta_k}{1-\bar\alpha_k}\,x_0
                    + \frac{\sqrt{1-\beta_k}\,(1-\bar\alpha_{k-1})}{1-\bar\alpha_k}\,x_k,
        \qquad \tilde\beta_k = \frac{1-\bar\alpha_{k-1}}{1-\bar\alpha_k}\,\beta_k

    (Ho et al., 2020, eq. 6-7). ``k >= 1`` (an int or a ``(B,)`` tensor); at ``k = 1``,
    :math:`\bar\alpha_0 = 1` so the mean is :math:`x_0` and the variance is 0. Returns
    ``(mean, variance)``, the variance broadcastable against ``x0``.
    """
    check_tensor("x0", x0, floating=True)
    check_tensor("x_t", x_t, floating=True)
    if x0.shape != x_t.shape:
        raise ValueError(f"x_t must have the shape of x0 {tuple(x0.shape)}, got {tuple(x_t.shape)}")
    _check_schedule(schedule)
    k = _steps_tensor(k, x0, schedule, lowest=1)
    ab, ab_prev, beta = schedule.alpha_bar[k], schedule.alpha_bar_prev[k], schedule.beta[k]
    coef_x0 = ab_prev.sqrt() * beta / (1.0 - ab)
    coef_xt = (1.0 - beta).sqrt() * (1.0 - ab_prev) / (1.0 - ab)
    mean = expand_like(coef_x0.to(x0), x0) * x0 + expand_like(coef_xt.to(x0), x0) * x_t
    return mean, expand_like(schedule.beta_tilde[k].to(x0), x0)


def cfg_combine(out_cond: torch.Tensor, out_uncond: torch.Tensor, scale: float) -> torch.Tensor:
    r"""Classifier-free guidance (Ho & Salimans, 2022): :math:`\hat\varepsilon = \varepsilon_\varnothing + w\,(\varepsilon_y - \varepsilon_\varnothing)`.

    ``scale = 0`` is unconditional, ``1`` plain conditional, ``> 1`` guided.
    """
    return out_uncond + scale * (out_cond - out_uncond)


# ---- training ---------------------------------------------------------------------------------

def ddpm_loss(model: Callable, x0: torch.Tensor, schedule: DiscreteSchedule, *, parameterization: str = "eps",
              weighting: Callable | None = None, y: torch.Tensor | None = None, p_uncond: float = 0.0,
              null_label: int | None = None, generator: torch.Generator | None = None) -> torch.Tensor:
    r"""DDPM's simple loss :math:`\mathbb E_{k, x_0, \varepsilon}\,\|f_\theta(x_k, t_k) - \text{target}\|^2` (Ho et al., 2020, eq. 14).

    :func:`unigen.losses.gaussian_loss` with ``k`` uniform on 1..T. The target is ε, :math:`x_0` or
    :math:`v = \alpha_t\varepsilon - \sigma_t x_0` (``parameterization``). At a fixed :math:`x_t` the three
    errors are proportional, so they are the same loss up to a weight per step:
    :math:`\|\hat x_0 - x_0\|^2 = \|\hat\varepsilon-\varepsilon\|^2/\mathrm{SNR}_t` and, on a
    variance-preserving path, :math:`\|\hat v - v\|^2 = (1 + 1/\mathrm{SNR}_t)\,\|\hat\varepsilon-\varepsilon\|^2`.
    ``weighting(snr)`` (optional) multiplies each example's squared error by a weight
    computed from the signal-to-noise ratio :math:`\alpha_t^2/\sigma_t^2` of its step, e.g.
    min-SNR, ``lambda snr: snr.clamp(max=5) / snr`` for ε (Hang et al., 2023).
    For classifier-free guidance pass labels ``y`` and ``p_uncond > 0``: that share of
    labels is replaced by ``null_label``. Returns the mean over every entry.
    """
    check_tensor("x0", x0, floating=True)
    _check_schedule(schedule)
    check_in("parameterization", parameterization, PARAMETERIZATIONS)
    if x0.dim() < 2:
        raise ValueError(f"x0 must have shape (B, ...), got {tuple(x0.shape)}")
    if not 0.0 <= p_uncond <= 1.0:
        raise ValueError(f"p_uncond must lie in [0, 1], got {p_uncond!r}")
    if weighting is not None and not callable(weighting):
        raise ValueError(f"weighting must be a callable snr -> weight, got {type(weighting).__name__}")
    net = model if y is None else _labelled(model, _check_labels(y, x0.shape[0]), p_uncond, null_label,
                                            generator)
    by_snr = None if weighting is None else (lambda c: weighting(c.alpha_t**2 / c.sigma_t**2))
    return gaussian_loss(net, x0, step_times(schedule), parameterization=parameterization,
                         weighting=by_snr, generator=generator)


def step_times(schedule: DiscreteSchedule) -> Callable:
    """DDPM's time sampler for :func:`unigen.losses.gaussian_loss`: a step ``k`` uniform on 1..T.

    Returns ``times(B, generator, x0) -> (t_k (B,), (alpha, sigma, None, None))``.
    """
    _check_schedule(schedule)

    def times(B: int, generator, x0: torch.Tensor):
        gen_device = generator.device if generator is not None else x0.device
        k = torch.randint(1, schedule.T + 1, (B,), generator=generator, device=gen_device).cpu()
        alpha_t, sigma_t = schedule.coefficients(k, x0)
        return schedule.t[k].to(x0), PathCoefficients(alpha_t, sigma_t, None, None)
    return times


def _labelled(model, y, p_uncond, null_label, generator) -> Callable:
    """``model`` called with the labels ``y``, a share ``p_uncond`` of them replaced by ``null_label``.

    The share is drawn when the network is called, after the step and the noise.
    """
    if p_uncond > 0 and null_label is None:
        raise ValueError("null_label is needed when p_uncond > 0")

    def net(x_t, t):
        labels = y
        if p_uncond > 0:
            gen_device = generator.device if generator is not None else x_t.device
            drop = torch.rand(len(y), generator=generator, device=gen_device).to(y.device) < p_uncond
            labels = torch.where(drop, torch.full_like(y, null_label), y)
        return model(x_t, t, labels)
    return net


def _check_labels(y, B):
    if not isinstance(y, torch.Tensor) or y.is_floating_point() or y.shape != (B,):
        raise ValueError(f"y must be an integer tensor of shape ({B},), got {y!r:.60}")
    return y


# ---- one reverse step --------------------------------------------------------------------------

def predict(model: Callable, x_t: torch.Tensor, k: int, schedule: DiscreteSchedule, *,
            parameterization: str = "eps", clip_x0: float | None = None, y: torch.Tensor | None = None,
            guidance_scale: float | None = None, null_label: int | None = None):
    r"""Query the network at step ``k`` and return ``(eps, x0_hat, nfe)``.

    - ``y`` (labels ``(B,)``) conditions the network; with ``guidance_scale`` the
      unconditional output (label ``null_label``) is computed in the same batch and combined
      by :func:`cfg_combine`, which costs 2 NFE.
    - ``clip_x0 = c`` clamps :math:`\hat x_0` to :math:`[-c, c]` and recomputes ε from it,
      so that every sampler moves towards the clipped estimate.
    """
    B = x_t.shape[0]
    t = schedule.t[k].to(x_t).expand(B)
    alpha_t, sigma_t = schedule.coefficients(k, x_t)
    if y is None:
        if guidance_scale is not None:
            raise ValueError("guidance_scale needs labels y")
        out, nfe = model(x_t, t), 1
    elif guidance_scale is None:
        out, nfe = model(x_t, t, _check_labels(y, B)), 1
    else:
        if null_label is None:
            raise ValueError("guidance_scale needs null_label")
        y = _check_labels(y, B)
        both = model(torch.cat([x_t, x_t]), torch.cat([t, t]), torch.cat([y, torch.full_like(y, null_label)]))
        out, nfe = cfg_combine(both[:B], both[B:], guidance_scale), 2
    eps, x0 = to_eps_x0(out, x_t, alpha_t, sigma_t, parameterization)
    if clip_x0 is not None:
        x0 = x0.clamp(-clip_x0, clip_x0)
        eps = eps_from_x0(x_t, x0, alpha_t, sigma_t)
    return eps, x0, nfe


def ddpm_step(x_t: torch.Tensor, x0: torch.Tensor, k: int, schedule: DiscreteSchedule, noise: torch.Tensor, *,
              variance: str = "beta_tilde") -> torch.Tensor:
    r"""One ancestral step :math:`x_{k-1} = \tilde\mu_k(x_k, \hat x_0) + \varsigma_k z` (Ho et al., 2020, Algorithm 2).

    :math:`\varsigma_k` is the reverse step's standard deviation (the book keeps :math:`\sigma_t` for the
    path). ``variance`` is ``"beta_tilde"`` (:math:`\varsigma_k^2 = \tilde\beta_k`, the posterior's; 0 at
    ``k = 1``) or ``"beta"`` (:math:`\varsigma_k^2 = \beta_k`, the upper bound). Either way the last step
    ``k = 1`` adds no noise: it returns the mean, as Algorithm 2 does.
    """
    check_in("variance", variance, ("beta_tilde", "beta"))
    mean, post_var = q_posterior_mean_variance(x0, x_t, k, schedule)
    if k == 1:
        return mean
    var = post_var if variance == "beta_tilde" else schedule.beta[k].to(x_t)
    return mean + var.sqrt() * noise


def ddim_step(x_t: torch.Tensor, eps: torch.Tensor, x0: torch.Tensor, k: int, schedule: DiscreteSchedule,
              noise: torch.Tensor, *, eta: float = 0.0) -> torch.Tensor:
    r"""One DDIM step (Song et al., 2021, eq. 12), from step ``k`` to ``k - 1`` of ``schedule``:

    .. math::
        x_{k-1} = \sqrt{\bar\alpha_{k-1}}\,\hat x_0 + \sqrt{1-\bar\alpha_{k-1}-\varsigma_k^2}\;\hat\varepsilon + \varsigma_k z,
        \qquad \varsigma_k = \eta\sqrt{\tfrac{1-\bar\alpha_{k-1}}{1-\bar\alpha_k}}\sqrt{1-\tfrac{\bar\alpha_k}{\bar\alpha_{k-1}}}
        = \eta\sqrt{\tilde\beta_k}.

    ``eta = 0`` is deterministic; ``eta = 1`` is DDPM's ancestral step with :math:`\tilde\beta_k`.
    The last step uses :math:`\bar\alpha_0 = 1` and so returns :math:`\hat x_0`.
    """
    check_positive("eta", eta, allow_zero=True)
    ab, ab_prev = schedule.alpha_bar[k], schedule.alpha_bar[k - 1]
    std = eta * ((1 - ab_prev) / (1 - ab) * (1 - ab / ab_prev)).sqrt()     # varsigma_k
    dir_coef = (1 - ab_prev - std**2).clamp_min(0.0).sqrt()
    return (ab_prev.sqrt().to(x_t) * x0 + dir_coef.to(x_t) * eps + std.to(x_t) * noise)


# ---- samplers ---------------------------------------------------------------------------------

def _device_of(model, device, *tensors):
    if device is not None:
        return torch.device(device)
    for t in tensors:
        if isinstance(t, torch.Tensor):
            return t.device
    if isinstance(model, torch.nn.Module):
        p = next(model.parameters(), None)
        if p is not None:
            return p.device
    return torch.device("cpu")


@torch.no_grad()
def _start(shape, x_T, generator, device, dtype) -> torch.Tensor:
    """The sampler's starting point: ``x_T``, or standard normal noise of ``shape``."""
    if x_T is not None:
        return check_tensor("x_T", x_T, floating=True).to(device)
    if not isinstance(shape, (tuple, list, torch.Size)) or len(shape) < 2 or min(shape) < 1:
        raise ValueError(f"shape must be (B, ...) with positive sizes, got {shape!r}")
    return gaussian_noise(tuple(shape), generator, torch.empty(0, dtype=dtype, device=device))


def _check_known_mask(known, mask, x):
    """Inpainting's ``known`` pixels and their ``mask``, checked against ``x`` and moved to it."""
    if (known is None) != (mask is None):
        raise ValueError("give both known and mask, or neither")
    if known is None:
        return None, None
    check_tensor("known", known, floating=True)
    if known.shape != x.shape:
        raise ValueError(f"known must have shape {tuple(x.shape)}, got {tuple(known.shape)}")
    try:
        ok = torch.broadcast_shapes(mask.shape, x.shape) == x.shape
    except RuntimeError:
        ok = False
    if not ok:
        raise ValueError(f"mask must broadcast to {tuple(x.shape)}, got {tuple(mask.shape)}")
    return known.to(x), mask.to(x)


def _reverse(model, shape, schedule, update, *, steps, parameterization, clip_x0, y, guidance_scale, null_label,
             known, mask, resample, x_T, generator, device, return_trajectory, dtype=torch.float32) -> SampleOutput:
    """The loop every sampler shares: from ``x_T`` down the (respaced) grid, one ``update`` per step."""
    _check_schedule(schedule)
    check_in("parameterization", parameterization, PARAMETERIZATIONS)
    if steps is not None:
        schedule = respace(schedule, steps)
    if clip_x0 is not None:
        check_positive("clip_x0", clip_x0)
    if not isinstance(resample, int) or resample < 1:
        raise ValueError(f"resample must be a positive int, got {resample!r}")
    device = _device_of(model, device, x_T, known)
    x = _start(shape, x_T, generator, device, dtype)
    known, mask = _check_known_mask(known, mask, x)
    if y is not None:
        y = _check_labels(y, x.shape[0]).to(device)
    trajectory = [x.cpu()] if return_trajectory else None
    nfe = 0
    for k in range(schedule.T, 0, -1):
        for r in range(resample):
            eps, x0, n = predict(model, x, k, schedule, parameterization=parameterization, clip_x0=clip_x0, y=y,
                                 guidance_scale=guidance_scale, null_label=null_label)
            nfe += n
            x_prev = update(x, eps, x0, k, schedule, gaussian_noise(x.shape, generator, x))
            if known is not None:  # replace the known pixels by the data noised to step k-1
                known_prev = q_sample(known, k - 1, schedule, generator=generator)
                x_prev = mask * known_prev + (1 - mask) * x_prev
            if r < resample - 1 and k > 1:  # RePaint: go back to step k and denoise again
                beta = schedule.beta[k].to(x)
                x = (1 - beta).sqrt() * x_prev + beta.sqrt() * gaussian_noise(x.shape, generator, x)
            else:
                break
        x = x_prev
        if return_trajectory:
            trajectory.append(x.cpu())
    return SampleOutput(x=x, nfe=nfe, trajectory=torch.stack(trajectory) if return_trajectory else None)


_COMMON_DOC = """
    Common arguments:
        model: ``model(x_t, t)`` or, with labels, ``model(x_t, t, y)``; its output is read as ``parameterization``.
        shape: ``(B, ...)`` of the samples (ignored when ``x_T`` is given).
        schedule: the training grid; ``steps`` respaces it (:func:`~unigen.schedules.respace`).
        clip_x0: clamp :math:`\\hat x_0` to ``[-clip_x0, clip_x0]`` at every step (images in [-1, 1]).
        y, guidance_scale, null_label: class labels and classifier-free guidance (:func:`predict`).
        x_T: the starting noise; by default drawn with ``generator``.
        generator, device: randomness and placement (default: the device of ``x_T`` or of the model).
        return_trajectory: keep every :math:`x_k` in ``SampleOutput.trajectory``.

    Returns a :class:`SampleOutput` whose ``nfe`` counts network evaluations per sample.
"""


def ddpm_sample(model, shape, schedule: DiscreteSchedule, *, steps: int | None = None, variance: str = "beta_tilde",
                parameterization: str = "eps", clip_x0: float | None = None, y=None, guidance_scale=None,
                null_label=None, x_T=None, generator=None, device=None, return_trajectory=False) -> SampleOutput:
    r"""DDPM's ancestral sampler (Ho et al., 2020, Algorithm 2), from :math:`x_T \sim \mathcal N(0, I)` to :math:`x_0`.

    Each step draws :math:`x_{k-1}` from :math:`\mathcal N(\tilde\mu_k(x_k, \hat x_0), \varsigma_k^2 I)` with
    ``variance`` ``"beta_tilde"`` or ``"beta"`` (:func:`ddpm_step`). With ``steps`` the grid is respaced
    and its betas recomputed, as in Nichol & Dhariwal (2021).
    """ + _COMMON_DOC
    check_in("variance", variance, ("beta_tilde", "beta"))

    def update(x, eps, x0, k, sched, noise):
        return ddpm_step(x, x0, k, sched, noise, variance=variance)
    return _reverse(model, shape, schedule, update, steps=steps, parameterization=parameterization,
                    clip_x0=clip_x0, y=y, guidance_scale=guidance_scale, null_label=null_label, known=None,
                    mask=None, resample=1, x_T=x_T, generator=generator, device=device,
                    return_trajectory=return_trajectory)


def ddim_sample(model, shape, schedule: DiscreteSchedule, *, steps: int | None = None, eta: float = 0.0,
                parameterization: str = "eps", clip_x0: float | None = None, y=None, guidance_scale=None,
                null_label=None, x_T=None, generator=None, device=None, return_trajectory=False) -> SampleOutput:
    r"""DDIM (Song et al., 2021): :func:`ddim_step` down the (respaced) grid; ``eta = 0`` is deterministic.

    The last step lands on :math:`\bar\alpha_0 = 1`, so the sample is the final :math:`\hat x_0`.
    With ``eta = 1`` it reproduces :func:`ddpm_sample` with ``variance="beta_tilde"`` step for step
    (same ``generator`` seed, same draws).
    """ + _COMMON_DOC
    check_positive("eta", eta, allow_zero=True)

    def update(x, eps, x0, k, sched, noise):
        return ddim_step(x, eps, x0, k, sched, noise, eta=eta)
    return _reverse(model, shape, schedule, update, steps=steps, parameterization=parameterization,
                    clip_x0=clip_x0, y=y, guidance_scale=guidance_scale, null_label=null_label, known=None,
                    mask=None, resample=1, x_T=x_T, generator=generator, device=device,
                    return_trajectory=return_trajectory)


def inpaint(model, known: torch.Tensor, mask: torch.Tensor, schedule: DiscreteSchedule, *, steps: int | None = None,
            eta: float = 1.0, resample: int = 1, parameterization: str = "eps", clip_x0: float | None = None,
            y=None, guidance_scale=None, null_label=None, generator=None, device=None,
            return_trajectory=False) -> SampleOutput:
    r"""Fill in the pixels where ``mask == 0``, keeping ``known`` where ``mask == 1``.

    After every DDIM step (``eta``; 1 is ancestral) the known pixels are replaced by
    :math:`q(x_{k-1} \mid x_0 = \text{known})`, so the network only has to make the rest
    consistent with them. ``resample > 1`` re-noises each step back to :math:`x_k` and
    repeats it, which harmonises the two parts (RePaint, Lugmayr et al., 2022); it costs
    ``resample`` NFE per step.
    """ + _COMMON_DOC
    check_tensor("known", known, floating=True)
    if not isinstance(mask, torch.Tensor):
        raise ValueError("mask must be a tensor of 0s and 1s")
    if not ((mask == 0) | (mask == 1)).all():
        raise ValueError("mask must hold only 0s and 1s")
    check_positive("eta", eta, allow_zero=True)

    def update(x, eps, x0, k, sched, noise):
        return ddim_step(x, eps, x0, k, sched, noise, eta=eta)
    return _reverse(model, known.shape, schedule, update, steps=steps, parameterization=parameterization,
                    clip_x0=clip_x0, y=y, guidance_scale=guidance_scale, null_label=null_label, known=known,
                    mask=mask.to(known.dtype), resample=resample, x_T=None, generator=generator,
                    device=device or known.device, return_trajectory=return_trajectory, dtype=known.dtype)


# ---- the bound ----------------------------------------------------------------------------------

def _bound_terms(model, x0, k, schedule, parameterization, variance, decoder, n_bins, generator):
    """The bound's term of step ``k[i]`` for each row ``x0[i]``: :math:`L_{k-1}`, or :math:`L_0` where k = 1. ``(N,)``."""
    D = x0[0].numel()
    x_t = q_sample(x0, k, schedule, generator=generator)
    alpha_t, sigma_t = schedule.coefficients(k, x0)
    out = model(x_t, schedule.t[k].to(x0))
    _, x0_hat = to_eps_x0(out, x_t, alpha_t, sigma_t, parameterization)
    mu_q, var_q = q_posterior_mean_variance(x0, x_t, k, schedule)
    mu_p, _ = q_posterior_mean_variance(x0_hat, x_t, k, schedule)
    sq = (mu_q - mu_p).reshape(len(k), -1).square().sum(1)
    var_q = var_q.reshape(-1)
    var_p = var_q if variance == "beta_tilde" else schedule.beta[k].to(x0)
    var_q, var_p = var_q.clamp_min(1e-30), var_p.clamp_min(1e-30)
    terms = 0.5 * (sq / var_p + D * (var_q / var_p - 1 + torch.log(var_p / var_q)))
    first = (k == 1).nonzero()[:, 0].to(x0.device)
    x_1, mu_1 = x0[first], mu_p[first]
    decoder_var = schedule.beta[1].to(x0)
    if decoder == "gaussian":
        dec = 0.5 * (x_1 - mu_1).reshape(len(first), D).square().sum(1) / decoder_var \
            + 0.5 * D * torch.log(2 * torch.pi * decoder_var)
    else:
        log_mass = metrics.discretized_gaussian_log_prob(x_1, mu_1, decoder_var.sqrt(), n_bins=n_bins)
        dec = -log_mass.reshape(len(first), D).sum(1)
    terms[first] = dec
    return terms


@torch.no_grad()
def _bound_steps(B: int, T: int, n_steps: int | None, generator, device):
    """The steps each example's bound evaluates, ``(B, n)``, and the weight of each column, ``(n,)``.

    Every step 1..T with weight 1, or one uniform draw from each of ``n_steps`` equal strata of
    1..T weighted by the stratum's size (stratified sampling).
    """
    if n_steps is None:
        return torch.arange(1, T + 1).expand(B, T), torch.ones(T, dtype=torch.float64)
    edges = torch.linspace(0, T, n_steps + 1, dtype=torch.float64).round().long()   # strata (e_j, e_{j+1}]
    sizes = edges.diff()
    gen_device = generator.device if generator is not None else device
    u = torch.rand(B, n_steps, generator=generator, device=gen_device, dtype=torch.float64).cpu()
    steps = edges[:-1] + 1 + (u * sizes).long().clamp(max=sizes - 1)
    return steps, sizes.double()


def _check_bound_args(x0, schedule, parameterization, variance, decoder, n_bins, n_steps) -> None:
    """:func:`nll_bound`'s arguments, checked before any network call."""
    check_tensor("x0", x0, floating=True)
    _check_schedule(schedule)
    check_in("variance", variance, ("beta_tilde", "beta"))
    check_in("parameterization", parameterization, PARAMETERIZATIONS)
    check_in("decoder", decoder, ("gaussian", "discretized"))
    if x0.dim() < 2:
        raise ValueError(f"x0 must have shape (B, ...), got {tuple(x0.shape)}")
    if decoder == "discretized":   # checks n_bins and that x0 holds bin centres
        metrics.discretized_gaussian_log_prob(x0, x0, 1.0, n_bins=n_bins)
    T = schedule.T
    if n_steps is not None and (not isinstance(n_steps, int) or isinstance(n_steps, bool)
                                or not 1 <= n_steps <= T):
        raise ValueError(f"n_steps must be None or an int in 1..{T}, got {n_steps!r}")


def nll_bound(model, x0: torch.Tensor, schedule: DiscreteSchedule, *, parameterization: str = "eps",
              variance: str = "beta", decoder: str = "gaussian", n_bins: int = 17, n_steps: int | None = None,
              generator: torch.Generator | None = None, batch_steps: int = 100) -> dict:
    r"""The variational bound :math:`-\log p_\theta(x_0) \le L_T + \sum_{k=2}^T L_{k-1} + L_0`, in nats per example.

    - :math:`L_T = \mathrm{KL}(q(x_T\mid x_0)\,\|\,\mathcal N(0, I))`, in closed form;
    - :math:`L_{k-1} = \mathrm{KL}(q(x_{k-1}\mid x_k, x_0)\,\|\,p_\theta(x_{k-1}\mid x_k))`, between
      :math:`\mathcal N(\tilde\mu_k, \tilde\beta_k I)` and :math:`\mathcal N(\mu_\theta, \varsigma_k^2 I)` with
      :math:`\varsigma_k^2` = ``variance`` (:math:`\beta_k` or :math:`\tilde\beta_k`), one draw of :math:`x_k` per step
      (with :math:`\varsigma_k^2 = \tilde\beta_k`, :math:`\|\tilde\mu_k - \mu_\theta\|^2 / (2\tilde\beta_k)`);
    - :math:`L_0 = -\log\mathcal N(x_0;\ \mu_\theta(x_1, 1),\ \beta_1 I)`, a Gaussian decoder
      (:math:`\tilde\beta_1 = 0` cannot serve as its variance), or with ``decoder="discretized"``
      the mass of that Gaussian on the bin of each pixel, for data on ``n_bins`` levels of [-1, 1]
      (:func:`unigen.metrics.discretized_gaussian_log_prob`; Ho et al., 2020, section 3.3): a bound
      on the *discrete* NLL, nats of a probability, not of a density (*Likelihoods in bits/dim*).

    With ``n_steps = None`` every step is evaluated: ``terms[:, k-1]`` is the term of step k
    (``L_0`` at k = 1). With ``n_steps = n`` each example gets one uniform step from each of n
    equal strata of 1..T (stratified sampling), and the sum becomes the unbiased estimate
    :math:`\sum_j |S_j|\,L_{k_j - 1}`, whose spread over examples gives a standard error.
    Returns ``{"bound": (B,), "prior": (B,), "terms", "steps"}``, the last two ``(B, T)`` or
    ``(B, n)``; ``batch_steps`` steps are evaluated per network call.
    """
    _check_bound_args(x0, schedule, parameterization, variance, decoder, n_bins, n_steps)
    B, T, D = x0.shape[0], schedule.T, x0[0].numel()
    ab_T = schedule.alpha_bar[T].to(x0)
    mean_sq = x0.reshape(B, -1).square().sum(1)
    prior = 0.5 * (ab_T * mean_sq + D * ((1 - ab_T) - 1 - torch.log(1 - ab_T)))
    steps, sizes = _bound_steps(B, T, n_steps, generator, x0.device)
    n = steps.shape[1]
    terms = torch.empty(B, n, dtype=x0.dtype, device=x0.device)
    for start in range(0, n, batch_steps):
        cols = slice(start, min(start + batch_steps, n))
        k = steps[:, cols].T.reshape(-1)                                  # step-major: (n_cols * B,)
        xb = x0.repeat(len(k) // B, *[1] * (x0.dim() - 1))
        out = _bound_terms(model, xb, k, schedule, parameterization, variance, decoder, n_bins, generator)
        terms[:, cols] = out.reshape(-1, B).T
    bound = prior + (terms * sizes.to(terms)).sum(1)
    return {"bound": bound, "prior": prior, "terms": terms, "steps": steps.clone()}


# ---- the three verbs -------------------------------------------------------------------------------

SAMPLERS = {"ddim": ddim_sample, "ddpm": ddpm_sample}


def loss(model: Callable, batch: torch.Tensor, schedule: DiscreteSchedule, **kw) -> torch.Tensor:
    """The training verb: :func:`ddpm_loss` of ``batch`` ``(B, ...)`` on ``schedule`` (keywords as there)."""
    check_tensor("batch", batch, floating=True)
    return ddpm_loss(model, batch, schedule, **kw)


def sample(model, shape, schedule: DiscreteSchedule, *, sampler: str = "ddim", **kw) -> SampleOutput:
    """The sampling verb: :func:`ddim_sample` (``sampler="ddim"``) or :func:`ddpm_sample` (``"ddpm"``).

    Keywords go to the sampler (``steps``, ``eta`` or ``variance``, ``generator``, ...).
    """
    check_in("sampler", sampler, tuple(SAMPLERS))
    return SAMPLERS[sampler](model, shape, schedule, **kw)


def nll(model, x0: torch.Tensor, schedule: DiscreteSchedule, **kw) -> NLL:
    r"""The likelihood verb: :func:`nll_bound`'s ``"bound"`` on :math:`-\log p_\theta(x_0)`, in nats per example.

    Keywords go to :func:`nll_bound` (``decoder``, ``n_steps``, ``generator``, ...).
    """
    return NLL(nll_bound(model, x0, schedule, **kw)["bound"], "bound")
