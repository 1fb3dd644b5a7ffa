r"""Masked (absorbing-state) diffusion for token sequences, as in MDLM: loss, bound, samplers.

Introduced in *Diffusion for text* (Part VI). The forward process hides each token
independently: at time :math:`t` a token of :math:`x_0` is still visible with
probability :math:`\alpha_t` and has become the MASK token otherwise,

.. math:: q(x_t^i \mid x_0^i) = \alpha_t\,[x_t^i = x_0^i] + (1 - \alpha_t)\,[x_t^i = \mathrm{MASK}],

with :math:`\alpha_0 = 1` (data) and :math:`\alpha_1 = 0` (all masked). A model is any
callable ``model(x_t (B, L)) -> logits (B, L, V)`` that predicts :math:`x_0` at every
position, e.g. the bidirectional :class:`unigen.nn.transformer.Transformer`; the MASK
token is an extra id ``mask_id`` of its vocabulary, and its logit is never used.

The continuous-time negative ELBO (the bound on :math:`-\log p_\theta(x_0)`) is

.. math:: \mathcal L = \int_0^1 \frac{-\alpha_t'}{1-\alpha_t}\,
          \mathbb E_{q(x_t\mid x_0)} \sum_{i:\,x_t^i = \mathrm{MASK}} -\log p_\theta(x_0^i \mid x_t)\,dt,

a cross-entropy on the masked positions weighted by :math:`-\alpha_t'/(1-\alpha_t)`, which
is :math:`1/t` for the linear schedule :math:`\alpha_t = 1 - t`. Substituting
:math:`u = 1 - \alpha_t` and integrating over the number :math:`m` of masked tokens gives
the schedule-free *any-order* form

.. math:: \mathcal L = \sum_{m=1}^{L} \frac1m\,\mathbb E_{|M| = m}
          \sum_{i \in M} -\log p_\theta(x_0^i \mid x_0^{\setminus M}),

which is the expected negative log-likelihood of an autoregressive model that generates
the positions in a uniformly random order.

Every bound function takes ``known (B, L)`` (bool, optional): positions that are never
masked, e.g. the END padding of a name whose length is given. The bound is then on
:math:`-\log p_\theta(x^{\text{unknown}} \mid x^{\text{known}})`, with :math:`L` replaced by the
number of unknown positions of each row.

The three verbs of every paradigm module (:mod:`unigen.outputs`): :func:`loss`
(:func:`masked_loss`), :func:`sample` (a :class:`DecodeOutput`, which is a
:class:`~unigen.outputs.SampleOutput`) and :func:`nll` (:func:`nelbo`, an
:class:`~unigen.outputs.NLL` of kind ``"bound"``). In full:

- schedules :class:`LinearMask`, :class:`CosineMask` (:math:`\alpha_t`, :math:`\alpha_t'`, the weight);
- :func:`q_mask` (the forward process), :func:`masked_loss` (training), :func:`nelbo`
  (the continuous-time bound), :func:`discrete_nelbo` (the bound of a T-step process),
  :func:`order_nll` (the exact NLL along one generation order);
- :func:`sample` (parallel decoding in K steps), :func:`infill`, :func:`gumbel_argmax`.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F

from .outputs import NLL, SampleOutput
from .sampling import gumbel_argmax
from .utils import check_in, check_positive, check_tensor, evaluating, expand_like

__all__ = [
    "loss", "nll", "sample",
    "MaskSchedule", "LinearMask", "CosineMask", "q_mask", "masked_logits", "masked_loss", "nelbo",
    "discrete_nelbo", "order_nll", "gumbel_argmax", "unmask_counts", "DecodeOutput", "infill",
]


# ---- schedules ------------------------------------------------------------------------------

class MaskSchedule:
    r"""The probability :math:`\alpha_t` that a token is still visible at time ``t``, decreasing from 1 to 0."""

    def alpha(self, t: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def d_alpha(self, t: torch.Tensor) -> torch.Tensor:
        r""":math:`\alpha_t' = d\alpha_t/dt` (negative)."""
        raise NotImplementedError

    def weight(self, t: torch.Tensor) -> torch.Tensor:
        r"""The ELBO weight :math:`-\alpha_t'/(1-\alpha_t)` (written :math:`\alpha_t'/(1-\alpha_t)` up to sign)."""
        t = _as_time(t)
        return -self.d_alpha(t) / (1 - self.alpha(t))


class LinearMask(MaskSchedule):
    r""":math:`\alpha_t = 1 - t`: the weight is :math:`1/t`."""

    def alpha(self, t):
        return 1 - _as_time(t)

    def d_alpha(self, t):
        return -torch.ones_like(_as_time(t))


class CosineMask(MaskSchedule):
    r""":math:`\alpha_t = \cos(\pi t/2)`: fewer masks early, more late."""

    def alpha(self, t):
        return torch.cos(0.5 * math.pi * _as_time(t))

    def d_alpha(self, t):
        return -0.5 * math.pi * torch.sin(0.5 * math.pi * _as_time(t))


def _as_time(t) -> torch.Tensor:
    t = t if isinstance(t, torch.Tensor) else torch.as_tensor(t, dtype=torch.float64)
    if not t.is_floating_point():
        t = t.double()
    if t.numel() and (t.min() < 0 or t.max() > 1):
        raise ValueError("t must lie in [0, 1]")
    return t


def _schedule(schedule) -> MaskSchedule:
    if schedule is None:
        return LinearMask()
    if not isinstance(schedule, MaskSchedule):
        raise ValueError(f"schedule must be a MaskSchedule, got {type(schedule).__name__}")
    return schedule


# ---- the forward process and the loss --------------------------------------------------------

def _check_known(known, x0) -> torch.Tensor:
    """``known`` as a bool tensor on ``x0``'s device (all False when None)."""
    if known is None:
        return torch.zeros_like(x0, dtype=torch.bool)
    check_tensor("known", known, dim=2)
    if known.dtype != torch.bool or known.shape != x0.shape:
        raise ValueError(f"known must be a boolean tensor of shape {tuple(x0.shape)}")
    return known.to(x0.device)


