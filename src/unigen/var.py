r"""Next-scale prediction (VAR): autoregression for images over resolutions, coarse to fine.

Introduced in *Autoregression for images* (Part VI). Images are integer levels
``(B, H, W)``. Each image becomes a pyramid of token maps :math:`r_1, \dots, r_K` (here
1x1, 2x2, 4x4, 8x8, each the rounded average of the image over blocks, so :math:`r_K = x`;
:func:`pyramid`), and the model (Tian et al., 2024) factorises over scales,

.. math:: p(r_1, \dots, r_K) = \prod_k \prod_{i \in \text{scale } k} p(r_k^i \mid r_{<k}):

all tokens of a scale are predicted at once by the transformer
:class:`unigen.nn.var.VAR`, whose block-causal mask lets a scale see the coarser ones:
K network calls per sample instead of one per pixel.

Since the pyramid is a function of :math:`x` and contains it, the model's probability of an
image sums over every pyramid whose finest map is :math:`x`, the consistent one among them, so
:math:`-\log p(x) \le -\log p(\text{pyramid}(x))`: a bound that is tight when the model puts no
mass on inconsistent pyramids (:func:`is_consistent` tells them apart).

The three verbs every paradigm module offers:

- :func:`loss`: the mean cross-entropy per token of the pyramid (:func:`var_loss`);
- :func:`sample`: :class:`~unigen.outputs.SampleOutput` with the finest map, the image, as levels
  ``(n, 8, 8)`` and ``nfe = K`` (:func:`var_sample` returns every map as a tuple);
- :func:`nll`: :class:`~unigen.outputs.NLL` of kind ``"bound"``, :math:`-\log p(\text{pyramid}(x))`
  (:func:`var_log_prob`).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from .nn.pixelcnn import check_levels          # the contract of images of levels, defined once
from .nn.var import SCALES, VAR, check_scales
from .outputs import NLL, SampleOutput
from .sampling import gumbel_argmax
from .utils import check_tensor, evaluating

__all__ = [
    "SCALES", "pyramid", "from_pyramid", "is_consistent", "var_tokens",
    "var_loss", "var_log_prob", "var_sample", "loss", "sample", "nll",
]

_check_scales = check_scales        # the old private name


def _check_model(model) -> VAR:
    if not isinstance(model, VAR):
        raise ValueError(f"model must be a VAR, got {type(model).__name__}")
    return model


# ---- the pyramid of an image -----------------------------------------------------------------

def pyramid(x: torch.Tensor, scales=SCALES) -> list[torch.Tensor]:
    """Token maps ``[(B, s, s) for s in scales]``: the image averaged over ``(size/s)``-blocks, rounded.

    The finest map is ``x`` itself, so :func:`from_pyramid` inverts it exactly.
    """
    check_tensor("x", x, dim=3, floating=False)
    if x.shape[1] != x.shape[2]:
        raise ValueError(f"x must hold square images, got shape {tuple(x.shape)}")
    scales = check_scales(scales, x.shape[1])
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


# ---- loss, likelihood, sampler ---------------------------------------------------------------

def var_loss(model: VAR, x: torch.Tensor) -> torch.Tensor:
    """Mean cross-entropy per token of the pyramid of ``x (B, H, W)`` (the VAR training loss)."""
    check_levels(x, model.config.n_levels)
    inputs, targets = var_tokens(pyramid(x, model.config.scales), model.start)
    return F.cross_entropy(model(inputs).transpose(1, 2), targets)


@torch.no_grad()
def var_log_prob(model: VAR, x: torch.Tensor, *, per_scale: bool = False, batch_size: int = 1024) -> torch.Tensor:
    r""":math:`\log p(\text{pyramid}(x)) \le \log p(x)`, ``(N,)`` float64 nats; ``(N, K)`` per scale if ``per_scale``.

    Exact for the pyramid (the chain rule over scales), a lower bound for the image.
    """
    check_levels(x, model.config.n_levels)
    sizes = [s * s for s in model.config.scales]
    out = []
    with evaluating(model):
        for b in range(0, len(x), batch_size):
            inputs, targets = var_tokens(pyramid(x[b:b + batch_size], model.config.scales), model.start)
            logp = model(inputs).double().log_softmax(-1)                     # (B, S, L)
            logp = logp.gather(-1, targets[..., None])[..., 0]                # (B, S)
            out.append(torch.stack([part.sum(1) for part in logp.split(sizes, 1)], 1))
    per = torch.cat(out)
    return per if per_scale else per.sum(1)


@torch.no_grad()
def var_sample(model: VAR, n: int, *, generator: torch.Generator | None = None, device=None,
               temperature: float = 1.0) -> tuple[list[torch.Tensor], int]:
    """Draw ``n`` pyramids scale by scale, all tokens of a scale at once; returns the maps and the calls."""
    if not isinstance(n, int) or isinstance(n, bool) or n < 1:
        raise ValueError(f"n must be a positive int, got {n!r}")
    if not isinstance(temperature, (int, float)) or temperature <= 0:
        raise ValueError(f"temperature must be > 0, got {temperature!r}")
    device = device or next(model.parameters()).device
    maps: list[torch.Tensor] = []
    with evaluating(model):
        for s in model.config.scales:
            if maps:
                zeros = torch.zeros(n, s, s, dtype=torch.long, device=device)   # targets unused
                inputs, _ = var_tokens(maps + [zeros], model.start)
            else:
                inputs = torch.full((n, 1), model.start, dtype=torch.long, device=device)
            logits = model(inputs)[:, -s * s:]                                   # the block of scale s
            maps.append(gumbel_argmax(logits / temperature, generator=generator).reshape(n, s, s))
    return maps, len(model.config.scales)


# ---- the three verbs -----------------------------------------------------------------------

def loss(model: VAR, x: torch.Tensor) -> torch.Tensor:
    """The training loss on levels ``x (N, H, W)``: :func:`var_loss`, nats per token of the pyramid."""
    return var_loss(_check_model(model), x)


def sample(model: VAR, n: int, *, generator: torch.Generator | None = None, device=None,
           temperature: float = 1.0) -> SampleOutput:
    """``n`` images as levels ``(n, size, size)`` (the finest maps), one network call per scale."""
    maps, nfe = var_sample(_check_model(model), n, generator=generator, device=device,
                           temperature=temperature)
    return SampleOutput(x=from_pyramid(maps), nfe=nfe)


def nll(model: VAR, x: torch.Tensor, *, batch_size: int = 1024) -> NLL:
    r""":math:`-\log p(\text{pyramid}(x))` of each image of levels ``x (N, H, W)``, in nats (kind ``"bound"``).

    The model's probability of an image is that of every pyramid ending in it; the consistent
    pyramid is one of them, so this exact NLL of the pyramid is an upper bound on :math:`-\log p(x)`.
    """
    if not isinstance(batch_size, int) or isinstance(batch_size, bool) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive int, got {batch_size!r}")
    return NLL(-var_log_prob(_check_model(model), x, batch_size=batch_size), "bound")
