"""What the samplers and likelihoods of every family return.

:class:`SampleOutput` is returned by the Gaussian families' samplers (Parts III to V) and by the
consistency and editing samplers built on them.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

__all__ = ["SampleOutput"]


@dataclass
class SampleOutput:
    """What a sampler returns: the samples, the number of network evaluations per sample, and optionally the path.

    ``trajectory`` (if asked for) is a CPU tensor ``(S + 1, B, ...)``: :math:`x_T` first, the sample last.
    """

    x: torch.Tensor
    nfe: int
    trajectory: torch.Tensor | None = None