def _check_x0(x0, mask_id) -> torch.Tensor:
    check_tensor("x0", x0, dim=2, floating=False)
    if not isinstance(mask_id, int) or isinstance(mask_id, bool) or mask_id < 0:
        raise ValueError(f"mask_id must be an int >= 0, got {mask_id!r}")
    if x0.numel() and (x0.min() < 0 or (x0 == mask_id).any()):
        raise ValueError(f"x0 must hold token ids >= 0 other than mask_id = {mask_id}")
    if x0.shape[1] < 1:
        raise ValueError(f"x0 must hold at least one token per row, got shape {tuple(x0.shape)}")
    return x0


def _generator_device(generator) -> torch.device:
    return generator.device if generator is not None else torch.device("cpu")


def _rand(shape, generator, device, dtype=torch.float32) -> torch.Tensor:
    """Uniform noise drawn on the generator's device (CPU by default), moved to ``device``."""
    return torch.rand(shape, generator=generator, dtype=dtype, device=_generator_device(generator)).to(device)


def q_mask(x0: torch.Tensor, t, mask_id: int, schedule: MaskSchedule | None = None, *,
           known: torch.Tensor | None = None,
           generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    r"""Draw :math:`x_t \sim q(x_t \mid x_0)`: each token becomes ``mask_id`` with probability :math:`1-\alpha_t`.

    ``x0 (B, L)`` ids, ``t`` a scalar or ``(B,)``. Returns ``x_t (B, L)`` and the boolean
    ``masked (B, L)``.
    """
    _check_x0(x0, mask_id)
    t = _as_time(t).to(x0.device)
    keep = expand_like(_schedule(schedule).alpha(t), x0.double())              # (B, 1) or (1, 1)
    masked = (_rand(x0.shape, generator, x0.device, torch.float64) >= keep) & ~_check_known(known, x0)
    return torch.where(masked, torch.full_like(x0, mask_id), x0), masked


def masked_logits(model, x_t: torch.Tensor, mask_id: int) -> torch.Tensor:
    """The model's logits ``(B, L, V)`` with the MASK token ruled out (its logit is ``-inf``)."""
    logits = model(x_t)
    if not isinstance(logits, torch.Tensor) or logits.dim() != 3 or logits.shape[:2] != x_t.shape:
        raise ValueError(f"model must map ids (B, L) to logits (B, L, V); got "
                         f"{tuple(getattr(logits, 'shape', ()))} for input {tuple(x_t.shape)}")
    if mask_id >= logits.shape[-1]:
        raise ValueError(f"mask_id = {mask_id} must be an id of the model's vocabulary of {logits.shape[-1]}")
    return logits.index_fill(-1, torch.tensor([mask_id], device=logits.device), float("-inf"))


def _masked_ce(model, x0, masked, mask_id) -> torch.Tensor:
    """``(B, L)``: :math:`-\\log p_\\theta(x_0^i \\mid x_t)` at the masked positions, 0 elsewhere."""
    x_t = torch.where(masked, torch.full_like(x0, mask_id), x0)
    logits = masked_logits(model, x_t, mask_id)
    ce = F.cross_entropy(logits.transpose(1, 2).float(), x0, reduction="none")
    return ce * masked


def _random_subsets(known: torch.Tensor, m: torch.Tensor, generator) -> torch.Tensor:
    """Boolean ``(B, L)``: in row b, a uniformly random set of ``m[b]`` positions that are not known."""
    u = _rand(known.shape, generator, known.device).masked_fill(known, 2.0)     # known positions rank last
    rank = u.argsort(1).argsort(1)
    return rank < m[:, None]


def _nelbo_terms(model, x0, mask_id, schedule, estimator, generator, known) -> torch.Tensor:
    """One unbiased draw of the negative ELBO of each row, ``(B,)`` nats (differentiable)."""
    B, L = x0.shape
    n = (~known).sum(1)                                                 # maskable positions per row
    if estimator == "time":
        # stratified times: one uniform shift for the batch, then one t in each of B equal bins
        t = ((_rand(1, generator, x0.device, torch.float64) + torch.arange(B, device=x0.device) / B) % 1)
        t = t.clamp_min(1e-6)
        alpha = _schedule(schedule).alpha(t)
        masked = (_rand((B, L), generator, x0.device, torch.float64) >= alpha[:, None]) & ~known
        w = _schedule(schedule).weight(t)
    else:   # "size": m uniform in 1..n, a random set of m masked positions, weight n / m
        u = _rand(B, generator, x0.device, torch.float64)
        m = (u * n).long() + 1
        masked = _random_subsets(known, m, generator)
        w = torch.where(n > 0, n / m.double(), 0.0)
    return _masked_ce(model, x0, masked, mask_id).sum(1) * w.float()


def masked_loss(model, x0: torch.Tensor, mask_id: int, schedule: MaskSchedule | None = None, *,
                estimator: str = "time", known: torch.Tensor | None = None,
                generator: torch.Generator | None = None) -> torch.Tensor:
    r"""The MDLM training loss: the negative ELBO per position, averaged over the batch.

    ``estimator="time"`` draws one :math:`t` per row (stratified over the batch), masks
    with :math:`1-\alpha_t` and weights the masked cross-entropy by
    :math:`-\alpha_t'/(1-\alpha_t)`; ``"size"`` draws the number of masks :math:`m`
    uniformly and weights by :math:`L/m` (the any-order form). Both are unbiased for
    the same bound; ``"size"`` has the smaller variance and ignores ``schedule``. The sum
    is divided by the number of positions ``L`` (known ones included).
    """
    _check_x0(x0, mask_id)
    check_in("estimator", estimator, ("time", "size"))
    known = _check_known(known, x0)
    return _nelbo_terms(model, x0, mask_id, schedule, estimator, generator, known).mean() / x0.shape[1]


@torch.no_grad()
def nelbo(model, x0: torch.Tensor, mask_id: int, *, n_samples: int = 1, estimator: str = "size",
          schedule: MaskSchedule | None = None, known: torch.Tensor | None = None,
          generator: torch.Generator | None = None,
          batch_size: int = 4096) -> torch.Tensor:
    r"""Monte-Carlo estimate of the continuous-time negative ELBO of each row, ``(N,)`` float64 nats.

    ``estimator="size"`` (default) evaluates the any-order form with one random mask
    of every size :math:`m = 1..L` per sample (:math:`L` network calls per row); ``"time"``
    averages ``n_samples`` draws of the time form. Both bound :math:`-\log p_\theta(x_0)`.
    """
    _check_x0(x0, mask_id)
    check_in("estimator", estimator, ("time", "size"))
    known = _check_known(known, x0)
    if not isinstance(n_samples, int) or n_samples < 1:
        raise ValueError(f"n_samples must be a positive int, got {n_samples!r}")
    device = x0.device
    total = torch.zeros(len(x0), dtype=torch.float64, device=device)
    L = x0.shape[1]
    with evaluating(model):
        for _ in range(n_samples):
            for i in range(0, len(x0), batch_size):
                xb, kb = x0[i:i + batch_size], known[i:i + batch_size]
                if estimator == "time":
                    total[i:i + len(xb)] += _nelbo_terms(model, xb, mask_id, schedule, "time", generator,
                                                         kb).double()
                    continue
                n = (~kb).sum(1)
                for m in range(1, int(n.max()) + 1):
                    masked = _random_subsets(kb, torch.full_like(n, m), generator) & (n >= m)[:, None]
                    total[i:i + len(xb)] += _masked_ce(model, xb, masked, mask_id).sum(1).double() / m
    return total / n_samples


def loss(model, batch: torch.Tensor, mask_id: int, **kw) -> torch.Tensor:
    """The training verb: :func:`masked_loss` of ids ``batch (B, L)`` (keywords as there)."""
    check_tensor("batch", batch, dim=2, floating=False)
    return masked_loss(model, batch, mask_id, **kw)


def nll(model, x0: torch.Tensor, mask_id: int, **kw) -> NLL:
    r"""The likelihood verb: :func:`nelbo`, a bound on :math:`-\log p_\theta(x_0)` of each row, in nats.

    Keywords go to :func:`nelbo` (``n_samples``, ``estimator``, ``known``, ``generator``, ...).
    """
    return NLL(nelbo(model, x0, mask_id, **kw), "bound")


@torch.no_grad()
def discrete_nelbo(model, x0: torch.Tensor, mask_id: int, T: int, schedule: MaskSchedule | None = None, *,
                   n_samples: int = 1, known: torch.Tensor | None = None,
                   generator: torch.Generator | None = None) -> torch.Tensor:
    r"""Monte-Carlo estimate of the negative ELBO of the T-step process on :math:`t_k = k/T`, ``(N,)`` nats.

    With the reverse step that unmasks each masked token with probability
    :math:`(\alpha_{t_{k-1}} - \alpha_{t_k})/(1 - \alpha_{t_k})` and draws it from the model,
    the bound is :math:`\sum_{k=1}^T \mathbb E\,\frac{\alpha_{t_{k-1}}-\alpha_{t_k}}{1-\alpha_{t_k}}
    \sum_{i\ \text{masked at}\ t_k} -\log p_\theta(x_0^i \mid x_{t_k})` (the prior and
    reconstruction terms vanish since :math:`\alpha_1 = 0`, :math:`\alpha_0 = 1`). Each sample
    draws one step :math:`k` uniformly per row and multiplies its term by :math:`T`.
    """
    _check_x0(x0, mask_id)
    if not isinstance(T, int) or T < 1:
        raise ValueError(f"T must be a positive int, got {T!r}")
    if not isinstance(n_samples, int) or n_samples < 1:
        raise ValueError(f"n_samples must be a positive int, got {n_samples!r}")
    sched = _schedule(schedule)
    known = _check_known(known, x0)
    device = x0.device
    total = torch.zeros(len(x0), dtype=torch.float64, device=device)
    with evaluating(model):
        for _ in range(n_samples):
            k = torch.randint(1, T + 1, (len(x0),), generator=generator,
                              device=_generator_device(generator)).to(device).double()
            a_t, a_s = sched.alpha(k / T), sched.alpha((k - 1) / T)
            masked = (_rand(x0.shape, generator, device, torch.float64) >= a_t[:, None]) & ~known
            w = T * (a_s - a_t) / (1 - a_t)
            total += _masked_ce(model, x0, masked, mask_id).sum(1).double() * w
    return total / n_samples


@torch.no_grad()
def order_nll(model, x0: torch.Tensor, mask_id: int, order: torch.Tensor, *,
              known: torch.Tensor | None = None) -> torch.Tensor:
    r"""Exact :math:`-\log p_\sigma(x_0) = -\sum_k \log p_\theta(x_0^{\sigma_k} \mid x_0^{\sigma_{<k}})`, ``(N,)`` float64.

    ``order (N, L)`` (or ``(L,)`` for all rows) is a permutation of the positions:
    the model reveals ``order[:, 0]`` first, with everything else masked, and so on
    (:math:`L` network calls). Averaged over uniformly random orders it is
    :func:`nelbo`, the any-order-autoregressive view of the bound. ``known`` positions
    are visible from the start and contribute no term.
    """
    _check_x0(x0, mask_id)
    known = _check_known(known, x0)
    N, L = x0.shape
    check_tensor("order", order, dim=(1, 2), floating=False)
    order = order.to(x0.device).expand(N, L) if order.dim() == 1 else order.to(x0.device)
    if order.shape != (N, L) or not torch.equal(order.sort(1).values,
                                                 torch.arange(L, device=x0.device).expand(N, L)):
        raise ValueError(f"order must hold a permutation of 0..{L - 1} in each row, shape ({N}, {L}) or ({L},)")
    total = torch.zeros(N, dtype=torch.float64, device=x0.device)
    step = order.argsort(1)                           # step[b, i]: when position i is revealed
    with evaluating(model):
        for k in range(L):
            masked = (step >= k) & ~known
            x_t = torch.where(masked, torch.full_like(x0, mask_id), x0)
            logp = masked_logits(model, x_t, mask_id).double().log_softmax(-1)    # (N, L, V)
            rows, pos = torch.arange(N, device=x0.device), order[:, k]
            total -= torch.where(known[rows, pos], 0.0, logp[rows, pos, x0[rows, pos]])
    return total


# ---- decoding -------------------------------------------------------------------------------

def unmask_counts(n_masked: int, steps: int, schedule: MaskSchedule | None = None) -> list[int]:
    r"""How many of ``n_masked`` tokens each of ``steps`` decoding steps reveals (they sum to ``n_masked``).

    Step :math:`k` (from :math:`t = k/K` to :math:`(k-1)/K`) reveals the expected number
    :math:`n\,(\alpha_{(k-1)/K} - \alpha_{k/K})` of the reverse process, rounded so that the
    total is exact: with the linear schedule and ``steps = n_masked``, one token per step.
    """
    if not isinstance(n_masked, int) or n_masked < 0:
        raise ValueError(f"n_masked must be an int >= 0, got {n_masked!r}")
    if not isinstance(steps, int) or steps < 1:
        raise ValueError(f"steps must be a positive int, got {steps!r}")
    t = torch.arange(steps, -1, -1, dtype=torch.float64) / steps               # 1, ..., 0
    still = torch.round(n_masked * (1 - _schedule(schedule).alpha(t))).long()    # masked after each step
    still[0], still[-1] = n_masked, 0
    return (still[:-1] - still[1:]).tolist()


@dataclass
class DecodeOutput(SampleOutput):
    """What :func:`sample` and :func:`infill` return: ids ``x (N, L)``, network calls, optional trajectory.

    A :class:`~unigen.outputs.SampleOutput` whose ``trajectory`` is a list of ``(N, L)`` ids: the
    start, then the rows after each network call (empty unless asked for).
    """

    trajectory: list[torch.Tensor] = field(default_factory=list)


@torch.no_grad()
def _decode(model, x: torch.Tensor, mask_id: int, steps: int, schedule, order, temperature: float,
            greedy: bool, generator, noise_dtype, return_trajectory: bool) -> DecodeOutput:
    N, L = x.shape
    masked = x == mask_id
    n0 = masked.sum(1)
    counts = torch.tensor([unmask_counts(int(n), steps, schedule) for n in n0.tolist()],
                          dtype=torch.long, device=x.device).reshape(N, steps)
    trajectory = [x.cpu()] if return_trajectory else []
    nfe = 0
    with evaluating(model):
        for k in range(steps):
            if not bool(counts[:, k].any()):
                continue
            logits = masked_logits(model, x, mask_id)                      # (N, L, V)
            nfe += 1
            if greedy:
                tokens = logits.argmax(-1)
            else:
                tokens = gumbel_argmax(logits / temperature, generator=generator, dtype=noise_dtype)
            if isinstance(order, torch.Tensor):
                score = -order.to(x.device).double()                        # earlier rank first
            elif order == "confidence":
                score = logits.double().log_softmax(-1).gather(-1, tokens[..., None])[..., 0]
            else:                                                          # "random"
                score = _rand((N, L), generator, x.device, torch.float64)
            score = score.masked_fill(~masked, float("-inf"))
            rank = score.argsort(1, descending=True).argsort(1)
            reveal = masked & (rank < counts[:, k:k + 1])
            x = torch.where(reveal, tokens, x)
            masked = masked & ~reveal
            if return_trajectory:
                trajectory.append(x.cpu())
    return DecodeOutput(x, nfe, trajectory)


def _check_decode_args(steps, order, temperature, greedy, noise_dtype, L):
    if not isinstance(steps, int) or steps < 1:
        raise ValueError(f"steps must be a positive int, got {steps!r}")
    if isinstance(order, torch.Tensor):
        check_tensor("order", order, dim=2, floating=False)
        if order.shape[1] != L:
            raise ValueError(f"order must have {L} columns (a rank per position), got {tuple(order.shape)}")
    else:
        check_in("order", order, ("random", "confidence"))
    if not greedy:
        check_positive("temperature", temperature)
    if noise_dtype not in (torch.float32, torch.float64):
        raise ValueError(f"noise_dtype must be torch.float32 or torch.float64, got {noise_dtype}")


def sample(model, n: int, length: int, mask_id: int, *, steps: int, schedule: MaskSchedule | None = None,
           order="random", temperature: float = 1.0, greedy: bool = False,
           generator: torch.Generator | None = None, noise_dtype: torch.dtype = torch.float64,
           return_trajectory: bool = False, device=None) -> DecodeOutput:
    r"""Parallel decoding: start from ``n`` all-MASK rows of ``length`` and reveal them in ``steps`` network calls.

    Step :math:`k` reveals :func:`unmask_counts` tokens, each drawn from the model's
    prediction given the current partly masked row (tokens revealed together are drawn
    independently). ``order`` picks which masked positions are revealed: ``"random"``
    (uniformly, as the reverse process does), ``"confidence"`` (the most probable
    predictions first) or a tensor ``(n, length)`` of ranks (smallest first). With
    ``steps = length`` and the linear schedule one token is revealed per step: any-order
    autoregressive sampling. ``noise_dtype`` is the precision of the Gumbel noise.
    """
    if not isinstance(n, int) or n < 1:
        raise ValueError(f"n must be a positive int, got {n!r}")
    if not isinstance(length, int) or length < 1:
        raise ValueError(f"length must be a positive int, got {length!r}")
    if not isinstance(mask_id, int) or mask_id < 0:
        raise ValueError(f"mask_id must be an int >= 0, got {mask_id!r}")
    _check_decode_args(steps, order, temperature, greedy, noise_dtype, length)
    if device is None:
        params = getattr(model, "parameters", None)
        first = next(params(), None) if callable(params) else None
        device = first.device if first is not None else torch.device("cpu")
    x = torch.full((n, length), mask_id, dtype=torch.long, device=device)
    return _decode(model, x, mask_id, steps, schedule, order, temperature, greedy, generator, noise_dtype,
                   return_trajectory)


def infill(model, x: torch.Tensor, known: torch.Tensor, mask_id: int, *, steps: int | None = None,
           **kw) -> DecodeOutput:
    """Fill the positions of ``x (N, L)`` where ``known (N, L)`` (bool) is False; the known ones stay.

    ``steps`` defaults to one network call per unknown token of the longest gap; other
    keyword arguments are those of :func:`sample`.
    """
    check_tensor("x", x, dim=2, floating=False)
    check_tensor("known", known, dim=2)
    if known.dtype != torch.bool or known.shape != x.shape:
        raise ValueError(f"known must be a boolean tensor of shape {tuple(x.shape)}")
    if not isinstance(mask_id, int) or mask_id < 0:
        raise ValueError(f"mask_id must be an int >= 0, got {mask_id!r}")
    if (x[known] == mask_id).any():
        raise ValueError("known positions of x must not hold mask_id")
    steps = max(1, int((~known).sum(1).max())) if steps is None else steps
    options = dict(schedule=None, order="random", temperature=1.0, greedy=False, generator=None,
                   noise_dtype=torch.float64, return_trajectory=False)
    unknown = set(kw) - set(options)
    if unknown:
        raise ValueError(f"unknown keyword arguments {sorted(unknown)}")
    options.update(kw)
    _check_decode_args(steps, options["order"], options["temperature"], options["greedy"],
                       options["noise_dtype"], x.shape[1])
    start = torch.where(known.to(x.device), x, torch.full_like(x, mask_id))
    return _decode(model, start, mask_id, steps, options["schedule"], options["order"], options["temperature"],
                   options["greedy"], options["generator"], options["noise_dtype"], options["return_trajectory"])
