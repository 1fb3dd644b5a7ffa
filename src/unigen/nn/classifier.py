"""The book's digit classifier: a small CNN whose features define the Fréchet digit distance.

Introduced in *The generative modelling problem* (Part I). It is trained once, deterministically
on the CPU, and cached under ``.cache/``; :mod:`unigen.metrics` only measures distances between
the features it gives (``classifier.features(x)``).
"""
from __future__ import annotations

import contextlib
import functools
import hashlib
import os
import random
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from ..data import digits
from ..utils import check_positive, get_device, project_dir, seed_everything

__all__ = ["ClassifierConfig", "DigitClassifier", "digit_classifier"]


@dataclass(frozen=True)
class ClassifierConfig:
    """Everything that determines the trained digit classifier; its hash names the cache file."""

    version: str = "cnn-v1"     # bump when DigitClassifier or the training loop changes
    seed: int = 0
    epochs: int = 20
    lr: float = 2e-3
    batch_size: int = 64
    width: int = 32             # channels of the first convolution
    n_features: int = 64        # size of the penultimate layer

    def key(self) -> str:
        """A short, stable hash of the settings."""
        return hashlib.sha1(repr(sorted(asdict(self).items())).encode()).hexdigest()[:10]


class DigitClassifier(nn.Module):
    """A small CNN for 8x8 digits in [-1, 1]: two 3x3 convolutions, a max-pool and two linear layers.

    ``features(x)`` gives the penultimate activations ``(B, n_features)`` used
    by the Fréchet digit distance; ``forward(x)`` gives logits ``(B, 10)``.
    """

    def __init__(self, width: int = 32, n_features: int = 64):
        super().__init__()
        self.conv1 = nn.Conv2d(1, width, 3, padding=1)
        self.conv2 = nn.Conv2d(width, 2 * width, 3, padding=1)
        self.fc = nn.Linear(2 * width * 4 * 4, n_features)
        self.head = nn.Linear(n_features, 10)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """Penultimate activations ``(B, n_features)`` of images ``(B, 1, 8, 8)``."""
        h = F.relu(self.conv1(x))                        # (B, w, 8, 8)
        h = F.max_pool2d(F.relu(self.conv2(h)), 2)       # (B, 2w, 4, 4)
        return F.relu(self.fc(h.flatten(1)))             # (B, n_features)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Class logits ``(B, 10)``."""
        return self.head(self.features(x))


@contextlib.contextmanager
def _restored_global_rngs():
    """Restore the global ``random``, NumPy and torch RNG states on exit, so caching cannot change later results."""
    py_state, np_state = random.getstate(), np.random.get_state()
    with torch.random.fork_rng():
        yield
    random.setstate(py_state)
    np.random.set_state(np_state)


def _train_classifier(config: ClassifierConfig) -> DigitClassifier:
    """Train a :class:`DigitClassifier` on the digits training split, deterministically on the CPU."""
    generator = seed_everything(config.seed)
    model = DigitClassifier(config.width, config.n_features)
    x, y = digits.load("train", "continuous")
    optimizer = torch.optim.Adam(model.parameters(), lr=config.lr)
    model.train()
    for _ in range(config.epochs):
        order = torch.randperm(len(x), generator=generator)
        for start in range(0, len(x), config.batch_size):
            idx = order[start:start + config.batch_size]
            loss = F.cross_entropy(model(x[idx]), y[idx])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    return model


@functools.lru_cache(maxsize=None)
def _cached_classifier(config: ClassifierConfig, path: str, device: str) -> DigitClassifier:
    """Load the classifier from ``path``, or train it and save it there; one instance per settings.

    Both branches draw from the global RNGs (weight initialisation, seeding),
    so their states are restored: a later result cannot depend on whether the
    file existed.
    """
    file = Path(path)
    with _restored_global_rngs():
        if file.exists():
            model = DigitClassifier(config.width, config.n_features)
            model.load_state_dict(torch.load(file, weights_only=True, map_location="cpu"))
        else:
            model = _train_classifier(config)
            file.parent.mkdir(parents=True, exist_ok=True)
            # write then rename, so two notebooks running at once never read a half-written file
            tmp = file.with_suffix(f".{os.getpid()}.tmp")
            torch.save(model.state_dict(), tmp)
            os.replace(tmp, file)
    model.eval().requires_grad_(False)
    return model.to(device)


def _check_device(device) -> torch.device:
    if device is None:
        return get_device()
    try:
        return torch.device(device)
    except (RuntimeError, TypeError) as err:
        raise ValueError(f"device must be a torch.device or a device string, got {device!r}") from err


def digit_classifier(seed: int = 0, epochs: int = 20, device: str | torch.device | None = None) -> DigitClassifier:
    """The book's digit classifier, trained once and cached (≈2 s on a 2-core CPU, ≥ 99% test accuracy).

    Training is deterministic (:func:`~unigen.utils.seed_everything` and a fixed
    data order, global RNG states restored afterwards) and runs on the CPU; the weights are saved at
    ``project_dir(".cache") / f"digit_classifier_{key}.pt"``, where ``key`` hashes
    the :class:`ClassifierConfig`, and later loaded from there. Repeated calls
    with the same settings return the same frozen, eval-mode instance, so
    do not modify it.
    """
    if not isinstance(seed, int) or isinstance(seed, bool):
        raise ValueError(f"seed must be an int, got {seed!r}")
    if not isinstance(epochs, int) or isinstance(epochs, bool):
        raise ValueError(f"epochs must be a positive int, got {epochs!r}")
    check_positive("epochs", epochs)
    device = _check_device(device)
    config = ClassifierConfig(seed=seed, epochs=epochs)
    path = project_dir(".cache") / f"digit_classifier_{config.key()}.pt"
    return _cached_classifier(config, str(path), str(device))
