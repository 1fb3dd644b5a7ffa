"""The pages speak to the reader: code fits the HTML column, and no development notes are left."""
import json
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted(p for p in (ROOT / "book").rglob("*.ipynb") if ".ipynb_checkpoints" not in p.parts)
PAGES = NOTEBOOKS + sorted((ROOT / "book").rglob("*.md"))

# About 85 characters of code fit beside the page's table of contents at 1400 px; longer lines are cut.
MAX_CODE_LINE = 85

# Phrases that belong to the project's work, not to the book: issues, targets met or missed, what was
# tried first. ("target" alone is fine: a regression target, the DSM target.)
DEV_NOTES = [
    re.compile(r"\bissues?\b", re.I),
    re.compile(r"\bwe tried\b", re.I),
    re.compile(r"\btargets?[ \t]*(:|≤|≥|<=|>=|<|>)", re.I),
    re.compile(r"\btargets?\b[^.\n]{0,40}\b(met|missed|meets)\b", re.I),
    re.compile(r"\|\s*targets?\s*\|", re.I),
]


def _cells(path: Path):
    nb = json.loads(path.read_text())
    for i, cell in enumerate(nb["cells"]):
        yield i, cell["cell_type"], "".join(cell["source"])


def _texts(path: Path):
    if path.suffix == ".ipynb":
        yield from _cells(path)
    else:
        yield 0, "markdown", path.read_text()


def test_the_book_has_pages():
    assert len(NOTEBOOKS) >= 17


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_code_lines_fit_the_column(path):
    long = [f"cell {i}: {line[:60]}... ({len(line)} chars)"
            for i, kind, src in _cells(path) if kind == "code"
            for line in src.splitlines() if len(line) > MAX_CODE_LINE]
    assert not long, f"{path.name}: code lines over {MAX_CODE_LINE} characters:\n" + "\n".join(long)


@pytest.mark.parametrize("path", PAGES, ids=lambda p: p.stem)
def test_no_development_notes(path):
    found = [f"cell {i}: ...{src[max(0, m.start() - 40):m.end() + 40]!r}..."
             for i, _, src in _texts(path) for pattern in DEV_NOTES for m in pattern.finditer(src)]
    assert not found, f"{path.name} speaks of the project's work, not to the reader:\n" + "\n".join(found)


def test_displayed_markdown_tables_render_as_tables():
    """Cells that display Markdown tables (the teacher's guide, the unified view) need MyST rendering:
    myst-nb's default for displayed Markdown is CommonMark, which prints a pipe table as plain text."""
    config = (ROOT / "_config.yml").read_text()
    assert re.search(r"^\s*nb_render_markdown_format:\s*myst\s*$", config, re.M)
