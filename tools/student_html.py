"""Write the student edition of the built book: the same HTML pages with every solution taken out.

    python tools/student_html.py _build/html _build/html-student          # after make book
    python tools/student_html.py --verify _build/html-student book        # no solution line is left

The book is executed once, by ``make book``; this script edits the built pages rather than executing
the notebooks a second time. In every page it

- removes the ``{solution}`` blocks (sphinx-exercise's ``div.solution``) and the cells tagged
  ``solution`` (myst-nb gives them the class ``tag_solution``);
- replaces the code between ``### BEGIN SOLUTION`` and ``### END SOLUTION`` by the stub of the student
  notebooks (``# YOUR CODE HERE`` / ``raise NotImplementedError()``), highlighted again;
- drops the notebook sources (``_sources/``) and the buttons that download them, since those hold the
  solutions too.

``--verify`` fails if any line of a solution (as ``make_student.py`` defines it: a removed line of more
than 12 characters that appears nowhere else in its notebook) is found in the text of a student page.
"""
from __future__ import annotations

import html
import shutil
import sys
from pathlib import Path

import nbformat
from bs4 import BeautifulSoup
from pygments import highlight
from pygments.formatters import HtmlFormatter
from pygments.lexers import PythonLexer

sys.path.insert(0, str(Path(__file__).resolve().parent))
from make_student import BEGIN, studentise, stub_code  # noqa: E402


def strip_page(text: str) -> tuple[str, int]:
    """The page without its solutions, and how many solution pieces were removed."""
    soup = BeautifulSoup(text, "html.parser")
    removed = 0
    for node in soup.select("div.solution, div.tag_solution"):
        node.decompose()
        removed += 1
    for pre in soup.select("div.cell_input pre"):
        code = pre.get_text()
        if BEGIN not in code:
            continue
        stub, _ = stub_code(code)
        pre.clear()
        pre.append(BeautifulSoup(highlight(stub, PythonLexer(), HtmlFormatter(nowrap=True)), "html.parser"))
        removed += 1
    for link in soup.select('a[href*="_sources/"]'):
        (link.find_parent("li") or link).decompose()
    return str(soup), removed


def write_edition(built: Path, out: Path) -> int:
    """Copy the built book ``built`` to ``out`` and strip every page; return the pieces removed."""
    if not (built / "index.html").exists():
        raise ValueError(f"built must be a built HTML book (no index.html in {built}); run make book first")
    if out.exists():
        shutil.rmtree(out)
    shutil.copytree(built, out, ignore=shutil.ignore_patterns("_sources", ".buildinfo", ".doctrees"))
    total = 0
    for page in sorted(out.rglob("*.html")):
        text, removed = strip_page(page.read_text(encoding="utf-8"))
        if removed:
            page.write_text(text, encoding="utf-8")
            total += removed
    return total


def solution_lines(book: Path) -> dict[str, set[str]]:
    """``{chapter: lines}``: the lines that only the solutions of each notebook contain."""
    secrets = {}
    for path in sorted(book.rglob("*.ipynb")):
        if "_build" in path.parts or ".ipynb_checkpoints" in path.parts:
            continue
        student, removed = studentise(nbformat.read(path, 4))
        kept = {ln.strip() for c in student.cells for ln in c.source.splitlines()}
        secrets[path.stem] = {ln.strip() for ln in removed if len(ln.strip()) > 12} - kept
    return secrets


def leaks(edition: Path, book: Path) -> list[str]:
    """Solution lines found in the text of the student edition's pages."""
    secrets = solution_lines(book)
    problems = []
    for page in sorted(edition.rglob("*.html")):
        lines = {html.unescape(ln).strip() for ln in BeautifulSoup(page.read_text(encoding="utf-8"),
                                                                    "html.parser").get_text().splitlines()}
        secret = secrets.get(page.stem, set())
        problems += [f"{page.relative_to(edition)}: {ln!r}" for ln in sorted(secret & lines)]
    if (edition / "_sources").exists():
        problems.append("_sources/ (the notebooks with their solutions) is still there")
    return problems


def main(argv: list[str]) -> int:
    if argv[:1] == ["--verify"] and len(argv) == 3:
        edition, book = map(Path, argv[1:])
        problems = leaks(edition, book)
        for p in problems:
            print(f"solution left: {p}")
        pages = len(list(edition.rglob("*.html")))
        print(f"student edition: {pages} pages, {len(problems)} solution lines found")
        return 1 if problems or not pages else 0
    if len(argv) != 2:
        print(__doc__)
        return 2
    built, out = map(Path, argv)
    removed = write_edition(built, out)
    print(f"student edition written to {out} ({removed} solutions removed)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
