r"""Grade a folder of submitted notebooks with the book's exercise checks.

    python -m unigen.grade SUBMISSIONS [--out grades] [--timeout 60]      # or: make grade SUBMISSIONS=...

**Layout of the submissions.** Either one folder per student, holding that student's chapters under
their book names, or flat files named ``<student>__<chapter>.ipynb``::

    submissions/ada/ddpm.ipynb          submissions/ada__ddpm.ipynb
    submissions/ada/decoding.ipynb      submissions/bob__ddpm.ipynb
    submissions/bob/ddpm.ipynb

**What is graded.** The answer key is the book itself: every code cell of a chapter that holds a
``### BEGIN SOLUTION`` region and a call ``checks.NAME(function)`` is one exercise, worth the points in
its title (``The DDIM update · ★★ · 3 points``, see :mod:`unigen.exercises`; 1 if absent). From a
submission the grader takes only what the function needs: the notebook's ``import`` statements and its
top-level ``def``\ s. It never runs the chapter's cells, so no training run is repeated. Each
exercise's check then runs in a child process with a time limit, so an endless loop, a crash or a
``sys.exit`` in one submission costs only that exercise.

**What comes out.** ``grades.csv`` (student, chapter, exercise, points, max_points, passed, message) and
``feedback/<student>.md``, one page per student with the check's explanation of each failed exercise.
A notebook that is not valid JSON, a renamed function, code that does not parse or import, or the
notebook of another chapter each give a clear message, and grading goes on.
"""
from __future__ import annotations

import argparse
import ast
import csv
import json
import multiprocessing as mp
import os
import sys
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

from . import exercises
from .exercises import BEGIN, Exercise

from . import checks as _checks  # noqa: F401  imported once, before the children are forked

__all__ = ["Exercise", "Grade", "answer_key", "find_submissions", "grade_notebook", "grade_folder", "main"]



@dataclass
class Grade:
    """One row of ``grades.csv``."""
    student: str
    chapter: str
    exercise: str
    points: float
    max_points: float
    passed: bool
    message: str = ""


@dataclass
class _Source:
    """What the grader reads from one notebook: its imports, its functions, and what did not parse."""
    imports: list[str] = field(default_factory=list)
    functions: dict[str, str] = field(default_factory=dict)
    broken: list[tuple[str, str]] = field(default_factory=list)   # (cell text, syntax error)


def _cell_text(cell) -> str:
    source = cell.get("source", "")
    return "".join(source) if isinstance(source, list) else str(source)


def _read_cells(path: Path) -> list[dict]:
    try:
        nb = json.loads(Path(path).read_text(encoding="utf-8"))
        cells = nb["cells"]
        if not isinstance(cells, list):
            raise TypeError("'cells' is not a list")
        return cells
    except (OSError, UnicodeDecodeError, ValueError, KeyError, TypeError) as e:
        raise ValueError(f"not a readable notebook ({type(e).__name__}: {e})") from None


def _parse(cells: list[dict]) -> _Source:
    found = _Source()
    for cell in cells:
        if cell.get("cell_type") != "code":
            continue
        text = exercises.python_source(_cell_text(cell))
        try:
            tree = ast.parse(text)
        except SyntaxError as e:
            found.broken.append((text, f"SyntaxError on line {e.lineno}: {e.msg}"))
            continue
        for node in tree.body:
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                found.imports.append(ast.get_source_segment(text, node))
            elif isinstance(node, ast.FunctionDef):
                found.functions[node.name] = ast.get_source_segment(text, node)
    return found


def answer_key(book: Path | str | None = None) -> dict[str, list[Exercise]]:
    """``{chapter: [Exercise, ...]}``: the code exercises of the book, with their checks and points.

    An exercise whose title carries no points (see :mod:`unigen.exercises`) is worth 1 point.
    """
    graded = [e if e.points else replace(e, points=1.0) for e in exercises.catalogue(book) if e.check]
    return exercises.by_chapter(graded)


