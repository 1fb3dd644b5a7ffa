r"""A small transformer that runs causal (autoregressive) or bidirectional (masked diffusion).

Introduced in *A causal transformer, piece by piece* (Part II). The pieces, in the
order the chapter builds them:

- :class:`SelfAttention`: multi-head scaled dot-product attention,
  :math:`\mathrm{softmax}(QK^\top/\sqrt{d_h} + M)\,V`, where the mask :math:`M` is
  :math:`-\infty` above the diagonal when ``causal=True`` and zero otherwise;
  with an optional key/value cache (:class:`KVCache`) for fast decoding;
- :class:`MLP`: the position-wise feed-forward network;
- :class:`Block`: pre-norm residual block, ``x + attn(ln(x))`` then ``x + mlp(ln(x))``;
- :class:`Transformer`: token + position embeddings, ``n_layer`` blocks, a final
  LayerNorm and a linear head: ``forward(idx (B, T)) -> logits (B, T, V)``.

Two options of :meth:`Transformer.forward`: ``cache=`` (a :class:`KVCache`) feeds a
causal model one token at a time during generation, and ``segments=`` runs several
sequences packed into one row, each as if alone (used to train without padding).

The same :class:`TransformerConfig` with ``causal=False`` gives the bidirectional
model that Part VI (masked diffusion) reuses. :class:`SelfAttention` can be used on
its own, e.g. inside a DiT block.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F

from ..utils import check_tensor

__all__ = ["TransformerConfig", "LayerKV", "KVCache", "SelfAttention", "MLP", "Block", "Transformer"]


def _check_int(name: str, value, low: int = 1) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < low:
        raise ValueError(f"{name} must be an int >= {low}, got {value!r}")
    return value


def _check_dropout(dropout) -> float:
    if not isinstance(dropout, (int, float)) or isinstance(dropout, bool) or not 0.0 <= dropout < 1.0:
        raise ValueError(f"dropout must be a number in [0, 1), got {dropout!r}")
    return float(dropout)


@dataclass
class TransformerConfig:
    """Sizes of a :class:`Transformer` (in the spirit of nanoGPT's ``GPTConfig``).

    Args:
        vocab_size: number of token ids ``V``.
        block_size: the longest sequence the position embedding covers.
        n_layer, n_head, n_embd: depth, heads, width (``n_embd`` divisible by ``n_head``).
        dropout: dropout rate on attention weights and residual branches.
        causal: ``True`` for an autoregressive model, ``False`` for bidirectional attention.
        bias: whether Linear and LayerNorm layers have a bias.
    """

    vocab_size: int = 27
    block_size: int = 16
    n_layer: int = 2
    n_head: int = 4
    n_embd: int = 64
    dropout: float = 0.0
    causal: bool = True
    bias: bool = True

    def __post_init__(self):
        for name in ("vocab_size", "block_size", "n_layer", "n_head", "n_embd"):
            _check_int(name, getattr(self, name))
        if self.n_embd % self.n_head:
            raise ValueError(f"n_embd ({self.n_embd}) must be divisible by n_head ({self.n_head})")
        _check_dropout(self.dropout)
        if not isinstance(self.causal, bool):
            raise ValueError(f"causal must be a bool, got {self.causal!r}")


class LayerKV:
    """The keys and values one attention layer has seen so far, each ``(B, n_head, S, head_size)``."""

    def __init__(self):
        self.k: torch.Tensor | None = None
        self.v: torch.Tensor | None = None

    def __len__(self) -> int:
        return 0 if self.k is None else self.k.shape[2]

    def append(self, k: torch.Tensor, v: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Add the new positions' ``k, v`` ``(B, H, T, hs)``; return all keys and values so far."""
        if self.k is None:
            self.k, self.v = k, v
        else:
            if k.shape[:2] != self.k.shape[:2] or k.shape[3] != self.k.shape[3]:
                raise ValueError(f"cache holds keys of shape {tuple(self.k.shape)}, got new keys {tuple(k.shape)}")
            self.k, self.v = torch.cat([self.k, k], 2), torch.cat([self.v, v], 2)
        return self.k, self.v


class KVCache:
    """One :class:`LayerKV` per block: what :meth:`Transformer.forward` needs to decode one token at a time.

    ``len(cache)`` is the number of positions already processed; the next call of
    ``model(idx, cache=cache)`` treats ``idx`` as positions ``len(cache), len(cache) + 1, ...``.
    """

    def __init__(self, n_layer: int):
        _check_int("n_layer", n_layer)
        self.layers = [LayerKV() for _ in range(n_layer)]

    def __len__(self) -> int:
        return len(self.layers[0])

    def reorder(self, index: torch.Tensor) -> None:
        """Keep batch rows ``index`` (1-D ids, repeats allowed), e.g. the surviving beams of beam search."""
        check_tensor("index", index, dim=1, floating=False)
        for layer in self.layers:
            if layer.k is not None:
                layer.k, layer.v = layer.k[index], layer.v[index]


class SelfAttention(nn.Module):
    r"""Multi-head self-attention, :math:`\mathrm{softmax}\big(Q K^\top / \sqrt{d_h} + M\big) V` per head.

    ``x (B, T, C) -> (B, T, C)``. With ``causal=True`` position ``i`` attends to
    positions ``<= i`` only. Uses :func:`torch.nn.functional.scaled_dot_product_attention`.
    """

    def __init__(self, n_embd: int, n_head: int, *, causal: bool = True, dropout: float = 0.0, bias: bool = True):
        super().__init__()
        _check_int("n_embd", n_embd)
        _check_int("n_head", n_head)
        if n_embd % n_head:
            raise ValueError(f"n_embd ({n_embd}) must be divisible by n_head ({n_head})")
        self.n_embd, self.n_head, self.causal = n_embd, n_head, bool(causal)
        self.head_size = n_embd // n_head
        self.dropout = _check_dropout(dropout)
        self.qkv = nn.Linear(n_embd, 3 * n_embd, bias=bias)     # W_Q, W_K, W_V stacked
        self.proj = nn.Linear(n_embd, n_embd, bias=bias)        # W_O
        self.resid_drop = nn.Dropout(self.dropout)

    def heads(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Queries, keys and values split into heads, each ``(B, n_head, T, head_size)``."""
        check_tensor("x", x, dim=3, last=self.n_embd, floating=True)
        B, T, C = x.shape
        q, k, v = self.qkv(x).split(C, dim=2)
        return tuple(z.view(B, T, self.n_head, self.head_size).transpose(1, 2) for z in (q, k, v))

    def _mask(self, T: int, S: int, device) -> torch.Tensor | None:
        """Boolean ``(T, S)`` mask (True = may attend) for ``T`` new queries after ``S - T`` cached keys."""
        if not self.causal or T == 1:
            return None
        return torch.ones(T, S, dtype=torch.bool, device=device).tril(diagonal=S - T)

    def _full_mask(self, T: int, S: int, device, attn_mask: torch.Tensor | None) -> torch.Tensor | None:
        """The causal mask combined with an optional extra boolean mask (True = may attend)."""
        mask = self._mask(T, S, device)
        if attn_mask is None:
            return mask
        if not isinstance(attn_mask, torch.Tensor) or attn_mask.dtype != torch.bool:
            raise ValueError("attn_mask must be a boolean tensor broadcastable to (B, n_head, T, S)")
        return attn_mask if mask is None else attn_mask & mask

    def attention_weights(self, x: torch.Tensor, attn_mask: torch.Tensor | None = None) -> torch.Tensor:
        """The attention probabilities ``(B, n_head, T, T)`` (rows sum to 1), computed explicitly; for plots."""
        q, k, _ = self.heads(x)
        T = x.shape[1]
        scores = q @ k.transpose(-2, -1) / math.sqrt(self.head_size)
        mask = self._full_mask(T, T, x.device, attn_mask)
        if mask is not None:
            scores = scores.masked_fill(~mask, float("-inf"))
        return scores.softmax(-1)

    def forward(self, x: torch.Tensor, cache: LayerKV | None = None,
                attn_mask: torch.Tensor | None = None) -> torch.Tensor:
        """``x (B, T, C) -> (B, T, C)``; ``attn_mask`` (bool, True = may attend) further restricts attention."""
        q, k, v = self.heads(x)
        B, T, C = x.shape
        if cache is not None:
            k, v = cache.append(k, v)
        S = k.shape[2]
        drop = self.dropout if self.training else 0.0
        if self.causal and S == T and attn_mask is None:
            y = F.scaled_dot_product_attention(q, k, v, dropout_p=drop, is_causal=True)
        else:
            mask = self._full_mask(T, S, x.device, attn_mask)
            y = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=drop)
        y = y.transpose(1, 2).reshape(B, T, C)                 # (B, T, C): heads side by side
        return self.resid_drop(self.proj(y))


class MLP(nn.Module):
    """Position-wise feed-forward network ``Linear(C, 4C) -> GELU -> Linear(4C, C)``."""

    def __init__(self, n_embd: int, *, hidden: int | None = None, dropout: float = 0.0, bias: bool = True):
        super().__init__()
        hidden = _check_int("hidden", hidden if hidden is not None else 4 * _check_int("n_embd", n_embd))
        self.fc = nn.Linear(n_embd, hidden, bias=bias)
        self.proj = nn.Linear(hidden, n_embd, bias=bias)
        self.drop = nn.Dropout(_check_dropout(dropout))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.drop(self.proj(F.gelu(self.fc(x))))


class Block(nn.Module):
    r"""Pre-norm transformer block: :math:`x \leftarrow x + \mathrm{attn}(\mathrm{LN}(x))`, then :math:`x \leftarrow x + \mathrm{MLP}(\mathrm{LN}(x))`."""

    def __init__(self, n_embd: int, n_head: int, *, causal: bool = True, dropout: float = 0.0, bias: bool = True):
        super().__init__()
        self.ln1 = nn.LayerNorm(n_embd, bias=bias)
        self.attn = SelfAttention(n_embd, n_head, causal=causal, dropout=dropout, bias=bias)
        self.ln2 = nn.LayerNorm(n_embd, bias=bias)
        self.mlp = MLP(n_embd, dropout=dropout, bias=bias)

    def forward(self, x: torch.Tensor, cache: LayerKV | None = None,
                attn_mask: torch.Tensor | None = None) -> torch.Tensor:
        x = x + self.attn(self.ln1(x), cache, attn_mask)
        return x + self.mlp(self.ln2(x))


class Transformer(nn.Module):
    """Token ids ``(B, T)`` -> logits ``(B, T, vocab_size)``; causal or bidirectional by ``config.causal``.

    With ``cache`` (from :meth:`new_cache`, causal models only), ``idx`` holds the
    *next* positions after those already in the cache, and the logits equal those of
    a full forward pass over the whole sequence at these positions.

    With ``segments`` (``(B, T)`` integer ids, equal for the tokens of one sequence
    and contiguous), each row holds several sequences packed end to end: attention
    stays inside a segment and positions restart at 0 in each, so every segment gets
    exactly the logits it would get on its own, without padding.
    """

    def __init__(self, config: TransformerConfig):
        super().__init__()
        if not isinstance(config, TransformerConfig):
            raise ValueError(f"config must be a TransformerConfig, got {type(config).__name__}")
        self.config = c = config
        self.tok_emb = nn.Embedding(c.vocab_size, c.n_embd)
        self.pos_emb = nn.Embedding(c.block_size, c.n_embd)
        self.drop = nn.Dropout(c.dropout)
        self.blocks = nn.ModuleList(
            Block(c.n_embd, c.n_head, causal=c.causal, dropout=c.dropout, bias=c.bias) for _ in range(c.n_layer))
        self.ln_f = nn.LayerNorm(c.n_embd, bias=c.bias)
        self.head = nn.Linear(c.n_embd, c.vocab_size, bias=c.bias)
        self.apply(self._init_weights)
        for name, p in self.named_parameters():                  # GPT-2: scale the residual projections
            if name.endswith("proj.weight"):
                nn.init.normal_(p, mean=0.0, std=0.02 / math.sqrt(2 * c.n_layer))

    @staticmethod
    def _init_weights(module: nn.Module) -> None:
        if isinstance(module, (nn.Linear, nn.Embedding)):
            nn.init.normal_(module.weight, mean=0.0, std=0.02)
            if getattr(module, "bias", None) is not None:
                nn.init.zeros_(module.bias)

    def n_params(self) -> int:
        """Number of trainable parameters."""
        return sum(p.numel() for p in self.parameters() if p.requires_grad)

    def new_cache(self) -> KVCache:
        """An empty :class:`KVCache` for incremental decoding."""
        if not self.config.causal:
            raise ValueError("a KV cache needs a causal model (config.causal=True)")
        return KVCache(self.config.n_layer)

    @staticmethod
    def segment_positions(segments: torch.Tensor) -> torch.Tensor:
        """Position of each token inside its segment, ``(B, T)``: 0 at each change of segment id."""
        B, T = segments.shape
        new = torch.ones_like(segments, dtype=torch.bool)
        new[:, 1:] = segments[:, 1:] != segments[:, :-1]
        index = torch.arange(T, device=segments.device).expand(B, T)
        return index - torch.where(new, index, 0).cummax(1).values

    def forward(self, idx: torch.Tensor, cache: KVCache | None = None, *,
                segments: torch.Tensor | None = None) -> torch.Tensor:
        check_tensor("idx", idx, dim=2, floating=False)
        B, T = idx.shape
        if segments is not None:
            check_tensor("segments", segments, dim=2, floating=False)
            if segments.shape != idx.shape:
                raise ValueError(f"segments must have the shape of idx {tuple(idx.shape)}, got {tuple(segments.shape)}")
            if cache is not None:
                raise ValueError("segments and cache cannot be combined")
            pos = self.segment_positions(segments)
            if int(pos.max()) >= self.config.block_size:
                raise ValueError(f"a segment is longer than block_size {self.config.block_size}")
            if idx.numel() and (idx.min() < 0 or idx.max() >= self.config.vocab_size):
                raise ValueError(f"idx must lie in 0..{self.config.vocab_size - 1}")
            mask = (segments[:, :, None] == segments[:, None, :])[:, None]      # (B, 1, T, T)
            x = self.drop(self.tok_emb(idx) + self.pos_emb(pos))
            for block in self.blocks:
                x = block(x, None, mask)
            return self.head(self.ln_f(x))
        start = 0
        if cache is not None:
            if not isinstance(cache, KVCache) or len(cache.layers) != len(self.blocks):
                raise ValueError("cache must be a KVCache from this model's new_cache()")
            if not self.config.causal:
                raise ValueError("a KV cache needs a causal model (config.causal=True)")
            start = len(cache)
        if T < 1 or start + T > self.config.block_size:
            raise ValueError(f"idx covers positions {start}..{start + T - 1}, "
                             f"but block_size is {self.config.block_size}")
        if idx.numel() and (idx.min() < 0 or idx.max() >= self.config.vocab_size):
            raise ValueError(f"idx must lie in 0..{self.config.vocab_size - 1}")
        pos = torch.arange(start, start + T, device=idx.device)
        x = self.drop(self.tok_emb(idx) + self.pos_emb(pos))      # (B, T, C)
        for i, block in enumerate(self.blocks):
            x = block(x, None if cache is None else cache.layers[i])
        return self.head(self.ln_f(x))                            # (B, T, V)
