r"""Every paradigm behind one interface, and the matched-budget benchmark that compares them.

Introduced in *The unified view* and *A practical comparison* (Part VII). Run it as a command::

    python -m unigen.compare                 # UNIGEN_SCALE=default|large; --budget STEPS

It writes ``results/compare.json`` and ``results/compare.md`` (the table).

The budget is matched in **optimiser steps**: on one dataset every paradigm takes the same
number of AdamW steps on minibatches of the same size (:data:`DEFAULT_BUDGET`,
:data:`BATCH_SIZE`), with the same learning rate and cosine decay. Wall time is measured and
reported beside the steps, never used to stop, so a run's numbers do not depend on the speed or
load of the machine. Matched steps are not matched compute: a step of a bigger or slower
network costs more, which is why the table also reports parameters and training seconds.

A :class:`Paradigm` is four verbs over a :class:`Dataset`, thin adapters over the paradigm
modules, where the mathematics lives:

- ``make_model(data)`` -> a network;
- ``loss(data, model, batch)`` -> the scalar training loss;
- ``sample(data, model, n, steps=None, generator=None)`` -> ``(samples, nfe)``, samples in
  the dataset's canonical form and ``nfe`` the network evaluations per sample;
- ``likelihood(data, model, x, generator=None)`` -> ``(nats (N,), kind)`` with ``kind`` one of
  ``"exact"`` (the chain rule), ``"ode"`` (instantaneous change of variables), ``"bound"``
  (a variational bound) or ``None``.

Canonical forms: ``mixture2d`` points ``(N, 2)``; digits ``(N, 1, 8, 8)`` in [-1, 1] on the 17
levels; surnames END-padded ids ``(N, 14)``. A paradigm converts to its own representation
(levels, tokens, dequantised pixels) inside its adapters, so the benchmark loop never asks
which paradigm it is running.
"""
from __future__ import annotations

import argparse
import json
import math
import time
from collections import Counter
from pathlib import Path
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Callable

import torch
from tqdm.auto import tqdm

from . import ar, ddpm, flow, masked, metrics, schedules, sde, train, utils, visual_ar
from .data import digits, mixture2d, surnames
from .nn import digit_classifier, mlp, transformer, unet

__all__ = [
    "Dataset", "load_dataset", "DATASETS", "bigram_tv", "Paradigm", "PARADIGMS", "paradigms",
    "Run", "evaluate", "run", "pareto_front", "to_markdown", "main", "DEFAULT_BUDGET",
    "LARGE_BUDGET", "BATCH_SIZE", "DEFAULT_SAMPLES", "LARGE_SAMPLES", "LR", "KIND",
    "checkpoint_name", "recipes", "build_for_recipe", "train_for_recipe",
]

DATASETS = ("mixture2d", "digits", "surnames")
KIND = {"mixture2d": "points", "digits": "images", "surnames": "text"}  # Dataset.kind by name
CAPABILITIES = ("exact_likelihood", "streaming", "infilling", "guidance", "few_step")


# ---- datasets in canonical form and their sample-quality ratio --------------------------------

def bigram_tv(a, b) -> float:
    r"""Total-variation distance between the character-bigram frequencies of two lists of names.

    Each name is read as ``^name$`` so first and last letters count; 0 means identical frequencies.
    The sum runs over the bigrams in sorted order, so the float result does not depend on the
    order of a set (Python's string hashing changes from process to process).
    """
    for name, value in (("a", a), ("b", b)):
        if not isinstance(value, (list, tuple)) or not value \
                or not all(isinstance(s, str) for s in value):
            raise ValueError(f"{name} must be a non-empty list of strings")

    def freqs(names):
        c = Counter(p for s in names for p in zip("^" + s, s + "$"))
        total = sum(c.values())
        return {k: v / total for k, v in c.items()}
    fa, fb = freqs(a), freqs(b)
    return 0.5 * sum(abs(fa.get(k, 0.0) - fb.get(k, 0.0)) for k in sorted(fa.keys() | fb.keys()))


