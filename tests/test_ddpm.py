import math

import pytest
import torch

from unigen import ddpm, schedules


def gaussian_eps_model(s: float, grid_path=None):
    """The exact eps-predictor for data x_0 ~ N(0, s^2 I): E[eps | x_t] = sigma_t x_t / (alpha_t^2 s^2 + sigma_t^2).

    Exact on the grid of ``grid_path`` (default: the path of ``ddpm_linear(1000)``).
    """
    path = grid_path or schedules.ddpm_linear(1000).path

    def model(x_t, t, y=None):
        a, sig = path.alpha(t.double()), path.sigma(t.double())
        coef = (sig / (a**2 * s**2 + sig**2)).to(x_t)
        return coef.reshape(-1, *[1] * (x_t.dim() - 1)) * x_t
    return model


def test_closed_form_matches_the_chain():
    grid = schedules.ddpm_linear(200)
    # exact: the chain x_k = sqrt(1 - beta_k) x_{k-1} + sqrt(beta_k) z composes to N(sqrt(ab_k) x0, (1 - ab_k))
    mean_coef, var = torch.tensor(1.0, dtype=torch.float64), torch.tensor(0.0, dtype=torch.float64)
    for k in range(1, 201):
        mean_coef = mean_coef * (1 - grid.beta[k]).sqrt()
        var = (1 - grid.beta[k]) * var + grid.beta[k]
        torch.testing.assert_close(mean_coef, grid.alpha_bar[k].sqrt())
        torch.testing.assert_close(var, 1 - grid.alpha_bar[k])
    # Monte Carlo: simulate the chain and compare moments with q_sample
    g = torch.Generator().manual_seed(0)
    x0 = torch.full((40_000, 1), 1.5, dtype=torch.float64)
    x = x0.clone()
    for k in range(1, 121):
        x = (1 - grid.beta[k]).sqrt() * x + grid.beta[k].sqrt() * torch.randn(x.shape, generator=g, dtype=x.dtype)
    direct = ddpm.q_sample(x0, 120, grid, generator=g)
    assert abs(x.mean() - direct.mean()) < 0.02 and abs(x.var() - direct.var()) < 0.02
    assert abs(direct.mean() - 1.5 * grid.alpha_bar[120].sqrt()) < 0.01


def test_q_sample_uses_given_eps_and_per_sample_steps():
    grid = schedules.ddpm_linear(100)
    x0, eps = torch.randn(3, 1, 8, 8), torch.randn(3, 1, 8, 8)
    k = torch.tensor([1, 50, 100])
    x_t = ddpm.q_sample(x0, k, grid, eps)
    for i in range(3):
        a, s = grid.alpha_bar[k[i]].sqrt().float(), (1 - grid.alpha_bar[k[i]]).sqrt().float()
        torch.testing.assert_close(x_t[i], a * x0[i] + s * eps[i])


@pytest.mark.parametrize("k", [1, 2, 30, 100])
def test_posterior_matches_brute_force_bayes(k):
    """q(x_{k-1} | x_k, x_0) ∝ q(x_k | x_{k-1}) q(x_{k-1} | x_0), normalised on a fine 1-D grid."""
    grid = schedules.ddpm_linear(100)
    x0 = torch.tensor([[0.7]], dtype=torch.float64)
    x_t = torch.tensor([[0.2]], dtype=torch.float64)
    mean, var = ddpm.q_posterior_mean_variance(x0, x_t, k, grid)
    if k == 1:  # alpha_bar_0 = 1: the posterior is a point mass at x_0
        assert var.item() == 0.0
        torch.testing.assert_close(mean, x0)
        return
    ab_prev, beta = grid.alpha_bar[k - 1], grid.beta[k]
    xs = torch.linspace(-4, 4, 400_001, dtype=torch.float64)
    log_prior = -0.5 * (xs - ab_prev.sqrt() * 0.7) ** 2 / (1 - ab_prev)
    log_lik = -0.5 * (0.2 - (1 - beta).sqrt() * xs) ** 2 / beta
    w = torch.softmax(log_prior + log_lik, 0)
    m = (w * xs).sum()
    v = (w * (xs - m) ** 2).sum()
    assert abs(mean.item() - m.item()) < 1e-6
    assert abs(var.item() - v.item()) / v.item() < 1e-3


