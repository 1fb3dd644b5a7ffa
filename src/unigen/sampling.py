r"""Turning logits into tokens: temperature, top-k, nucleus (top-p) filtering, and Gumbel-max draws.

Introduced in *Decoding* (Part II: :func:`apply_temperature`, :func:`top_k_filter`,
:func:`top_p_filter`, :func:`process_logits`) and *Masked diffusion for text* (Part VI:
:func:`gumbel_argmax`). Every family that ends in a softmax over tokens (the AR transformer,
masked diffusion, PixelCNN and VAR) draws its tokens through this module.
"""
from __future__ import annotations

import torch

from .utils import check_positive, check_tensor

__all__ = ["apply_temperature", "top_k_filter", "top_p_filter", "TOP_P_TOL", "process_logits",
           "gumbel_argmax"]


def _check_logits(logits) -> torch.Tensor:
    check_tensor("logits", logits, floating=True)
    if logits.dim() < 1 or logits.shape[-1] < 1:
        raise ValueError(f"logits must have a last (vocabulary) dimension, got shape {tuple(logits.shape)}")
    return logits


def apply_temperature(logits: torch.Tensor, temperature: float) -> torch.Tensor:
    r"""Divide logits by :math:`T > 0`: :math:`p_T(v) \propto p(v)^{1/T}` (``T < 1`` sharpens, ``T > 1`` flattens)."""
    _check_logits(logits)
    check_positive("temperature", temperature)
    return logits / temperature


def top_k_filter(logits: torch.Tensor, k: int) -> torch.Tensor:
    """Keep the ``k`` largest logits along the last axis; the rest become ``-inf``.

    Tokens tied with the ``k``-th largest are all kept, so the result does not
    depend on the order of the vocabulary (it may keep more than ``k``).
    """
    _check_logits(logits)
    if not isinstance(k, int) or isinstance(k, bool) or k < 1:
        raise ValueError(f"k must be a positive int, got {k!r}")
    if k >= logits.shape[-1]:
        return logits.clone()
    kth = logits.topk(k, dim=-1).values[..., -1:]               # (..., 1)
    return logits.masked_fill(logits < kth, float("-inf"))


TOP_P_TOL = 1e-6   # rounding tolerance of top_p_filter on the running probability mass


def top_p_filter(logits: torch.Tensor, p: float) -> torch.Tensor:
    r"""Nucleus filter: keep the smallest set of most probable tokens whose mass reaches ``p``.

    Sort the probabilities in decreasing order, :math:`\pi_{(1)} \ge \pi_{(2)} \ge \dots`,
    and keep token :math:`(j)` when the mass *before* it is below ``p``,
    :math:`\sum_{m<j} \pi_{(m)} < p`. So

    - the token whose probability makes the running sum cross ``p`` is kept;
    - the most probable token is always kept (its mass before is 0), so at least
      one token survives even when it alone holds more than ``p``;
    - ``p = 1`` keeps every token;
    - tokens tied with the last kept one are kept too (order of the vocabulary does not matter).

    The mass before a token is compared with ``p`` up to a tolerance of
    :data:`TOP_P_TOL` (``1e-6``): a token is kept when
    :math:`\sum_{m<j} \pi_{(m)} < p - 10^{-6}`. Without it, rounding decides exact
    ties: in float64 the two largest probabilities of the logits
    ``log([0.5, 0.3, 0.15, 0.05])`` add up to ``0.79999999999999993``, not 0.8, so
    ``p = 0.8`` would keep a third token.
    Probabilities computed from float32 logits are off by about ``1e-7``; the
    tolerance covers both. In effect the nucleus is the smallest set of mass at
    least ``p - 1e-6``, which no sampler can tell from ``p``.

    The other logits become ``-inf``. ``p`` must lie in ``(0, 1]``.
    """
    _check_logits(logits)
    if not isinstance(p, (int, float)) or isinstance(p, bool) or not 0.0 < p <= 1.0:
        raise ValueError(f"p must be a number in (0, 1], got {p!r}")
    if p >= 1.0:
        return logits.clone()
    probs = logits.double().softmax(-1)
    sorted_probs = probs.sort(-1, descending=True).values
    mass_before = sorted_probs.cumsum(-1) - sorted_probs
    n_keep = (mass_before < p - TOP_P_TOL).sum(-1, keepdim=True).clamp(min=1)   # >= 1 always
    threshold = sorted_probs.gather(-1, n_keep - 1)                # probability of the last kept token
    return logits.masked_fill(probs < threshold, float("-inf"))


def process_logits(logits: torch.Tensor, *, temperature: float = 1.0, top_k: int | None = None,
                   top_p: float | None = None) -> torch.Tensor:
    """Temperature, then top-k, then top-p (the usual order); ``None`` skips a filter."""
    logits = apply_temperature(logits, temperature)
    if top_k is not None:
        logits = top_k_filter(logits, top_k)
    if top_p is not None:
        logits = top_p_filter(logits, top_p)
    return logits


def gumbel_argmax(logits: torch.Tensor, *, generator: torch.Generator | None = None,
                  dtype: torch.dtype = torch.float64) -> torch.Tensor:
    r"""Sample from :math:`\mathrm{softmax}(\text{logits})` along the last axis as :math:`\arg\max(\ell + g)`.

    The Gumbel noise :math:`g = -\log(-\log u)` is drawn in ``dtype``. In float32 the
    uniform :math:`u` has 24 bits, so :math:`g` is confined to about :math:`[-2.8, 16.6]`
    and tokens far below the top can never be drawn; float64 widens it to about
    :math:`[-3.6, 36.7]`.
    """
    check_tensor("logits", logits, floating=True)
    if dtype not in (torch.float32, torch.float64):
        raise ValueError(f"dtype must be torch.float32 or torch.float64, got {dtype}")
    gen_device = generator.device if generator is not None else torch.device("cpu")
    u = torch.rand(logits.shape, generator=generator, dtype=dtype, device=gen_device).to(logits.device)
    tiny = torch.finfo(dtype).tiny
    e = (-torch.log(u.clamp(min=tiny))).clamp(min=tiny)                    # Exp(1) noise
    g = -torch.log(e)
    return (logits.to(dtype) + g).argmax(-1)