@dataclass
class Dataset:
    """A dataset as every paradigm sees it: canonical ``train``/``test`` tensors and a sample judge.

    ``kind`` is ``"points"``, ``"images"`` or ``"text"``; ``dims(x)`` counts the dimensions of
    each example that its NLL is spread over (coordinates, pixels, letters plus END).
    """

    name: str
    kind: str
    train: torch.Tensor
    test: torch.Tensor
    labels: torch.Tensor | None = None
    _cache: dict = field(default_factory=dict, repr=False)

    def dims(self, x: torch.Tensor) -> torch.Tensor:
        if self.kind == "text":
            return ar.target_mask(x).sum(1).double()
        return torch.full((len(x),), float(x[0].numel()), dtype=torch.float64)

    def quality(self, samples: torch.Tensor, generator: torch.Generator | None = None) -> float:
        """Sample distance to the test split over that of training data (1 = as good as data)."""
        if self.kind == "points":
            out = metrics.reference_ratio(metrics.energy_distance, samples.cpu(), self.test,
                                          self.train, generator, repeats=3)
        elif self.kind == "images":
            classifier = digit_classifier(device="cpu")
            def fd(a, b):
                return metrics.frechet_digit_distance(a, b, classifier)
            out = metrics.reference_ratio(fd, samples.cpu().clamp(-1, 1), self.test, self.train,
                                          generator, repeats=3)
        else:
            if "names" not in self._cache:
                self._cache["names"] = (surnames.decode(self.test), surnames.decode(self.train))
            out = metrics.reference_ratio(bigram_tv, surnames.decode(samples.cpu()),
                                          *self._cache["names"], generator, repeats=3)
        return out["ratio"]


@lru_cache(maxsize=None)
def load_dataset(name: str) -> Dataset:
    """``mixture2d``, ``digits`` or ``surnames`` in canonical form (cached: do not modify)."""
    utils.check_in("name", name, DATASETS)
    if name == "mixture2d":
        return Dataset(name, KIND[name], mixture2d.load("train"), mixture2d.load("test"))
    if name == "digits":
        (x, y), (x_test, _) = digits.load("train"), digits.load("test")
        return Dataset(name, KIND[name], x, x_test, labels=y)
    return Dataset(name, KIND[name], surnames.encode(surnames.load("train")),
                   surnames.encode(surnames.load("test")))


# ---- the common interface ------------------------------------------------------------------------

BIN_WIDTH = 2.0 / (digits.N_LEVELS - 1)          # the spacing of the digit levels in [-1, 1]


def _device(model) -> torch.device:
    return next(model.parameters()).device


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
               generator: torch.Generator | None = None) -> tuple[torch.Tensor, int]:
        raise NotImplementedError

    def likelihood(self, data: Dataset, model, x: torch.Tensor,
                   generator: torch.Generator | None = None) -> tuple:
        return None, None


def _caps(**kw) -> dict:
    return {k: bool(kw.get(k, False)) for k in CAPABILITIES}


def _big() -> bool:
    return utils.scale() == "large"


# -- autoregressive: a causal transformer over tokens (mixture2d: x then y on a grid of bins)

@dataclass(frozen=True)
class AutoRegressive(Paradigm):
    bins: int = 64
    lim: float = 3.5

    def _tokens(self, x):                        # points (N, 2) -> ids 1..bins, (N, 2)
        width = 2 * self.lim / self.bins
        return ((x + self.lim) / width).floor().long().clamp(0, self.bins - 1) + 1

    def make_model(self, data):
        vocab, block = (self.bins + 1, 2) if data.kind == "points" else (surnames.VOCAB_SIZE, 14)
        width = 64 if data.kind == "text" else 48
        return transformer.Transformer(transformer.TransformerConfig(
            vocab_size=vocab, block_size=block, n_layer=2, n_head=4,
            n_embd=utils.pick(width, 2 * width)))

    def loss(self, data, model, batch):
        return ar.ar_loss(model, self._tokens(batch) if data.kind == "points" else batch)

    def sample(self, data, model, n, steps=None, generator=None):
        if data.kind == "text":
            out = ar.sample(model, n, surnames.MAX_LEN, generator=generator)
            return out, surnames.MAX_LEN
        ids = ar.sample(model, n, 2, end=None, generator=generator)[:, :2] - 1
        ids = ids.clamp(0, self.bins - 1)           # id 0 (END) is never a coordinate
        width = 2 * self.lim / self.bins
        u = torch.rand(ids.shape, generator=generator)
        return -self.lim + (ids + u) * width, 2   # uniform within the bin: the model's own density

    def likelihood(self, data, model, x, generator=None):
        if data.kind == "text":
            return -ar.log_prob(model, x.to(_device(model))), "exact"
        width = 2 * self.lim / self.bins
        nll = -ar.log_prob(model, self._tokens(x).to(_device(model))) + 2 * math.log(width)
        return nll, "exact"


