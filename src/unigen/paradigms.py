r"""Every paradigm behind one interface: the :class:`Paradigm` adapters and :data:`PARADIGMS`.

Introduced in *The unified view* (Part VII); the matched-budget benchmark of *A practical
comparison*, :mod:`unigen.compare`, trains and scores every one of them (and re-exports the names
here: ``compare.PARADIGMS``, ``compare.Paradigm``, ``compare.paradigms``, ``compare.CAPABILITIES``).

A :class:`Paradigm` is four verbs over a :class:`~unigen.data.registry.Dataset`, thin adapters
over the paradigm modules, where the mathematics lives and which expose the same three verbs
(``loss``, ``sample`` -> :class:`~unigen.outputs.SampleOutput`, ``nll`` -> :class:`~unigen.outputs.NLL`):

- ``make_model(data)`` -> a network;
- ``loss(data, model, batch)`` -> the scalar training loss;
- ``sample(data, model, n, steps=None, generator=None)`` -> a ``SampleOutput``: samples in
  the dataset's canonical form and ``nfe``, the network evaluations per sample;
- ``nll(data, model, x, generator=None)`` -> an ``NLL`` (nats per example, and whether they are
  ``"exact"``, a ``"bound"`` or an ``"estimate"``), or ``None``.

Canonical forms: ``mixture2d`` points ``(N, 2)``; digits ``(N, 1, 8, 8)`` in [-1, 1] on the 17
levels; surnames END-padded ids ``(N, 14)``. A paradigm converts to its own representation
(the dataset's tokens, level maps, dequantised pixels) inside its adapters, asking the dataset
for its properties, so neither the benchmark loop nor a paradigm tests which dataset or which
paradigm it is running.

:func:`paradigms` picks paradigms by name; :data:`CAPABILITIES` names the columns of what a
family can do (an exact likelihood, streaming, infilling, guidance, sampling in few steps).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import torch

from . import ar, ddpm, flow, likelihood, masked, pixelcnn, schedules, sde, utils, var
from .data.registry import Dataset
from .nn import mlp, transformer, unet
from .nn.pixelcnn import PixelCNN, PixelCNNConfig
from .nn.var import VAR, VARConfig
from .outputs import NLL, SampleOutput

__all__ = [
    "CAPABILITIES", "Paradigm", "AutoRegressive", "PixelCNNParadigm", "VARParadigm", "DDPM",
    "ScoreSDE", "FlowMatching", "MaskedDiffusion", "PARADIGMS", "paradigms",
]

CAPABILITIES = ("exact_likelihood", "streaming", "infilling", "guidance", "few_step")


# ---- the common interface ------------------------------------------------------------------------

def _device(model) -> torch.device:
    return next(model.parameters()).device


def _is_image(data: Dataset) -> bool:
    return len(data.shape) == 3                 # (channels, height, width)


def _levels(data: Dataset, x: torch.Tensor) -> torch.Tensor:
    """Canonical images ``(N, 1, H, W)`` as level maps ``(N, H, W)``, the image AR models' input."""
    return data.tokens.encode(x).view(len(x), *data.shape[1:])


