r"""The matched-budget benchmark that compares every paradigm on the same data.

Introduced in *The unified view* and *A practical comparison* (Part VII). Run it as a command::

    python -m unigen.compare                 # UNIGEN_SCALE=default|large; --budget STEPS

It writes ``results/compare.json`` and ``results/compare.md`` (the table).

The budget is matched in **optimiser steps**: on one dataset every paradigm takes the same
number of AdamW steps on minibatches of the same size (:data:`DEFAULT_BUDGET`,
:data:`BATCH_SIZE`), with the same learning rate and cosine decay. Wall time is measured and
reported beside the steps, never used to stop, so a run's numbers do not depend on the speed or
load of the machine. Matched steps are not matched compute: a step of a bigger or slower
network costs more, which is why the table also reports parameters and training seconds.

The paradigms, each behind the common interface of :class:`~unigen.paradigms.Paradigm`
(``make_model``, ``loss``, ``sample``, ``nll`` over a :class:`~unigen.data.registry.Dataset`),
live in :mod:`unigen.paradigms`; :data:`PARADIGMS`, :class:`Paradigm`, :func:`paradigms` and
:data:`CAPABILITIES` are re-exported here. Neither the benchmark loop nor a paradigm tests which
dataset or which paradigm it is running. Each result row is a :class:`Row`.
"""
from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path
from dataclasses import asdict, dataclass, field

import torch
from tqdm.auto import tqdm

from . import metrics, train, utils
from .data.registry import DATASETS, Dataset, load_dataset
from .metrics import bigram_tv
# re-exported: tests, pretrained and the chapters use compare.PARADIGMS, compare.Paradigm, ...
from .paradigms import (CAPABILITIES, DDPM, PARADIGMS, AutoRegressive, FlowMatching,  # noqa: F401
                        MaskedDiffusion, Paradigm, PixelCNNParadigm, ScoreSDE, VARParadigm,
                        paradigms)

__all__ = [
    "Dataset", "load_dataset", "DATASETS", "bigram_tv", "Paradigm", "PARADIGMS", "paradigms",
    "CAPABILITIES",
    "Run", "Row", "SweepPoint", "evaluate", "run", "pareto_front", "to_markdown", "main",
    "DEFAULT_BUDGET", "LARGE_BUDGET", "BATCH_SIZE", "DEFAULT_SAMPLES", "LARGE_SAMPLES", "LR",
    "checkpoint_name", "recipes", "build_for_recipe", "train_for_recipe",
]

SWEEP_DATASETS = ("mixture2d",)     # cheap to sample: the quality-vs-NFE sweeps run on these


# ---- the benchmark -----------------------------------------------------------------------------

@dataclass
class SweepPoint:
    """A model's samples at one sampler setting: steps, NFE, ms per sample and quality ratio."""

    nfe: int
    sample_ms: float
    quality_ratio: float
    steps: int | None = None


@dataclass
class Row(SweepPoint):
    """One line of the comparison table: the model, its training and its scores."""

    paradigm: str = ""
    family: str = ""
    dataset: str = ""
    conditions_on: str = ""
    params: int = 0
    train_steps: int = 0
    batch_size: int = 0
    train_seconds: float = 0.0
    nll: float = math.nan                  # nats per dimension on test data
    nll_kind: str = "none"                 # one of outputs.NLL_KINDS, or "none"
    capabilities: dict = field(default_factory=dict)

    def as_dict(self) -> dict:
        """The row as a flat dict (capabilities as columns), as written to ``compare.json``."""
        out = {k: v for k, v in asdict(self).items() if k not in ("capabilities", "steps")}
        return {**out, **self.capabilities}


@dataclass
class Run:
    """One trained paradigm on one dataset: the model, its training history and its table row."""

    paradigm: Paradigm
    data: Dataset
    model: torch.nn.Module
    history: train.History | None          # None when the model was loaded from its checkpoint
    row: Row
    sweep: list[SweepPoint] = field(default_factory=list)


