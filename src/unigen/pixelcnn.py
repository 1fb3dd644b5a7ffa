r"""PixelCNN: autoregression for images in raster order, with an exact likelihood.

Introduced in *Autoregression for images* (Part VI). Images are integer levels
``(B, H, W)`` (e.g. the 17-level digits of :mod:`unigen.data.digits`); the network,
:class:`unigen.nn.pixelcnn.PixelCNN`, maps them to logits ``(B, n_levels, H, W)`` whose
value at a pixel sees only the pixels before it in raster order. Then

.. math:: \log p(x) = \sum_{i} \log p(x_i \mid x_{<i}),

one network call gives all the conditionals of an image, so the likelihood is exact and
cheap; sampling needs one call per pixel.

The three verbs every paradigm module offers:

- :func:`loss`: the mean cross-entropy per pixel (:func:`pixel_loss`);
- :func:`sample`: :class:`~unigen.outputs.SampleOutput` with the levels ``(n, size, size)``
  and ``nfe = size * size`` (:func:`pixel_sample` returns the same as a tuple);
- :func:`nll`: :class:`~unigen.outputs.NLL` of kind ``"exact"``, :math:`-\log p(x)` in nats
  (:func:`pixel_log_prob`).

:func:`receptive_field` traces, by autograd, which input pixels the logits at a pixel depend on.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from .nn.pixelcnn import PixelCNN, check_levels
from .outputs import NLL, SampleOutput
from .sampling import gumbel_argmax
from .utils import evaluating

__all__ = ["receptive_field", "pixel_loss", "pixel_log_prob", "pixel_sample", "loss", "sample", "nll"]

_check_levels = check_levels        # the old private name


def _check_model(model) -> PixelCNN:
    if not isinstance(model, PixelCNN):
        raise ValueError(f"model must be a PixelCNN, got {type(model).__name__}")
    return model


def receptive_field(model: PixelCNN, i: int, j: int, size: int = 8) -> torch.Tensor:
    """``(size, size)`` bool: the input pixels on which the logits at ``(i, j)`` depend (by autograd)."""
    if not (0 <= i < size and 0 <= j < size):
        raise ValueError(f"(i, j) must lie inside the {size}x{size} image, got {(i, j)}")
    with evaluating(model):
        h = torch.randn(1, model.config.channels, size, size, device=next(model.parameters()).device,
                        requires_grad=True)
        grad = torch.autograd.grad(model.forward_embedded(h)[0, :, i, j].sum(), h)[0]
    return grad[0].abs().sum(0).cpu() > 0


def pixel_loss(model: PixelCNN, x: torch.Tensor) -> torch.Tensor:
    """Mean cross-entropy per pixel (nats), the PixelCNN's maximum-likelihood loss."""
    return F.cross_entropy(model(x), x)


@torch.no_grad()
def pixel_log_prob(model: PixelCNN, x: torch.Tensor, batch_size: int = 1024) -> torch.Tensor:
    r"""Exact :math:`\log p(x) = \sum_i \log p(x_i \mid x_{<i})` of each image, ``(N,)`` float64 (nats)."""
    check_levels(x, model.config.n_levels)
    out = []
    with evaluating(model):
        for b in range(0, len(x), batch_size):
            xb = x[b:b + batch_size]
            logp = model(xb).double().log_softmax(1)                         # (B, L, H, W)
            out.append(logp.gather(1, xb[:, None])[:, 0].sum((1, 2)))
    return torch.cat(out)


@torch.no_grad()
def pixel_sample(model: PixelCNN, n: int, size: int = 8, *, generator: torch.Generator | None = None,
                 device=None) -> tuple[torch.Tensor, int]:
    """Draw ``n`` images ``(n, size, size)`` pixel by pixel in raster order; returns them and the network calls."""
    if not isinstance(n, int) or isinstance(n, bool) or n < 1:
        raise ValueError(f"n must be a positive int, got {n!r}")
    if not isinstance(size, int) or isinstance(size, bool) or size < 1:
        raise ValueError(f"size must be a positive int, got {size!r}")
    device = device or next(model.parameters()).device
    x = torch.zeros(n, size, size, dtype=torch.long, device=device)
    with evaluating(model):
        for i in range(size):
            for j in range(size):
                x[:, i, j] = gumbel_argmax(model(x)[:, :, i, j], generator=generator)
    return x, size * size


# ---- the three verbs -----------------------------------------------------------------------

def loss(model: PixelCNN, x: torch.Tensor) -> torch.Tensor:
    """The training loss on levels ``x (N, H, W)``: :func:`pixel_loss`, nats per pixel."""
    return pixel_loss(_check_model(model), x)


def sample(model: PixelCNN, n: int, size: int = 8, *, generator: torch.Generator | None = None,
           device=None) -> SampleOutput:
    """``n`` images as levels ``(n, size, size)``, one network call per pixel (``nfe = size * size``)."""
    x, nfe = pixel_sample(_check_model(model), n, size, generator=generator, device=device)
    return SampleOutput(x=x, nfe=nfe)


def nll(model: PixelCNN, x: torch.Tensor, *, batch_size: int = 1024) -> NLL:
    r"""Exact :math:`-\log p(x)` of each image of levels ``x (N, H, W)``, in nats (kind ``"exact"``)."""
    if not isinstance(batch_size, int) or isinstance(batch_size, bool) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive int, got {batch_size!r}")
    return NLL(-pixel_log_prob(_check_model(model), x, batch_size), "exact")