def find_submissions(folder: Path | str) -> list[tuple[str, str, Path]]:
    """``[(student, chapter, path)]`` for every notebook under ``folder`` (see the module's layouts)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise ValueError(f"submissions must be a folder, got {folder}")
    found = []
    for path in sorted(folder.rglob("*.ipynb")):
        if ".ipynb_checkpoints" in path.parts:
            continue
        rel = path.relative_to(folder)
        if len(rel.parts) == 1 and "__" in path.stem:
            student, chapter = path.stem.split("__", 1)
        elif len(rel.parts) >= 2:
            student, chapter = rel.parts[0], path.stem
        else:
            student, chapter = path.stem, "?"
        found.append((student, chapter, path))
    return found


def _run_one(program: str, function: str, check: str, conn) -> None:
    """Child process: define the submission's code, run one check, send (passed, message)."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    os.dup2(devnull, 2)
    from unigen import checks
    try:
        namespace = {"__name__": "__submission__"}
        try:
            exec(compile(program, "<submission>", "exec"), namespace)
        except Exception as e:  # noqa: BLE001 - any failure to define the code is the student's
            conn.send((False, f"the submission's imports or definitions fail: {type(e).__name__}: {e}"))
            return
        getattr(checks, check)(namespace[function], quiet=True)
        conn.send((True, ""))
    except checks.CheckFailed as e:
        conn.send((False, str(e)))
    except Exception as e:  # noqa: BLE001
        conn.send((False, f"the check could not run the function: {type(e).__name__}: {e}"))
    except BaseException as e:  # sys.exit, KeyboardInterrupt raised by the submission
        conn.send((False, f"the submission stopped the process ({type(e).__name__}: {e})"))


_PRELOADED: set[str] = set()


def _preload(imports: list[str]) -> None:
    """Import the submission's modules once in this process, so that each forked check starts at once.

    Only import statements run here (never the student's functions); one that fails is left for the
    child process to report.
    """
    if _context().get_start_method() != "fork":
        return
    for statement in imports:
        if statement not in _PRELOADED:
            _PRELOADED.add(statement)
            try:
                exec(statement, {})
            except Exception:  # noqa: BLE001 - reported by the child, where it counts
                pass


def _context():
    return mp.get_context("fork" if "fork" in mp.get_all_start_methods() else "spawn")


def _start(program, exercise):
    receive, send = _context().Pipe(duplex=False)
    proc = _context().Process(target=_run_one, args=(program, exercise.function, exercise.check, send))
    proc.start()
    send.close()
    return proc, receive


def _finish(proc, receive, timeout: float, started: float) -> tuple[bool, str]:
    proc.join(max(0.0, timeout - (time.monotonic() - started)))
    if proc.is_alive():
        proc.kill()
        proc.join()
        return False, f"time limit of {timeout:g} s exceeded (an endless loop, or far too slow)"
    if receive.poll():
        try:
            return receive.recv()
        except EOFError:
            pass
    return False, f"the check's process ended without a result (exit code {proc.exitcode}: a crash?)"


def _program(source: _Source, function: str) -> str:
    """The imports, ``function`` and the notebook's functions it calls (transitively), as one program."""
    needed, todo = [], [function]
    while todo:
        name = todo.pop()
        if name in needed or name not in source.functions:
            continue
        needed.append(name)
        tree = ast.parse(source.functions[name])
        local = {a.arg for a in ast.walk(tree) if isinstance(a, ast.arg)}
        local |= {n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store)}
        used = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)}
        todo += sorted((used - local) & set(source.functions))
    return "\n".join(source.imports + [source.functions[name] for name in reversed(needed)])


def _diagnose(exercise: Exercise, source: _Source, key: dict[str, list[Exercise]]) -> str | None:
    """Why ``exercise.function`` cannot be graded in this notebook, or None if it can."""
    if exercise.function in source.functions:
        return None
    for text, error in source.broken:
        if f"def {exercise.function}(" in text:
            return f"the cell that defines {exercise.function} does not parse: {error}"
    mine = {e.function for e in key.get(exercise.chapter, [])}
    if not mine & set(source.functions):
        for chapter, exercises in key.items():
            if chapter != exercise.chapter and {e.function for e in exercises} & set(source.functions):
                return f"this looks like the notebook of chapter '{chapter}', not '{exercise.chapter}'"
    return f"no function named {exercise.function} was found (was it renamed or deleted?)"


