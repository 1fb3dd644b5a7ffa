"""unigen.grade: grading a folder of submissions, including broken ones, with the book's checks."""
import csv
import json
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from unigen import grade

ROOT = Path(__file__).resolve().parents[1]
BOOK = ROOT / "book"
sys.path.insert(0, str(ROOT / "tools"))
import make_student  # noqa: E402


def _grade(folder: Path, out: Path, timeout: float = 60) -> list[dict]:
    """Run the grader as a teacher would (a fresh process) and read grades.csv back."""
    cmd = [sys.executable, "-m", "unigen.grade", str(folder), "--out", str(out), "--timeout", str(timeout)]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    with open(out / "grades.csv") as f:
        return list(csv.DictReader(f))


SOLUTION = "return alpha_bar.sqrt()[:, None] * x0 + (1 - alpha_bar).sqrt()[:, None] * eps"
CELLS = [
    "%matplotlib inline\nimport math\nimport torch\nfrom unigen import checks\nx_big = torch.randn(10)",
    "def q_sample(x0, alpha_bar, eps):\n    ### BEGIN SOLUTION\n    " + SOLUTION
    + "\n    ### END SOLUTION\n\n\nchecks.q_sample(q_sample)",
    "def cosine_alpha_bar(t, s):\n    ### BEGIN SOLUTION\n"
    "    f = torch.cos((t + s) / (1 + s) * math.pi / 2) ** 2\n"
    "    return f / math.cos(s / (1 + s) * math.pi / 2) ** 2\n    ### END SOLUTION\n\n\n"
    "checks.cosine_alpha_bar(cosine_alpha_bar)\nprint(cosine_alpha_bar(x_big, 0.008))",
    "for step in range(10 ** 9):\n    pass   # stands for a long training run that must not be run",
]


@pytest.fixture(scope="module")
def chapter(tmp_path_factory):
    """A small notebook of the forward-process chapter: its two exercises and a slow cell."""
    path = tmp_path_factory.mktemp("src") / "forward_process.ipynb"
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(c) for c in CELLS]
    nbformat.write(nb, path)
    return path


def _edit(src: Path, dest: Path, old: str, new: str) -> None:
    """Copy a notebook, replacing ``old`` by ``new`` in the one cell that contains it."""
    nb = nbformat.read(src, 4)
    cells = [c for c in nb.cells if old in c.source]
    assert len(cells) == 1, (old, len(cells))
    cells[0].source = cells[0].source.replace(old, new)
    dest.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, dest)


def test_answer_key_covers_every_chapter_with_code_exercises():
    key = grade.answer_key(BOOK)
    assert len(key) >= 17
    assert [e.function for e in key["forward_process"]] == ["q_sample", "cosine_alpha_bar"]
    assert all(e.points > 0 for exercises in key.values() for e in exercises)


def test_find_submissions_reads_both_layouts(tmp_path):
    for rel in ("ada/ddpm.ipynb", "bob__ddpm.ipynb", "ada/.ipynb_checkpoints/ddpm.ipynb"):
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text("{}")
    found = [(s, c) for s, c, _ in grade.find_submissions(tmp_path)]
    assert sorted(found) == [("ada", "ddpm"), ("bob", "ddpm")]
    with pytest.raises(ValueError, match="submissions"):
        grade.find_submissions(tmp_path / "missing")
    with pytest.raises(ValueError, match="book"):
        grade.answer_key(tmp_path / "missing")


