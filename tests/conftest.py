import os

import pytest
import torch

if os.environ.get("PYTEST_XDIST_WORKER"):
    # two workers on two cores: one thread each, or they slow each other down many times over
    torch.set_num_threads(1)


@pytest.fixture
def gen():
    return torch.Generator().manual_seed(0)


@pytest.fixture(autouse=True)
def _isolated_home(tmp_path, monkeypatch):
    """Write results/ and .cache/ under a temp folder, never into the checkout."""
    monkeypatch.setenv("UNIGEN_HOME", str(tmp_path))


def _check_image_backbone(make):
    """Shared by the U-Net and DiT tests: shapes, zero init, labels, the null label, bad input."""
    torch.manual_seed(0)
    net = make()
    x, t, y = torch.randn(4, 1, 8, 8), torch.rand(4), torch.tensor([0, 3, 9, 10])
    out = net(x, t, y)
    assert out.shape == x.shape
    assert torch.equal(out, torch.zeros_like(out))          # zero-initialised output layer: starts by predicting 0
    # after a few gradient steps the label changes the output, and y=None equals the null label
    opt = torch.optim.SGD(net.parameters(), lr=0.1)
    target = torch.randn(4, 1, 8, 8, generator=torch.Generator().manual_seed(1))
    for _ in range(3):
        opt.zero_grad()
        net(x, t, y).sub(target).square().mean().backward()
        opt.step()
    with torch.no_grad():
        a, b = net(x, t, torch.full((4,), 1)), net(x, t, torch.full((4,), 2))
        assert not torch.allclose(a, b)
        torch.testing.assert_close(net(x, t), net(x, t, torch.full((4,), 10)))
    with pytest.raises(ValueError, match="x must have shape"):
        net(torch.randn(4, 1, 6, 6), t)
    with pytest.raises(ValueError, match="t"):
        net(x, t.long())


@pytest.fixture
def check_image_backbone():
    """The U-Net and DiT tests share one check: shapes, zero init, labels, the null label, bad input."""
    return _check_image_backbone
