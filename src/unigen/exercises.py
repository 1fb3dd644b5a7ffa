r"""The book's exercises as data: chapter, title, difficulty, points, and for code exercises the check.

Every exercise is a MyST ``{exercise}`` directive whose title ends with its difficulty and points::

    ```{exercise} The DDIM update · ★★ · 3 points
    :label: ex-ddim-update

★ is a direct application of the chapter, ★★ needs a derivation or a careful implementation, ★★★ is
open-ended, longer, or draws on several chapters. A *code* exercise is followed by a code cell holding a
``### BEGIN SOLUTION`` region and a call ``checks.NAME(function)``; :mod:`unigen.grade` grades those
automatically, and the teacher's guide lists all of them.

    python -m unigen.exercises          # a Markdown table of every exercise
"""
from __future__ import annotations

import ast
import json
import re
import sys
from dataclasses import dataclass
from pathlib import Path

__all__ = ["Exercise", "BEGIN", "catalogue", "by_chapter", "table"]

BEGIN = "### BEGIN SOLUTION"
ROOT = Path(__file__).resolve().parents[2]
_DIRECTIVE = re.compile(r"^\s*(`{3,}|:{3,})\{exercise\}\s*(.*)$")
_GRADE = re.compile(r"\s*·\s*(★{1,3})\s*·\s*(\d+(?:\.\d+)?)\s*points?\s*$")
_LABEL = re.compile(r"^\s*:label:\s*(\S+)")


@dataclass(frozen=True)
class Exercise:
    """One exercise of the book. ``function`` and ``check`` are set for code exercises only."""
    chapter: str
    title: str
    label: str = ""
    stars: int = 0
    points: float = 0.0
    function: str = ""
    check: str = ""

    @property
    def kind(self) -> str:
        return "code" if self.check else "math"


def _text(cell) -> str:
    source = cell.get("source", "")
    return "".join(source) if isinstance(source, list) else str(source)


def python_source(text: str) -> str:
    """A code cell without IPython magics and shell lines (which are not Python)."""
    return "\n".join("" if line.lstrip().startswith(("%", "!")) else line for line in text.splitlines())


def _directives(markdown: str, chapter: str) -> list[Exercise]:
    found, lines = [], markdown.splitlines()
    for i, line in enumerate(lines):
        m = _DIRECTIVE.match(line)
        if not m:
            continue
        title, stars, points = m.group(2).strip(), 0, 0.0
        g = _GRADE.search(title)
        if g:
            title, stars, points = title[:g.start()].strip(), len(g.group(1)), float(g.group(2))
        label = next((lm.group(1) for lm in map(_LABEL.match, lines[i + 1:i + 4]) if lm), "")
        found.append(Exercise(chapter, title, label, stars, points))
    return found


def _checked_function(code: str) -> tuple[str, str] | None:
    """``(function, check)`` if a solution cell calls ``checks.NAME(function)`` on a function it defines."""
    tree = ast.parse(python_source(code))
    defs = {n.name for n in tree.body if isinstance(n, ast.FunctionDef)}
    for node in ast.walk(tree):
        if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                and isinstance(node.func.value, ast.Name) and node.func.value.id == "checks"
                and node.args and isinstance(node.args[0], ast.Name) and node.args[0].id in defs):
            return node.args[0].id, node.func.attr
    return None


def notebook_exercises(path: Path | str) -> list[Exercise]:
    """The exercises of one notebook, in order; a solution cell completes the exercise before it."""
    path = Path(path)
    cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
    found: list[Exercise] = []
    for cell in cells:
        text = _text(cell)
        if cell.get("cell_type") == "markdown":
            found += _directives(text, path.stem)
        elif cell.get("cell_type") == "code" and BEGIN in text:
            checked = _checked_function(text)
            if checked and found and not found[-1].check:
                e = found[-1]
                found[-1] = Exercise(e.chapter, e.title, e.label, e.stars, e.points, *checked)
            elif checked:      # a checked function with no directive before it: still gradable
                found.append(Exercise(path.stem, checked[0], "", 0, 1.0, *checked))
    return found


def catalogue(book: Path | str | None = None) -> list[Exercise]:
    """Every exercise of every notebook under ``book`` (default: the book of this checkout)."""
    book = Path(book) if book is not None else ROOT / "book"
    if not book.is_dir():
        raise ValueError(f"book must be the folder of the book's notebooks, got {book}")
    return [e for path in sorted(book.rglob("*.ipynb"))
            if "_build" not in path.parts and ".ipynb_checkpoints" not in path.parts
            for e in notebook_exercises(path)]


def by_chapter(exercises: list[Exercise]) -> dict[str, list[Exercise]]:
    """Group a list of exercises by chapter, keeping their order."""
    grouped: dict[str, list[Exercise]] = {}
    for e in exercises:
        grouped.setdefault(e.chapter, []).append(e)
    return grouped


def table(exercises: list[Exercise]) -> str:
    """A Markdown table: chapter, exercise, kind, difficulty, points."""
    rows = ["| chapter | exercise | kind | difficulty | points |", "| --- | --- | --- | --- | --- |"]
    rows += [f"| {e.chapter} | {e.title} | {e.kind} | {'★' * e.stars or '?'} | {e.points:g} |"
             for e in exercises]
    return "\n".join(rows)


if __name__ == "__main__":
    print(table(catalogue(sys.argv[1] if len(sys.argv) > 1 else None)))
