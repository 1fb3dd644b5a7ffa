import math

import pytest
import torch

from unigen import schedules, sde, solvers
from unigen.data import mixture2d

SDES = [sde.VPSDE(), sde.SubVPSDE(), sde.VESDE()]


@pytest.mark.parametrize("s", SDES, ids=lambda s: type(s).__name__)
def test_marginals_match_simulation(s, gen):
    """Euler–Maruyama on the forward SDE reproduces N(alpha_t x0, sigma_t^2) at t = 0.5."""
    n = 20_000
    x0 = torch.full((n, 1), 1.5, dtype=torch.float64)
    out = solvers.euler_maruyama(s.drift, lambda x, t: s.diffusion(t), x0, 0.0, 0.5, 100, generator=gen)
    alpha_t, sigma_t = s.marginal(0.5)
    if isinstance(s, sde.VESDE):   # the VE path starts at sigma_min: only the added variance is simulated
        var = sigma_t**2 - s.path.sigma(0.0) ** 2
    else:
        var = sigma_t**2
    assert abs(out.x.mean().item() - 1.5 * alpha_t.item()) < 4 * math.sqrt(var / n) + 5e-3
    assert abs(out.x.var().item() / var.item() - 1) < 0.05


def test_sub_vp_std_has_no_square_root_and_is_below_vp():
    t = torch.linspace(0.01, 1, 50, dtype=torch.float64)
    vp, sub = sde.VPSDE(), sde.SubVPSDE()
    a = vp.marginal(t)[0]
    torch.testing.assert_close(sub.marginal(t)[0], a)
    torch.testing.assert_close(sub.marginal(t)[1], 1 - a**2)
    assert (sub.marginal(t)[1] < vp.marginal(t)[1]).all()
    beta = vp.path.beta(t)
    f, g2 = sub.coefficients(t)
    torch.testing.assert_close(f, -0.5 * beta)
    torch.testing.assert_close(g2, beta * (1 - a**4))   # Song et al. (2021), eq. 29
    torch.testing.assert_close(vp.coefficients(t)[1], beta)
    assert torch.isfinite(torch.stack(vp.coefficients(0.0))).all()


def test_sub_vp_derivatives_finite_differences():
    path, h = sde.SubVP(), 1e-6
    t = torch.linspace(0.05, 0.95, 10, dtype=torch.float64)
    torch.testing.assert_close(path.d_sigma(t), (path.sigma(t + h) - path.sigma(t - h)) / (2 * h),
                               rtol=1e-5, atol=1e-6)


def test_vp_marginal_matches_discrete_alpha_bar():
    grid = schedules.discretize(schedules.LinearVP(), 1000)
    torch.testing.assert_close(grid.alpha_bar, sde.VPSDE().marginal(grid.t)[0] ** 2)


def test_exact_divergence_matches_autograd_jacobian(gen):
    A = torch.randn(3, 3, generator=gen, dtype=torch.float64)

    def fn(x, t):
        return torch.tanh(x @ A) * t[:, None] + x**2
    x = torch.randn(5, 3, generator=gen, dtype=torch.float64)
    t = torch.rand(5, generator=gen, dtype=torch.float64)
    out, div = sde.divergence_exact(fn, x, t)
    want = torch.stack([torch.autograd.functional.jacobian(lambda z: fn(z[None], t[i:i + 1])[0], x[i]).trace()
                        for i in range(5)])
    torch.testing.assert_close(div, want)
    torch.testing.assert_close(out, fn(x, t))


@pytest.mark.parametrize("kind", ["gaussian", "rademacher"])
def test_hutchinson_is_unbiased(kind, gen):
    A = torch.randn(4, 4, generator=gen, dtype=torch.float64)
    x = torch.zeros(20_000, 4, dtype=torch.float64)
    t = torch.zeros(20_000, dtype=torch.float64)
    probe = sde.draw_probe(x.shape, kind, generator=gen, dtype=torch.float64)
    _, est = sde.divergence_hutchinson(lambda z, t: z @ A.T, x, t, probe)   # Jacobian A, divergence tr A
    se = est.std() / math.sqrt(len(est))
    assert abs(est.mean() - A.trace()) < 4 * se
    # variance against theory: Gaussian 2||A_s||_F^2, Rademacher 2(||A_s||_F^2 - sum diag^2)
    A_s = (A + A.T) / 2
    theory = 2 * (A_s**2).sum() if kind == "gaussian" else 2 * ((A_s**2).sum() - (A.diagonal() ** 2).sum())
    assert abs(est.var() / theory - 1) < 0.1
    if kind == "rademacher":
        assert set(probe.unique().tolist()) == {-1.0, 1.0}


