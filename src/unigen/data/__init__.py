"""Datasets of the book, each with a fixed, seeded train/val/test split.

- :mod:`~unigen.data.mixture2d`: a 2-D Gaussian mixture with analytic density, score and velocity.
- :mod:`~unigen.data.moons`: scikit-learn's two moons.
- :mod:`~unigen.data.digits`: scikit-learn's 8x8 digits, continuous or as 17-level tokens.
- :mod:`~unigen.data.surnames`: 88,799 US-census surnames from the ``names`` package.
- :mod:`~unigen.data.tasks`: generated addition problems and 4x4 sudoku grids (Part VII).
- :mod:`~unigen.data.registry`: the benchmark's datasets describing themselves (shape, tokens,
  bin width, sample metric), for code that runs every paradigm on every dataset (Part VII).

Every split comes from :func:`split_indices`, so all paradigms see the same data.
"""
from .splits import SPLITS, split_indices, take_split
from . import mixture2d, moons, digits, surnames, tasks
from .registry import DATASETS, Dataset, Tokens, load_dataset

__all__ = ["SPLITS", "split_indices", "take_split", "mixture2d", "moons", "digits", "surnames", "tasks",
           "DATASETS", "Dataset", "Tokens", "load_dataset"]
