"""tools/student_html.py: the student edition of the built book holds no solution."""
import sys
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))
import student_html  # noqa: E402

SOLUTION_CODE = "    return alpha_bar.sqrt()[:, None] * x0 + noise_part"
PAGE = f"""<html><body><main>
<div class="exercise admonition"><p>Write q_sample.</p></div>
<div class="cell docutils container"><div class="cell_input docutils container">
<div class="highlight-ipython3 notranslate"><div class="highlight"><pre><span></span><span class="k">def</span> q_sample(x0, alpha_bar, eps):
    <span class="c1">### BEGIN SOLUTION</span>
{SOLUTION_CODE}
    <span class="c1">### END SOLUTION</span>
checks.q_sample(q_sample)
</pre></div></div></div></div>
<div class="cell tag_solution docutils container"><pre>t_star = closed_form_answer(0.5)</pre></div>
<div class="solution dropdown admonition"><p>The mean is sqrt(alpha_bar) x0 exactly so.</p></div>
<ul><li><a href="../_sources/book/ch.ipynb">.ipynb</a></li></ul>
<p>Text that stays.</p>
</main></body></html>"""


@pytest.fixture
def built(tmp_path):
    html = tmp_path / "html"
    (html / "book").mkdir(parents=True)
    (html / "_sources" / "book").mkdir(parents=True)
    (html / "index.html").write_text("<html></html>")
    (html / "book" / "ch.html").write_text(PAGE)
    (html / "_sources" / "book" / "ch.ipynb").write_text("{}")
    book = tmp_path / "book"
    book.mkdir()
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_markdown_cell("Write q_sample.\n\n```{solution} ex\nThe mean is sqrt(alpha_bar) x0 "
                                      "exactly so.\n```"),
        nbformat.v4.new_code_cell("def q_sample(x0, alpha_bar, eps):\n    ### BEGIN SOLUTION\n"
                                  f"{SOLUTION_CODE}\n    ### END SOLUTION\nchecks.q_sample(q_sample)"),
        nbformat.v4.new_code_cell("t_star = closed_form_answer(0.5)", metadata={"tags": ["solution"]}),
    ]
    nbformat.write(nb, book / "ch.ipynb")
    return html, book


def test_the_edition_removes_every_solution(built, tmp_path):
    html, book = built
    assert student_html.leaks(html, book)                   # the full book does show its solutions
    removed = student_html.write_edition(html, tmp_path / "student")
    assert removed == 3
    page = (tmp_path / "student" / "book" / "ch.html").read_text()
    assert "YOUR CODE HERE" in page and "NotImplementedError" in page
    assert "Text that stays" in page and "Write q_sample" in page
    assert "closed_form_answer" not in page and "exactly so" not in page and "_sources" not in page
    assert SOLUTION_CODE.strip() not in page
    assert not (tmp_path / "student" / "_sources").exists()
    assert student_html.leaks(tmp_path / "student", book) == []


def test_bad_input(tmp_path):
    with pytest.raises(ValueError, match="built"):
        student_html.write_edition(tmp_path, tmp_path / "out")