# -- autoregression for images: PixelCNN in raster order, VAR scale by scale

def _levels(x):
    return digits.continuous_to_levels(x)[:, 0]


@dataclass(frozen=True)
class PixelCNNParadigm(Paradigm):
    def make_model(self, data):
        return visual_ar.PixelCNN(visual_ar.PixelCNNConfig(channels=utils.pick(32, 64), n_layers=4))

    def loss(self, data, model, batch):
        return visual_ar.pixel_loss(model, _levels(batch))

    def sample(self, data, model, n, steps=None, generator=None):
        x, nfe = visual_ar.pixel_sample(model, n, generator=generator)
        return digits.levels_to_continuous(x.cpu())[:, None], nfe

    def likelihood(self, data, model, x, generator=None):
        return -visual_ar.pixel_log_prob(model, _levels(x).to(_device(model))).cpu(), "exact"


@dataclass(frozen=True)
class VARParadigm(Paradigm):
    def make_model(self, data):
        return visual_ar.VAR(visual_ar.VARConfig(n_layer=2, n_embd=utils.pick(48, 96)))

    def loss(self, data, model, batch):
        return visual_ar.var_loss(model, _levels(batch))

    def sample(self, data, model, n, steps=None, generator=None):
        maps, nfe = visual_ar.var_sample(model, n, generator=generator)
        return digits.levels_to_continuous(visual_ar.from_pyramid(maps).cpu())[:, None], nfe

    def likelihood(self, data, model, x, generator=None):
        return -visual_ar.var_log_prob(model, _levels(x).to(_device(model))).cpu(), "bound"


# -- continuous-state models on points and images

def _continuous_net(data, n_classes=None):
    if data.kind == "points":
        return mlp.TimeMLP(dim=2, hidden=utils.pick(64, 128), depth=3)
    return unet.UNet(channels=utils.pick(16, 32), n_classes=n_classes)


@dataclass(frozen=True)
class DDPM(Paradigm):
    T: int = 1000

    def schedule(self, data):
        if data.kind == "images":
            return schedules.ddpm_cosine(self.T)
        return schedules.ddpm_linear(self.T)

    def make_model(self, data):
        return _continuous_net(data)

    def loss(self, data, model, batch):
        return ddpm.ddpm_loss(model, batch, self.schedule(data))

    def sample(self, data, model, n, steps=None, generator=None):
        clip = 1.0 if data.kind == "images" else None
        out = ddpm.ddim_sample(model, (n, *data.train.shape[1:]), self.schedule(data),
                               steps=steps or 50, clip_x0=clip, generator=generator,
                               device=_device(model))
        return out.x.cpu(), out.nfe

    def likelihood(self, data, model, x, generator=None):
        # every step on points; on images 100 stratified steps (an unbiased estimate of the sum)
        decoder, n_steps = ("discretized", 100) if data.kind == "images" else ("gaussian", None)
        out = ddpm.nll_bound(model, x.to(_device(model)), self.schedule(data), decoder=decoder,
                             n_steps=n_steps, generator=generator)
        return out["bound"].cpu().double(), "bound"


@dataclass(frozen=True)
class ScoreSDE(Paradigm):
    t_eps: float = 1e-3

    @property
    def sde(self):
        return sde.VPSDE()

    def make_model(self, data):
        return _continuous_net(data)

    def loss(self, data, model, batch):
        return sde.dsm_loss(model, batch, self.sde, t_eps=self.t_eps)

    def sample(self, data, model, n, steps=None, generator=None):
        score = sde.model_score(model, self.sde)
        out = sde.reverse_sde_sample(self.sde, score, (n, *data.train.shape[1:]), steps or 100,
                                     t_eps=self.t_eps, generator=generator, device=_device(model))
        return out.x.cpu(), out.nfe

    def likelihood(self, data, model, x, generator=None):
        score = sde.model_score(model, self.sde)
        out = sde.ode_log_likelihood(self.sde, score, x.to(_device(model)), 25, t_eps=self.t_eps)
        return -out.log_prob.detach().cpu().double(), "ode"


