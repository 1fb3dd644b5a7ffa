"""Checks for the exercises of Part VI, *Diffusion for text* and *Autoregression for images*."""
from __future__ import annotations

import torch
import torch.nn.functional as F

from .. import visual_ar
from ._framework import compare

__all__ = ["mask_tokens", "mdlm_linear_term", "raster_mask", "block_causal_mask"]


def mask_tokens(fn, **kw) -> None:
    """Exercise: ``fn(x0 (B, L) int64, u (B, L), alpha_t (B,), mask_id int) -> x_t (B, L)``.

    A token is masked when its uniform draw ``u`` is at least the keep probability ``alpha_t``.
    """
    def make(gen):
        B, L = int(torch.randint(1, 6, (1,), generator=gen)), int(torch.randint(1, 9, (1,), generator=gen))
        return (torch.randint(0, 5, (B, L), generator=gen), torch.rand(B, L, generator=gen, dtype=torch.float64),
                torch.rand(B, generator=gen, dtype=torch.float64), 5)

    def reference(x0, u, alpha_t, mask_id):
        return torch.where(u >= alpha_t[:, None], torch.full_like(x0, mask_id), x0)
    reference.__name__ = "mask_tokens"
    compare(fn, reference, make, name="mask_tokens", **kw)


def mdlm_linear_term(fn, **kw) -> None:
    """Exercise: ``fn(logits (B, L, V), x0 (B, L), masked (B, L) bool, t (B,)) -> (B,)``.

    The integrand of the continuous-time bound for the linear schedule: ``1/t`` times the
    cross-entropy summed over the masked positions.
    """
    def make(gen):
        B, L, V = int(torch.randint(1, 6, (1,), generator=gen)), int(torch.randint(1, 8, (1,), generator=gen)), 4
        t = torch.rand(B, generator=gen, dtype=torch.float64) * 0.9 + 0.05
        return (2 * torch.randn(B, L, V, generator=gen, dtype=torch.float64), torch.randint(0, V, (B, L), generator=gen),
                torch.rand(B, L, generator=gen) < 0.5, t)

    def reference(logits, x0, masked, t):
        ce = F.cross_entropy(logits.transpose(1, 2), x0, reduction="none")
        return (ce * masked).sum(1) / t
    reference.__name__ = "mdlm_linear_term"
    compare(fn, reference, make, name="mdlm_linear_term", **kw)


def raster_mask(fn, **kw) -> None:
    """Exercise: ``fn(kernel_size odd int, mask_type "A" or "B") -> (k, k)`` float mask of a masked convolution."""
    cases = iter([(1, "A"), (1, "B"), (3, "A"), (3, "B"), (5, "A"), (5, "B"), (7, "A"), (7, "B")])

    def make(gen):
        return next(cases)
    compare(fn, visual_ar.raster_mask, make, name="raster_mask", **{"n_trials": 8, **kw})


def block_causal_mask(fn, **kw) -> None:
    """Exercise: ``fn(scales tuple of ints) -> (S, S)`` bool, True where a token may attend (scale of key <= query's)."""
    cases = iter([(1, 2, 4, 8), (1,), (1, 2), (2, 4), (1, 3, 6)])

    def make(gen):
        return (next(cases),)
    compare(fn, visual_ar.block_causal_mask, make, name="block_causal_mask", **{"n_trials": 5, **kw})
