"""Checkpoints that ship with the book, each with the recipe that produced it.

Most chapters train their models from scratch. A few need a model that takes longer to train than the
chapter's two-minute budget allows on a 2-core CPU, although training it is not the chapter's subject
(the DDIM chapter is about samplers, not about training a U-Net). Those chapters load a checkpoint
from ``src/unigen/weights/``. Each checkpoint was written by ``python tools/train_weights.py NAME``,
which calls :func:`train_recipe` with the same code a reader can run, and stores the recipe's
settings next to the weights, so that :func:`load` can refuse a checkpoint that does not match.

With ``UNIGEN_SCALE=large`` the chapters train in the notebook instead.

A recipe whose training belongs to a chapter's own module (a consistency model distilled from a
teacher, an autoencoder) names that module under ``"module"``; the module then provides
``build_for_recipe(recipe, device)`` and ``train_for_recipe(name, recipe, steps, device, progress)``,
and this file stays the one place that lists, saves and loads every checkpoint.
"""
from __future__ import annotations

import importlib
import time
from pathlib import Path

import torch

from . import ar, ddpm, masked, schedules, train, utils
from .data import digits, tasks
from .nn import transformer, unet

__all__ = ["RECIPES", "PROVIDERS", "all_recipes", "path", "build", "word_problem_data", "validation",
           "train_recipe", "save", "load"]

WEIGHTS = Path(__file__).resolve().parent / "weights"

# name -> settings. The settings are stored in the checkpoint and compared on load. A recipe with a
# ``val`` split trains with early stopping (``train.train(val_data=...)``): it evaluates the loss on
# that split every ``eval_every`` steps and keeps the weights with the lowest value, so a longer run
# (``UNIGEN_SCALE=large``, with ``patience``) cannot return a model that memorised the training digits.
RECIPES = {
    "ddim_digits_unet": dict(model="UNet", channels=16, schedule="ddpm_cosine", T=1000, data="digits/train",
                             steps=2400, batch_size=128, lr=2e-3, ema_decay=0.995, seed=0,
                             val="digits/val", eval_every=200),
    # Editing: the class-conditional U-Net of the image-diffusion chapter, trained longer, with the
    # label dropped 10% of the time so that classifier-free guidance works
    "cfg_digits_unet": dict(model="UNet", channels=16, n_classes=10, p_uncond=0.1, schedule="ddpm_cosine",
                            T=1000, data="digits/train", steps=4000, batch_size=128, lr=2e-3,
                            ema_decay=0.995, seed=0, val="digits/val", eval_every=200),
    # Consistency models: a consistency model distilled from the DDIM chapter's U-Net (the same size,
    # started from the teacher's weights), trained by unigen.consistency.train_for_recipe
    "cm_digits_unet": dict(module="consistency", model="UNet", channels=16, teacher="ddim_digits_unet",
                           schedule="ddpm_cosine", T=1000, N=40, t_max=0.995, sigma_data=0.5,
                           distance="l2", data="digits/train", steps=4000, batch_size=128, lr=1e-3,
                           ema_decay=0.995, seed=0, val="digits/val", eval_every=200),
    # Where each family wins: a character-level AR model of word problems with calculator calls,
    # and a masked diffusion model of the same texts (the same transformer, bidirectional)
    "tool_word_problems_ar": dict(model="Transformer", causal=True, vocab_size=tasks.WORD_VOCAB,
                                  block_size=64, n_layer=2, n_head=4, n_embd=64,
                                  data="tasks/word_problems", n_train=20000, data_seed=1,
                                  steps=600, batch_size=64, lr=3e-3, weight_decay=0.01, seed=1),
    "tool_word_problems_masked": dict(model="Transformer", causal=False, vocab_size=tasks.WORD_VOCAB + 1,
                                      block_size=64, n_layer=2, n_head=4, n_embd=64,
                                      data="tasks/word_problems", n_train=20000, data_seed=1,
                                      steps=600, batch_size=64, lr=3e-3, weight_decay=0.01, seed=1),
}
# Modules that keep a family of recipes next to the code that trains them, read when first needed (so
# that they can load their checkpoints from here without a circle of imports): the practical
# comparison's eleven models, one per paradigm and dataset (unigen.compare.recipes).
PROVIDERS = ("compare",)


def all_recipes() -> dict:
    """Every recipe: :data:`RECIPES` and those of the :data:`PROVIDERS` modules."""
    recipes = dict(RECIPES)
    for module in PROVIDERS:
        recipes.update(importlib.import_module(f"unigen.{module}").recipes())
    return recipes


def _recipe(name: str) -> dict:
    recipes = all_recipes()
    utils.check_in("name", name, tuple(recipes))
    return recipes[name]


def path(name: str) -> Path:
    """Where the checkpoint ``name`` lives."""
    _recipe(name)
    return WEIGHTS / f"{name}.pt"


def _module(r: dict):
    """The chapter module that trains recipe ``r``, or None for the recipes trained here."""
    return importlib.import_module(f"unigen.{r['module']}") if "module" in r else None


def build(name: str, device=None) -> torch.nn.Module:
    """A freshly initialised network with the architecture of recipe ``name``."""
    r = _recipe(name)
    if _module(r) is not None:
        return _module(r).build_for_recipe(r, device or "cpu")
    if r["model"] == "Transformer":
        keys = ("vocab_size", "block_size", "n_layer", "n_head", "n_embd", "causal")
        config = transformer.TransformerConfig(**{k: r[k] for k in keys})
        return transformer.Transformer(config).to(device or "cpu")
    return unet.UNet(channels=r["channels"], n_classes=r.get("n_classes")).to(device or "cpu")


