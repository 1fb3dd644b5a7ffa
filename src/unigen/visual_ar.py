r"""Autoregression for images: PixelCNN in raster order and VAR-style next-scale prediction.

The entry point of *Autoregression for images* (Part VI). The chapter's code lives in four
modules, the network apart from the maths, one paradigm apart from the other:

- :mod:`unigen.nn.pixelcnn`: the network, masked convolutions (:func:`raster_mask`,
  :class:`MaskedConv2d`), :class:`PixelCNN` and its mixture head
  (:func:`discretized_logistic_logits`);
- :mod:`unigen.pixelcnn`: the raster-order paradigm, :math:`p(x) = \prod_i p(x_i \mid x_{<i})`:
  :func:`pixel_loss`, the exact :func:`pixel_log_prob`, :func:`pixel_sample` (one call per pixel),
  :func:`receptive_field`, and the verbs ``loss``, ``sample``, ``nll``;
- :mod:`unigen.nn.var`: the transformer :class:`VAR` and its :func:`block_causal_mask`;
- :mod:`unigen.var`: next-scale prediction over the pyramid of an image (:func:`pyramid`,
  :func:`var_tokens`, :func:`var_loss`, the bound :func:`var_log_prob`, :func:`var_sample`, one
  call per scale), and the verbs ``loss``, ``sample``, ``nll``.

This module gathers their public names, so ``from unigen import visual_ar`` gives the chapter
everything under one name. The verbs, which the two paradigms share by name, stay in their own
modules: ``visual_ar.pixelcnn.sample``, ``visual_ar.var.nll``.
"""
from __future__ import annotations

from . import pixelcnn, var
from .nn.pixelcnn import MaskedConv2d, PixelCNN, PixelCNNConfig, discretized_logistic_logits, raster_mask
from .nn.var import SCALES, VAR, VARConfig, block_causal_mask
from .pixelcnn import pixel_log_prob, pixel_loss, pixel_sample, receptive_field
from .var import from_pyramid, is_consistent, pyramid, var_log_prob, var_loss, var_sample, var_tokens

__all__ = [
    "raster_mask", "MaskedConv2d", "PixelCNNConfig", "PixelCNN", "discretized_logistic_logits",
    "receptive_field",
    "pixel_loss", "pixel_log_prob", "pixel_sample",
    "SCALES", "pyramid", "from_pyramid", "is_consistent", "block_causal_mask", "var_tokens",
    "VARConfig", "VAR", "var_loss", "var_log_prob", "var_sample",
]
