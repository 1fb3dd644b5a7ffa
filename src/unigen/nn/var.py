r"""The VAR network: a transformer over a pyramid of token maps with a block-causal mask.

Introduced in *Autoregression for images* (Part VI); the maths that uses it (the pyramid of
an image, the loss, the likelihood, the scale-by-scale sampler) is in :mod:`unigen.var`.

A sequence is the concatenation of the flattened token maps of the scales ``1x1, 2x2, ...``
(:data:`SCALES`), ``S = sum(s * s)`` tokens in all. Next-scale prediction (Tian et al., 2024)
predicts all tokens of a scale at once from the coarser scales, so a token of scale ``k`` may
attend to every token of the scales ``<= k`` (:func:`block_causal_mask`), including the other
tokens of its own block, whose inputs are the previous scale upsampled.

- :func:`block_causal_mask`: the ``(S, S)`` boolean attention mask;
- :class:`VARConfig`, :class:`VAR`: ``inputs (B, S') -> logits (B, S', n_levels)``, built from
  Part II's :class:`unigen.nn.transformer.Block`.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn as nn

from ..utils import check_tensor
from .transformer import Block

__all__ = ["SCALES", "check_scales", "block_causal_mask", "VARConfig", "VAR"]

SCALES = (1, 2, 4, 8)


def check_scales(scales, size: int | None = None) -> tuple[int, ...]:
    """``scales`` as a tuple if increasing positive ints that divide the finest (and it equals ``size``)."""
    scales = tuple(scales)
    if not scales or any(not isinstance(s, int) or s < 1 for s in scales) or list(scales) != sorted(set(scales)):
        raise ValueError(f"scales must be increasing positive ints, got {scales!r}")
    if any(scales[-1] % s for s in scales):
        raise ValueError(f"scales must all divide the finest scale, got {scales!r}")
    if size is not None and scales[-1] != size:
        raise ValueError(f"scales must end at the image size {size} (the finest scale), got {scales!r}")
    return scales


def block_causal_mask(scales=SCALES, device=None) -> torch.Tensor:
    """``(S, S)`` bool with ``S = sum(s*s)``: a token of scale k may attend to every token of scales <= k."""
    scales = check_scales(scales)
    block = torch.cat([torch.full((s * s,), k) for k, s in enumerate(scales)]).to(device)
    return block[:, None] >= block[None, :]


@dataclass(frozen=True)
class VARConfig:
    """Sizes of a :class:`VAR` transformer over the scales ``scales`` of ``n_levels`` tokens."""

    n_levels: int = 17
    scales: tuple[int, ...] = SCALES
    n_layer: int = 2
    n_head: int = 4
    n_embd: int = 64


class VAR(nn.Module):
    """Next-scale prediction: ``inputs (B, S') -> logits (B, S', n_levels)`` with a block-causal mask.

    ``S'`` is the total length of the first few scales (a prefix of the pyramid). The
    blocks are Part II's :class:`unigen.nn.transformer.Block`, run with the mask of
    :func:`block_causal_mask`; token ``n_levels`` is the start token.
    """

    def __init__(self, config: VARConfig = VARConfig()):
        super().__init__()
        if not isinstance(config, VARConfig):
            raise ValueError(f"config must be a VARConfig, got {type(config).__name__}")
        self.config = c = config
        check_scales(c.scales)
        self.start = c.n_levels
        S = sum(s * s for s in c.scales)
        self.tok_emb = nn.Embedding(c.n_levels + 1, c.n_embd)
        self.pos_emb = nn.Embedding(S, c.n_embd)                     # one per position of every scale
        self.blocks = nn.ModuleList(Block(c.n_embd, c.n_head, causal=False) for _ in range(c.n_layer))
        self.ln_f = nn.LayerNorm(c.n_embd)
        self.head = nn.Linear(c.n_embd, c.n_levels)
        self.register_buffer("mask", block_causal_mask(c.scales), persistent=False)
        ends = torch.tensor([s * s for s in c.scales]).cumsum(0)
        self.register_buffer("ends", ends, persistent=False)

    def forward(self, idx: torch.Tensor) -> torch.Tensor:
        check_tensor("idx", idx, dim=2, floating=False)
        T = idx.shape[1]
        if T not in self.ends.tolist():
            raise ValueError(f"idx must cover whole scales, a length in {self.ends.tolist()}, got {T}")
        if idx.min() < 0 or idx.max() > self.start:
            raise ValueError(f"idx must lie in 0..{self.start}")
        h = self.tok_emb(idx) + self.pos_emb(torch.arange(T, device=idx.device))
        for block in self.blocks:
            h = block(h, None, self.mask[:T, :T])
        return self.head(self.ln_f(h))                                    # (B, T, n_levels)
