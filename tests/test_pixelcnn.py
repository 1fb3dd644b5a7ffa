"""The PixelCNN paradigm's three verbs (unigen.pixelcnn) and the layering of its modules."""
import ast
from pathlib import Path

import pytest
import torch

from unigen import pixelcnn, visual_ar
from unigen.nn.pixelcnn import PixelCNN, PixelCNNConfig
from unigen.outputs import NLL, SampleOutput

SRC = Path(__file__).resolve().parents[1] / "src" / "unigen"


def small_model():
    torch.manual_seed(0)
    return PixelCNN(PixelCNNConfig(channels=8, n_layers=2, first_kernel=5))


def images(gen, n=4, size=8):
    return torch.randint(0, 17, (n, size, size), generator=gen)


def test_loss_is_a_finite_scalar_with_a_gradient(gen):
    model, x = small_model(), images(gen)
    loss = pixelcnn.loss(model, x)
    assert loss.dim() == 0 and torch.isfinite(loss)
    loss.backward()
    assert model.embed.weight.grad is not None and model.embed.weight.grad.abs().sum() > 0
    assert loss.item() == pixelcnn.pixel_loss(model, x).item()


@pytest.mark.parametrize("size", [8, 5])
def test_sample_matches_pixel_sample(size):
    model = small_model()
    out = pixelcnn.sample(model, 3, size, generator=torch.Generator().manual_seed(4))
    x, nfe = pixelcnn.pixel_sample(model, 3, size, generator=torch.Generator().manual_seed(4))
    assert isinstance(out, SampleOutput) and out.trajectory is None
    assert type(out.nfe) is int and out.nfe == nfe == size * size
    assert torch.equal(out.x, x) and out.x.shape == (3, size, size)
    assert out.x.dtype == torch.long and out.x.min() >= 0 and out.x.max() < 17
    assert model.training                                        # the training mode is given back


def test_nll_is_the_exact_negative_log_prob(gen):
    model, x = small_model(), images(gen, 5)
    out = pixelcnn.nll(model, x, batch_size=2)
    assert isinstance(out, NLL) and out.kind == "exact"
    assert out.values.dtype == torch.float64 and out.values.shape == (5,)
    assert torch.equal(out.values, -pixelcnn.pixel_log_prob(model, x, batch_size=2))
    torch.testing.assert_close(out.values, -pixelcnn.pixel_log_prob(model, x))   # batching aside
    assert out.per_dim(64) == pytest.approx(pixelcnn.loss(model, x).item(), rel=1e-5)


def test_verbs_reject_bad_input(gen):
    model = small_model()
    with pytest.raises(ValueError, match="x must"):
        pixelcnn.loss(model, torch.zeros(2, 8, 8))                 # floats, not levels
    with pytest.raises(ValueError, match="model"):
        pixelcnn.loss(torch.nn.Linear(2, 2), images(gen))
    with pytest.raises(ValueError, match="n must"):
        pixelcnn.sample(model, 0)
    with pytest.raises(ValueError, match="size must"):
        pixelcnn.sample(model, 2, 0)
    with pytest.raises(ValueError, match="x must hold levels"):
        pixelcnn.nll(model, torch.full((2, 8, 8), 17))
    with pytest.raises(ValueError, match="batch_size"):
        pixelcnn.nll(model, images(gen), batch_size=0)


def test_visual_ar_reexports_every_name():
    for name in visual_ar.__all__:
        assert hasattr(visual_ar, name), name
    assert visual_ar.PixelCNN is PixelCNN and visual_ar.pixel_sample is pixelcnn.pixel_sample
    assert visual_ar.pixelcnn is pixelcnn


def _imports(path: Path) -> set[str]:
    """The modules a source file imports, relative ones written as in the file (``.utils``, ``..utils``)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            base = "." * node.level + (node.module or "")
            found |= {base} if node.module else {base + a.name for a in node.names}
        elif isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
    return found


@pytest.mark.parametrize("net", ["pixelcnn", "var"])
def test_networks_import_only_torch_utils_and_nn(net):
    allowed = {"__future__", "dataclasses", "torch", "torch.nn", "torch.nn.functional", "..utils"}
    for name in _imports(SRC / "nn" / f"{net}.py"):
        assert name in allowed or (name.startswith(".") and not name.startswith("..")), name


PARADIGMS = ("ar", "ddpm", "sde", "flow", "masked", "pixelcnn", "var", "visual_ar", "compare")


@pytest.mark.parametrize("module", ["pixelcnn", "var"])
def test_paradigms_import_no_other_paradigm(module):
    for name in _imports(SRC / f"{module}.py"):
        assert name.lstrip(".") not in PARADIGMS, name
