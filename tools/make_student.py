"""Write student copies of the book's notebooks, with every solution removed.

    python tools/make_student.py book student          # write student/ from book/
    python tools/make_student.py --verify student book # check student/ holds no solution

In a student copy:
- code between ``### BEGIN SOLUTION`` and ``### END SOLUTION`` becomes a stub
  (``# YOUR CODE HERE`` / ``raise NotImplementedError()``, same indentation);
- cells tagged ``solution`` are dropped;
- MyST ``{solution}`` blocks are cut out of markdown cells;
- all outputs are cleared.

``--verify`` fails if a marker, a tag or a ``{solution}`` block is left, or if any
line of a solution (one that appears nowhere else in the source notebook) is
still present in the student copy.
"""
from __future__ import annotations

import re
import sys
from pathlib import Path

import nbformat

BEGIN, END = "### BEGIN SOLUTION", "### END SOLUTION"
FENCE = re.compile(r"^\s*(`{3,}|:{3,})\{solution\}")


def stub_code(src: str) -> tuple[str, list[str]]:
    """Replace marked regions by a stub; return the new source and the removed lines."""
    out, removed, inside = [], [], False
    for line in src.splitlines():
        if line.strip() == BEGIN:
            if inside:
                raise ValueError("nested ### BEGIN SOLUTION")
            indent = line[: len(line) - len(line.lstrip())]
            out += [f"{indent}# YOUR CODE HERE", f"{indent}raise NotImplementedError()"]
            inside = True
        elif line.strip() == END:
            if not inside:
                raise ValueError("### END SOLUTION without BEGIN")
            inside = False
        elif inside:
            removed.append(line)
        else:
            out.append(line)
    if inside:
        raise ValueError("### BEGIN SOLUTION without END")
    return "\n".join(out), removed


def cut_solutions(md: str) -> tuple[str, list[str]]:
    """Remove MyST ``{solution}`` directives (backtick or colon fences) from markdown."""
    out, removed, fence = [], [], None
    for line in md.splitlines():
        if fence is None:
            m = FENCE.match(line)
            if m:
                fence = m.group(1)
                continue
            out.append(line)
        elif line.strip() == fence:
            fence = None
        else:
            removed.append(line)
    if fence is not None:
        raise ValueError("unclosed {solution} block")
    return "\n".join(out), removed


def studentise(nb):
    """Return the student notebook and the solution lines it dropped."""
    cells, removed = [], []
    for cell in nb.cells:
        if "solution" in cell.get("metadata", {}).get("tags", []):
            removed += cell.source.splitlines()
            continue
        if cell.cell_type == "code":
            cell.source, gone = stub_code(cell.source)
            cell.outputs, cell.execution_count = [], None
        else:
            cell.source, gone = cut_solutions(cell.source)
        removed += gone
        cells.append(cell)
    nb.cells = cells
    return nb, removed


def leaks(student_nb, source_nb) -> list[str]:
    """Problems in a student notebook: markers, tags, blocks, or solution lines still present."""
    problems = []
    text = "\n".join(c.source for c in student_nb.cells)
    for marker in (BEGIN, END, "{solution}"):
        if marker in text:
            problems.append(f"marker {marker!r} left")
    if any("solution" in c.get("metadata", {}).get("tags", []) for c in student_nb.cells):
        problems.append("a cell tagged 'solution' is left")
    if source_nb is not None:
        _, removed = studentise(nbformat.from_dict(source_nb))
        kept = {ln.strip() for c in studentise(nbformat.from_dict(source_nb))[0].cells for ln in c.source.splitlines()}
        secret = {ln.strip() for ln in removed if len(ln.strip()) > 12} - kept
        lines = {ln.strip() for ln in text.splitlines()}
        problems += [f"solution line left: {ln!r}" for ln in sorted(secret & lines)]
    return problems


def main(argv: list[str]) -> int:
    verify = argv[:1] == ["--verify"]
    args = argv[1:] if verify else argv
    if len(args) != 2:
        print(__doc__)
        return 2
    if verify:
        student, source = map(Path, args)
        files = sorted(student.rglob("*.ipynb"))
        if not files:
            print(f"no notebooks under {student}/")
            return 1
        bad = 0
        for f in files:
            src = source / f.relative_to(student)
            problems = leaks(nbformat.read(f, 4), nbformat.read(src, 4) if src.exists() else None)
            for p in problems:
                print(f"{f}: {p}")
            bad += bool(problems)
        print(f"student copies: {len(files) - bad}/{len(files)} notebooks free of solutions")
        return 1 if bad else 0
    source, student = map(Path, args)
    for f in sorted(source.rglob("*.ipynb")):
        if "_build" in f.parts or ".ipynb_checkpoints" in f.parts:
            continue
        nb, removed = studentise(nbformat.read(f, 4))
        dest = student / f.relative_to(source)
        dest.parent.mkdir(parents=True, exist_ok=True)
        nbformat.write(nb, dest)
        print(f"{dest}  ({len(removed)} solution lines removed)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
