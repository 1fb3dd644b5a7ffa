"""Checkpoints that ship with the book, each with the recipe that produced it.

Most chapters train their models from scratch. A few need a model that takes longer to train than the
chapter's two-minute budget allows on a 2-core CPU, although training it is not the chapter's subject
(the DDIM chapter is about samplers, not about training a U-Net). Those chapters load a checkpoint
from ``src/unigen/weights/``. Each checkpoint was written by ``python tools/train_weights.py NAME``,
which calls :func:`train_recipe` with the same code a reader can run, and stores the recipe's
settings next to the weights, so that :func:`load` can refuse a checkpoint that does not match.

With ``UNIGEN_SCALE=large`` the chapters train in the notebook instead.
"""
from __future__ import annotations

import time
from pathlib import Path

import torch

from . import ddpm, schedules, train, utils
from .data import digits
from .nn import unet

__all__ = ["RECIPES", "path", "build", "train_recipe", "save", "load"]

WEIGHTS = Path(__file__).resolve().parent / "weights"

# name -> settings. The settings are stored in the checkpoint and compared on load.
RECIPES = {
    "ddim_digits_unet": dict(model="UNet", channels=16, schedule="ddpm_cosine", T=1000, data="digits/train",
                             steps=2400, batch_size=128, lr=2e-3, ema_decay=0.995, seed=0),
}


def _recipe(name: str) -> dict:
    utils.check_in("name", name, tuple(RECIPES))
    return RECIPES[name]


def path(name: str) -> Path:
    """Where the checkpoint ``name`` lives."""
    _recipe(name)
    return WEIGHTS / f"{name}.pt"


def build(name: str, device=None) -> torch.nn.Module:
    """A freshly initialised network with the architecture of recipe ``name``."""
    return unet.UNet(channels=_recipe(name)["channels"]).to(device or "cpu")


def train_recipe(name: str, steps: int | None = None, device=None, progress: bool = True):
    """Train recipe ``name`` (``steps`` overrides the recipe's, e.g. for a quick test).

    Returns ``(ema_model, history)``: the EMA copy is the model that is saved and used.
    """
    r = _recipe(name)
    gen = utils.seed_everything(r["seed"])
    grid = getattr(schedules, r["schedule"])(r["T"])
    x, _ = digits.load("train")
    model = build(name, device)
    hist = train.train(model, lambda m, xb: ddpm.ddpm_loss(m, xb, grid, generator=gen), x,
                       steps=steps or r["steps"], batch_size=r["batch_size"], lr=r["lr"],
                       ema_decay=r["ema_decay"], generator=gen, device=device, progress=progress, desc=name)
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