@dataclass(frozen=True)
class Paradigm:
    """One family of generative models behind the common interface (see the module docstring).

    Subclasses implement the four verbs; the fields describe the family for the tables.
    """

    name: str
    family: str
    conditions_on: str
    datasets: tuple[str, ...]
    capabilities: dict = field(default_factory=dict)
    steps_options: tuple[int, ...] = ()          # sampler settings for a quality-vs-NFE sweep

    def applies(self, data: Dataset) -> bool:
        return data.name in self.datasets

    def make_model(self, data: Dataset) -> torch.nn.Module:
        raise NotImplementedError

    def loss(self, data: Dataset, model, batch: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def sample(self, data: Dataset, model, n: int, steps: int | None = None,
               generator: torch.Generator | None = None) -> SampleOutput:
        raise NotImplementedError

    def nll(self, data: Dataset, model, x: torch.Tensor,
            generator: torch.Generator | None = None) -> NLL | None:
        return None


def _caps(**kw) -> dict:
    return {k: bool(kw.get(k, False)) for k in CAPABILITIES}


# -- autoregressive: a causal transformer over the dataset's tokens (mixture2d: x then y on a grid)

@dataclass(frozen=True)
class AutoRegressive(Paradigm):
    widths: tuple = (("mixture2d", 48), ("surnames", 64))     # transformer width per dataset

    def make_model(self, data):
        width = dict(self.widths)[data.name]
        return transformer.Transformer(transformer.TransformerConfig(
            vocab_size=data.tokens.vocab_size, block_size=data.tokens.length, n_layer=2, n_head=4,
            n_embd=utils.pick(width, 2 * width)))

    def loss(self, data, model, batch):
        return ar.loss(model, data.tokens.encode(batch))

    def sample(self, data, model, n, steps=None, generator=None):
        tok = data.tokens
        max_len = tok.length - (tok.end is not None)   # a sequence that can end keeps room for END
        out = ar.sample(model, n, max_len, end=tok.end, generator=generator)
        return SampleOutput(tok.decode(out.x.cpu(), generator), out.nfe)

    def nll(self, data, model, x, generator=None):
        out = ar.nll(model, data.tokens.encode(x).to(_device(model)))
        return NLL(out.values + data.tokens.log_bin_volume, out.kind)   # density in data space


# -- autoregression for images: PixelCNN in raster order, VAR scale by scale

@dataclass(frozen=True)
class PixelCNNParadigm(Paradigm):
    def make_model(self, data):
        return PixelCNN(PixelCNNConfig(n_levels=data.tokens.vocab_size,
                                       channels=utils.pick(32, 64), n_layers=4))

    def loss(self, data, model, batch):
        return pixelcnn.loss(model, _levels(data, batch))

    def sample(self, data, model, n, steps=None, generator=None):
        out = pixelcnn.sample(model, n, data.shape[-1], generator=generator)
        return SampleOutput(data.tokens.decode(out.x.flatten(1)), out.nfe)

    def nll(self, data, model, x, generator=None):
        return pixelcnn.nll(model, _levels(data, x).to(_device(model)))


@dataclass(frozen=True)
class VARParadigm(Paradigm):
    def make_model(self, data):
        return VAR(VARConfig(n_layer=2, n_embd=utils.pick(48, 96)))

    def loss(self, data, model, batch):
        return var.loss(model, _levels(data, batch))

    def sample(self, data, model, n, steps=None, generator=None):
        out = var.sample(model, n, generator=generator)
        return SampleOutput(data.tokens.decode(out.x.flatten(1)), out.nfe)

    def nll(self, data, model, x, generator=None):
        return var.nll(model, _levels(data, x).to(_device(model)))


# -- continuous-state models on points and images

def _continuous_net(data, n_classes=None):
    if _is_image(data):
        return unet.UNet(channels=utils.pick(16, 32), n_classes=n_classes)
    return mlp.TimeMLP(dim=data.shape[0], hidden=utils.pick(64, 128), depth=3)


@dataclass(frozen=True)
class DDPM(Paradigm):
    T: int = 1000

    def schedule(self, data):              # images: the cosine schedule (Nichol & Dhariwal, 2021)
        return (schedules.ddpm_cosine if _is_image(data) else schedules.ddpm_linear)(self.T)

    def make_model(self, data):
        return _continuous_net(data)

    def loss(self, data, model, batch):
        return ddpm.loss(model, batch, self.schedule(data))

    def sample(self, data, model, n, steps=None, generator=None):
        clip = None if data.bounds is None else max(abs(b) for b in data.bounds)
        out = ddpm.sample(model, (n, *data.shape), self.schedule(data), steps=steps or 50,
                          clip_x0=clip, generator=generator, device=_device(model))
        return SampleOutput(out.x.cpu(), out.nfe)

    def nll(self, data, model, x, generator=None):
        # on quantised data the discretised decoder and 100 stratified steps (an unbiased
        # estimate of the sum over every step); on continuous data every step
        quantised = data.bin_width is not None
        return ddpm.nll(model, x.to(_device(model)), self.schedule(data),
                        decoder="discretized" if quantised else "gaussian",
                        n_steps=100 if quantised else None, generator=generator)


@dataclass(frozen=True)
class ScoreSDE(Paradigm):
    t_eps: float = 1e-3

    @property
    def sde(self):
        return sde.VPSDE()

    def make_model(self, data):
        return _continuous_net(data)

    def loss(self, data, model, batch):
        return sde.loss(model, batch, self.sde, t_eps=self.t_eps)

    def sample(self, data, model, n, steps=None, generator=None):
        out = sde.sample(model, (n, *data.shape), self.sde, steps or 100, t_eps=self.t_eps,
                         generator=generator, device=_device(model))
        return SampleOutput(out.x.cpu(), out.nfe)

    def nll(self, data, model, x, generator=None):
        return sde.nll(model, x.to(_device(model)), self.sde, 25, t_eps=self.t_eps)


@dataclass(frozen=True)
class FlowMatching(Paradigm):
    def make_model(self, data):
        return _continuous_net(data)

    def loss(self, data, model, batch):
        if data.bin_width is not None:             # a density needs data spread over each bin
            batch = likelihood.dequantize(batch, data.bin_width)
        return flow.loss(model, batch)

    def sample(self, data, model, n, steps=None, generator=None):
        out = flow.sample(model, (n, *data.shape), steps or 50, generator=generator,
                          device=_device(model))
        return SampleOutput(data.clip(out.x.cpu()), out.nfe)

    def nll(self, data, model, x, generator=None):
        x = x.to(_device(model))
        if data.bin_width is None:
            return flow.nll(model, x, steps=25)
        # quantised data: the density of dequantised data, a bound on the discrete NLL
        y = likelihood.dequantize(x, data.bin_width, generator=generator)
        out = flow.nll(model, y, steps=20, divergence="rademacher", generator=generator)
        return NLL(likelihood.dequantized_nll(out.values, x[0].numel(), data.bin_width), "bound")


# -- masked diffusion: a bidirectional transformer that fills in MASK tokens

@dataclass(frozen=True)
class MaskedDiffusion(Paradigm):
    def make_model(self, data):
        tok = data.tokens                                # MASK is the id after the vocabulary
        return transformer.Transformer(transformer.TransformerConfig(
            vocab_size=tok.vocab_size + 1, block_size=tok.length, n_layer=2, n_head=4,
            n_embd=utils.pick(64, 128), causal=False))

    def loss(self, data, model, batch):
        tok = data.tokens
        return masked.loss(model, tok.encode(batch), tok.vocab_size, estimator="size")

    def sample(self, data, model, n, steps=None, generator=None):
        tok = data.tokens
        out = masked.sample(model, n, tok.length, tok.vocab_size, steps=steps or tok.length // 2,
                            generator=generator)
        return SampleOutput(tok.decode(out.x.cpu()), out.nfe)

    def nll(self, data, model, x, generator=None):
        tok = data.tokens
        return masked.nll(model, tok.encode(x).to(_device(model)), tok.vocab_size,
                          generator=generator)


PARADIGMS: tuple[Paradigm, ...] = (
    AutoRegressive("AR", "autoregressive", "previous tokens (x before y; earlier letters)",
                   ("mixture2d", "surnames"), _caps(exact_likelihood=True, streaming=True)),
    PixelCNNParadigm("PixelCNN", "autoregressive", "previous pixels in raster order", ("digits",),
                     _caps(exact_likelihood=True, streaming=True)),
    VARParadigm("VAR", "autoregressive", "all coarser scales", ("digits",), _caps(few_step=True)),
    DDPM("DDPM/DDIM", "diffusion", "the noise level and the noisy sample", ("mixture2d", "digits"),
         _caps(infilling=True, guidance=True, few_step=True), steps_options=(5, 10, 25, 50, 200)),
    ScoreSDE("SDE/PF-ODE", "score", "the noise level and the noisy sample", ("mixture2d",),
             _caps(exact_likelihood=True, few_step=True), steps_options=(10, 25, 50, 100, 400)),
    FlowMatching("Flow matching", "flow", "the time and the current point", ("mixture2d", "digits"),
                 _caps(exact_likelihood=True, few_step=True), steps_options=(2, 5, 10, 25, 50)),
    MaskedDiffusion("Masked diffusion", "discrete diffusion", "the visible tokens (the mask)",
                    ("digits", "surnames"), _caps(infilling=True, few_step=True)),
)


def paradigms(names=None) -> tuple[Paradigm, ...]:
    """The paradigms called ``names`` (all by default), in the book's order."""
    if names is None:
        return PARADIGMS
    known = {p.name: p for p in PARADIGMS}
    for n in names:
        utils.check_in("names", n, tuple(known))
    return tuple(known[n] for n in names)