def test_analytic_ode_likelihood_matches_exact_log_prob():
    mix = mixture2d.default()
    x = mix.sample(200, torch.Generator().manual_seed(1)).double()
    s = sde.VPSDE()
    ll = sde.ode_log_likelihood(s, sde.mixture_score(mix, s), x, 40)
    assert (ll.log_prob - mix.log_prob(x)).abs().mean() < 1e-3
    assert ll.nfe == 160
    est = sde.ode_log_likelihood(s, sde.mixture_score(mix, s), x, 40, divergence="rademacher",
                                 generator=torch.Generator().manual_seed(0))
    assert abs((est.log_prob - ll.log_prob).mean()) < 4 * (est.log_prob - ll.log_prob).std() / math.sqrt(200)


def test_samplers_reach_the_mixture_with_the_analytic_score(gen):
    mix = mixture2d.default()
    s = sde.VPSDE()
    score = sde.mixture_score(mix, s)
    for out in (sde.pf_ode_sample(s, score, (2000, 2), 50, generator=gen),
                sde.reverse_sde_sample(s, score, (2000, 2), 200, generator=gen),
                sde.pc_sample(s, score, (2000, 2), 100, generator=gen)):
        assert out.x.shape == (2000, 2)
        assert abs(out.x.norm(dim=1).mean().item() - 2.0) < 0.05       # on the ring of radius 2
        assert mix.log_prob(out.x).mean() > -2.25
    assert sde.pc_sample(s, score, (5, 2), 10, corrector_steps=2, generator=gen).nfe == 30


def test_corrector_step_size_follows_song_et_al():
    """eps = 2 a (r mean|z| / mean|s|)^2, the LangevinCorrector of the score_sde code."""
    s = torch.tensor([[3.0, 4.0], [0.0, 1.0]], dtype=torch.float64)        # norms 5, 1: mean 3
    z = torch.tensor([[1.0, 0.0], [0.0, 2.0]], dtype=torch.float64)        # norms 1, 2: mean 1.5
    want = 2 * 0.9 * (0.16 * 1.5 / 3.0) ** 2
    torch.testing.assert_close(sde.corrector_step_size(s, z, 0.16, 0.9),
                               torch.tensor(want, dtype=torch.float64))
    torch.testing.assert_close(sde.corrector_step_size(s, z, 0.16),
                               torch.tensor(want / 0.9, dtype=torch.float64))
    with pytest.raises(ValueError, match="z"):
        sde.corrector_step_size(s, z[:1], 0.16)
    with pytest.raises(ValueError, match="a must"):
        sde.corrector_step_size(s, z, 0.16, 0.0)