def test_round_trips_eps_x0_v_score():
    g = torch.Generator().manual_seed(0)
    x0, eps = torch.randn(6, 2, generator=g, dtype=torch.float64), torch.randn(6, 2, generator=g, dtype=torch.float64)
    for path in (schedules.LinearVP(), schedules.CosineVP(), schedules.LinearPath(), schedules.GeometricVE()):
        t = torch.rand(6, generator=g, dtype=torch.float64) * 0.9 + 0.05
        a, s = path.alpha(t), path.sigma(t)
        x_t = a[:, None] * x0 + s[:, None] * eps
        torch.testing.assert_close(ddpm.x0_from_eps(x_t, eps, a, s), x0)
        torch.testing.assert_close(ddpm.eps_from_x0(x_t, x0, a, s), eps)
        v = ddpm.v_from_eps_x0(eps, x0, a, s)
        e2, x2 = ddpm.eps_x0_from_v(x_t, v, a, s)
        torch.testing.assert_close(e2, eps)
        torch.testing.assert_close(x2, x0)
        torch.testing.assert_close(ddpm.eps_from_score(ddpm.score_from_eps(eps, s), s), eps)
        for p, out in (("eps", eps), ("x0", x0), ("v", v)):
            e3, x3 = ddpm.to_eps_x0(out, x_t, a, s, p)
            torch.testing.assert_close(e3, eps)
            torch.testing.assert_close(x3, x0)
            torch.testing.assert_close(ddpm.target(x0, eps, a, s, p), out)


def test_score_from_eps_is_the_exact_score_of_a_gaussian():
    s0 = 0.5
    path = schedules.LinearVP()
    t = torch.full((5,), 0.3, dtype=torch.float64)
    x_t = torch.randn(5, 1, dtype=torch.float64)
    eps = gaussian_eps_model(s0, path)(x_t, t)
    var = path.alpha(t) ** 2 * s0**2 + path.sigma(t) ** 2
    torch.testing.assert_close(ddpm.score_from_eps(eps, path.sigma(t)), -x_t / var[:, None])


def test_ddim_eta1_matches_ddpm_beta_tilde_step_for_step():
    grid = schedules.ddpm_linear(1000)
    model = gaussian_eps_model(0.7)
    for steps, clip in ((1000, None), (25, None), (25, 0.5)):
        kw = dict(steps=steps, clip_x0=clip, return_trajectory=True)
        a = ddpm.ddpm_sample(model, (64, 2), grid, variance="beta_tilde", generator=torch.Generator().manual_seed(3), **kw)
        b = ddpm.ddim_sample(model, (64, 2), grid, eta=1.0, generator=torch.Generator().manual_seed(3), **kw)
        assert a.trajectory.shape == (steps + 1, 64, 2)
        torch.testing.assert_close(a.trajectory, b.trajectory, rtol=1e-4, atol=1e-5)
        assert a.nfe == b.nfe == steps


def test_steps_with_fixed_noise():
    grid = schedules.ddpm_linear(100)
    g = torch.Generator().manual_seed(0)
    x_t, x0, z = (torch.randn(8, 3, generator=g, dtype=torch.float64) for _ in range(3))
    a, s = grid.coefficients(40, x_t)
    eps = ddpm.eps_from_x0(x_t, x0, a, s)
    mean, var = ddpm.q_posterior_mean_variance(x0, x_t, 40, grid)
    torch.testing.assert_close(ddpm.ddpm_step(x_t, x0, 40, grid, z), mean + var.sqrt() * z)
    torch.testing.assert_close(ddpm.ddpm_step(x_t, x0, 40, grid, z, variance="beta"), mean + grid.beta[40].sqrt() * z)
    torch.testing.assert_close(ddpm.ddim_step(x_t, eps, x0, 40, grid, z, eta=1.0), mean + var.sqrt() * z)
    # eta = 0: deterministic, and it keeps x_t on the same "eps line": x_{k-1} = sqrt(ab') x0 + sqrt(1-ab') eps
    ab_prev = grid.alpha_bar[39]
    torch.testing.assert_close(ddpm.ddim_step(x_t, eps, x0, 40, grid, z, eta=0.0),
                               ab_prev.sqrt() * x0 + (1 - ab_prev).sqrt() * eps)
    # the first step k = 1: alpha_bar_prev = 1, so both samplers return x0_hat, with no noise (beta_tilde_1 = 0)
    for variance in ("beta_tilde", "beta"):
        torch.testing.assert_close(ddpm.ddpm_step(x_t, x0, 1, grid, z, variance=variance), x0)
    torch.testing.assert_close(ddpm.ddim_step(x_t, eps, x0, 1, grid, z, eta=1.0), x0)


