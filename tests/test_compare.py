import json
import math

import pytest
import torch

from unigen import compare


def test_every_paradigm_fills_the_interface_on_a_tiny_budget():
    runs, total = compare.run(("mixture2d", "surnames"), budget=0.3, n_samples=40, n_eval=8,
                              sweep=False, progress=False)
    names = {r.paradigm.name for r in runs}
    assert names == {"AR", "DDPM/DDIM", "SDE/PF-ODE", "Flow matching", "Masked diffusion"}
    assert total > 0
    for r in runs:
        row = r.row
        assert row["train_seconds"] < 3 and row["train_steps"] >= 1
        assert row["nll_kind"] in ("exact", "ode", "bound") and math.isfinite(row["nll"])
        assert row["nfe"] >= 1 and row["quality_ratio"] > 0
        assert set(compare.CAPABILITIES) <= set(row)
    md = compare.to_markdown([r.row for r in runs])
    assert md.count("\n") == len(runs) + 1 and "NLL kind" in md


def test_sample_and_likelihood_shapes_on_digits():
    data = compare.load_dataset("digits")
    for p in compare.paradigms(["PixelCNN", "VAR", "Masked diffusion"]):
        model = p.make_model(data)
        loss = p.loss(data, model, data.train[:4])
        assert loss.dim() == 0 and torch.isfinite(loss)
        x, nfe = p.sample(data, model, 2, steps=4 if p.name == "Masked diffusion" else None)
        assert x.shape == (2, 1, 8, 8) and x.min() >= -1 and x.max() <= 1 and nfe >= 1
        nats, kind = p.likelihood(data, model, data.test[:3])
        assert nats.shape == (3,) and kind in ("exact", "bound")


def test_main_writes_json_and_table(tmp_path):
    result = compare.main(["--datasets", "mixture2d", "--budget", "0.2", "--samples", "32",
                           "--eval", "8", "--out", str(tmp_path)])
    saved = json.loads((tmp_path / "compare.json").read_text())
    assert saved["paradigms_compared"] == result["paradigms_compared"] == 4
    assert {s["paradigm"] for s in saved["sweep"]} == {"DDPM/DDIM", "SDE/PF-ODE", "Flow matching"}
    assert "total_seconds" in saved and (tmp_path / "compare.md").read_text().startswith("| data |")


def test_pareto_front():
    cost = torch.tensor([1.0, 2.0, 3.0, 2.0, 1.0])
    err = torch.tensor([5.0, 1.0, 0.5, 2.0, 5.0])
    assert compare.pareto_front(cost, err).tolist() == [True, True, True, False, True]


def test_bigram_tv():
    assert compare.bigram_tv(["ab", "ba"], ["ba", "ab"]) == 0
    assert compare.bigram_tv(["aa"], ["bb"]) == pytest.approx(1.0)


def test_bad_inputs():
    with pytest.raises(ValueError, match="datasets"):
        compare.run(("moons",))
    with pytest.raises(ValueError, match="budget"):
        compare.run(("mixture2d",), budget=-1.0)
    with pytest.raises(ValueError, match="names"):
        compare.paradigms(["GAN"])
    with pytest.raises(ValueError, match="cost"):
        compare.pareto_front(torch.ones(3), torch.ones(2))
    with pytest.raises(ValueError, match="a must"):
        compare.bigram_tv([], ["x"])
    with pytest.raises(ValueError, match="rows"):
        compare.to_markdown("table")
