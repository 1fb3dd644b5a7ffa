r"""A small diffusion transformer (DiT, Peebles & Xie, 2023) for 1x8x8 digits.

Introduced in *Diffusion on images* (Part III). The image is cut into
``patch x patch`` patches (16 tokens of 2x2 pixels by default), each patch is
embedded linearly and given a fixed 2-D sine-cosine position embedding (as in
the paper), and a stack of bidirectional transformer blocks mixes them. Time and class enter through
**adaLN-Zero**: each block's LayerNorms have no parameters of their own;
instead a linear map of the conditioning vector :math:`c` gives a shift, a scale
and a gate per sub-layer,

.. math:: x \leftarrow x + g_1 \odot \mathrm{Attn}\big(\mathrm{LN}(x)(1 + s_1) + b_1\big), \qquad
          x \leftarrow x + g_2 \odot \mathrm{MLP}\big(\mathrm{LN}(x)(1 + s_2) + b_2\big),

with the map initialised to zero so that every block starts as the identity.
The attention and MLP are :mod:`unigen.nn.transformer`'s, with ``causal=False``.
As in :mod:`~unigen.nn.unet`, label ``n_classes`` is the null label of
classifier-free guidance.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn as nn

from ..utils import check_tensor
from .embeddings import TimeEmbedding
from .transformer import MLP, SelfAttention

__all__ = ["DiTConfig", "DiTBlock", "DiT", "patchify", "unpatchify", "sincos_2d"]


@dataclass(frozen=True)
class DiTConfig:
    """Sizes of a :class:`DiT`: ``dim`` wide, ``depth`` blocks of ``heads`` heads, on ``patch x patch`` patches."""

    image_size: int = 8
    patch: int = 2
    dim: int = 64
    depth: int = 4
    heads: int = 4
    n_classes: int | None = None


def patchify(x: torch.Tensor, p: int) -> torch.Tensor:
    """``(B, C, H, W) -> (B, (H/p)(W/p), C p p)``: patches in raster order, each flattened."""
    B, C, H, W = x.shape
    x = x.reshape(B, C, H // p, p, W // p, p).permute(0, 2, 4, 1, 3, 5)     # (B, H/p, W/p, C, p, p)
    return x.reshape(B, (H // p) * (W // p), C * p * p)


def unpatchify(tokens: torch.Tensor, p: int, C: int, H: int, W: int) -> torch.Tensor:
    """Inverse of :func:`patchify`: ``(B, L, C p p) -> (B, C, H, W)``."""
    B = tokens.shape[0]
    x = tokens.reshape(B, H // p, W // p, C, p, p).permute(0, 3, 1, 4, 2, 5)  # (B, C, H/p, p, W/p, p)
    return x.reshape(B, C, H, W)


def sincos_2d(n_side: int, dim: int) -> torch.Tensor:
    """Fixed position embeddings ``(n_side**2, dim)`` of a square grid in raster order: half the channels
    encode the row, half the column, each as sines and cosines of ``dim // 4`` frequencies."""
    if dim % 4:
        raise ValueError(f"dim must be a multiple of 4 for 2-D sine-cosine embeddings, got {dim}")
    omega = 1.0 / 10_000 ** (torch.arange(dim // 4, dtype=torch.float64) / (dim // 4))
    angles = torch.arange(n_side, dtype=torch.float64)[:, None] * omega[None]        # (n, dim/4)
    one_axis = torch.cat([torch.sin(angles), torch.cos(angles)], dim=1)                # (n, dim/2)
    rows = one_axis[:, None, :].expand(n_side, n_side, dim // 2)
    cols = one_axis[None, :, :].expand(n_side, n_side, dim // 2)
    return torch.cat([rows, cols], dim=-1).reshape(n_side * n_side, dim).float()


def _modulate(x, shift, scale):                     # x (B, L, D), shift/scale (B, D)
    return x * (1 + scale[:, None]) + shift[:, None]


class DiTBlock(nn.Module):
    """A transformer block with adaLN-Zero conditioning on ``c (B, dim)``."""

    def __init__(self, dim: int, heads: int):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, elementwise_affine=False)
        self.attn = SelfAttention(dim, heads, causal=False)
        self.norm2 = nn.LayerNorm(dim, elementwise_affine=False)
        self.mlp = MLP(dim)
        self.ada = nn.Sequential(nn.SiLU(), nn.Linear(dim, 6 * dim))
        nn.init.zeros_(self.ada[-1].weight)
        nn.init.zeros_(self.ada[-1].bias)

    def forward(self, x, c):                         # x (B, L, D), c (B, D)
        b1, s1, g1, b2, s2, g2 = self.ada(c).chunk(6, dim=1)
        x = x + g1[:, None] * self.attn(_modulate(self.norm1(x), b1, s1))
        return x + g2[:, None] * self.mlp(_modulate(self.norm2(x), b2, s2))


class DiT(nn.Module):
    """``(x (B, 1, H, W), t (B,)[, y (B,)]) -> (B, 1, H, W)``: patchify, DiT blocks, a modulated linear head, unpatchify."""

    def __init__(self, config: DiTConfig | None = None, **kwargs):
        super().__init__()
        config = config or DiTConfig(**kwargs)
        if config.image_size % config.patch:
            raise ValueError(f"patch ({config.patch}) must divide image_size ({config.image_size})")
        self.config = config
        d, p = config.dim, config.patch
        self.embed = nn.Linear(p * p, d)
        self.register_buffer("pos", sincos_2d(config.image_size // p, d)[None])       # (1, L, D)
        self.time = TimeEmbedding(d)
        self.label = nn.Embedding(config.n_classes + 1, d) if config.n_classes else None
        self.blocks = nn.ModuleList(DiTBlock(d, config.heads) for _ in range(config.depth))
        self.norm = nn.LayerNorm(d, elementwise_affine=False)
        self.ada = nn.Sequential(nn.SiLU(), nn.Linear(d, 2 * d))
        self.head = nn.Linear(d, p * p)
        for layer in (self.ada[-1], self.head):       # zero init: the network starts by predicting 0
            nn.init.zeros_(layer.weight)
            nn.init.zeros_(layer.bias)

    def forward(self, x: torch.Tensor, t: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        s, p = self.config.image_size, self.config.patch
        check_tensor("x", x, dim=4, floating=True)
        if x.shape[1:] != (1, s, s):
            raise ValueError(f"x must have shape (B, 1, {s}, {s}), got {tuple(x.shape)}")
        check_tensor("t", t, dim=1, floating=True)
        c = self.time(t)                                            # (B, D)
        if self.label is not None:
            if y is None:
                y = torch.full((x.shape[0],), self.config.n_classes, dtype=torch.long, device=x.device)
            check_tensor("y", y, dim=1, floating=False)
            c = c + self.label(y)
        elif y is not None:
            raise ValueError("y given, but this DiT is unconditional (n_classes=None)")
        h = self.embed(patchify(x, p)) + self.pos                   # (B, L, D)
        for block in self.blocks:
            h = block(h, c)
        shift, scale = self.ada(c).chunk(2, dim=1)
        out = self.head(_modulate(self.norm(h), shift, scale))      # (B, L, p*p)
        return unpatchify(out, p, 1, s, s)