@dataclass(frozen=True)
class FlowMatching(Paradigm):
    def make_model(self, data):
        return _continuous_net(data)

    def loss(self, data, model, batch):
        if data.kind == "images":                 # a density needs data spread over each bin
            batch = metrics.dequantize(batch, BIN_WIDTH)
        return flow.cfm_loss(model, batch)

    def sample(self, data, model, n, steps=None, generator=None):
        out = flow.sample(model, (n, *data.train.shape[1:]), steps or 50, generator=generator,
                          device=_device(model))
        x = out.x.cpu()
        return (x.clamp(-1, 1) if data.kind == "images" else x), out.nfe

    def likelihood(self, data, model, x, generator=None):
        x = x.to(_device(model))
        if data.kind == "points":
            return -flow.log_likelihood(model, x, steps=25).log_prob.detach().cpu().double(), "ode"
        y = metrics.dequantize(x, BIN_WIDTH, generator=generator)
        out = flow.log_likelihood(model, y, steps=20, divergence="rademacher", generator=generator)
        nll = -out.log_prob.detach().cpu().double()
        nll = metrics.dequantized_nll(nll, x[0].numel(), BIN_WIDTH)
        return nll, "ode"


# -- masked diffusion: a bidirectional transformer that fills in MASK tokens

@dataclass(frozen=True)
class MaskedDiffusion(Paradigm):
    def _vocab(self, data):             # (token vocabulary, sequence length); MASK = vocabulary
        return (digits.N_LEVELS, 64) if data.kind == "images" else (surnames.VOCAB_SIZE, 14)

    def _tokens(self, data, x):
        return _levels(x).flatten(1) if data.kind == "images" else x

    def make_model(self, data):
        vocab, length = self._vocab(data)
        return transformer.Transformer(transformer.TransformerConfig(
            vocab_size=vocab + 1, block_size=length, n_layer=2, n_head=4,
            n_embd=utils.pick(64, 128), causal=False))

    def loss(self, data, model, batch):
        tokens = self._tokens(data, batch)
        return masked.masked_loss(model, tokens, self._vocab(data)[0], estimator="size")

    def sample(self, data, model, n, steps=None, generator=None):
        vocab, length = self._vocab(data)
        out = masked.sample(model, n, length, vocab, steps=steps or length // 2,
                            generator=generator)
        x = out.x.cpu()
        if data.kind == "images":
            return digits.levels_to_continuous(x.reshape(n, 1, 8, 8)), out.nfe
        return x, out.nfe

    def likelihood(self, data, model, x, generator=None):
        tokens = self._tokens(data, x).to(_device(model))
        return masked.nelbo(model, tokens, self._vocab(data)[0], generator=generator).cpu(), "bound"


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


# ---- the benchmark -----------------------------------------------------------------------------

@dataclass
class Run:
    """One trained paradigm on one dataset: the model, its training history and its table row."""

    paradigm: Paradigm
    data: Dataset
    model: torch.nn.Module
    history: train.History | None          # None when the model was loaded from its checkpoint
    row: dict = field(default_factory=dict)
    sweep: list = field(default_factory=list)


def evaluate(p: Paradigm, data: Dataset, model, *, n_samples: int, n_eval: int,
             generator: torch.Generator | None = None, steps: int | None = None) -> dict:
    """NLL (nats per dimension, and its kind), quality ratio, NFE and sampling time of a model."""
    with utils.evaluating(model):
        start = time.perf_counter()
        with torch.no_grad():
            x, nfe = p.sample(data, model, n_samples, steps=steps, generator=generator)
        sample_seconds = time.perf_counter() - start
        row = {"nfe": nfe, "sample_ms": 1000 * sample_seconds / n_samples,
               "quality_ratio": data.quality(x, generator)}
        if steps is None:
            x_eval = data.test[:n_eval]
            nats, kind = p.likelihood(data, model, x_eval, generator=generator)
            row["nll_kind"] = kind or "none"
            row["nll"] = float("nan") if nats is None else float(nats.detach().sum() / data.dims(x_eval).sum())
    return row


