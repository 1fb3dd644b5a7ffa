r"""The benchmark's three datasets, each describing itself.

Introduced in *The unified view* (Part VII). A :class:`Dataset` carries what a paradigm needs to
know about its data, so that code which runs every paradigm on every dataset
(:mod:`unigen.compare`) asks properties instead of testing which dataset it holds:

- ``train``, ``test``: the splits in **canonical form**: points ``(N, 2)``; digits
  ``(N, 1, 8, 8)`` in [-1, 1] on the 17 levels; surnames END-padded ids ``(N, 14)``;
- ``shape``: one example's shape; ``bin_width``: the spacing of quantised values (``None``
  when the data are continuous or already tokens); ``bounds``: the range samples are clipped
  to (``None`` when unbounded);
- ``tokens``: a :class:`Tokens`, the dataset read as a sequence of discrete ids, for the
  token-based families (autoregressive, PixelCNN, VAR, masked diffusion);
- ``dims(x)``: how many dimensions each example's NLL is spread over;
- its sample metric: ``distance`` between two sets in the metric's ``view``, so that
  :func:`unigen.metrics.quality_ratio` scores samples against the test split, as a ratio to
  training data (energy distance on points, the Fréchet digit distance on digits, the
  character-bigram total variation on names).

Build one with :func:`load_dataset` (cached); :data:`DATASETS` lists the names.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Callable

import torch

from .. import metrics
from ..utils import check_in, check_tensor
from . import digits, mixture2d, surnames

__all__ = ["Dataset", "Tokens", "load_dataset", "DATASETS"]

DATASETS = ("mixture2d", "digits", "surnames")


@dataclass(frozen=True)
class Tokens:
    r"""A dataset read as sequences of ``length`` ids in ``0..vocab_size - 1``.

    ``encode(x)`` maps canonical examples ``(N, *shape)`` to ids ``(N, length)``;
    ``decode(ids, generator)`` maps ids back to canonical examples (drawing a point uniformly
    within its bin where the ids are bins of a continuous space). ``end`` is the id that ends
    a sequence early, or ``None`` when every sequence has exactly ``length`` tokens.
    ``log_bin_volume`` is :math:`\log` of the volume each sequence of ids stands for in the
    canonical space, so that a continuous density is :math:`P(\text{ids}) / \text{volume}`:
    0 for data that are discrete already.
    """

    vocab_size: int
    length: int
    encode: Callable
    decode: Callable
    end: int | None = None
    log_bin_volume: float = 0.0


def _grid_tokens(bins: int = mixture2d.GRID_BINS, lim: float = mixture2d.GRID_LIM) -> Tokens:
    """Points in ``[-lim, lim)^2`` as two ids ``1..bins`` (x then y); id 0 is never a coordinate."""
    width = 2 * lim / bins

    def encode(x):
        return ((x + lim) / width).floor().long().clamp(0, bins - 1) + 1

    def decode(ids, generator=None):
        ids = (ids[:, :2] - 1).clamp(0, bins - 1)
        u = torch.rand(ids.shape, generator=generator)
        return -lim + (ids + u) * width          # uniform within the bin: the model's own density

    return Tokens(bins + 1, 2, encode, decode, end=None, log_bin_volume=2 * math.log(width))


def _level_tokens() -> Tokens:
    """Digits as 64 pixel levels in raster order."""
    def encode(x):
        return digits.continuous_to_levels(x).flatten(1)

    def decode(ids, generator=None):
        return digits.levels_to_continuous(ids.cpu().reshape(-1, 1, 8, 8))

    return Tokens(digits.N_LEVELS, 64, encode, decode)


def _name_tokens() -> Tokens:
    """Surnames as their ids: letters, then END."""
    def same(x, generator=None):
        return x

    return Tokens(surnames.VOCAB_SIZE, surnames.MAX_LEN + 1, same, same, end=surnames.END)


def _digit_distance(a, b) -> float:
    from ..nn.classifier import digit_classifier    # trained or loaded on first use
    return metrics.frechet_digit_distance(a, b, digit_classifier(device="cpu"))


@dataclass
class Dataset:
    """A dataset as every paradigm sees it (see the module docstring)."""

    name: str
    train: torch.Tensor
    test: torch.Tensor
    tokens: Tokens
    distance: Callable
    view: Callable = lambda x: x.cpu()
    bin_width: float | None = None
    bounds: tuple[float, float] | None = None
    labels: torch.Tensor | None = None
    _views: tuple | None = field(default=None, repr=False)

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(self.train.shape[1:])

    def dims(self, x: torch.Tensor) -> torch.Tensor:
        """``(N,)`` float64: the dimensions each example's NLL counts (letters plus END for names)."""
        check_tensor("x", x)
        end = self.tokens.end
        if end is None or x.is_floating_point():
            return torch.full((len(x),), float(x[0].numel()), dtype=torch.float64)
        is_end = (x == end).int()
        return ((is_end.cumsum(1) - is_end) == 0).sum(1).double()   # up to the first END

    def reference_views(self) -> tuple:
        """The test and training splits in the metric's view (computed once)."""
        if self._views is None:
            self._views = (self.view(self.test), self.view(self.train))
        return self._views

    def clip(self, x: torch.Tensor) -> torch.Tensor:
        """Samples clipped to the data's range (unchanged when it has none)."""
        return x if self.bounds is None else x.clamp(*self.bounds)


@lru_cache(maxsize=None)
def load_dataset(name: str) -> Dataset:
    """``mixture2d``, ``digits`` or ``surnames`` in canonical form (cached: do not modify)."""
    check_in("name", name, DATASETS)
    if name == "mixture2d":
        return Dataset(name, mixture2d.load("train"), mixture2d.load("test"), _grid_tokens(),
                       metrics.energy_distance)
    if name == "digits":
        (x, y), (x_test, _) = digits.load("train"), digits.load("test")
        return Dataset(name, x, x_test, _level_tokens(), _digit_distance,
                       view=lambda s: s.cpu().clamp(-1, 1), bin_width=2.0 / (digits.N_LEVELS - 1),
                       bounds=(-1.0, 1.0), labels=y)
    return Dataset(name, surnames.encode(surnames.load("train")),
                   surnames.encode(surnames.load("test")), _name_tokens(), metrics.bigram_tv,
                   view=lambda s: surnames.decode(s.cpu()))