def grade_notebook(path: Path | str, chapter: str, student: str = "", *, key=None,
                   timeout: float = 60.0, jobs: int | None = None) -> list[Grade]:
    """Grade one submitted notebook of ``chapter``; one :class:`Grade` per exercise of the chapter."""
    key = answer_key() if key is None else key
    if timeout <= 0:
        raise ValueError(f"timeout must be positive, got {timeout!r}")
    if chapter not in key:
        return [Grade(student, chapter, "-", 0, 0, False,
                      f"unknown chapter '{chapter}': expected one of {', '.join(sorted(key))}")]
    exercises = key[chapter]
    try:
        source = _parse(_read_cells(Path(path)))
    except ValueError as e:
        return [Grade(student, chapter, ex.function, 0, ex.points, False, f"{Path(path).name} is {e}")
                for ex in exercises]
    grades, pending = {}, []
    for ex in exercises:
        problem = _diagnose(ex, source, key)
        if problem:
            grades[ex] = (False, problem)
        else:
            pending.append(ex)
    _preload(source.imports)
    running, jobs = [], jobs or os.cpu_count() or 1
    while pending or running:
        while pending and len(running) < jobs:
            ex = pending.pop(0)
            running.append((ex, *_start(_program(source, ex.function), ex), time.monotonic()))
        ex, proc, receive, started = running.pop(0)
        grades[ex] = _finish(proc, receive, timeout, started)
    return [Grade(student, chapter, ex.function, ex.points if grades[ex][0] else 0, ex.points, *grades[ex])
            for ex in exercises]


def grade_folder(submissions, out="grades", *, book=None, timeout: float = 60.0,
                 jobs: int | None = None) -> list[Grade]:
    """Grade every notebook under ``submissions``; write ``out/grades.csv`` and ``out/feedback/*.md``."""
    key = answer_key(book)
    rows = []
    for student, chapter, path in find_submissions(submissions):
        rows += grade_notebook(path, chapter, student, key=key, timeout=timeout, jobs=jobs)
    out = Path(out)
    (out / "feedback").mkdir(parents=True, exist_ok=True)
    with open(out / "grades.csv", "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["student", "chapter", "exercise", "points", "max_points", "passed", "message"])
        for g in rows:
            writer.writerow([g.student, g.chapter, g.exercise, g.points, g.max_points, g.passed,
                             g.message.replace("\n", " | ")])
    for student in sorted({g.student for g in rows}):
        (out / "feedback" / f"{student}.md").write_text(_feedback(student, [g for g in rows
                                                                              if g.student == student]))
    return rows


def _feedback(student: str, rows: list[Grade]) -> str:
    got, total = sum(g.points for g in rows), sum(g.max_points for g in rows)
    lines = [f"# Feedback for {student}", "", f"**{got:g} / {total:g} points**", ""]
    for chapter in dict.fromkeys(g.chapter for g in rows):
        lines += [f"## {chapter}", ""]
        for g in (g for g in rows if g.chapter == chapter):
            mark = "passed" if g.passed else "not passed"
            lines.append(f"- `{g.exercise}`: {g.points:g} / {g.max_points:g} ({mark})")
            if not g.passed:
                lines += ["", "  ```", *[f"  {ln}" for ln in g.message.splitlines()], "  ```", ""]
        lines.append("")
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description="Grade submitted notebooks with the book's checks.")
    parser.add_argument("submissions", type=Path, help="folder of submitted notebooks")
    parser.add_argument("--out", type=Path, default=Path("grades"), help="where to write the grades")
    parser.add_argument("--book", type=Path, default=None, help="the book's notebooks (the answer key)")
    parser.add_argument("--timeout", type=float, default=60.0, help="seconds per exercise")
    parser.add_argument("--jobs", type=int, default=None, help="checks run at once (default: cores)")
    args = parser.parse_args(argv)
    if not args.submissions.is_dir():
        parser.error(f"SUBMISSIONS must be a folder, got {args.submissions}")
    start = time.perf_counter()
    rows = grade_folder(args.submissions, args.out, book=args.book, timeout=args.timeout, jobs=args.jobs)
    students = len({g.student for g in rows})
    passed = sum(g.passed for g in rows)
    print(f"{students} students, {len(rows)} exercises graded, {passed} passed, "
          f"in {time.perf_counter() - start:.1f} s; see {args.out / 'grades.csv'} "
          f"and {args.out / 'feedback'}/")
    return 0


if __name__ == "__main__":
    sys.exit(main())