# Steps per paradigm, the same for every paradigm on a dataset; at the default scale the eleven
# models train in about two and a half minutes on an unloaded 2-core CPU (digits take most of it).
DEFAULT_BUDGET = {"mixture2d": 1200, "digits": 350, "surnames": 400}
LARGE_BUDGET = {"mixture2d": 12000, "digits": 3500, "surnames": 4000}  # UNIGEN_SCALE=large
BATCH_SIZE = {"points": 256, "images": 128, "text": 128}               # by Dataset.kind
DEFAULT_SAMPLES = {"mixture2d": 2000, "digits": 500, "surnames": 1000}  # for the quality ratio
LARGE_SAMPLES = {"mixture2d": 8000, "digits": 1400, "surnames": 4000}


LR = 2e-3                                                              # AdamW, cosine decay


def _slug(text: str) -> str:
    return "".join(c if c.isalnum() else "_" for c in text.lower()).strip("_")


def checkpoint_name(p: Paradigm, dataset: str) -> str:
    """The :mod:`unigen.pretrained` name of paradigm ``p``'s shipped model of ``dataset``."""
    return f"compare_{dataset}_{_slug(p.name)}"


def recipes() -> dict:
    """The default-scale benchmark as :mod:`unigen.pretrained` recipes, one per paradigm and dataset.

    The practical-comparison chapter loads these checkpoints instead of training the eleven models
    (about three minutes on one CPU thread); ``python tools/train_weights.py`` rewrites them with the
    same code as :func:`run`, and :func:`run` without ``from_checkpoints`` retrains them.
    """
    return {checkpoint_name(p, d): dict(module="compare", paradigm=p.name, dataset=d,
                                        steps=DEFAULT_BUDGET[d], batch_size=BATCH_SIZE[KIND[d]],
                                        lr=LR, seed=0)
            for d in DATASETS for p in PARADIGMS if d in p.datasets}


def _train(p: Paradigm, data: Dataset, steps: int, seed: int, device, progress: bool = False):
    """``p``'s model of ``data`` after ``steps`` AdamW steps, everything random drawn from ``seed``."""
    utils.seed_everything(seed)
    gen = torch.Generator().manual_seed(seed)
    model = p.make_model(data).to(device)
    hist = train.train(model, lambda m, b: p.loss(data, m, b), data.train, steps=steps,
                       batch_size=BATCH_SIZE[data.kind], lr=LR, generator=gen, device=device,
                       progress=progress, desc=f"{p.name} on {data.name}")
    return model, hist


def build_for_recipe(recipe: dict, device) -> torch.nn.Module:
    """The untrained network of a :func:`recipes` entry (for :func:`unigen.pretrained.load`)."""
    if utils.scale() != "default":
        raise ValueError("the benchmark's checkpoints hold the default-scale networks; "
                         "unset UNIGEN_SCALE to load them")
    p = paradigms([recipe["paradigm"]])[0]
    utils.seed_everything(recipe["seed"])
    return p.make_model(load_dataset(recipe["dataset"])).to(device)


def train_for_recipe(name: str, recipe: dict, steps, device, progress: bool):
    """Train a :func:`recipes` entry exactly as :func:`run` does: ``(model, history)``."""
    p = paradigms([recipe["paradigm"]])[0]
    model, hist = _train(p, load_dataset(recipe["dataset"]), steps or recipe["steps"],
                         recipe["seed"], device or "cpu", progress)
    return model.eval(), hist


def _check_budget(budget, datasets) -> dict:
    if budget is None:
        budget = utils.pick(DEFAULT_BUDGET, LARGE_BUDGET)
    if not isinstance(budget, dict):
        budget = {d: budget for d in datasets}
    for d in datasets:
        steps = budget.get(d)
        if not isinstance(steps, int) or isinstance(steps, bool) or steps < 1:
            raise ValueError(f"budget must be a positive int number of steps for {d}, "
                             f"got {steps!r}")
    return budget


