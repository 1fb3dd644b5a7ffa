import json
import sys
from pathlib import Path

import nbformat
from jupyter_cache import get_cache

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tools"))
import execute_book  # noqa: E402


def test_toc_notebooks_exist_and_are_in_book_order():
    nbs = execute_book.toc_notebooks()
    assert nbs and all(p.suffix == ".ipynb" and p.exists() for p in nbs)
    names = [p.stem for p in nbs]
    assert names.index("forward_process") < names.index("ddpm") < names.index("unified_view")


def test_longest_first_puts_unmeasured_notebooks_first(tmp_path):
    times = tmp_path / "t.json"
    times.write_text(json.dumps({"chapter_seconds": {"a": 5.0, "b": 50.0}}))
    order = execute_book.longest_first([Path("a.ipynb"), Path("b.ipynb"), Path("new.ipynb")], times)
    assert [p.stem for p in order] == ["new", "b", "a"]


def test_an_executed_notebook_is_found_by_the_cache_and_a_failure_is_reported(tmp_path, capsys):
    good, bad = tmp_path / "good.ipynb", tmp_path / "bad.ipynb"
    nbformat.write(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("print(6 * 7)")]), good)
    nbformat.write(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("1 / 0")]), bad)
    cache = tmp_path / "cache"
    status = execute_book.main([str(good), str(bad), "--jobs", "2", "--cache", str(cache)])
    assert status == 1 and "ZeroDivisionError" in capsys.readouterr().err
    record = get_cache(str(cache)).match_cache_notebook(nbformat.read(good, as_version=4))
    _, merged = get_cache(str(cache)).merge_match_into_notebook(nbformat.read(good, as_version=4))
    assert record is not None and merged.cells[0].outputs[0]["text"] == "42\n"


def test_figures_are_drawn_even_under_a_non_interactive_backend(tmp_path, monkeypatch):
    monkeypatch.setenv("MPLBACKEND", "Agg")             # what make test and make book set
    nb = tmp_path / "figure.ipynb"
    code = "import matplotlib.pyplot as plt\nplt.plot([0, 1], [1, 0])\nplt.show()"
    nbformat.write(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(code)]), nb)
    cache = tmp_path / "cache"
    assert execute_book.main([str(nb), "--jobs", "1", "--cache", str(cache)]) == 0
    _, merged = get_cache(str(cache)).merge_match_into_notebook(nbformat.read(nb, as_version=4))
    assert any("image/png" in out.get("data", {}) for out in merged.cells[0].outputs)