@pytest.mark.parametrize("steps", [4, 1000])
@pytest.mark.parametrize("s", SDES, ids=lambda s: type(s).__name__)
def test_pc_sample_corrector_uses_alpha_ratio(s, steps):
    """The first corrector step of pc_sample has a = alpha_1^2 / alpha_{t_1}^2 (1 on VE)."""
    t_eps, snr = 1e-3, 0.16
    x_T = torch.randn(64, 2, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    calls = []

    def score(x, t):
        calls.append(x.clone())
        return -x / (1.0 + t[:, None])
    sde.pc_sample(s, score, steps=steps, t_eps=t_eps, snr=snr, x_T=x_T,
                  generator=torch.Generator().manual_seed(1))
    z = torch.randn(64, 2, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    dt = (1.0 - t_eps) / steps
    a = (s.path.alpha(1.0) / s.path.alpha(1.0 - dt)).square().double()
    if isinstance(s, sde.VESDE):
        assert a.item() == 1.0                                  # Song et al.: alpha = 1 on VE
    else:
        assert 0 < a.item() < 1
        if steps == 1000:                                       # their 1 - beta_i, to O(dt^2)
            assert abs(a.item() - (1 - 20.0 * dt)) < 3e-4
    sc = -x_T / 2.0
    z_norm, s_norm = z.norm(dim=1).mean(), sc.norm(dim=1).mean()
    eps = 2 * a * (snr * z_norm / s_norm) ** 2
    torch.testing.assert_close(calls[1], x_T + eps * sc + (2 * eps).sqrt() * z)


def test_langevin_samplers(gen):
    mix = mixture2d.ring(2, radius=0.0, std=1.0)                    # a standard normal
    out = sde.langevin(mix.score, torch.zeros(5000, 2), 0.05, 200, generator=gen)
    assert abs(out.x.var().item() - 1) < 0.1 and out.nfe == 200
    ve = sde.VESDE(0.05, 5.0)
    levels = torch.linspace(1.0, 0.0, 6)
    mix8 = mixture2d.default()
    start = 5.0 * torch.randn(4000, 2, generator=gen)
    out = sde.annealed_langevin(sde.mixture_score(mix8, ve), start, ve.path, levels, 30, 2e-4, generator=gen,
                                return_trajectory=True)
    assert out.trajectory.shape == (7, 4000, 2) and out.nfe == 180
    assert abs(out.x.norm(dim=1).mean().item() - 2.0) < 0.1


def test_dsm_loss_equals_eps_loss_and_model_score():
    s = sde.VPSDE()
    x0 = torch.randn(64, 2, dtype=torch.float64)

    def eps_net(x, t):
        return 0.3 * x + t[:, None]
    alpha_sigma = s.marginal

    def score_net(x, t):
        return -eps_net(x, t) / alpha_sigma(t)[1][:, None]
    a = sde.dsm_loss(eps_net, x0, s, generator=torch.Generator().manual_seed(3))
    b = sde.dsm_loss(score_net, x0, s, parameterization="score", generator=torch.Generator().manual_seed(3))
    torch.testing.assert_close(a, b)
    t = torch.rand(64, dtype=torch.float64) * 0.9 + 0.05
    torch.testing.assert_close(sde.model_score(eps_net, s)(x0, t), score_net(x0, t))


def test_prior():
    s = sde.VESDE(0.01, 10.0)
    x = s.prior_sample((30_000, 2), generator=torch.Generator().manual_seed(0))
    assert abs(x.std().item() / 10 - 1) < 0.02
    torch.testing.assert_close(s.prior_log_prob(torch.zeros(1, 2)),
                               torch.tensor([-math.log(2 * math.pi * 100)]))


def test_bad_input():
    s = sde.VPSDE()
    score = sde.mixture_score(mixture2d.default(), s)
    with pytest.raises(ValueError, match="path"):
        sde.SDE("linear")
    with pytest.raises(ValueError, match="sde"):
        sde.pf_ode_sample("vp", score, (3, 2))
    with pytest.raises(ValueError, match="score"):
        sde.reverse_sde_sample(s, None, (3, 2))
    with pytest.raises(ValueError, match="t_eps"):
        sde.pf_ode_sample(s, score, (3, 2), t_eps=1.5)
    with pytest.raises(ValueError, match="divergence"):
        sde.ode_log_likelihood(s, score, torch.zeros(3, 2), divergence="exactly")
    with pytest.raises(ValueError, match="probe"):
        sde.divergence_hutchinson(lambda x, t: x, torch.zeros(3, 2), torch.zeros(3), torch.zeros(3))
    with pytest.raises(ValueError, match="kind"):
        sde.draw_probe((3, 2), "uniform")
    with pytest.raises(ValueError, match="shape"):
        s.prior_sample((3, -2))
    with pytest.raises(ValueError, match="levels"):
        sde.annealed_langevin(score, torch.zeros(3, 2), s.path, torch.tensor([0.1, 0.5]), 2, 0.1)
    with pytest.raises(ValueError, match="step_size"):
        sde.langevin(lambda x: -x, torch.zeros(3, 2), -0.1, 3)
    with pytest.raises(ValueError, match="parameterization"):
        sde.dsm_loss(lambda x, t: x, torch.zeros(3, 2), s, parameterization="v")
    with pytest.raises(ValueError, match="x0"):
        sde.dsm_loss(lambda x, t: x, torch.zeros(3, dtype=torch.long), s)
    with pytest.raises(ValueError, match="snr"):
        sde.pc_sample(s, score, (3, 2), 2, snr=0.0)
    with pytest.raises(ValueError, match="mixture"):
        sde.mixture_score(object(), s)
    with pytest.raises(ValueError, match="t"):
        s.drift(torch.zeros(3, 2), "0.5")


def test_likelihood_times_follow_g2_over_sigma2(gen):
    s = sde.VPSDE()
    t = sde.likelihood_times(s, 50_000, t_eps=1e-3, generator=gen, dtype=torch.float64)
    assert t.min() >= 1e-3 and t.max() <= 1
    # q(t) = d/dt log(e^{B(t)} - 1) / Z for VP, with B the integrated beta: compare P(t < 0.1)
    def L(u):
        B = 0.1 * u + 0.5 * 19.9 * u**2
        return math.log(math.expm1(B))
    want = (L(0.1) - L(1e-3)) / (L(1.0) - L(1e-3))
    assert abs((t < 0.1).double().mean().item() - want) < 0.01
    loss = sde.dsm_loss(lambda x, t: torch.zeros_like(x), torch.randn(100, 2), s, weighting="likelihood",
                        generator=gen)
    assert abs(loss.item() - 1) < 0.3             # E||eps||^2 / D = 1: the mean over entries
    with pytest.raises(ValueError, match="t_eps"):
        sde.likelihood_times(s, 10, t_eps=0.0)
    with pytest.raises(ValueError, match="weighting"):
        sde.dsm_loss(lambda x, t: x, torch.zeros(3, 2), s, weighting="snr")
