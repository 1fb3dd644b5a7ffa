import pytest
import torch

from unigen import visual_ar as va


def small_pixelcnn(**kw):
    torch.manual_seed(0)
    return va.PixelCNN(va.PixelCNNConfig(**{"channels": 8, "n_layers": 2, "first_kernel": 5, **kw}))


def small_var(scales=va.SCALES):
    torch.manual_seed(0)
    return va.VAR(va.VARConfig(scales=scales, n_layer=1, n_head=2, n_embd=16))


def images(gen, n=4, size=8):
    return torch.randint(0, 17, (n, size, size), generator=gen)


def test_raster_masks():
    a, b = va.raster_mask(3, "A"), va.raster_mask(3, "B")
    assert a.tolist() == [[1, 1, 1], [1, 0, 0], [0, 0, 0]]
    assert torch.equal(b - a, torch.tensor([[0, 0, 0], [0, 1.0, 0], [0, 0, 0]]))
    assert va.raster_mask(1, "A").sum() == 0 and va.raster_mask(1, "B").sum() == 1


@pytest.mark.parametrize("kw", [{}, {"first_kernel": 3, "n_layers": 4}])
def test_receptive_field_never_sees_current_or_future(kw):
    model = small_pixelcnn(**kw)
    earlier = torch.arange(64).reshape(8, 8)
    for i, j in [(0, 0), (3, 4), (7, 7), (5, 0)]:
        rf = va.receptive_field(model, i, j)
        assert not rf[earlier >= 8 * i + j].any()                  # never itself or later pixels
        if (i, j) != (0, 0):
            assert rf[earlier < 8 * i + j].any()
    assert va.receptive_field(model, 4, 4)[4, 3]                   # the left neighbour is seen


def test_pixelcnn_logits_depend_only_on_the_past(gen):
    model = small_pixelcnn().eval()
    x = images(gen, 2)
    base = model(x)
    changed = x.clone()
    changed[:, 5, 3:] = (changed[:, 5, 3:] + 1) % 17
    changed[:, 6:] = (changed[:, 6:] + 3) % 17
    diff = (model(changed) - base).abs().amax(1)                    # (B, 8, 8)
    order = torch.arange(64).reshape(8, 8)
    assert diff[:, order <= 5 * 8 + 3].max() < 1e-6
    assert diff[:, order > 5 * 8 + 3].max() > 1e-4


def test_pixel_log_prob_and_sample(gen):
    model = small_pixelcnn()
    x = images(gen, 3)
    lp = va.pixel_log_prob(model, x)
    manual = model(x).double().log_softmax(1).gather(1, x[:, None])[:, 0].sum((1, 2))
    torch.testing.assert_close(lp, manual.detach())
    loss = va.pixel_loss(model, x)
    assert loss.item() == pytest.approx(-lp.mean().item() / 64, rel=1e-4)
    s, nfe = va.pixel_sample(model, 2, generator=gen)
    assert s.shape == (2, 8, 8) and nfe == 64 and s.min() >= 0 and s.max() < 17


