"""Checks for the exercises of Part VI, *Diffusion for text* and *Autoregression for images*."""
from __future__ import annotations

import torch
import torch.nn.functional as F

from .. import visual_ar
from ._framework import compare, register_inputs

__all__ = ["mask_tokens", "mdlm_linear_term", "raster_mask", "block_causal_mask"]

F64 = torch.float64


# ---- mask_tokens ------------------------------------------------------------------------------

# A draw equal to alpha_t is masked ("at least"); alpha_t = 0 masks every token, alpha_t = 1 none.
_MASK_CASES = [
    (torch.tensor([[3, 1, 4, 1], [5, 2, 6, 0]]),
     torch.tensor([[0.25, 0.5, 0.75, 0.5], [0.0, 0.5, 0.99, 0.3]], dtype=F64),
     torch.tensor([0.5, 0.3], dtype=F64), 7),
    (torch.tensor([[2, 0, 1], [1, 1, 2]]), torch.tensor([[0.0, 0.4, 0.9], [0.0, 0.4, 0.9]], dtype=F64),
     torch.tensor([0.0, 1.0], dtype=F64), 3),
]


def _make_mask(gen):
    B, L = int(torch.randint(1, 6, (1,), generator=gen)), int(torch.randint(1, 9, (1,), generator=gen))
    V = int(torch.randint(3, 30, (1,), generator=gen))          # the mask id is the vocabulary size, V
    return (torch.randint(0, V, (B, L), generator=gen), torch.rand(B, L, generator=gen, dtype=F64),
            torch.rand(B, generator=gen, dtype=F64), V)


register_inputs("mask_tokens", _make_mask, cases=_MASK_CASES)


def _mask_tokens(x0, u, alpha_t, mask_id):
    return torch.where(u >= alpha_t[:, None], torch.full_like(x0, mask_id), x0)


def mask_tokens(fn, **kw) -> None:
    """Exercise: ``fn(x0 (B, L) int64, u (B, L), alpha_t (B,), mask_id int) -> x_t (B, L)``.

    A token is masked when its uniform draw ``u`` is at least the keep probability ``alpha_t``.
    The cases include draws exactly equal to ``alpha_t``, ``alpha_t`` = 0 and 1, and several mask ids.
    """
    compare(fn, _mask_tokens, _make_mask, cases=_MASK_CASES, name="mask_tokens",
            inputs=("x0", "u", "alpha_t", "mask_id"), outputs=("x_t",), **kw)


# ---- mdlm_linear_term -------------------------------------------------------------------------

_MDLM_CASES = [(torch.tensor([[[2.0, 0.0, -1.0, 0.0], [0.0, 1.0, 0.0, 0.0], [-1.0, 0.0, 0.0, 3.0]]], dtype=F64),
                torch.tensor([[0, 2, 3]]), torch.tensor([[True, True, False]]), torch.tensor([0.25], dtype=F64))]


def _make_mdlm(gen):
    B, L, V = int(torch.randint(1, 6, (1,), generator=gen)), int(torch.randint(1, 8, (1,), generator=gen)), 4
    t = torch.rand(B, generator=gen, dtype=F64) * 0.9 + 0.05
    return (2 * torch.randn(B, L, V, generator=gen, dtype=F64), torch.randint(0, V, (B, L), generator=gen),
            torch.rand(B, L, generator=gen) < 0.5, t)


register_inputs("mdlm_linear_term", _make_mdlm, cases=_MDLM_CASES)


def _mdlm_linear_term(logits, x0, masked, t):
    ce = F.cross_entropy(logits.transpose(1, 2), x0, reduction="none")
    return (ce * masked).sum(1) / t


def mdlm_linear_term(fn, **kw) -> None:
    """Exercise: ``fn(logits (B, L, V), x0 (B, L), masked (B, L) bool, t (B,)) -> (B,)``.

    The integrand of the continuous-time bound for the linear schedule: ``1/t`` times the
    cross-entropy summed over the masked positions.
    """
    compare(fn, _mdlm_linear_term, _make_mdlm, cases=_MDLM_CASES, name="mdlm_linear_term",
            inputs=("logits", "x0", "masked", "t"), outputs=("term",), **kw)


# ---- raster_mask ------------------------------------------------------------------------------

_RASTER_CASES = [(k, kind) for k in (3, 1, 5, 7) for kind in ("A", "B")]
register_inputs("raster_mask", cases=_RASTER_CASES)


def _raster_mask(kernel_size, mask_type):
    return visual_ar.raster_mask(kernel_size, mask_type)


def raster_mask(fn, **kw) -> None:
    """Exercise: ``fn(kernel_size odd int, mask_type "A" or "B") -> (k, k)`` float mask of a masked convolution."""
    kw.pop("n_trials", None)        # every case is fixed
    compare(fn, _raster_mask, cases=_RASTER_CASES, name="raster_mask",
            inputs=("kernel_size", "mask_type"), outputs=("mask",), **kw)


# ---- block_causal_mask ------------------------------------------------------------------------

_BLOCK_CASES = [((1, 2),), ((1, 2, 4, 8),), ((1,),), ((2, 4),), ((1, 3, 6),)]
register_inputs("block_causal_mask", cases=_BLOCK_CASES)


def _block_causal_mask(scales):
    return visual_ar.block_causal_mask(scales)


def block_causal_mask(fn, **kw) -> None:
    """Exercise: ``fn(scales tuple of ints) -> (S, S)`` bool mask.

    True where a token may attend: the key's scale is at most the query's.
    """
    kw.pop("n_trials", None)        # every case is fixed
    compare(fn, _block_causal_mask, cases=_BLOCK_CASES, name="block_causal_mask",
            inputs=("scales",), outputs=("mask",), **kw)
