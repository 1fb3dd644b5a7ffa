r"""A small U-Net for 1x8x8 digits, conditioned on time and (optionally) on the class.

Introduced in *Diffusion on images* (Part III). Two resolutions, 8x8 and 4x4,
joined by skip connections (Ronneberger et al., 2015), with residual blocks whose
normalisation is modulated by the embedding of t and of the label, as in DDPM's
U-Net (Ho et al., 2020) scaled down to 8x8 images.

The label embedding has ``n_classes + 1`` rows: label ``n_classes`` is the
**null label** ("no class"), which classifier-free guidance trains by dropping
labels and uses for the unconditional prediction.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F

from ..utils import check_tensor
from .embeddings import TimeEmbedding

__all__ = ["UNetConfig", "UNet"]


@dataclass(frozen=True)
class UNetConfig:
    """Sizes of a :class:`UNet`: ``channels`` at 8x8, twice that at 4x4; ``n_classes=None`` is unconditional."""

    channels: int = 32
    emb_dim: int = 128
    groups: int = 8
    n_classes: int | None = None
    image_size: int = 8


class ResBlock(nn.Module):
    """``x + conv(SiLU(norm(conv(SiLU(norm(x))))·(1+scale)+shift))`` with (scale, shift) from the embedding."""

    def __init__(self, c_in: int, c_out: int, emb_dim: int, groups: int):
        super().__init__()
        self.norm1, self.conv1 = nn.GroupNorm(groups, c_in), nn.Conv2d(c_in, c_out, 3, padding=1)
        self.emb = nn.Linear(emb_dim, 2 * c_out)
        self.norm2, self.conv2 = nn.GroupNorm(groups, c_out), nn.Conv2d(c_out, c_out, 3, padding=1)
        nn.init.zeros_(self.conv2.weight)
        nn.init.zeros_(self.conv2.bias)
        self.skip = nn.Conv2d(c_in, c_out, 1) if c_in != c_out else nn.Identity()

    def forward(self, x, emb):                                     # x (B, c_in, H, W), emb (B, E)
        h = self.conv1(F.silu(self.norm1(x)))                      # (B, c_out, H, W)
        scale, shift = self.emb(F.silu(emb))[:, :, None, None].chunk(2, dim=1)
        h = self.norm2(h) * (1 + scale) + shift
        return self.skip(x) + self.conv2(F.silu(h))


class UNet(nn.Module):
    """``(x (B, 1, 8, 8), t (B,)[, y (B,)]) -> (B, 1, 8, 8)``.

    8x8: in-conv, ResBlock ─────────────────────────────── skip ──┐
    4x4:      down, ResBlock(2c), ResBlock(2c) (middle), up ──────┴─ ResBlock(c), out-conv
    """

    def __init__(self, config: UNetConfig | None = None, **kwargs):
        super().__init__()
        config = config or UNetConfig(**kwargs)
        c, e, g = config.channels, config.emb_dim, config.groups
        if not isinstance(c, int) or c < 1 or c % g:
            raise ValueError(f"channels must be a positive multiple of groups = {g}, got {c!r}")
        self.config = config
        self.time = TimeEmbedding(e)
        self.label = nn.Embedding(config.n_classes + 1, e) if config.n_classes else None
        self.inp = nn.Conv2d(1, c, 3, padding=1)
        self.down1 = ResBlock(c, c, e, g)
        self.down = nn.Conv2d(c, 2 * c, 3, stride=2, padding=1)           # 8x8 -> 4x4
        self.mid1, self.mid2 = ResBlock(2 * c, 2 * c, e, g), ResBlock(2 * c, 2 * c, e, g)
        self.up = nn.ConvTranspose2d(2 * c, c, 4, stride=2, padding=1)    # 4x4 -> 8x8
        self.up1 = ResBlock(2 * c, c, e, g)
        self.out = nn.Sequential(nn.GroupNorm(g, c), nn.SiLU(), nn.Conv2d(c, 1, 3, padding=1))
        nn.init.zeros_(self.out[-1].weight)
        nn.init.zeros_(self.out[-1].bias)

    def embed(self, t: torch.Tensor, y: torch.Tensor | None, B: int) -> torch.Tensor:
        """Time embedding plus label embedding (the null label when ``y`` is None): ``(B, emb_dim)``."""
        emb = self.time(t)
        if self.label is not None:
            if y is None:
                y = torch.full((B,), self.config.n_classes, dtype=torch.long, device=t.device)
            check_tensor("y", y, dim=1, floating=False)
            emb = emb + self.label(y)
        elif y is not None:
            raise ValueError("y given, but this UNet is unconditional (n_classes=None)")
        return emb

    def forward(self, x: torch.Tensor, t: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        s = self.config.image_size
        check_tensor("x", x, dim=4, floating=True)
        if x.shape[1:] != (1, s, s):
            raise ValueError(f"x must have shape (B, 1, {s}, {s}), got {tuple(x.shape)}")
        check_tensor("t", t, dim=1, floating=True)
        emb = self.embed(t, y, x.shape[0])
        h8 = self.down1(self.inp(x), emb)                          # (B, c, 8, 8)
        h4 = self.mid2(self.mid1(self.down(h8), emb), emb)         # (B, 2c, 4, 4)
        h = self.up1(torch.cat([self.up(h4), h8], dim=1), emb)     # (B, c, 8, 8)
        return self.out(h)
