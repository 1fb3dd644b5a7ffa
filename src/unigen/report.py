"""Record each notebook's headline numbers: ``results/<notebook>.json`` plus a myst-nb glue.

Introduced in *The generative modelling problem* (Part I). The prose quotes
numbers with ``{glue:text}`key:.3f``` so no number is typed by hand, and the
JSON files let a reader (or a later chapter) compare runs.

Usage::

    rep = report.Report("generative_problem")
    rep.record("bigram_test_nll", 2.45)
"""
from __future__ import annotations

import json
import math
import numbers
import re

from .utils import project_dir

__all__ = ["Report", "load"]

_NAME = re.compile(r"^[A-Za-z0-9_\-]+$")


def _plain(value):
    """Turn tensors / NumPy scalars into JSON-friendly Python numbers."""
    if hasattr(value, "item") and getattr(value, "ndim", 0) == 0:
        value = value.item()
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, numbers.Integral):
        return int(value)
    if isinstance(value, numbers.Real):
        if not math.isfinite(value):
            raise ValueError(f"value must be finite, got {value!r}")
        return float(value)
    raise ValueError(f"value must be a number, bool or str, got {type(value).__name__}")


class Report:
    """Collects ``key -> value`` for one notebook and writes ``results/<notebook>.json`` on every record."""

    def __init__(self, notebook: str, *, glue: bool = True):
        if not isinstance(notebook, str) or not _NAME.match(notebook):
            raise ValueError(f"notebook must be a file stem like 'generative_problem', got {notebook!r}")
        self.notebook, self.glue, self.values = notebook, glue, {}
        self.path = project_dir("results") / f"{notebook}.json"

    def record(self, key: str, value, *, display: bool = False) -> None:
        """Store ``value`` under ``key``, rewrite the JSON file, and glue it for the prose."""
        if not isinstance(key, str) or not _NAME.match(key):
            raise ValueError(f"key must be a simple identifier, got {key!r}")
        self.values[key] = _plain(value)
        self.path.write_text(json.dumps(self.values, indent=2, sort_keys=True) + "\n")
        if self.glue:
            try:
                from myst_nb import glue
            except ImportError:  # pragma: no cover - outside the book's environment
                pass
            else:
                glue(key, self.values[key], display=display)


def load(notebook: str) -> dict:
    """The numbers a notebook recorded (empty if it has not run yet)."""
    if not isinstance(notebook, str) or not _NAME.match(notebook):
        raise ValueError(f"notebook must be a file stem, got {notebook!r}")
    path = project_dir("results") / f"{notebook}.json"
    return json.loads(path.read_text()) if path.exists() else {}
