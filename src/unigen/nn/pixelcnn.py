r"""The PixelCNN network: masked convolutions whose output at a pixel sees only earlier pixels.

Introduced in *Autoregression for images* (Part VI); the maths that uses it (the loss, the
exact likelihood, the pixel-by-pixel sampler) is in :mod:`unigen.pixelcnn`. Images are
integer levels ``(B, H, W)``, e.g. the 17-level digits of :mod:`unigen.data.digits`.

The raster order puts pixel :math:`(i, j)` after every pixel of the rows above and after
the pixels to its left. A convolution respects it when its kernel is masked
(:func:`raster_mask`): the first layer uses mask **A** (centre excluded, so a pixel never
sees itself), the later ones mask **B** (centre included, since the features at the centre
already summarise strictly earlier pixels).

- :class:`MaskedConv2d`: a same-padded ``Conv2d`` with a raster mask on its kernel;
- :class:`PixelCNNConfig`, :class:`PixelCNN`: ``levels (B, H, W) -> logits (B, n_levels, H, W)``;
- :func:`discretized_logistic_logits`: the optional output head of PixelCNN++, a discretised
  mixture of logistics over the ordered levels. It lives here because it is the last layer of
  the network (``PixelCNNConfig(n_mixture=K)``): the network returns its log-probabilities,
  which every caller then treats as ordinary logits.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F

from ..utils import check_in, check_tensor

__all__ = ["raster_mask", "MaskedConv2d", "PixelCNNConfig", "PixelCNN", "discretized_logistic_logits",
           "check_levels"]


def check_levels(x, n_levels: int) -> torch.Tensor:
    """``x`` if it is an integer ``(B, H, W)`` tensor of levels ``0..n_levels-1``; else ``ValueError``."""
    check_tensor("x", x, dim=3, floating=False)
    if x.numel() and (x.min() < 0 or x.max() >= n_levels):
        raise ValueError(f"x must hold levels in 0..{n_levels - 1}")
    return x


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
    neighbouring levels get similar probabilities. ``dropout=p`` zeroes each residual update's
    features with probability ``p`` in training (and rescales the rest by ``1/(1 - p)``): on the
    1,437 training digits it is the regulariser that lets a deeper network train longer before it
    starts to memorise. Dropout adds no parameters and does nothing in eval mode. The defaults
    (``False``, ``0``, ``0.0``) are the plain network, unchanged (shipped checkpoints load into it).
    """

    n_levels: int = 17
    channels: int = 64
    n_layers: int = 4
    first_kernel: int = 7
    kernel: int = 3
    gated: bool = False
    n_mixture: int = 0
    dropout: float = 0.0

    def __post_init__(self):
        for name in ("n_levels", "channels", "n_layers", "first_kernel", "kernel"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < (name != "n_layers"):
                raise ValueError(f"{name} must be a positive int, got {value!r}")
        if not isinstance(self.gated, bool):
            raise ValueError(f"gated must be a bool, got {self.gated!r}")
        if not isinstance(self.n_mixture, int) or isinstance(self.n_mixture, bool) or self.n_mixture < 0:
            raise ValueError(f"n_mixture must be a non-negative int, got {self.n_mixture!r}")
        if (not isinstance(self.dropout, (int, float)) or isinstance(self.dropout, bool)
                or not 0.0 <= self.dropout < 1.0):
            raise ValueError(f"dropout must be a number in [0, 1), got {self.dropout!r}")


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
        check_levels(x, self.config.n_levels)
        return self.forward_embedded(self.embed(x).permute(0, 3, 1, 2))

    def forward_embedded(self, h: torch.Tensor) -> torch.Tensor:
        """The network on embedded inputs ``(B, C, H, W)`` (used to trace the receptive field)."""
        h = self.first(h)
        p = self.config.dropout
        for layer in self.layers:
            if self.config.gated:
                a, b = layer(h).chunk(2, dim=1)
                update = torch.tanh(a) * torch.sigmoid(b)
            else:
                update = layer(F.relu(h))
            h = h + (F.dropout(update, p, self.training) if p else update)  # (B, C, H, W)
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