@pytest.mark.parametrize("variance", ["beta_tilde", "beta"])
def test_ancestral_sampling_recovers_a_gaussian(variance):
    s0 = 0.5
    out = ddpm.ddpm_sample(gaussian_eps_model(s0), (20_000, 1), schedules.ddpm_linear(1000), variance=variance,
                           generator=torch.Generator().manual_seed(0))
    assert out.nfe == 1000
    assert abs(out.x.std().item() - s0) < 0.02 and abs(out.x.mean().item()) < 0.02


def test_beta_variance_is_larger_and_shows_with_few_steps():
    """With 5 steps the choice matters: beta adds more noise than beta_tilde. For x_0 ~ N(0, I) it is
    the better choice (Ho et al., 2020, sec. 3.2); both undershoot, as the last step returns a mean."""
    s0 = 1.0
    grid = schedules.ddpm_linear(1000)
    std = {v: ddpm.ddpm_sample(gaussian_eps_model(s0), (20_000, 1), grid, steps=5, variance=v,
                               generator=torch.Generator().manual_seed(0)).x.std().item()
           for v in ("beta_tilde", "beta")}
    assert std["beta"] > std["beta_tilde"]
    assert abs(std["beta"] - s0) < abs(std["beta_tilde"] - s0) - 0.1


def test_clipping_keeps_samples_in_range():
    def wild(x_t, t, y=None):           # predicts eps that implies a huge x0
        return -5 * x_t
    grid = schedules.ddpm_linear(100)
    g = torch.Generator().manual_seed(0)
    eps, x0, _ = ddpm.predict(wild, torch.randn(16, 2, generator=g), 50, grid, clip_x0=1.0)
    assert x0.abs().max() <= 1.0
    a, s = grid.coefficients(50, x0)
    x_t_again = a * x0 + s * eps
    assert x_t_again.shape == (16, 2)
    for sampler in (ddpm.ddpm_sample, ddpm.ddim_sample):
        out = sampler(wild, (32, 2), grid, steps=20, clip_x0=1.0, generator=g)
        assert out.x.abs().max() <= 1.0 + 1e-6
        unclipped = sampler(wild, (32, 2), grid, steps=20, generator=g)
        assert unclipped.x.abs().max() > 1.0