def test_pyramid_round_trip(gen):
    x = images(gen, 5)
    maps = va.pyramid(x)
    assert [m.shape[-1] for m in maps] == [1, 2, 4, 8]
    assert torch.equal(va.from_pyramid(maps), x)
    assert va.is_consistent(maps).all()
    for coarse, fine in zip(maps[:-1], maps[1:]):                 # each map is the rounded mean of the next
        avg = torch.nn.functional.avg_pool2d(va.from_pyramid(maps)[:, None].double(), 8 // coarse.shape[-1])[:, 0]
        assert (coarse - avg).abs().max() <= 0.5
        assert fine.min() >= 0 and fine.max() < 17
    broken = [m.clone() for m in maps]
    broken[1][0, 0, 0] = (broken[1][0, 0, 0] + 5) % 17
    assert va.is_consistent(broken).tolist() == [False, True, True, True, True]


def test_block_causal_mask():
    mask = va.block_causal_mask((1, 2, 4))
    assert mask.shape == (21, 21)
    block = torch.tensor([0] + [1] * 4 + [2] * 16)
    assert torch.equal(mask, block[:, None] >= block[None, :])
    assert mask[1:5, 1:5].all() and not mask[1:5, 5:].any()        # a scale sees itself, not finer ones


def test_var_block_causality_and_likelihood(gen):
    model = small_var().eval()
    x = images(gen, 3)
    inputs, targets = va.var_tokens(va.pyramid(x), model.start)
    assert inputs.shape == targets.shape == (3, 85) and (inputs[:, 0] == model.start).all()
    base = model(inputs)
    changed = inputs.clone()
    changed[:, 21:] = (changed[:, 21:] + 1) % 17                   # the inputs of the finest block
    diff = (model(changed) - base).abs().amax(-1)
    assert diff[:, :21].max() < 1e-6 and diff[:, 21:].max() > 1e-4
    torch.testing.assert_close(model(inputs[:, :5]), base[:, :5], atol=1e-5, rtol=1e-5)
    per = va.var_log_prob(model, x, per_scale=True)
    assert per.shape == (3, 4) and (per < 0).all()
    manual = base.double().log_softmax(-1).gather(-1, targets[..., None])[..., 0].sum(1)
    torch.testing.assert_close(per.sum(1), manual.detach())
    assert va.var_loss(model, x).item() == pytest.approx(-manual.mean().item() / 85, rel=1e-4)
    maps, nfe = va.var_sample(model, 6, generator=gen)
    assert nfe == 4 and [m.shape for m in maps] == [(6, s, s) for s in va.SCALES]


def test_bad_input(gen):
    with pytest.raises(ValueError, match="kernel_size"):
        va.raster_mask(4, "A")
    with pytest.raises(ValueError, match="mask_type"):
        va.raster_mask(3, "C")
    model = small_pixelcnn()
    with pytest.raises(ValueError, match="x must hold levels"):
        model(torch.full((1, 8, 8), 17))
    with pytest.raises(ValueError, match="x must"):
        va.pixel_loss(model, torch.zeros(1, 8, 8))
    with pytest.raises(ValueError, match="scales"):
        va.pyramid(images(gen), (1, 3, 8))
    with pytest.raises(ValueError, match="finest scale"):
        va.pyramid(images(gen), (1, 2, 4))
    with pytest.raises(ValueError, match="scales"):
        va.block_causal_mask((2, 1))
    var = small_var()
    with pytest.raises(ValueError, match="whole scales"):
        var(torch.zeros(1, 7, dtype=torch.long))
    with pytest.raises(ValueError, match="n must"):
        va.var_sample(var, 0)
    with pytest.raises(ValueError, match="config"):
        va.VAR(va.PixelCNNConfig())


@pytest.mark.parametrize("kw", [{"gated": True}, {"n_mixture": 3}, {"gated": True, "n_mixture": 2},
                                {"dropout": 0.3}, {"gated": True, "dropout": 0.5}])
def test_pixelcnn_options_stay_causal_and_normalised(gen, kw):
    model = small_pixelcnn(**kw).eval()
    x = images(gen, 2)
    base = model(x)
    assert base.shape == (2, 17, 8, 8)
    changed = x.clone()
    changed[:, 4, 2:] = (changed[:, 4, 2:] + 1) % 17
    diff = (model(changed) - base).abs().amax(1)
    order = torch.arange(64).reshape(8, 8)
    assert diff[:, order <= 4 * 8 + 2].max() < 1e-6 and diff[:, order > 4 * 8 + 2].max() > 1e-5
    for i, j in [(0, 0), (3, 4), (7, 7)]:
        assert not va.receptive_field(model, i, j)[order >= 8 * i + j].any()
    lp = va.pixel_log_prob(model, x)
    assert lp.shape == (2,) and (lp < 0).all()
    if kw.get("n_mixture"):                                           # the mixture gives log-probabilities
        torch.testing.assert_close(base.exp().sum(1), torch.ones(2, 8, 8), atol=1e-5, rtol=0)


def test_default_pixelcnn_unchanged_by_the_options():
    plain = small_pixelcnn()
    assert plain.config.gated is False and plain.config.n_mixture == 0
    names = {k: v.shape for k, v in plain.state_dict().items()}
    assert names["layers.0.weight"] == (8, 8, 3, 3) and names["out.3.weight"][0] == 17
    gated = small_pixelcnn(gated=True)
    assert gated.state_dict()["layers.0.weight"].shape == (16, 8, 3, 3)
    assert small_pixelcnn(n_mixture=4).state_dict()["out.3.weight"].shape[0] == 12


def test_pixelcnn_dropout_acts_only_in_training(gen):
    """Dropout adds no parameters, changes nothing in eval mode, and in training mode makes two
    forward passes differ while the mask keeps them causal."""
    plain, dropped = small_pixelcnn(), small_pixelcnn(dropout=0.4)
    assert plain.state_dict().keys() == dropped.state_dict().keys()
    x = images(gen, 3)
    torch.testing.assert_close(plain.eval()(x), dropped.eval()(x))
    dropped.train()
    torch.manual_seed(1)
    one = dropped(x)
    torch.manual_seed(2)
    two = dropped(x)
    assert (one - two).abs().max() > 1e-4
    changed = x.clone()
    changed[:, 5, 3:] = (changed[:, 5, 3:] + 1) % 17
    torch.manual_seed(1)
    diff = (dropped(changed) - one).abs().amax(1)                    # the same dropout masks
    order = torch.arange(64).reshape(8, 8)
    assert diff[:, order <= 5 * 8 + 3].max() < 1e-6


def test_discretized_logistic_logits():
    # one component: the level masses are differences of the logistic CDF, tails at the ends
    mu, log_s = torch.tensor(2.3), torch.tensor(-0.4)
    params = torch.stack([torch.tensor(0.0), mu - 8, log_s]).reshape(1, 3, 1, 1)
    logp = va.discretized_logistic_logits(params, 17)[0, :, 0, 0].double()
    cdf = lambda v: torch.sigmoid((torch.tensor(v, dtype=torch.float64) - mu.double()) / log_s.double().exp())
    manual = torch.tensor([cdf(v + 0.5) - (cdf(v - 0.5) if v > 0 else 0.0) for v in range(16)]
                          + [1 - cdf(15.5)], dtype=torch.float64)
    torch.testing.assert_close(logp.exp(), manual, atol=1e-6, rtol=1e-4)
    # a mixture is the weighted sum of its components' masses
    p1 = torch.tensor([0.0, -3.0, 0.5]).reshape(1, 3, 1, 1)
    p2 = torch.tensor([0.0, 4.0, -1.0]).reshape(1, 3, 1, 1)
    mix = torch.tensor([0.3, -0.2, -3.0, 4.0, 0.5, -1.0]).reshape(1, 6, 1, 1)   # [pi | mu | log s]
    pi = torch.tensor([0.3, -0.2]).softmax(0)
    expected = (pi[0] * va.discretized_logistic_logits(p1, 17).exp()
                + pi[1] * va.discretized_logistic_logits(p2, 17).exp())
    torch.testing.assert_close(va.discretized_logistic_logits(mix, 17).exp(), expected)
    with pytest.raises(ValueError, match="3K"):
        va.discretized_logistic_logits(torch.zeros(1, 4, 2, 2), 17)


def test_pixelcnn_config_rejects_bad_options():
    with pytest.raises(ValueError, match="gated"):
        va.PixelCNNConfig(gated=1)
    with pytest.raises(ValueError, match="n_mixture"):
        va.PixelCNNConfig(n_mixture=-1)
    for bad in (1.0, -0.1, "0.2", True):
        with pytest.raises(ValueError, match="dropout"):
            va.PixelCNNConfig(dropout=bad)
    with pytest.raises(ValueError, match="channels"):
        va.PixelCNNConfig(channels=0)
