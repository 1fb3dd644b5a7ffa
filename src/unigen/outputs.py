"""What the three verbs of every family return.

Every paradigm module (:mod:`~unigen.ar`, :mod:`~unigen.pixelcnn`, :mod:`~unigen.var`,
:mod:`~unigen.ddpm`, :mod:`~unigen.sde`, :mod:`~unigen.flow`, :mod:`~unigen.masked`) exposes

- ``loss(model, batch, ...)`` -> a scalar training loss;
- ``sample(model, ...)`` -> :class:`SampleOutput` ``(x, nfe, trajectory)``;
- ``nll(model, x, ...)`` -> :class:`NLL` ``(values, kind)``.

The consistency and editing samplers, built on the Gaussian families, return
:class:`SampleOutput` too.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

__all__ = ["SampleOutput", "NLL", "NLL_KINDS"]

NLL_KINDS = ("exact", "bound", "estimate")


@dataclass
class SampleOutput:
    """What a sampler returns: the samples, the number of network evaluations per sample, and optionally the path.

    ``trajectory`` (if asked for) is a CPU tensor ``(S + 1, B, ...)``: :math:`x_T` first, the sample last.
    """

    x: torch.Tensor
    nfe: int
    trajectory: torch.Tensor | None = None


@dataclass
class NLL:
    r"""Negative log-likelihoods in nats, one per example, and what kind of number they are.

    ``values`` is a detached CPU float64 tensor ``(N,)`` of :math:`-\log p(x_i)` in nats per
    example (not per dimension). ``kind`` says how far to trust it:

    - ``"exact"``: the model's own log-density, computed without a bound: the chain rule of an
      autoregressive model, or the instantaneous change of variables with the exact divergence
      (exact up to floating point and the ODE solver's error);
    - ``"bound"``: a variational upper bound on the NLL (a diffusion ELBO, masked diffusion's
      NELBO, VAR's coarse-to-fine bound, or a continuous density read on dequantised data), or an
      unbiased estimate of one;
    - ``"estimate"``: an unbiased stochastic estimate of the exact value (Hutchinson's trace).
    """

    values: torch.Tensor
    kind: str

    def __post_init__(self):
        if not isinstance(self.values, torch.Tensor) or self.values.dim() != 1:
            raise ValueError("values must be a 1-D tensor of per-example NLLs, got "
                             f"{getattr(self.values, 'shape', type(self.values).__name__)}")
        if self.kind not in NLL_KINDS:
            raise ValueError(f"kind must be one of {NLL_KINDS}, got {self.kind!r}")
        self.values = self.values.detach().to("cpu", torch.float64)

    def per_dim(self, dims) -> float:
        """The total NLL over the total number of dimensions ``dims`` (a number or an ``(N,)`` tensor)."""
        total = torch.as_tensor(dims, dtype=torch.float64).sum()
        if self.values.numel() == 0 or not total > 0:
            raise ValueError("dims must be positive and values non-empty")
        if torch.as_tensor(dims).dim() == 0:
            total = total * self.values.numel()
        return float(self.values.sum() / total)
