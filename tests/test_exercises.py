"""unigen.exercises: the book's exercises as data (titles, difficulty, points, checks)."""
from pathlib import Path

import nbformat
import pytest

from unigen import exercises

ROOT = Path(__file__).resolve().parents[1]


def _notebook(path, cells):
    nb = nbformat.v4.new_notebook()
    nb.cells = cells
    nbformat.write(nb, path)
    return path


def test_titles_carry_difficulty_and_points(tmp_path):
    path = _notebook(tmp_path / "ch.ipynb", [
        nbformat.v4.new_markdown_cell("```{exercise} The DDIM update · ★★ · 3 points\n:label: ex-a\n\nDo it.\n```"),
        nbformat.v4.new_code_cell("def f(x):\n    ### BEGIN SOLUTION\n    return x\n    ### END SOLUTION\n\n"
                                  "checks.identity(f)"),
        nbformat.v4.new_markdown_cell(":::{exercise} A proof · ★★★ · 1 point\n:label: ex-b\nShow it.\n:::"),
        nbformat.v4.new_markdown_cell("```{exercise} Untitled grade\n```"),
    ])
    found = exercises.notebook_exercises(path)
    assert found[0] == exercises.Exercise("ch", "The DDIM update", "ex-a", 2, 3.0, "f", "identity")
    assert found[0].kind == "code" and found[1].kind == "math"
    assert (found[1].title, found[1].stars, found[1].points, found[1].label) == ("A proof", 3, 1.0, "ex-b")
    assert (found[2].stars, found[2].points) == (0, 0.0)
    assert "| ch | The DDIM update | code | ★★ | 3 |" in exercises.table(found)


def test_catalogue_of_the_book():
    found = exercises.by_chapter(exercises.catalogue(ROOT / "book"))
    assert len(found) >= 17
    assert all(len(v) >= 3 for v in found.values()), {k: len(v) for k, v in found.items()}
    with pytest.raises(ValueError, match="book"):
        exercises.catalogue(ROOT / "no_such_folder")
