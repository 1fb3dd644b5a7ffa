"""Re-run one chapter and compare the numbers it records with a reference copy.

    python tools/reproduce.py book/03_diffusion/forward_process.ipynb
    python tools/reproduce.py book/03_diffusion/forward_process.ipynb --reference my_run.json

Every chapter writes its headline numbers to ``results/<stem>.json`` (see ``unigen.report``). The
reference is that file as it stands before the re-run (the copy from the last ``make book`` or
``make test``), or a file given with ``--reference`` (a teacher's copy, a student's run). The chapter is
executed top to bottom in a fresh kernel with one torch thread, the setting of ``make test`` and
``make book``, and every key whose value changed by more than a relative 1e-9 is printed.

Timings (keys with a ``seconds``, ``ms`` or ``speedup`` part, a rate ``per_second``, or a ``timed`` part
for a number read off measured times) depend on the machine; they are listed but never count as a
difference. The exit status is 1 when a number
differs or a key appears or disappears, 0 otherwise.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import sys
import tempfile
from pathlib import Path

TIMING_PARTS = {"seconds", "ms", "speedup", "timed"}
RTOL = 1e-9


def is_timing(key: str) -> bool:
    """True for keys whose value is a duration or a speed, which no two machines share."""
    parts = key.lower().split("_")
    return bool(TIMING_PARTS.intersection(parts)) or "per_second" in key.lower()


def _same(a, b, rtol: float) -> bool:
    if isinstance(a, bool) or isinstance(b, bool) or isinstance(a, str) or isinstance(b, str):
        return a == b
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return math.isclose(a, b, rel_tol=rtol, abs_tol=0.0) or a == b
    return a == b


def diff(reference: dict, new: dict, *, rtol: float = RTOL) -> tuple[list[str], list[str]]:
    """Compare two recorded-number dicts.

    Returns ``(differences, timings)``: one line per non-timing key that changed beyond ``rtol``
    (or that only one side has), and one line per timing key for information.
    """
    if not isinstance(reference, dict):
        raise ValueError(f"reference must be a dict, got {type(reference).__name__}")
    if not isinstance(new, dict):
        raise ValueError(f"new must be a dict, got {type(new).__name__}")
    if not rtol >= 0:
        raise ValueError(f"rtol must be >= 0, got {rtol!r}")
    differences, timings = [], []
    for key in sorted(set(reference) | set(new)):
        old_v, new_v = reference.get(key, "<missing>"), new.get(key, "<missing>")
        if is_timing(key):
            timings.append(f"{key}: {old_v} -> {new_v}")
        elif key not in reference:
            differences.append(f"{key}: new key, {new_v}")
        elif key not in new:
            differences.append(f"{key}: missing in the new run (was {old_v})")
        elif not _same(old_v, new_v, rtol):
            rel = ""
            if isinstance(old_v, (int, float)) and isinstance(new_v, (int, float)) and old_v:
                rel = f" (relative change {abs(new_v - old_v) / abs(old_v):.3g})"
            differences.append(f"{key}: {old_v} -> {new_v}{rel}")
    return differences, timings


def execute(notebook: Path, timeout: int = 1200) -> None:
    """Run ``notebook`` top to bottom in a fresh kernel (one torch thread), in its own folder."""
    import nbclient
    import nbformat

    os.environ.update(OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", MPLBACKEND="Agg")
    nb = nbformat.read(notebook, as_version=4)
    client = nbclient.NotebookClient(nb, timeout=timeout, kernel_name="python3",
                                     resources={"metadata": {"path": str(notebook.parent)}})
    client.execute()


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("notebook", type=Path, help="the chapter, e.g. book/03_diffusion/ddpm.ipynb")
    parser.add_argument("--reference", type=Path, default=None,
                        help="recorded numbers to compare with (default: results/<stem>.json as it is now)")
    parser.add_argument("--rtol", type=float, default=RTOL, help="relative tolerance (default 1e-9)")
    args = parser.parse_args(argv)

    from unigen.utils import project_dir

    if args.notebook.suffix != ".ipynb" or not args.notebook.is_file():
        parser.error(f"notebook must be an existing .ipynb file, got {args.notebook}")
    current = project_dir("results") / f"{args.notebook.stem}.json"
    reference_path = args.reference or current
    if not reference_path.is_file():
        parser.error(f"no reference numbers at {reference_path}: run the chapter once "
                     "(make book or make test) or pass --reference FILE")
    with tempfile.TemporaryDirectory() as tmp:
        kept = Path(tmp) / "reference.json"
        shutil.copyfile(reference_path, kept)
        print(f"Re-running {args.notebook} (one torch thread) ...", flush=True)
        execute(args.notebook.resolve())
        reference = json.loads(kept.read_text())
    new = json.loads(current.read_text())
    differences, timings = diff(reference, new, rtol=args.rtol)
    for line in timings:
        print(f"  timing (not compared)  {line}")
    if differences:
        print(f"{len(differences)} recorded number(s) changed beyond a relative {args.rtol:g}:")
        for line in differences:
            print(f"  CHANGED  {line}")
        return 1
    print(f"All {len(new) - len(timings)} non-timing numbers of {args.notebook.stem} are unchanged "
          f"(reference {reference_path}).")
    return 0


if __name__ == "__main__":
    sys.exit(main())