def test_parameterizations_sample_the_same_with_the_exact_model():
    """An exact eps-model rewritten as an x0- or v-model gives the same DDIM samples."""
    grid = schedules.ddpm_linear(1000)
    path = grid.path
    eps_model = gaussian_eps_model(0.5)

    def as_param(p):
        def model(x_t, t, y=None):
            eps = eps_model(x_t, t)
            a, s = path.alpha(t.double()).to(x_t), path.sigma(t.double()).to(x_t)
            x0 = ddpm.x0_from_eps(x_t, eps, a, s)
            return ddpm.target(x0, eps, a, s, p)
        return model
    outs = [ddpm.ddim_sample(as_param(p), (100, 2), grid, steps=20, parameterization=p,
                             generator=torch.Generator().manual_seed(1)).x for p in ("eps", "x0", "v")]
    torch.testing.assert_close(outs[0], outs[1], rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(outs[0], outs[2], rtol=1e-4, atol=1e-4)


def test_x0_and_v_losses_are_eps_losses_weighted_by_snr():
    """At a fixed x_t: |x0_hat - x0|^2 = |eps_hat - eps|^2 / SNR and |v_hat - v|^2 = (1 + 1/SNR) |eps_hat - eps|^2."""
    grid = schedules.ddpm_linear(1000)
    g = torch.Generator().manual_seed(0)
    k = torch.tensor([1, 2, 50, 300, 500, 900, 1000])
    x0, eps, eps_hat = (torch.randn(len(k), 3, generator=g, dtype=torch.float64) for _ in range(3))
    a, s = grid.coefficients(k, x0)
    x_t = ddpm.q_sample(x0, k, grid, eps)
    x0_hat = ddpm.x0_from_eps(x_t, eps_hat, a, s)                       # through the package's conversions
    torch.testing.assert_close(ddpm.x0_from_eps(x_t, eps, a, s), x0)
    v, v_hat = ddpm.v_from_eps_x0(eps, x0, a, s), ddpm.v_from_eps_x0(eps_hat, x0_hat, a, s)
    err_eps = (eps_hat - eps).square().sum(1)
    snr = grid.alpha_bar[k] / (1 - grid.alpha_bar[k])
    torch.testing.assert_close((x0_hat - x0).square().sum(1), err_eps / snr)
    torch.testing.assert_close((v_hat - v).square().sum(1), (1 + 1 / snr) * err_eps)
    torch.testing.assert_close((v_hat - v).square().sum(1), err_eps / grid.alpha_bar[k])   # 1/alpha^2 (VP)
    # ... and so ddpm_loss: an x0- or v-model's loss is the eps-model's loss with weight 1/SNR or 1 + 1/SNR
    eps_model = gaussian_eps_model(0.5)
    path = grid.path

    def as_param(p):
        def model(x_t, t, y=None):
            e = eps_model(x_t, t)
            a_t, s_t = path.alpha(t.double()).to(x_t), path.sigma(t.double()).to(x_t)
            return ddpm.target(ddpm.x0_from_eps(x_t, e, a_t, s_t), e, a_t, s_t, p)
        return model
    data = 0.8 * torch.randn(256, 2, generator=g, dtype=torch.float64)
    for p, weight in (("x0", lambda snr: 1 / snr), ("v", lambda snr: 1 + 1 / snr)):
        direct = ddpm.ddpm_loss(as_param(p), data, grid, parameterization=p,
                                generator=torch.Generator().manual_seed(1))
        weighted = ddpm.ddpm_loss(eps_model, data, grid, weighting=weight, generator=torch.Generator().manual_seed(1))
        torch.testing.assert_close(direct, weighted, rtol=1e-9, atol=0)


def test_loss_targets():
    grid = schedules.ddpm_linear(100)
    zero = lambda x_t, t, y=None: torch.zeros_like(x_t)  # noqa: E731
    x0 = torch.full((4000, 2), 2.0)
    g = torch.Generator().manual_seed(0)
    assert abs(ddpm.ddpm_loss(zero, x0, grid, generator=g).item() - 1.0) < 0.05
    assert abs(ddpm.ddpm_loss(zero, x0, grid, parameterization="x0", generator=g).item() - 4.0) < 1e-5
    # a model that receives t in [0, 1] and labels when given
    seen = {}

    def spy(x_t, t, y=None):
        seen.update(t=t, y=y)
        return torch.zeros_like(x_t)
    y = torch.arange(10).repeat(400)
    ddpm.ddpm_loss(spy, x0, grid, y=y, p_uncond=0.5, null_label=10, generator=g)
    assert 0 < seen["t"].min() and seen["t"].max() <= 1
    assert 0.4 < (seen["y"] == 10).float().mean() < 0.6


def test_guidance_counts_two_nfe_and_combines():
    def model(x_t, t, y):
        return x_t * 0 + y.float()[:, None]      # "eps" equal to the label
    grid = schedules.ddpm_linear(100)
    y = torch.full((4,), 3)
    eps, _, nfe = ddpm.predict(model, torch.zeros(4, 2), 10, grid, y=y, guidance_scale=2.0, null_label=10)
    assert nfe == 2
    torch.testing.assert_close(eps, torch.full((4, 2), 10 + 2.0 * (3 - 10)))
    out = ddpm.ddim_sample(model, (4, 2), grid, steps=7, y=y, guidance_scale=1.5, null_label=10)
    assert out.nfe == 14
    torch.testing.assert_close(ddpm.cfg_combine(torch.ones(2), torch.zeros(2), 0.0), torch.zeros(2))


def test_inpaint_keeps_known_pixels_and_counts_resampling():
    grid = schedules.ddpm_linear(100)
    known = torch.randn(5, 1, 8, 8)
    mask = torch.zeros(1, 1, 8, 8)
    mask[..., :4, :] = 1
    out = ddpm.inpaint(gaussian_eps_model(1.0), known, mask, grid, steps=10, resample=3,
                       generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(out.x[..., :4, :], known[..., :4, :])
    assert not torch.allclose(out.x[..., 4:, :], known[..., 4:, :])
    assert out.nfe == 3 * 9 + 1


def test_generator_reproducibility_and_dtype():
    grid = schedules.ddpm_linear(50)
    model = gaussian_eps_model(1.0)
    a = ddpm.ddim_sample(model, (3, 2), grid, eta=0.5, generator=torch.Generator().manual_seed(5)).x
    b = ddpm.ddim_sample(model, (3, 2), grid, eta=0.5, generator=torch.Generator().manual_seed(5)).x
    assert torch.equal(a, b)
    x_T = torch.randn(3, 2, dtype=torch.float64)
    out = ddpm.ddim_sample(model, None, grid, x_T=x_T)
    assert out.x.dtype == torch.float64


def test_nll_bound_is_close_to_the_exact_nll_of_a_gaussian():
    s0 = 0.5
    grid = schedules.ddpm_linear(1000)
    x0 = s0 * torch.randn(500, 1, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    nll = 0.5 * math.log(2 * math.pi * s0**2) + 0.5 * (x0[:, 0] / s0) ** 2
    gaps = {}
    for variance in ("beta", "beta_tilde"):
        res = ddpm.nll_bound(gaussian_eps_model(s0), x0, grid, variance=variance,
                             generator=torch.Generator().manual_seed(1))
        gaps[variance] = (res["bound"] - nll).mean().item()
    assert res["terms"].shape == (500, 1000) and res["bound"].shape == (500,)
    assert (res["prior"] < 1e-3).all()
    # with the exact mean, reverse variance beta_k makes the bound tight; beta_tilde_k is too small at small k
    assert -0.02 < gaps["beta"] < 0.03, gaps
    assert gaps["beta_tilde"] > gaps["beta"] + 0.2, gaps


def test_bad_input():
    grid = schedules.ddpm_linear(10)
    x = torch.randn(4, 2)
    with pytest.raises(ValueError, match="schedule"):
        ddpm.q_sample(x, 1, "linear")
    with pytest.raises(ValueError, match="x0"):
        ddpm.q_sample(x.long(), 1, grid)
    with pytest.raises(ValueError, match="k must lie"):
        ddpm.q_sample(x, 11, grid)
    with pytest.raises(ValueError, match="k must"):
        ddpm.q_sample(x, torch.tensor([1, 2]), grid)
    with pytest.raises(ValueError, match="eps"):
        ddpm.q_sample(x, 1, grid, torch.randn(3, 2))
    with pytest.raises(ValueError, match="k must be >= 1"):
        ddpm.q_posterior_mean_variance(x, x, 0, grid)
    with pytest.raises(ValueError, match="x_t"):
        ddpm.q_posterior_mean_variance(x, x[:2], 1, grid)
    model = gaussian_eps_model(1.0)
    with pytest.raises(ValueError, match="parameterization"):
        ddpm.ddpm_loss(model, x, grid, parameterization="score")
    with pytest.raises(ValueError, match="p_uncond"):
        ddpm.ddpm_loss(model, x, grid, p_uncond=2.0)
    with pytest.raises(ValueError, match="null_label"):
        ddpm.ddpm_loss(model, x, grid, y=torch.zeros(4, dtype=torch.long), p_uncond=0.1)
    with pytest.raises(ValueError, match="y must"):
        ddpm.ddpm_loss(model, x, grid, y=torch.zeros(3, dtype=torch.long))
    with pytest.raises(ValueError, match="variance"):
        ddpm.ddpm_sample(model, (2, 2), grid, variance="learned")
    with pytest.raises(ValueError, match="eta"):
        ddpm.ddim_sample(model, (2, 2), grid, eta=-1.0)
    with pytest.raises(ValueError, match="steps"):
        ddpm.ddim_sample(model, (2, 2), grid, steps=20)
    with pytest.raises(ValueError, match="shape"):
        ddpm.ddim_sample(model, (0, 2), grid)
    with pytest.raises(ValueError, match="clip_x0"):
        ddpm.ddim_sample(model, (2, 2), grid, clip_x0=-1.0)
    with pytest.raises(ValueError, match="guidance_scale needs"):
        ddpm.ddim_sample(model, (2, 2), grid, guidance_scale=2.0)
    with pytest.raises(ValueError, match="mask"):
        ddpm.inpaint(model, torch.randn(2, 1, 8, 8), torch.full((1, 1, 8, 8), 0.5), grid)
    with pytest.raises(ValueError, match="mask must broadcast"):
        ddpm.inpaint(model, torch.randn(2, 1, 8, 8), torch.ones(1, 1, 4, 4), grid)
    with pytest.raises(ValueError, match="resample"):
        ddpm.inpaint(model, torch.randn(2, 1, 8, 8), torch.ones(1, 1, 8, 8), grid, resample=0)


def test_discretized_decoder_bound_is_a_discrete_nll():
    # data on 17 levels with known probabilities: the exact eps-model of that distribution gives
    # a bound on the discrete NLL, close to the entropy and never below it
    from unigen.data import mixture2d
    levels = torch.linspace(-1, 1, 17, dtype=torch.float64)
    probs = torch.softmax(-((levels - 0.3) / 0.3) ** 2, 0)
    mix = mixture2d.GaussianMixture(levels[:, None], torch.zeros(17), probs)
    path = schedules.LinearVP()

    def eps_model(x_t, t):
        return mix.posterior_t(x_t, path.alpha(t.double()), path.sigma(t.double()))[1]
    grid = schedules.discretize(path, 1000)
    x0 = levels[:, None].repeat(8, 1)
    res = ddpm.nll_bound(eps_model, x0, grid, decoder="discretized", variance="beta_tilde",
                         generator=torch.Generator().manual_seed(0))
    expected = (res["bound"].reshape(8, 17).mean(0) * probs).sum()
    entropy = -(probs * probs.log()).sum()
    assert entropy <= expected < entropy + 0.15, (expected, entropy)
    assert (res["terms"][:, 0] >= 0).all()                # L_0 is minus the log of a probability


def test_nll_bound_monte_carlo_over_steps_is_unbiased():
    s0 = 0.5
    grid = schedules.ddpm_linear(200)
    x0 = s0 * torch.randn(400, 2, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    full = ddpm.nll_bound(gaussian_eps_model(s0), x0, grid, generator=torch.Generator().manual_seed(1))
    mc = ddpm.nll_bound(gaussian_eps_model(s0), x0, grid, n_steps=10, generator=torch.Generator().manual_seed(2))
    assert mc["terms"].shape == (400, 10) and mc["steps"].shape == (400, 10)
    assert (mc["steps"][:, 0] <= 20).all() and (mc["steps"][:, -1] > 180).all()   # one step per stratum
    diff = mc["bound"] - full["bound"]
    se = diff.std() / math.sqrt(len(diff))
    assert abs(diff.mean()) < 4 * se, (diff.mean(), se)
    with pytest.raises(ValueError, match="n_steps"):
        ddpm.nll_bound(gaussian_eps_model(s0), x0, grid, n_steps=0)
    with pytest.raises(ValueError, match="decoder"):
        ddpm.nll_bound(gaussian_eps_model(s0), x0, grid, decoder="logistic")
    with pytest.raises(ValueError, match="bin centres"):
        ddpm.nll_bound(gaussian_eps_model(s0), x0, grid, decoder="discretized")
