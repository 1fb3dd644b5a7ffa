"""tools/reproduce.py: re-run a chapter and diff its recorded numbers against a reference."""
import json
import sys
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))
import reproduce  # noqa: E402


def test_timing_keys_are_recognised():
    for key in ("chapter_seconds", "kv_cache_seconds_256", "sample_ms", "pixelcnn_ms_per_sample",
                "var_speedup_vs_pixelcnn", "tokens_per_second", "masked_full_faster_from_timed"):
        assert reproduce.is_timing(key), key
    for key in ("test_nll", "msec_like_name", "mse_50", "params", "sms_count"):
        assert not reproduce.is_timing(key), key


def test_diff_reports_changes_beyond_rtol_only():
    ref = {"a": 1.0, "b": 2.0, "c": "x", "gone": 1, "t_seconds": 3.0}
    new = {"a": 1.0 + 1e-12, "b": 2.0 + 1e-6, "c": "x", "added": 5, "t_seconds": 9.0}
    differences, timings = reproduce.diff(ref, new)
    keys = sorted(line.split(":")[0] for line in differences)
    assert keys == ["added", "b", "gone"]
    assert timings == ["t_seconds: 3.0 -> 9.0"]
    assert reproduce.diff(ref, ref) == ([], ["t_seconds: 3.0 -> 3.0"])


def test_diff_rejects_bad_input():
    with pytest.raises(ValueError, match="reference"):
        reproduce.diff([], {})
    with pytest.raises(ValueError, match="rtol"):
        reproduce.diff({}, {}, rtol=-1)


def _notebook(path: Path, body: str) -> Path:
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(body)]
    nbformat.write(nb, path)
    return path


SEEDED = """
from unigen import report, utils
import torch
gen = utils.seed_everything(0)
rep = report.Report("toy", glue=False)
rep.record("mean", torch.randn(1000, generator=gen).mean().item())
rep.record("fit_seconds", 0.1)
"""


def test_reproduce_end_to_end(tmp_path, monkeypatch, capsys):
    """A seeded chapter reproduces; a chapter whose number moves is caught with exit status 1."""
    monkeypatch.setenv("UNIGEN_HOME", str(tmp_path))
    nb = _notebook(tmp_path / "toy.ipynb", SEEDED)
    with pytest.raises(SystemExit):           # no reference yet: a clear error
        reproduce.main([str(nb)])
    reproduce.execute(nb)
    assert reproduce.main([str(nb)]) == 0
    assert "unchanged" in capsys.readouterr().out
    ref = json.loads((tmp_path / "results" / "toy.json").read_text())
    ref["mean"] += 1e-6
    (tmp_path / "teacher.json").write_text(json.dumps(ref))
    assert reproduce.main([str(nb), "--reference", str(tmp_path / "teacher.json")]) == 1
    assert "CHANGED  mean" in capsys.readouterr().out


def test_reproduce_a_fast_chapter(tmp_path, monkeypatch):
    """The forward-process chapter records the same numbers when it runs twice."""
    monkeypatch.setenv("UNIGEN_HOME", str(tmp_path))
    chapter = ROOT / "book" / "03_diffusion" / "forward_process.ipynb"
    reproduce.execute(chapter)
    assert reproduce.main([str(chapter)]) == 0