def _trained(p: Paradigm, data: Dataset, steps: int, seed: int, device, from_checkpoints: bool):
    """``(model, history or None, steps, seconds)``: trained now, or loaded from its checkpoint."""
    if not from_checkpoints:
        model, hist = _train(p, data, steps, seed, device)
        return model, hist, hist.steps, hist.seconds
    from . import pretrained   # pretrained lists this module's recipes, so import it here
    model, meta = pretrained.load(checkpoint_name(p, data.name), device)
    return model, None, meta["recipe"]["steps"], meta["seconds"]


def run(datasets=DATASETS, names=None, *, budget: int | dict | None = None,
        n_samples: int | dict | None = None, n_eval: int | None = None,
        sweep: bool = True, seed: int = 0, progress: bool = True,
        device=None, from_checkpoints: bool = False) -> tuple[list[Run], float]:
    """Train every applicable paradigm on every dataset for ``budget`` steps and evaluate it.

    ``budget`` is one number of optimiser steps for every dataset or a dict
    ``{dataset: steps}`` (default :data:`DEFAULT_BUDGET`, :data:`LARGE_BUDGET` at
    ``UNIGEN_SCALE=large``). On a dataset every paradigm takes exactly that many AdamW steps
    with minibatches of ``BATCH_SIZE[data.kind]``, learning rate :data:`LR` and a cosine decay
    over the steps; training draws from ``seed`` and every evaluation from a fresh generator
    seeded ``seed + 1`` (common random numbers: the points of a quality-vs-steps sweep differ by
    the sampler, not by the noise), so two runs give the same numbers apart from the measured
    times (``train_seconds``, ``sample_ms``).
    ``from_checkpoints=True`` loads the shipped default-scale models (:func:`recipes`) instead
    of training them; they were trained by the same code, so the table is the same, and
    ``train_seconds`` is the time their training took.

    Returns the runs (each with its table ``row`` and, on 2-D data when ``sweep``, the
    quality-vs-NFE ``sweep`` over ``steps_options``) and the total wall time in seconds.
    """
    budget, n_samples = _check_run(datasets, budget, n_samples, seed, from_checkpoints)
    n_eval = n_eval or utils.pick(200, 1000)
    device = device or utils.get_device()
    start = time.perf_counter()
    plan = [(p, name) for name in datasets for p in paradigms(names) if name in p.datasets]
    bar = tqdm(total=len(plan), desc="compare", disable=not progress, leave=False)
    runs = []
    for p, name in plan:
        bar.set_postfix_str(f"{p.name} on {name}")
        runs.append(_run_one(p, load_dataset(name), budget[name], n_samples[name], n_eval, sweep,
                             seed, device, from_checkpoints))
        bar.update(1)
    bar.close()
    return runs, time.perf_counter() - start


def _check_run(datasets, budget, n_samples, seed, from_checkpoints) -> tuple[dict, dict]:
    """:func:`run`'s settings, validated: ``(budget, n_samples)`` as dicts by dataset."""
    for d in datasets:
        utils.check_in("datasets", d, DATASETS)
    budget = _check_budget(budget, datasets)
    if from_checkpoints and (seed != 0 or utils.scale() != "default"
                             or any(budget[d] != DEFAULT_BUDGET[d] for d in datasets)):
        raise ValueError("from_checkpoints=True loads the default-scale benchmark: leave budget, "
                         "seed and UNIGEN_SCALE at their defaults, or train instead")
    if n_samples is None:
        n_samples = utils.pick(DEFAULT_SAMPLES, LARGE_SAMPLES)
    if not isinstance(n_samples, dict):
        n_samples = {d: n_samples for d in datasets}
    return budget, n_samples


def _run_one(p: Paradigm, data: Dataset, budget: int, n_samples: int, n_eval: int, sweep: bool,
             seed: int, device, from_checkpoints: bool) -> Run:
    """One paradigm on one dataset: trained (or loaded), scored, and swept on 2-D data."""
    model, hist, steps, seconds = _trained(p, data, budget, seed, device, from_checkpoints)
    utils.seed_everything(seed + 1)

    def scored(steps=None):  # every setting sees the same noise: common random numbers
        return evaluate(p, data, model, n_samples=n_samples, n_eval=n_eval,
                        generator=torch.Generator().manual_seed(seed + 1), steps=steps)
    row = {"paradigm": p.name, "family": p.family, "dataset": data.name,
           "conditions_on": p.conditions_on, "params": sum(q.numel() for q in model.parameters()),
           "train_steps": steps, "batch_size": BATCH_SIZE[data.kind], "train_seconds": seconds,
           **scored(), **p.capabilities}
    r = Run(p, data, model, hist, row)
    if sweep and data.kind == "points":
        r.sweep = [{"steps": k, **scored(k)} for k in p.steps_options]
    return r


