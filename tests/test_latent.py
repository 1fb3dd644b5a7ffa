"""unigen.latent: the autoencoder, the latent scaling, the cost arithmetic, and the chapter's checks."""
import math

import pytest
import torch

from unigen import checks, ddpm, latent, schedules, train
from unigen.nn import mlp


def _images(n=32, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.rand(n, 1, 8, 8, generator=g) * 2 - 1


def test_encode_decode_shapes():
    ae = latent.Autoencoder(latent_dim=5, hidden=16)
    x = _images(7)
    z = ae.encode(x)
    assert z.shape == (7, 5)
    assert ae.decode(z).shape == (7, 1, 8, 8)
    assert ae(x).shape == x.shape and ae(x.reshape(7, 64)).shape == (7, 64)
    assert ae.decode(z).abs().max() <= 1.0                    # tanh: images stay in [-1, 1]
    scaler = latent.fit_scaler(z.detach())
    zn = latent.encode(ae, scaler, x)
    assert zn.shape == (7, 5) and not zn.requires_grad
    torch.testing.assert_close(latent.decode(ae, scaler, zn), ae.decode(z).detach())


def test_scaler_gives_unit_std_on_its_data_and_round_trips():
    g = torch.Generator().manual_seed(1)
    z = torch.randn(500, 4, generator=g) * torch.tensor([0.05, 0.1, 0.2, 0.02]) + 3.0
    scaler = latent.fit_scaler(z)
    zn = scaler.normalize(z)
    torch.testing.assert_close(zn.mean(0), torch.zeros(4), atol=1e-5, rtol=0)
    torch.testing.assert_close(zn.square().mean(), torch.tensor(1.0), atol=1e-5, rtol=0)
    # one scale for every coordinate: the relative spreads are kept
    torch.testing.assert_close(zn.std(0) / zn.std(0)[0], z.std(0) / z.std(0)[0], atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(scaler.denormalize(zn), z, atol=1e-5, rtol=1e-5)


def test_snr_flops_and_attention_cost():
    assert latent.snr(0.6, 0.8, 0.1) == pytest.approx(0.36 * 0.01 / 0.64)
    path = schedules.CosineVP()
    t = torch.tensor([0.3, 0.7], dtype=torch.float64)
    a, s, _, _ = path(t)
    torch.testing.assert_close(latent.snr(a, s), path.snr(t))
    net = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.ReLU(), torch.nn.Linear(4, 2))
    assert latent.linear_flops(net) == 2 * (12 + 8)
    big = latent.attention_cost(256, 256, 3, patch=2, model_width=10)
    assert big == {"dims": 196_608, "tokens": 16_384, "attention": 16_384**2 * 10}
    assert latent.attention_cost(32, 32, 4, patch=2)["tokens"] == 256


def test_bad_input_raises_naming_the_argument():
    ae = latent.Autoencoder(latent_dim=4, hidden=8)
    with pytest.raises(ValueError, match="x must"):
        ae.encode(torch.zeros(3, 1, 7, 7))
    with pytest.raises(ValueError, match="x must"):
        ae.encode(torch.zeros(3, 64, dtype=torch.long))
    with pytest.raises(ValueError, match="z must"):
        ae.decode(torch.zeros(3, 5))
    with pytest.raises(ValueError, match="latent_dim"):
        latent.Autoencoder(latent_dim=0)
    with pytest.raises(ValueError, match="penalty"):
        latent.Autoencoder(penalty=-1.0)
    with pytest.raises(ValueError, match="image_shape"):
        latent.Autoencoder(image_shape=(8, 0))
    with pytest.raises(ValueError, match="config"):
        latent.Autoencoder(config={"latent_dim": 4})
    with pytest.raises(ValueError, match="model"):
        latent.ae_loss(torch.nn.Linear(2, 2), torch.zeros(2, 64))
    with pytest.raises(ValueError, match="z must"):
        latent.fit_scaler(torch.zeros(1, 3))
    with pytest.raises(ValueError, match="z must"):
        latent.fit_scaler(torch.zeros(5, 3))                    # no spread
    with pytest.raises(ValueError, match="z must"):
        latent.fit_scaler(torch.randn(5, 3)).normalize(torch.randn(5, 4))
    with pytest.raises(ValueError, match="data_std"):
        latent.snr(0.5, 0.5, "big")
    with pytest.raises(ValueError, match="module"):
        latent.linear_flops("mlp")
    with pytest.raises(ValueError, match="patch"):
        latent.attention_cost(8, 8, 1, patch=3)
    with pytest.raises(ValueError, match="height"):
        latent.attention_cost(0, 8, 1)


def test_a_few_training_steps_decrease_the_losses():
    torch.manual_seed(0)
    g = torch.Generator().manual_seed(0)
    x = _images(64)
    ae = latent.Autoencoder(latent_dim=4, hidden=32)
    before = latent.ae_loss(ae, x).item()
    train.train(ae, latent.ae_loss, x, steps=30, batch_size=64, lr=1e-2, generator=g, progress=False)
    assert latent.ae_loss(ae, x).item() < 0.9 * before
    # a denoiser on flat (B, d) latents with Part III's loss
    z = latent.encode(ae, latent.fit_scaler(ae.encode(x).detach()), x)
    grid = schedules.ddpm_cosine(100)
    net = mlp.TimeMLP(dim=4, hidden=32, depth=1)

    def loss(m, zb):
        return ddpm.ddpm_loss(m, zb, grid, parameterization="v", generator=torch.Generator().manual_seed(1))

    before = loss(net, z).item()
    train.train(net, loss, z, steps=40, batch_size=64, lr=1e-2, generator=g, progress=False)
    assert loss(net, z).item() < before


# ---- the exercises' checks ------------------------------------------------------------------

def latent_snr(alpha_t, sigma_t, latent_std):
    return (alpha_t * latent_std / sigma_t) ** 2


def standardize_latents(z):
    z = z - z.mean(0)
    return z / z.square().mean().sqrt()


def equivalent_time(t, c):
    s = 0.008
    cos0 = math.cos(s / (1 + s) * math.pi / 2)
    a2 = (torch.cos((t + s) / (1 + s) * math.pi / 2) / cos0) ** 2
    a2_new = c**2 * a2 / (1 - a2 + c**2 * a2)
    return torch.arccos(a2_new.sqrt() * cos0) * 2 / math.pi * (1 + s) - s


def _rejected(check, fn):
    with pytest.raises(checks.CheckFailed) as e:
        check(fn, quiet=True)
    return str(e.value)


def test_checks_accept_the_solutions():
    checks.latent_snr(latent_snr, quiet=True)
    checks.standardize_latents(standardize_latents, quiet=True)
    checks.equivalent_time(equivalent_time, quiet=True)


def test_checks_reject_common_mistakes():
    assert "`snr` differs" in _rejected(checks.latent_snr, lambda a, s, c: a**2 * c / s**2)   # std, not var
    per_coordinate = lambda z: (z - z.mean(0)) / z.std(0, correction=0)                      # noqa: E731
    assert "`z_normalized` differs" in _rejected(checks.standardize_latents, per_coordinate)
    unbiased = lambda z: (z - z.mean(0)) / (z - z.mean(0)).square().sum().div(z.numel() - 1).sqrt()  # noqa: E731
    assert "`z_normalized` differs" in _rejected(checks.standardize_latents, unbiased)
    wrong_way = lambda t, c: equivalent_time(t, 1 / c)                                       # noqa: E731
    assert "`t_equivalent` differs" in _rejected(checks.equivalent_time, wrong_way)
