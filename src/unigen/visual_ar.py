r"""Autoregression for images: PixelCNN in raster order and VAR-style next-scale prediction.

Introduced in *Autoregression for images* (Part VI). Images are integer levels
``(B, H, W)`` (e.g. the 17-level digits of :mod:`unigen.data.digits`).

**PixelCNN** (van den Oord et al., 2016) factorises in raster order,
:math:`p(x) = \prod_{i} p(x_i \mid x_{<i})`, with convolutions whose kernels are masked
so that position :math:`i` never sees itself or later pixels: the first layer uses mask
**A** (centre excluded), the later ones mask **B** (centre included, since the features at
the centre already summarise strictly earlier pixels). One network call gives all 64
conditionals, so the likelihood is exact and cheap; sampling needs one call per pixel.

**Next-scale prediction** (VAR, Tian et al., 2024) factorises over resolutions instead:
each image becomes a pyramid of token maps :math:`r_1, \dots, r_K` (here 1x1, 2x2, 4x4, 8x8,
each the rounded average of the image over blocks, so :math:`r_K = x`), and

.. math:: p(r_1, \dots, r_K) = \prod_k \prod_{i \in \text{scale } k} p(r_k^i \mid r_{<k}),

all tokens of a scale are predicted at once by a transformer with a **block-causal**
mask: K network calls per sample instead of 64. Since the pyramid is a function of
:math:`x` and contains it, :math:`-\log p(x) \le -\log p(\text{pyramid}(x))`, a bound
that is tight when the model puts no mass on inconsistent pyramids.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F

from .sampling import gumbel_argmax
from .nn.transformer import Block
from .utils import check_in, check_tensor

__all__ = [
    "raster_mask", "MaskedConv2d", "PixelCNNConfig", "PixelCNN", "discretized_logistic_logits",
    "receptive_field",
    "pixel_loss", "pixel_log_prob", "pixel_sample",
    "SCALES", "pyramid", "from_pyramid", "is_consistent", "block_causal_mask", "var_tokens",
    "VARConfig", "VAR", "var_loss", "var_log_prob", "var_sample",
]


# ---- masked convolutions and PixelCNN ---------------------------------------------------------

def raster_mask(kernel_size: int, mask_type: str) -> torch.Tensor:
    """``(k, k)`` float mask: 1 on the rows above the centre and left of it; the centre only for type ``"B"``."""
    if not isinstance(kernel_size, int) or kernel_size < 1 or kernel_size % 2 == 0:
        raise ValueError(f"kernel_size must be an odd positive int, got {kernel_size!r}")
    check_in("mask_type", mask_type, ("A", "B"))
    k, c = kernel_size, kernel_size // 2
    mask = torch.zeros(k, k)
    mask[:c] = 1.0
    mask[c, :c + (mask_type == "B")] = 1.0
    return mask


class MaskedConv2d(nn.Conv2d):
    """A same-padded ``Conv2d`` whose kernel is multiplied by :func:`raster_mask` (type ``"A"`` or ``"B"``)."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, mask_type: str):
        mask = raster_mask(kernel_size, mask_type)
        super().__init__(in_channels, out_channels, kernel_size, padding=kernel_size // 2)
        self.mask_type = mask_type
        self.register_buffer("mask", mask[None, None], persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.conv2d(x, self.weight * self.mask, self.bias, padding=self.padding)


@dataclass(frozen=True)
class PixelCNNConfig:
    """Sizes of a :class:`PixelCNN`: a mask-A conv of ``first_kernel``, ``n_layers`` residual mask-B convs.

    ``gated=True`` replaces each residual layer's ``conv(relu(h))`` by the gated activation of
    the gated PixelCNN (van den Oord et al., 2016), ``tanh(a) * sigmoid(b)`` with ``(a, b)`` the
    two halves of a mask-B conv with ``2 * channels`` outputs. ``n_mixture=K > 0`` replaces
    the free 17-way softmax of each pixel by a discretised mixture of ``K`` logistics over the
    ordered levels (PixelCNN++, Salimans et al., 2017; see :func:`discretized_logistic_logits`):
    neighbouring levels get similar probabilities. The defaults (``False``, ``0``) are the plain
    network, unchanged (shipped checkpoints load into it).
    """

    n_levels: int = 17
    channels: int = 64
    n_layers: int = 4
    first_kernel: int = 7
    kernel: int = 3
    gated: bool = False
    n_mixture: int = 0

    def __post_init__(self):
        for name in ("n_levels", "channels", "n_layers", "first_kernel", "kernel"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < (name != "n_layers"):
                raise ValueError(f"{name} must be a positive int, got {value!r}")
        if not isinstance(self.gated, bool):
            raise ValueError(f"gated must be a bool, got {self.gated!r}")
        if not isinstance(self.n_mixture, int) or isinstance(self.n_mixture, bool) or self.n_mixture < 0:
            raise ValueError(f"n_mixture must be a non-negative int, got {self.n_mixture!r}")


class PixelCNN(nn.Module):
    """``levels (B, H, W) -> logits (B, n_levels, H, W)``; the logits at a pixel see only earlier pixels."""

    def __init__(self, config: PixelCNNConfig = PixelCNNConfig()):
        super().__init__()
        if not isinstance(config, PixelCNNConfig):
            raise ValueError(f"config must be a PixelCNNConfig, got {type(config).__name__}")
        self.config = c = config
        self.embed = nn.Embedding(c.n_levels, c.channels)
        self.first = MaskedConv2d(c.channels, c.channels, c.first_kernel, "A")
        width = 2 * c.channels if c.gated else c.channels                  # gated: two halves
        self.layers = nn.ModuleList(MaskedConv2d(c.channels, width, c.kernel, "B") for _ in range(c.n_layers))
        n_out = 3 * c.n_mixture if c.n_mixture else c.n_levels               # mixture: weight, centre, scale
        self.out = nn.Sequential(nn.ReLU(), nn.Conv2d(c.channels, c.channels, 1), nn.ReLU(),
                                 nn.Conv2d(c.channels, n_out, 1))           # 1x1: the current pixel's features

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _check_levels(x, self.config.n_levels)
        return self.forward_embedded(self.embed(x).permute(0, 3, 1, 2))

    def forward_embedded(self, h: torch.Tensor) -> torch.Tensor:
        """The network on embedded inputs ``(B, C, H, W)`` (used to trace the receptive field)."""
        h = self.first(h)
        for layer in self.layers:
            if self.config.gated:
                a, b = layer(h).chunk(2, dim=1)
                h = h + torch.tanh(a) * torch.sigmoid(b)                     # (B, C, H, W)
            else:
                h = h + layer(F.relu(h))                                   # (B, C, H, W)
        out = self.out(h)
        if self.config.n_mixture:
            return discretized_logistic_logits(out, self.config.n_levels)
        return out


def discretized_logistic_logits(params: torch.Tensor, n_levels: int) -> torch.Tensor:
    r"""Log-probabilities ``(B, n_levels, H, W)`` of a discretised logistic mixture.

    ``params (B, 3K, H, W)`` holds, per pixel, the mixture logits, the centres
    :math:`\mu_k` (in level units, around the middle level) and the log-scales
    :math:`\log s_k` of ``K`` logistics. Level :math:`v` gets the mass of
    :math:`[v - \tfrac12, v + \tfrac12]`, the two end levels the tails:
    :math:`P(v) = \sum_k \pi_k [\sigma(\tfrac{v + 1/2 - \mu_k}{s_k}) - \sigma(\tfrac{v - 1/2 - \mu_k}{s_k})]`.
    The result sums to one over levels, so it serves as the logits of a categorical.
    """
    check_tensor("params", params, dim=4)
    if params.shape[1] % 3 or not params.shape[1]:
        raise ValueError(f"params must have 3K channels, got {params.shape[1]}")
    if not isinstance(n_levels, int) or n_levels < 2:
        raise ValueError(f"n_levels must be an int >= 2, got {n_levels!r}")
    logit_pi, mu, log_s = params.chunk(3, dim=1)                            # (B, K, H, W) each
    mu = (n_levels - 1) / 2 + mu
    inv_s = torch.exp(-log_s.clamp(min=-7.0))
    v = torch.arange(n_levels, device=params.device, dtype=params.dtype)[:, None, None, None]
    lo = (v - 0.5 - mu[:, None]) * inv_s[:, None]                          # (B, L, K, H, W)
    hi = (v + 0.5 - mu[:, None]) * inv_s[:, None]
    # log(sigma(hi) - sigma(lo)) = hi + log(1 - e^(lo - hi)) - softplus(lo) - softplus(hi)
    middle = hi + torch.log(-torch.expm1(-inv_s[:, None])) - F.softplus(lo) - F.softplus(hi)
    first = -F.softplus(-hi[:, :1])                                          # log sigma(hi)
    last = -F.softplus(lo[:, -1:])                                           # log(1 - sigma(lo))
    logp = torch.cat([first, middle[:, 1:-1], last], 1)
    return torch.logsumexp(logp + logit_pi.log_softmax(1)[:, None], dim=2)


def _check_levels(x, n_levels: int) -> torch.Tensor:
    check_tensor("x", x, dim=3, floating=False)
    if x.numel() and (x.min() < 0 or x.max() >= n_levels):
        raise ValueError(f"x must hold levels in 0..{n_levels - 1}")
    return x


def receptive_field(model: PixelCNN, i: int, j: int, size: int = 8) -> torch.Tensor:
    """``(size, size)`` bool: the input pixels on which the logits at ``(i, j)`` depend (by autograd)."""
    if not (0 <= i < size and 0 <= j < size):
        raise ValueError(f"(i, j) must lie inside the {size}x{size} image, got {(i, j)}")
    was = model.training
    model.eval()
    h = torch.randn(1, model.config.channels, size, size, device=next(model.parameters()).device,
                    requires_grad=True)
    grad = torch.autograd.grad(model.forward_embedded(h)[0, :, i, j].sum(), h)[0]
    model.train(was)
    return grad[0].abs().sum(0).cpu() > 0


def pixel_loss(model: PixelCNN, x: torch.Tensor) -> torch.Tensor:
    """Mean cross-entropy per pixel (nats), the PixelCNN's maximum-likelihood loss."""
    return F.cross_entropy(model(x), x)


@torch.no_grad()
def pixel_log_prob(model: PixelCNN, x: torch.Tensor, batch_size: int = 1024) -> torch.Tensor:
    r"""Exact :math:`\log p(x) = \sum_i \log p(x_i \mid x_{<i})` of each image, ``(N,)`` float64 (nats)."""
    _check_levels(x, model.config.n_levels)
    was = model.training
    model.eval()
    out = []
    for b in range(0, len(x), batch_size):
        xb = x[b:b + batch_size]
        logp = model(xb).double().log_softmax(1)
        out.append(logp.gather(1, xb[:, None])[:, 0].sum((1, 2)))
    model.train(was)
    return torch.cat(out)


@torch.no_grad()
def pixel_sample(model: PixelCNN, n: int, size: int = 8, *, generator: torch.Generator | None = None,
                 device=None) -> tuple[torch.Tensor, int]:
    """Draw ``n`` images ``(n, size, size)`` pixel by pixel in raster order; returns them and the network calls."""
    if not isinstance(n, int) or n < 1:
        raise ValueError(f"n must be a positive int, got {n!r}")
    device = device or next(model.parameters()).device
    was = model.training
    model.eval()
    x = torch.zeros(n, size, size, dtype=torch.long, device=device)
    for i in range(size):
        for j in range(size):
            x[:, i, j] = gumbel_argmax(model(x)[:, :, i, j], generator=generator)
    model.train(was)
    return x, size * size


# ---- next-scale prediction -----------------------------------------------------------------

SCALES = (1, 2, 4, 8)


def _check_scales(scales, size: int | None = None) -> tuple[int, ...]:
    scales = tuple(scales)
    if not scales or any(not isinstance(s, int) or s < 1 for s in scales) or list(scales) != sorted(set(scales)):
        raise ValueError(f"scales must be increasing positive ints, got {scales!r}")
    if any(scales[-1] % s for s in scales):
        raise ValueError(f"scales must all divide the finest scale, got {scales!r}")
    if size is not None and scales[-1] != size:
        raise ValueError(f"scales must end at the image size {size} (the finest scale), got {scales!r}")
    return scales


def pyramid(x: torch.Tensor, scales=SCALES) -> list[torch.Tensor]:
    """Token maps ``[(B, s, s) for s in scales]``: the image averaged over ``(size/s)``-blocks, rounded.

    The finest map is ``x`` itself, so :func:`from_pyramid` inverts it exactly.
    """
    check_tensor("x", x, dim=3, floating=False)
    if x.shape[1] != x.shape[2]:
        raise ValueError(f"x must hold square images, got shape {tuple(x.shape)}")
    scales = _check_scales(scales, x.shape[1])
    size = x.shape[1]
    out = []
    for s in scales:
        avg = F.avg_pool2d(x[:, None].double(), size // s)[:, 0]
        out.append(torch.floor(avg + 0.5).long())                # round half up, the same everywhere
    return out


def from_pyramid(maps: list[torch.Tensor]) -> torch.Tensor:
    """The image a pyramid encodes: its finest map ``(B, H, W)``."""
    if not isinstance(maps, (list, tuple)) or not maps:
        raise ValueError("maps must be a non-empty list of token maps")
    return maps[-1]


def is_consistent(maps: list[torch.Tensor], scales=SCALES) -> torch.Tensor:
    """``(B,)`` bool: whether each coarse map is the rounded average of the finest (a pyramid of an image)."""
    again = pyramid(from_pyramid(maps), scales)
    return torch.stack([(a == m).flatten(1).all(1) for a, m in zip(again, maps)]).all(0)


def block_causal_mask(scales=SCALES, device=None) -> torch.Tensor:
    """``(S, S)`` bool with ``S = sum(s*s)``: a token of scale k may attend to every token of scales <= k."""
    scales = _check_scales(scales)
    block = torch.cat([torch.full((s * s,), k) for k, s in enumerate(scales)]).to(device)
    return block[:, None] >= block[None, :]


def var_tokens(maps: list[torch.Tensor], start: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Inputs and targets ``(B, S)`` for next-scale prediction.

    Block k of the targets is scale k flattened; block k of the inputs is scale k-1,
    upsampled (nearest) to scale k's size, and block 0 is the ``start`` token.
    """
    if not isinstance(maps, (list, tuple)) or not maps:
        raise ValueError("maps must be a non-empty list of token maps")
    B = maps[0].shape[0]
    inputs = [torch.full((B, 1), start, dtype=torch.long, device=maps[0].device)]
    for prev, cur in zip(maps[:-1], maps[1:]):
        up = F.interpolate(prev[:, None].float(), size=cur.shape[-2:], mode="nearest")[:, 0].long()
        inputs.append(up.flatten(1))
    targets = torch.cat([m.flatten(1) for m in maps], 1)
    return torch.cat(inputs, 1), targets


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
        _check_scales(c.scales)
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


def var_loss(model: VAR, x: torch.Tensor) -> torch.Tensor:
    """Mean cross-entropy per token of the pyramid of ``x (B, H, W)`` (the VAR training loss)."""
    _check_levels(x, model.config.n_levels)
    inputs, targets = var_tokens(pyramid(x, model.config.scales), model.start)
    return F.cross_entropy(model(inputs).transpose(1, 2), targets)


@torch.no_grad()
def var_log_prob(model: VAR, x: torch.Tensor, *, per_scale: bool = False, batch_size: int = 1024) -> torch.Tensor:
    r""":math:`\log p(\text{pyramid}(x)) \le \log p(x)`, ``(N,)`` float64 nats; ``(N, K)`` per scale if ``per_scale``."""
    _check_levels(x, model.config.n_levels)
    was = model.training
    model.eval()
    sizes = [s * s for s in model.config.scales]
    out = []
    for b in range(0, len(x), batch_size):
        inputs, targets = var_tokens(pyramid(x[b:b + batch_size], model.config.scales), model.start)
        logp = model(inputs).double().log_softmax(-1).gather(-1, targets[..., None])[..., 0]   # (B, S)
        out.append(torch.stack([part.sum(1) for part in logp.split(sizes, 1)], 1))
    model.train(was)
    per = torch.cat(out)
    return per if per_scale else per.sum(1)


@torch.no_grad()
def var_sample(model: VAR, n: int, *, generator: torch.Generator | None = None, device=None,
               temperature: float = 1.0) -> tuple[list[torch.Tensor], int]:
    """Draw ``n`` pyramids scale by scale (all tokens of a scale at once); returns the maps and the network calls."""
    if not isinstance(n, int) or n < 1:
        raise ValueError(f"n must be a positive int, got {n!r}")
    if not isinstance(temperature, (int, float)) or temperature <= 0:
        raise ValueError(f"temperature must be > 0, got {temperature!r}")
    device = device or next(model.parameters()).device
    was = model.training
    model.eval()
    maps: list[torch.Tensor] = []
    for k, s in enumerate(model.config.scales):
        if maps:
            inputs, _ = var_tokens(maps + [torch.zeros(n, s, s, dtype=torch.long, device=device)], model.start)
        else:
            inputs = torch.full((n, 1), model.start, dtype=torch.long, device=device)
        logits = model(inputs)[:, -s * s:]                                   # the block of scale k
        maps.append(gumbel_argmax(logits / temperature, generator=generator).reshape(n, s, s))
    model.train(was)
    return maps, len(model.config.scales)
