r"""Embeddings of the time (noise level) ``t`` in [0, 1] for denoising networks.

Introduced in *From the ELBO to DDPM* (Part III). A network sees the noise level
through a vector that varies smoothly but quickly enough with ``t`` to tell
nearby levels apart:

- :func:`sinusoidal_embedding`, the transformer's positional code applied to
  :math:`s\,t` (DDPM uses the step index, i.e. :math:`s = T = 1000`);
- :class:`FourierFeatures`, random Gaussian frequencies (Tancik et al., 2020;
  used by score SDEs);
- :class:`TimeEmbedding`, either of them followed by a small MLP, the block every
  backbone in :mod:`unigen.nn` uses.
"""
from __future__ import annotations

import math

import torch
import torch.nn as nn

from ..utils import check_tensor

__all__ = ["sinusoidal_embedding", "FourierFeatures", "TimeEmbedding"]


def _check_t(t: torch.Tensor) -> torch.Tensor:
    check_tensor("t", t, dim=1, floating=True)
    return t


def sinusoidal_embedding(t: torch.Tensor, dim: int, *, scale: float = 1000.0, max_period: float = 10_000.0):
    r"""``(B,) -> (B, dim)``: :math:`[\cos(s t\,\omega_j),\ \sin(s t\,\omega_j)]` with :math:`\omega_j = P^{-j/(d/2)}`.

    ``dim`` must be even. With ``scale = 1000`` and t = k/1000 this is DDPM's embedding of the step k.
    """
    _check_t(t)
    if not isinstance(dim, int) or dim < 2 or dim % 2:
        raise ValueError(f"dim must be an even int >= 2, got {dim!r}")
    half = dim // 2
    freqs = torch.exp(-math.log(max_period) * torch.arange(half, device=t.device, dtype=torch.float32) / half)
    angles = scale * t.float()[:, None] * freqs[None]                  # (B, half)
    return torch.cat([torch.cos(angles), torch.sin(angles)], dim=-1).to(t.dtype)


class FourierFeatures(nn.Module):
    r"""``(B,) -> (B, dim)``: :math:`[\cos(2\pi w t), \sin(2\pi w t)]` with fixed random :math:`w \sim \mathcal N(0, \text{std}^2)`."""

    def __init__(self, dim: int, std: float = 16.0, seed: int = 0):
        super().__init__()
        if not isinstance(dim, int) or dim < 2 or dim % 2:
            raise ValueError(f"dim must be an even int >= 2, got {dim!r}")
        g = torch.Generator().manual_seed(seed)
        self.register_buffer("w", torch.randn(dim // 2, generator=g) * std)

    def forward(self, t: torch.Tensor) -> torch.Tensor:
        _check_t(t)
        angles = 2 * math.pi * t.float()[:, None] * self.w[None]
        return torch.cat([torch.cos(angles), torch.sin(angles)], dim=-1).to(t.dtype)


class TimeEmbedding(nn.Module):
    """``(B,) -> (B, dim)``: a sinusoidal (or Fourier) code of t, then Linear-SiLU-Linear."""

    def __init__(self, dim: int, *, freq_dim: int = 64, kind: str = "sinusoidal"):
        super().__init__()
        if kind not in ("sinusoidal", "fourier"):
            raise ValueError(f"kind must be 'sinusoidal' or 'fourier', got {kind!r}")
        self.freq_dim, self.kind = freq_dim, kind
        self.fourier = FourierFeatures(freq_dim) if kind == "fourier" else None
        self.mlp = nn.Sequential(nn.Linear(freq_dim, dim), nn.SiLU(), nn.Linear(dim, dim))

    def forward(self, t: torch.Tensor) -> torch.Tensor:
        code = self.fourier(t) if self.fourier is not None else sinusoidal_embedding(t, self.freq_dim)
        return self.mlp(code)