def pareto_front(cost: torch.Tensor, error: torch.Tensor) -> torch.Tensor:
    """``(N,)`` bool: the points that no other point beats on both ``cost`` and ``error``.

    A point is dominated when another has ``cost <=`` and ``error <=`` with at least one strict.
    """
    cost = utils.check_tensor("cost", cost, dim=1)
    error = utils.check_tensor("error", error, dim=1)
    if cost.shape != error.shape:
        raise ValueError(f"cost and error must have the same shape, "
                         f"got {tuple(cost.shape)} and {tuple(error.shape)}")
    c, e = cost[:, None], error[:, None]
    no_worse = (cost[None] <= c) & (error[None] <= e)
    dominated = (no_worse & ((cost[None] < c) | (error[None] < e))).any(1)
    return ~dominated


_COLUMNS = [("dataset", "data", "{}"), ("paradigm", "paradigm", "{}"), ("params", "params", "{:,}"),
            ("nll", "NLL (nats/dim)", "{:.3f}"), ("nll_kind", "NLL kind", "{}"),
            ("quality_ratio", "quality ratio", "{:.2f}"), ("nfe", "NFE", "{}"),
            ("sample_ms", "ms/sample", "{:.2f}"), ("train_steps", "steps", "{}"),
            ("train_seconds", "train s", "{:.1f}")]
_COLUMNS += [(c, c.replace("_", " "), None) for c in CAPABILITIES]


def to_markdown(rows: list[dict]) -> str:
    """The comparison table in Markdown, one row per paradigm and dataset."""
    if not isinstance(rows, (list, tuple)) or not all(isinstance(r, dict) for r in rows):
        raise ValueError("rows must be a list of dicts (Run.row)")
    lines = ["| " + " | ".join(h for _, h, _ in _COLUMNS) + " |", "|" + " --- |" * len(_COLUMNS)]
    for r in rows:
        cells = []
        for key, _, fmt in _COLUMNS:
            v = r.get(key)
            if fmt is None:
                cells.append("✓" if v else "")
            elif isinstance(v, float) and math.isnan(v):
                cells.append("n/a")
            else:
                cells.append(fmt.format(v))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv=None) -> dict:
    """Command line: run the benchmark; write ``results/compare.json`` and ``compare.md``."""
    parser = argparse.ArgumentParser(prog="python -m unigen.compare",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("--budget", type=int, default=None,
                        help="training steps per paradigm and dataset (default: "
                             "DEFAULT_BUDGET, or LARGE_BUDGET at UNIGEN_SCALE=large)")
    parser.add_argument("--datasets", nargs="+", default=list(DATASETS), choices=DATASETS)
    parser.add_argument("--samples", type=int, default=None,
                        help="samples per model for the quality ratio")
    parser.add_argument("--eval", type=int, default=None, help="test examples for the NLL")
    parser.add_argument("--out", default=None,
                        help="folder for compare.json/.md (default: results/)")
    args = parser.parse_args(argv)
    runs, total = run(args.datasets, budget=args.budget, n_samples=args.samples, n_eval=args.eval)
    rows = [r.row for r in runs]
    result = {"scale": utils.scale(), "total_seconds": total,
              "paradigms_compared": len({r["paradigm"] for r in rows}), "rows": rows,
              "sweep": [{"paradigm": r.paradigm.name, "dataset": r.data.name, **s}
                        for r in runs for s in r.sweep]}
    out = utils.project_dir("results") if args.out is None else Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "compare.json").write_text(json.dumps(result, indent=2, default=float) + "\n")
    (out / "compare.md").write_text(to_markdown(rows) + "\n")
    print(to_markdown(rows))
    print(f"\n{result['paradigms_compared']} paradigms in {total:.0f} s; "
          f"wrote {out / 'compare.json'}")
    return result


if __name__ == "__main__":
    main()