def evaluate(p: Paradigm, data: Dataset, model, *, n_samples: int, n_eval: int,
             generator: torch.Generator | None = None, steps: int | None = None) -> SweepPoint:
    """Quality ratio, NFE and sampling time of a model at the sampler setting ``steps`` (a
    :class:`SweepPoint`); at the default setting (``steps=None``) a :class:`Row` that also holds
    the NLL in nats per dimension on ``n_eval`` test examples, with its kind."""
    with utils.evaluating(model):
        start = time.perf_counter()
        with torch.no_grad():
            out = p.sample(data, model, n_samples, steps=steps, generator=generator)
        scores = (out.nfe, 1000 * (time.perf_counter() - start) / n_samples,
                  metrics.quality_ratio(out.x, data, generator))
        if steps is not None:
            return SweepPoint(*scores, steps=steps)
        row = Row(*scores)
        x_eval = data.test[:n_eval]
        nll = p.nll(data, model, x_eval, generator=generator)
        if nll is not None:
            row.nll, row.nll_kind = nll.per_dim(data.dims(x_eval)), nll.kind
    return row


# Steps per paradigm, the same for every paradigm on a dataset; at the default scale the eleven
# models train in about two and a half minutes on an unloaded 2-core CPU (digits take most of it).
DEFAULT_BUDGET = {"mixture2d": 1200, "digits": 350, "surnames": 400}
LARGE_BUDGET = {"mixture2d": 12000, "digits": 3500, "surnames": 4000}  # UNIGEN_SCALE=large
BATCH_SIZE = {"mixture2d": 256, "digits": 128, "surnames": 128}
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
                                        steps=DEFAULT_BUDGET[d], batch_size=BATCH_SIZE[d],
                                        lr=LR, seed=0)
            for d in DATASETS for p in PARADIGMS if d in p.datasets}


def _train(p: Paradigm, data: Dataset, steps: int, seed: int, device, progress: bool = False):
    """``p``'s model of ``data`` after ``steps`` AdamW steps, everything random drawn from ``seed``."""
    utils.seed_everything(seed)
    gen = torch.Generator().manual_seed(seed)
    model = p.make_model(data).to(device)
    hist = train.train(model, lambda m, b: p.loss(data, m, b), data.train, steps=steps,
                       batch_size=BATCH_SIZE[data.name], lr=LR, generator=gen, device=device,
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
    with minibatches of ``BATCH_SIZE[dataset]``, learning rate :data:`LR` and a cosine decay
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
    """One paradigm on one dataset: trained (or loaded), scored, and swept on SWEEP_DATASETS."""
    model, hist, steps, seconds = _trained(p, data, budget, seed, device, from_checkpoints)
    utils.seed_everything(seed + 1)

    def scored(steps=None):  # every setting sees the same noise: common random numbers
        return evaluate(p, data, model, n_samples=n_samples, n_eval=n_eval,
                        generator=torch.Generator().manual_seed(seed + 1), steps=steps)
    row = scored()
    row.paradigm, row.family, row.dataset, row.conditions_on = \
        p.name, p.family, data.name, p.conditions_on
    row.params = sum(q.numel() for q in model.parameters())
    row.train_steps, row.batch_size, row.train_seconds = steps, BATCH_SIZE[data.name], seconds
    row.capabilities = dict(p.capabilities)
    r = Run(p, data, model, hist, row)
    if sweep and data.name in SWEEP_DATASETS:
        r.sweep = [scored(k) for k in p.steps_options]
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


def to_markdown(rows: list) -> str:
    """The comparison table in Markdown, one row per paradigm and dataset (:class:`Row` or its dict)."""
    if not isinstance(rows, (list, tuple)) or not all(isinstance(r, (dict, Row)) for r in rows):
        raise ValueError("rows must be a list of Row (Run.row) or of their dicts")
    rows = [r.as_dict() if isinstance(r, Row) else r for r in rows]
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
    rows = [r.row.as_dict() for r in runs]
    result = {"scale": utils.scale(), "total_seconds": total,
              "paradigms_compared": len({r["paradigm"] for r in rows}), "rows": rows,
              "sweep": [{"paradigm": r.paradigm.name, "dataset": r.data.name, **asdict(s)}
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