def test_a_mixed_folder_is_graded_case_by_case(tmp_path, chapter):
    CHAPTER = chapter
    subs = tmp_path / "subs"
    (subs / "alice").mkdir(parents=True)
    shutil.copy(CHAPTER, subs / "alice" / "forward_process.ipynb")              # correct
    solution = SOLUTION
    _edit(CHAPTER, subs / "bob" / "forward_process.ipynb", solution,
          "return alpha_bar[:, None] * x0 + (1 - alpha_bar)[:, None] * eps")        # wrong: no sqrt
    student = make_student.studentise(nbformat.read(CHAPTER, 4))[0]                 # unfinished
    (subs / "carol").mkdir()
    nbformat.write(student, subs / "carol" / "forward_process.ipynb")
    _edit(CHAPTER, subs / "dave" / "forward_process.ipynb", solution, "while True:\n        pass")
    (subs / "eve__forward_process.ipynb").write_text('{"cells": [')                # corrupt JSON
    _edit(CHAPTER, subs / "frank" / "forward_process.ipynb", solution,
          "import sys\n    sys.exit(3)")                                              # exits the process
    (subs / "gina").mkdir()
    shutil.copy(BOOK / "03_diffusion" / "ddpm.ipynb", subs / "gina" / "forward_process.ipynb")
    _edit(CHAPTER, subs / "hank" / "forward_process.ipynb", "def q_sample(", "def my_q_sample(")
    _edit(CHAPTER, subs / "ivan" / "forward_process.ipynb", solution, "return (x0 +")  # syntax
    _edit(CHAPTER, subs / "judy" / "forward_process.ipynb", "import torch\n",
          "import torch\nimport no_such_module_here\n")                               # bad import
    rows = _grade(subs, tmp_path / "out", timeout=8)
    by = {(r["student"], r["exercise"]): r for r in rows}
    assert len(rows) == 10 * 2
    assert by["alice", "q_sample"]["passed"] == "True"
    assert by["alice", "q_sample"]["points"] == by["alice", "q_sample"]["max_points"]
    assert by["alice", "cosine_alpha_bar"]["passed"] == "True"
    assert "q_sample" in by["bob", "q_sample"]["message"] and by["bob", "q_sample"]["points"] == "0"
    assert by["bob", "cosine_alpha_bar"]["passed"] == "True"       # one mistake costs one exercise
    assert all("not implemented yet" in by["carol", e]["message"] for e in ("q_sample", "cosine_alpha_bar"))
    assert "time limit" in by["dave", "q_sample"]["message"]
    assert by["dave", "cosine_alpha_bar"]["passed"] == "True"
    assert all("not a readable notebook" in by["eve", e]["message"] for e in ("q_sample", "cosine_alpha_bar"))
    assert "stopped the process" in by["frank", "q_sample"]["message"]
    assert "chapter 'ddpm'" in by["gina", "q_sample"]["message"]
    assert "no function named q_sample" in by["hank", "q_sample"]["message"]
    assert "does not parse" in by["ivan", "q_sample"]["message"]
    assert "no_such_module_here" in by["judy", "q_sample"]["message"]
    points = {e.function: e.points for e in grade.answer_key(BOOK)["forward_process"]}
    feedback = (tmp_path / "out" / "feedback" / "bob.md").read_text()
    assert f"{points['cosine_alpha_bar']:g} / {sum(points.values()):g} points" in feedback
    assert "q_sample" in feedback
    assert sorted(p.stem for p in (tmp_path / "out" / "feedback").glob("*.md")) == sorted(
        {r["student"] for r in rows})


def test_unknown_chapter_gets_a_clear_line(tmp_path):
    (tmp_path / "subs" / "kim").mkdir(parents=True)
    (tmp_path / "subs" / "kim" / "nonsense.ipynb").write_text(json.dumps({"cells": []}))
    rows = grade.grade_folder(tmp_path / "subs", tmp_path / "out", book=BOOK)
    assert len(rows) == 1 and "unknown chapter 'nonsense'" in rows[0].message


def test_the_book_passes_and_student_copies_score_zero(tmp_path):
    """The book's own notebooks earn every point; fresh student copies earn none, as 'not implemented'."""
    key = grade.answer_key(BOOK)
    for folder, transform in (("book", None), ("student", make_student.studentise)):
        target = tmp_path / "subs" / folder
        target.mkdir(parents=True)
        for path in sorted(BOOK.rglob("*.ipynb")):
            if path.stem in key:
                nb = nbformat.read(path, 4)
                nbformat.write(transform(nb)[0] if transform else nb, target / path.name)
    rows = _grade(tmp_path / "subs", tmp_path / "out")
    assert len(rows) == 2 * sum(len(v) for v in key.values())
    failed = [(r["exercise"], r["message"][:200]) for r in rows if r["student"] == "book" and r["passed"] != "True"]
    assert not failed, failed
    stubs = [r for r in rows if r["student"] == "student"]
    assert all(r["points"] == "0" and "not implemented yet" in r["message"] for r in stubs), stubs
