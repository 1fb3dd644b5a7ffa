import random

import numpy as np
import pytest
import torch

from unigen import utils


def test_seed_everything_repeats_all_generators():
    g1 = utils.seed_everything(3)
    a = (random.random(), np.random.rand(), torch.rand(1).item(), torch.rand(1, generator=g1).item())
    g2 = utils.seed_everything(3)
    b = (random.random(), np.random.rand(), torch.rand(1).item(), torch.rand(1, generator=g2).item())
    assert a == b


def test_seed_everything_rejects_non_int():
    with pytest.raises(ValueError, match="seed"):
        utils.seed_everything(1.5)


def test_get_device(monkeypatch):
    monkeypatch.delenv("UNIGEN_DEVICE", raising=False)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert utils.get_device() == torch.device("cuda")          # CUDA first when there is one
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)
    assert utils.get_device() == torch.device("cpu")           # else the CPU
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: True)
    assert utils.get_device() == torch.device("mps")
    assert utils.get_device("cpu") == torch.device("cpu")
    monkeypatch.setenv("UNIGEN_DEVICE", "cpu")
    assert utils.get_device() == torch.device("cpu")
    with pytest.raises(ValueError, match="prefer"):
        utils.get_device("tpu")


@pytest.mark.parametrize("shape", [(5, 2), (5, 1, 8, 8), (5, 14, 32)])
def test_expand_like_broadcasts_per_sample(shape):
    x = torch.randn(shape)
    t = torch.arange(5.0)
    out = utils.expand_like(t, x)
    assert out.shape == (5,) + (1,) * (len(shape) - 1)
    assert torch.equal((out * x)[3], 3 * x[3])
    assert utils.expand_like(0.5, x).shape == (1,) * len(shape)


def test_expand_like_bad_input():
    with pytest.raises(ValueError, match="t must"):
        utils.expand_like(torch.ones(3), torch.ones(5, 2))
    with pytest.raises(ValueError, match="x must"):
        utils.expand_like(torch.ones(3), [1, 2, 3])


def test_scale_and_pick(monkeypatch):
    monkeypatch.delenv("UNIGEN_SCALE", raising=False)
    assert utils.scale() == "default" and utils.pick(1, 2) == 1
    monkeypatch.setenv("UNIGEN_SCALE", "large")
    assert utils.scale() == "large" and utils.pick(1, 2) == 2
    monkeypatch.setenv("UNIGEN_SCALE", "huge")
    with pytest.raises(ValueError, match="UNIGEN_SCALE"):
        utils.scale()


def test_project_dir_uses_home(tmp_path):
    assert utils.project_dir("results") == tmp_path / "results"
    assert (tmp_path / "results").is_dir()
    with pytest.raises(ValueError, match="kind"):
        utils.project_dir("elsewhere")


def test_validators_name_the_argument():
    with pytest.raises(ValueError, match="foo"):
        utils.check_tensor("foo", [1.0])
    with pytest.raises(ValueError, match="foo"):
        utils.check_tensor("foo", torch.ones(2, 3), last=2)
    with pytest.raises(ValueError, match="foo"):
        utils.check_tensor("foo", torch.ones(2), floating=False)
    with pytest.raises(ValueError, match="bar"):
        utils.check_positive("bar", -1)
    with pytest.raises(ValueError, match="bar"):
        utils.check_positive("bar", float("nan"))
    with pytest.raises(ValueError, match="baz"):
        utils.check_in("baz", "x", ("a", "b"))


def test_evaluating_restores_each_submodule_mode():
    model = torch.nn.Sequential(torch.nn.Linear(2, 2), torch.nn.Dropout(0.5))
    model.train()
    model[1].eval()                       # a mixed state must come back as it was
    with utils.evaluating(model) as m:
        assert m is model and not any(x.training for x in model.modules())
    assert model.training and model[0].training and not model[1].training
    with pytest.raises(RuntimeError):
        with utils.evaluating(model):
            raise RuntimeError("the mode comes back on an error too")
    assert model.training
    fn = lambda x: x  # noqa: E731  a plain function passes through
    with utils.evaluating(fn) as f:
        assert f is fn


def test_gaussian_noise_draws_on_the_generator_and_lands_like_the_data():
    like = torch.zeros(3, dtype=torch.float64)
    a = utils.gaussian_noise((4, 2), torch.Generator().manual_seed(0), like)
    b = torch.randn((4, 2), generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    assert a.dtype == torch.float64 and torch.equal(a, b)
