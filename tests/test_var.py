"""The VAR paradigm's three verbs (unigen.var)."""
import pytest
import torch

from unigen import var, visual_ar
from unigen.nn.var import SCALES, VAR, VARConfig
from unigen.outputs import NLL, SampleOutput


def small_model(scales=SCALES):
    torch.manual_seed(0)
    return VAR(VARConfig(scales=scales, n_layer=1, n_head=2, n_embd=16))


def images(gen, n=4, size=8):
    return torch.randint(0, 17, (n, size, size), generator=gen)


def test_loss_is_a_finite_scalar_with_a_gradient(gen):
    model, x = small_model(), images(gen)
    loss = var.loss(model, x)
    assert loss.dim() == 0 and torch.isfinite(loss)
    loss.backward()
    assert model.head.weight.grad is not None and model.head.weight.grad.abs().sum() > 0
    assert loss.item() == var.var_loss(model, x).item()


@pytest.mark.parametrize("scales, temperature", [(SCALES, 1.0), ((1, 3, 6), 0.7)])
def test_sample_matches_var_sample(scales, temperature):
    model = small_model(scales)
    out = var.sample(model, 5, generator=torch.Generator().manual_seed(4), temperature=temperature)
    maps, nfe = var.var_sample(model, 5, generator=torch.Generator().manual_seed(4), temperature=temperature)
    assert isinstance(out, SampleOutput) and out.trajectory is None
    assert type(out.nfe) is int and out.nfe == nfe == len(scales)
    size = scales[-1]
    assert torch.equal(out.x, var.from_pyramid(maps)) and out.x.shape == (5, size, size)
    assert out.x.dtype == torch.long and out.x.min() >= 0 and out.x.max() < 17
    assert model.training


def test_nll_is_the_pyramid_bound(gen):
    model, x = small_model(), images(gen, 5)
    out = var.nll(model, x, batch_size=2)
    assert isinstance(out, NLL) and out.kind == "bound"
    assert out.values.dtype == torch.float64 and out.values.shape == (5,)
    assert torch.equal(out.values, -var.var_log_prob(model, x, batch_size=2))
    torch.testing.assert_close(out.values, -var.var_log_prob(model, x))
    assert out.per_dim(85) == pytest.approx(var.loss(model, x).item(), rel=1e-5)   # 85 tokens


def test_nll_bounds_the_image_likelihood():
    # scales (1, 2): 2x2 images of 2 levels, 16 images; p(x) sums over every 1x1 token
    torch.manual_seed(0)
    model = VAR(VARConfig(n_levels=2, scales=(1, 2), n_layer=1, n_head=2, n_embd=8))
    x = torch.tensor([[(k >> b) & 1 for b in range(4)] for k in range(16)]).reshape(16, 2, 2)
    with torch.no_grad():
        start = torch.full((16, 1), model.start)
        coarse = model(start)[:, 0].double().log_softmax(-1)                       # (16, 2)
        marginal = []
        for r in range(2):
            inputs = torch.cat([start, torch.full((16, 4), r)], 1)
            fine = model(inputs)[:, 1:].double().log_softmax(-1)                    # (16, 4, 2)
            marginal.append(coarse[:, r] + fine.gather(-1, x.reshape(16, 4, 1))[..., 0].sum(1))
    exact = -torch.logsumexp(torch.stack(marginal, 1), 1)
    assert torch.allclose((-exact).exp().sum(), torch.tensor(1.0, dtype=torch.float64))   # sums to 1
    bound = var.nll(model, x).values
    assert (bound >= exact - 1e-12).all() and (bound > exact).any()


def test_verbs_reject_bad_input(gen):
    model = small_model()
    with pytest.raises(ValueError, match="x must hold levels"):
        var.loss(model, torch.full((2, 8, 8), 17))
    with pytest.raises(ValueError, match="model"):
        var.loss(torch.nn.Linear(2, 2), images(gen))
    with pytest.raises(ValueError, match="n must"):
        var.sample(model, 0)
    with pytest.raises(ValueError, match="temperature"):
        var.sample(model, 2, temperature=0.0)
    with pytest.raises(ValueError, match="x must"):
        var.nll(model, torch.zeros(2, 8, 8))
    with pytest.raises(ValueError, match="batch_size"):
        var.nll(model, images(gen), batch_size=0)
    with pytest.raises(ValueError, match="finest scale"):
        var.nll(model, images(gen, size=4))


def test_visual_ar_reexports_var():
    assert visual_ar.VAR is VAR and visual_ar.var_sample is var.var_sample and visual_ar.var is var
    assert visual_ar.SCALES == var.SCALES == SCALES
