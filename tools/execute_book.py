"""Execute the book's notebooks into Jupyter Book's execution cache, several at a time.

``make book`` empties the cache, runs this script, then ``jupyter-book build`` with
``execute_notebooks: cache``: the build finds every notebook's outputs in the cache and only renders
them. Every build therefore still executes every notebook afresh (cache mode on its own would show stale
outputs after a change in ``src/``), but on ``--jobs`` kernels at once instead of one after another,
the longest chapters first (``book/chapter_times.json``), as ``make test`` does.

    python tools/execute_book.py                      # every notebook of _toc.yml, one job per core
    python tools/execute_book.py --jobs 2 book/03_diffusion/ddpm.ipynb

A notebook that fails is reported with its traceback, and the script exits with status 1 (the build
would stop on it too).
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path

import nbformat
import yaml
from jupyter_cache import get_cache
from jupyter_cache.base import CacheBundleIn
from jupyter_cache.executors.utils import single_nb_execution

ROOT = Path(__file__).resolve().parent.parent


def toc_notebooks(root: Path = ROOT) -> list[Path]:
    """The notebooks that ``_toc.yml`` lists, in the book's order."""
    toc = yaml.safe_load((root / "_toc.yml").read_text())
    files = [c["file"] for part in toc["parts"] for c in part.get("chapters", [])]
    return [root / f"{f}.ipynb" for f in files if (root / f"{f}.ipynb").exists()]


def longest_first(notebooks: list[Path], times_file: Path = ROOT / "book" / "chapter_times.json") -> list[Path]:
    """``notebooks`` sorted by their last measured time, longest first; unmeasured ones lead."""
    seconds = json.loads(times_file.read_text())["chapter_seconds"] if times_file.exists() else {}
    return sorted(notebooks, key=lambda p: -seconds.get(p.stem, float("inf")))


def _execute(path: str, timeout: int) -> tuple[str, str | None, float, str | None]:
    """Run one notebook in its own folder: (path, executed notebook as JSON or None, seconds, traceback)."""
    nb = nbformat.read(path, as_version=4)
    result = single_nb_execution(nb, cwd=str(Path(path).parent), timeout=timeout, allow_errors=False,
                                 meta_override=True)
    if result.err is not None:
        return path, None, result.time, result.exc_string
    return path, nbformat.writes(nb), result.time, None


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("notebooks", nargs="*", type=Path, help="default: every notebook in _toc.yml")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1, help="kernels at once (default: cores)")
    parser.add_argument("--cache", type=Path, default=ROOT / "_build" / ".jupyter_cache")
    parser.add_argument("--timeout", type=int, default=600, help="seconds per cell")
    args = parser.parse_args(argv)
    if args.jobs < 1:
        parser.error(f"--jobs must be at least 1, got {args.jobs}")
    notebooks = longest_first([p.resolve() for p in args.notebooks] or toc_notebooks())
    # The kernels inherit this environment. MPLBACKEND=Agg (right for make test) would turn every
    # plt.show() into nothing; without it ipykernel draws figures inline, as the book needs.
    os.environ.pop("MPLBACKEND", None)
    cache = get_cache(str(args.cache))
    start, failed = time.perf_counter(), []
    with ProcessPoolExecutor(max_workers=args.jobs) as pool:
        futures = [pool.submit(_execute, str(p), args.timeout) for p in notebooks]
        for future in as_completed(futures):
            path, executed, seconds, traceback = future.result()
            name = os.path.relpath(path, ROOT)
            if executed is None:
                failed.append(name)
                print(f"FAILED {name} after {seconds:.0f} s\n{traceback}", file=sys.stderr, flush=True)
                continue
            cache.cache_notebook_bundle(CacheBundleIn(nbformat.reads(executed, as_version=4), path,
                                                      data={"execution_seconds": seconds}),
                                        check_validity=False, overwrite=True)
            print(f"{seconds:6.0f} s  {name}", flush=True)
    total = time.perf_counter() - start
    print(f"executed {len(notebooks) - len(failed)} of {len(notebooks)} notebooks in {total:.0f} s "
          f"on {args.jobs} kernels at a time")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
