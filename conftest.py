"""Run the slowest notebooks first.

``make test`` spreads the notebooks over two workers, one notebook at a time per worker. In collection
order the longest chapter (the practical comparison) came last and ran alone while the other worker sat
idle. Sorting the notebooks by their measured run time (``book/chapter_times.json``), longest first, packs
the two workers evenly. A stable sort keeps the cells of each notebook, and the unit tests, in order.
"""
import json
from pathlib import Path

_TIMES = Path(__file__).resolve().parent / "book" / "chapter_times.json"


def pytest_collection_modifyitems(session, config, items):
    try:
        times = json.loads(_TIMES.read_text())["chapter_seconds"]
    except (OSError, ValueError, KeyError):
        return

    def longest_first(item):
        path = Path(str(item.fspath))
        return -times.get(path.stem, 0.0) if path.suffix == ".ipynb" else 0.0
    items.sort(key=longest_first)
