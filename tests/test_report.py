import json

import pytest
import torch

from unigen import report


def test_record_writes_json(tmp_path):
    rep = report.Report("demo", glue=False)
    rep.record("a", torch.tensor(1.5))
    rep.record("b", 3)
    assert json.loads((tmp_path / "results" / "demo.json").read_text()) == {"a": 1.5, "b": 3}
    assert report.load("demo") == {"a": 1.5, "b": 3}
    assert report.load("missing") == {}


def test_record_bad_input():
    rep = report.Report("demo", glue=False)
    with pytest.raises(ValueError, match="key"):
        rep.record("bad key", 1.0)
    with pytest.raises(ValueError, match="value"):
        rep.record("x", float("inf"))
    with pytest.raises(ValueError, match="value"):
        rep.record("x", [1, 2])
    with pytest.raises(ValueError, match="notebook"):
        report.Report("../escape")