def word_problem_data(name: str) -> torch.Tensor:
    """The training rows of a word-problem recipe (question + answer, END-padded)."""
    r = _recipe(name)
    if r["data"] != "tasks/word_problems":
        raise ValueError(f"recipe {name!r} is not trained on word problems")
    problems = tasks.word_problems(r["n_train"], generator=torch.Generator().manual_seed(r["data_seed"]))
    return tasks.word_problem_rows(problems, r["block_size"])


def _train_transformer(name: str, r: dict, steps, device, progress):
    gen = utils.seed_everything(r["seed"])
    x = word_problem_data(name)
    model = build(name, device)
    if r["causal"]:
        loss_fn = ar.ar_loss
    else:
        mask_id = r["vocab_size"] - 1

        def loss_fn(m, xb):
            return masked.masked_loss(m, xb, mask_id, estimator="size", generator=gen)
    hist = train.train(model, loss_fn, x, steps=steps or r["steps"], batch_size=r["batch_size"],
                       lr=r["lr"], weight_decay=r["weight_decay"], generator=gen, device=device,
                       progress=progress, desc=name)
    return model.eval(), hist


def validation(recipe: dict, patience: int | None = None) -> dict:
    """The early-stopping arguments of ``train.train`` for ``recipe``: empty without a ``val`` split;
    otherwise ``val_data`` (with labels for a class-conditional recipe), ``eval_every`` and
    ``patience`` (None: keep the best weights but train the whole budget)."""
    if "val" not in recipe:
        return {}
    if recipe["val"] != "digits/val":
        raise ValueError(f"unknown validation split {recipe['val']!r}")
    x, y = digits.load("val")
    return dict(val_data=(x, y) if recipe.get("n_classes") else x, eval_every=recipe["eval_every"],
                patience=patience)


def train_recipe(name: str, steps: int | None = None, device=None, progress: bool = True,
                 patience: int | None = None):
    """Train recipe ``name`` (``steps`` overrides the recipe's, e.g. for a quick test).

    ``patience``: for a recipe with a validation split, stop after that many evaluations without
    improvement (the chapters pass it with their larger ``UNIGEN_SCALE=large`` budgets).
    Returns ``(model, history)``: for a U-Net the EMA copy, the model that is saved and used.
    """
    r = _recipe(name)
    if patience is not None and "val" not in r:
        raise ValueError(f"recipe {name!r} has no validation split, so patience must be None")
    if _module(r) is not None:
        extra = {} if patience is None else {"patience": patience}  # only recipes with a val split
        return _module(r).train_for_recipe(name, r, steps, device, progress, **extra)
    if r["model"] == "Transformer":
        return _train_transformer(name, r, steps, device, progress)
    gen = utils.seed_everything(r["seed"])
    grid = getattr(schedules, r["schedule"])(r["T"])
    x, y = digits.load("train")
    model = build(name, device)
    if r.get("n_classes"):               # class-conditional, with the label dropped p_uncond of the time
        data = (x, y)

        def loss_fn(m, batch, generator=gen):   # (the keyword: the same noise at each validation)
            return ddpm.ddpm_loss(m, batch[0], grid, y=batch[1], p_uncond=r["p_uncond"],
                                  null_label=r["n_classes"], generator=generator)
    else:
        data = x

        def loss_fn(m, xb, generator=gen):
            return ddpm.ddpm_loss(m, xb, grid, generator=generator)
    hist = train.train(model, loss_fn, data,
                       steps=steps or r["steps"], batch_size=r["batch_size"], lr=r["lr"],
                       ema_decay=r["ema_decay"], generator=gen, device=device, progress=progress, desc=name,
                       **validation(r, patience))
    return hist.ema, hist


def save(name: str, model: torch.nn.Module, seconds: float, file: Path | None = None) -> Path:
    """Write ``model``'s weights with the recipe of ``name`` and the training time in ``seconds``."""
    file = Path(file) if file is not None else path(name)
    file.parent.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    torch.save({"state_dict": state, "recipe": dict(_recipe(name)), "seconds": float(seconds),
                "torch": str(torch.__version__), "written": time.strftime("%Y-%m-%d")}, file)
    return file


def load(name: str, device=None, file: Path | None = None) -> tuple[torch.nn.Module, dict]:
    """The network of checkpoint ``name`` in eval mode, and the checkpoint's metadata.

    Loads with ``weights_only=True`` and raises ``ValueError`` if the stored recipe differs from
    :data:`RECIPES` (the code changed since the checkpoint was written: rerun ``tools/train_weights.py``).
    """
    file = Path(file) if file is not None else path(name)
    if not file.exists():
        raise FileNotFoundError(f"no checkpoint for {name!r} at {file}; run `python tools/train_weights.py {name}`")
    ckpt = torch.load(file, map_location="cpu", weights_only=True)
    if ckpt.get("recipe") != _recipe(name):
        raise ValueError(f"checkpoint {file} was trained with {ckpt.get('recipe')}, but the recipe for {name!r} is "
                         f"now {_recipe(name)}; rerun `python tools/train_weights.py {name}`")
    model = build(name)
    model.load_state_dict(ckpt["state_dict"])
    meta = {k: v for k, v in ckpt.items() if k != "state_dict"}
    return model.to(device or "cpu").eval().requires_grad_(False), meta
