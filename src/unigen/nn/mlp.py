r"""A time-conditioned MLP for low-dimensional data such as ``mixture2d``.

Introduced in *From the ELBO to DDPM* (Part III); reused by the score-SDE and
flow-matching parts. ``TimeMLP(x, t)`` maps points ``(B, D)`` and times ``(B,)``
to ``(B, D)``: an ε, :math:`\hat x_0`, v, score or velocity, whatever the loss
asks for.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn as nn

from ..utils import check_tensor
from .embeddings import TimeEmbedding

__all__ = ["MLPConfig", "TimeMLP"]


@dataclass(frozen=True)
class MLPConfig:
    """Sizes of a :class:`TimeMLP`; ``n_classes`` adds a label embedding (label ``n_classes`` is "no label")."""

    dim: int = 2
    hidden: int = 128
    depth: int = 3
    time_dim: int = 64
    n_classes: int | None = None


class _Block(nn.Module):
    """Residual block ``h + W2 SiLU(W1 LN(h) + E t)``: the time embedding shifts the hidden layer."""

    def __init__(self, hidden: int, time_dim: int):
        super().__init__()
        self.norm = nn.LayerNorm(hidden)
        self.fc1, self.emb = nn.Linear(hidden, hidden), nn.Linear(time_dim, hidden)
        self.fc2 = nn.Linear(hidden, hidden)

    def forward(self, h, emb):
        return h + self.fc2(nn.functional.silu(self.fc1(self.norm(h)) + self.emb(emb)))


class TimeMLP(nn.Module):
    """``(x (B, D), t (B,)[, y (B,)]) -> (B, D)``: input layer, ``depth`` residual blocks conditioned on t, output layer."""

    def __init__(self, config: MLPConfig | None = None, **kwargs):
        super().__init__()
        config = config or MLPConfig(**kwargs)
        if kwargs and config is not None and not isinstance(config, MLPConfig):
            raise ValueError("config must be an MLPConfig")
        for name in ("dim", "hidden", "depth", "time_dim"):
            v = getattr(config, name)
            if not isinstance(v, int) or v < 1:
                raise ValueError(f"{name} must be a positive int, got {v!r}")
        self.config = config
        self.time = TimeEmbedding(config.time_dim, freq_dim=config.time_dim)
        self.label = nn.Embedding(config.n_classes + 1, config.time_dim) if config.n_classes else None
        self.inp = nn.Linear(config.dim, config.hidden)
        self.blocks = nn.ModuleList(_Block(config.hidden, config.time_dim) for _ in range(config.depth))
        self.out = nn.Sequential(nn.LayerNorm(config.hidden), nn.SiLU(), nn.Linear(config.hidden, config.dim))

    def forward(self, x: torch.Tensor, t: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        check_tensor("x", x, dim=2, last=self.config.dim, floating=True)
        check_tensor("t", t, dim=1, floating=True)
        if t.shape[0] != x.shape[0]:
            raise ValueError(f"t must have shape ({x.shape[0]},), got {tuple(t.shape)}")
        emb = self.time(t)
        if self.label is not None:
            if y is None:
                y = torch.full((x.shape[0],), self.config.n_classes, dtype=torch.long, device=x.device)
            emb = emb + self.label(y)
        h = self.inp(x)
        for block in self.blocks:
            h = block(h, emb)
        return self.out(h)
