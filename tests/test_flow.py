import math

import pytest
import torch

from unigen import ddpm, flow, schedules, sde
from unigen.data import mixture2d

PATHS = [schedules.LinearPath(), schedules.CosineVP(), schedules.LinearVP(), schedules.GeometricVE()]


def _names(p):
    return type(p).__name__


@pytest.mark.parametrize("path", PATHS, ids=_names)
def test_conditional_path_and_its_velocity(path, gen):
    """x_t = alpha x0 + sigma eps, and u_t is its time derivative (central differences)."""
    x0 = torch.randn(6, 3, generator=gen, dtype=torch.float64)
    eps = torch.randn(6, 3, generator=gen, dtype=torch.float64)
    t = torch.rand(6, generator=gen, dtype=torch.float64) * 0.8 + 0.1
    x_t, u_t = flow.conditional_path(path, x0, eps, t)
    a, s = path.alpha(t)[:, None], path.sigma(t)[:, None]
    torch.testing.assert_close(x_t, a * x0 + s * eps)
    h = 1e-6
    numeric = (flow.conditional_path(path, x0, eps, t + h)[0] - flow.conditional_path(path, x0, eps, t - h)[0]) / (2 * h)
    torch.testing.assert_close(u_t, numeric, rtol=1e-5, atol=1e-5)


def test_linear_path_target_is_noise_minus_data(gen):
    x0, eps = torch.randn(4, 2, generator=gen), torch.randn(4, 2, generator=gen)
    x_t, u_t = flow.conditional_path(schedules.LinearPath(), x0, eps, 0.3)
    torch.testing.assert_close(x_t, 0.7 * x0 + 0.3 * eps)
    torch.testing.assert_close(u_t, eps - x0)


def test_cfm_loss_is_zero_for_the_conditional_target_and_matches_by_hand(gen):
    x0 = torch.randn(64, 2, generator=gen, dtype=torch.float64)
    eps = torch.randn(64, 2, generator=gen, dtype=torch.float64)

    class Oracle:                       # a "model" that knows the pairing: v = eps - x0 on the linear path
        def __call__(self, x_t, t):
            return eps - x0
    assert flow.cfm_loss(Oracle(), x0, noise=eps, generator=gen).item() < 1e-24
    g1, g2 = torch.Generator().manual_seed(3), torch.Generator().manual_seed(3)
    loss = flow.cfm_loss(lambda x, t: t[:, None] * x, x0, noise=eps, generator=g1)
    t = torch.rand(64, generator=g2, dtype=torch.float64)[:, None]         # the same draw of t
    x_t = (1 - t) * x0 + t * eps
    torch.testing.assert_close(loss, (t * x_t - (eps - x0)).square().mean())
    # with an exact marginal velocity as target, the loss of that velocity is zero
    u = flow.mixture_velocity(mixture2d.default(), schedules.LinearPath())
    assert flow.cfm_loss(u, x0, velocity=u, generator=gen).item() < 1e-20


def test_analytic_velocity_matches_monte_carlo(gen):
    """u_t(x) = E[alpha' x0 + sigma' eps | x_t = x], estimated by self-normalised weights over data draws."""
    mix, path = mixture2d.default(), schedules.LinearPath()
    t = 0.5
    a, s, da, ds = (c.item() for c in path(t))
    x0 = mix.sample(200_000, gen).double()                           # (N, 2)
    x = torch.tensor([[1.0, 0.5], [-1.2, 0.3], [0.0, 0.0], [0.4, -1.5]], dtype=torch.float64)
    eps = (x[:, None, :] - a * x0[None]) / s                          # (4, N, 2)
    logw = -0.5 * eps.square().sum(-1)
    w = torch.softmax(logw, dim=1)[..., None]
    mc = (w * (da * x0[None] + ds * eps)).sum(1)
    exact = flow.mixture_velocity(mix, path)(x, t)
    torch.testing.assert_close(mc, exact, atol=0.03, rtol=0.0)


@pytest.mark.parametrize("path", PATHS, ids=_names)
@pytest.mark.parametrize("kind", flow.PARAMETERIZATIONS)
def test_conversions_round_trip(path, kind, gen):
    x0 = torch.randn(5, 2, generator=gen, dtype=torch.float64)
    eps = torch.randn(5, 2, generator=gen, dtype=torch.float64)
    t = torch.rand(5, generator=gen, dtype=torch.float64) * 0.9 + 0.05
    coefs = path(t)
    x_t, u = flow.conditional_path(path, x0, eps, t)
    out = flow.from_velocity(u, x_t, coefs, kind)
    torch.testing.assert_close(flow.to_velocity(out, x_t, coefs, kind), u)
    expected = {"velocity": u, "eps": eps, "x0": x0, "v": ddpm.v_from_eps_x0(eps, x0, coefs[0], coefs[1]),
                "score": ddpm.score_from_eps(eps, coefs[1])}[kind]
    torch.testing.assert_close(out, expected)


def test_exact_quantities_agree_under_conversion():
    """The mixture's exact eps and score, converted, are its exact velocity; VP velocity = PF-ODE drift."""
    mix = mixture2d.default()
    x = mix.sample(50, torch.Generator().manual_seed(2)).double()
    vp = sde.VPSDE()
    t = torch.full((50,), 0.4, dtype=torch.float64)
    coefs = vp.path(t)
    _, eps = mix.posterior_t(x, coefs[0], coefs[1])
    u = flow.mixture_velocity(mix, vp.path)(x, t)
    torch.testing.assert_close(flow.to_velocity(eps, x, coefs, "eps"), u)
    torch.testing.assert_close(flow.to_velocity(mix.score_t(x, coefs[0], coefs[1]), x, coefs, "score"), u)
    torch.testing.assert_close(sde.pf_ode_drift(vp, sde.mixture_score(mix, vp))(x, t), u)
    score = flow.reparameterize(flow.mixture_velocity(mix, vp.path), vp.path, "velocity", "score")
    torch.testing.assert_close(score(x, t), mix.score_t(x, coefs[0], coefs[1]))


def test_model_velocity_reads_the_parameterisation():
    path = schedules.CosineVP()
    x = torch.randn(4, 2, dtype=torch.float64)
    t = torch.full((4,), 0.3, dtype=torch.float64)
    eps_net = lambda x, t: torch.ones_like(x)                           # noqa: E731
    u = flow.reparameterize(eps_net, path, "eps", "velocity")
    torch.testing.assert_close(u(x, t), flow.to_velocity(torch.ones_like(x), x, path(t), "eps"))
    torch.testing.assert_close(flow.reparameterize(u, path, "velocity", "eps")(x, t), torch.ones_like(x))
    x0_net = flow.reparameterize(eps_net, path, "eps", "x0")
    torch.testing.assert_close(x0_net(x, t), ddpm.x0_from_eps(x, torch.ones_like(x), *path(t)[:2]))


def test_time_at_log_snr_and_change_path():
    lin, vp = schedules.LinearPath(), schedules.CosineVP()
    t = torch.linspace(0.05, 0.95, 7, dtype=torch.float64)
    tau = flow.time_at_log_snr(lin, vp.log_snr(t))
    torch.testing.assert_close(lin.log_snr(tau), vp.log_snr(t))
    # the exact eps of the mixture on the linear path, moved to the VP path, is the exact VP eps
    mix = mixture2d.default()
    x = mix.sample(20, torch.Generator().manual_seed(0)).double()
    eps_lin = flow.reparameterize(flow.mixture_velocity(mix, lin), lin, "velocity", "eps")
    moved = flow.change_path(eps_lin, lin, vp)
    tt = torch.full((20,), 0.6, dtype=torch.float64)
    a, s = vp.alpha(tt), vp.sigma(tt)
    x_t = a[:, None] * x + s[:, None] * torch.randn(20, 2, generator=torch.Generator().manual_seed(1),
                                                     dtype=torch.float64)
    torch.testing.assert_close(moved(x_t, tt), mix.posterior_t(x_t, a, s)[1])


def test_ddim_on_the_linear_path_is_euler(gen):
    """One DDIM step x' = alpha' x0_hat + sigma' eps_hat equals an Euler step of the velocity on the linear path."""
    mix, lin = mixture2d.default(), schedules.LinearPath()
    u = flow.mixture_velocity(mix, lin)
    x = torch.randn(30, 2, generator=gen, dtype=torch.float64)
    t, t_next = 0.7, 0.4
    eps, x0 = flow.eps_x0_from_velocity(x, u(x, t), *lin(torch.tensor(t, dtype=torch.float64)))
    ddim = (1 - t_next) * x0 + t_next * eps
    torch.testing.assert_close(ddim, x + (t_next - t) * u(x, t))


def test_sample_counts_nfe_and_reaches_the_mixture(gen):
    mix, lin = mixture2d.default(), schedules.LinearPath()
    u = flow.mixture_velocity(mix, lin)
    for method, per_step in (("euler", 1), ("heun", 2), ("rk4", 4)):
        out = flow.sample(u, (7, 2), 3, method=method, generator=gen)
        assert out.nfe == 3 * per_step and out.x.shape == (7, 2)
    out = flow.sample(u, (2000, 2), 50, method="heun", generator=gen, return_trajectory=True)
    assert out.trajectory.shape == (51, 2000, 2)
    assert abs(out.x.norm(dim=1).mean().item() - 2.0) < 0.05
    assert mix.log_prob(out.x).mean() > -2.25


def test_log_likelihood_of_the_exact_velocity_is_the_exact_density():
    mix, lin = mixture2d.default(), schedules.LinearPath()
    x = mix.sample(200, torch.Generator().manual_seed(1)).double()
    ll = flow.log_likelihood(flow.mixture_velocity(mix, lin), x, lin, 40)
    assert ll.nfe == 160
    assert (ll.log_prob - mix.log_prob(x)).abs().mean() < 1e-3


def test_straightness():
    t = torch.linspace(1, 0, 11, dtype=torch.float64)
    start, end = torch.randn(4, 2, dtype=torch.float64), torch.randn(4, 2, dtype=torch.float64)
    line = start + (1 - t)[:, None, None] * (end - start)                   # (11, 4, 2), constant speed
    torch.testing.assert_close(flow.straightness(line, t), torch.zeros(4, dtype=torch.float64))
    bent = line.clone()
    bent[5] += torch.tensor([0.1, 0.0], dtype=torch.float64)            # one kink of 0.1 at the middle
    # two segments of length h = 0.1 whose speeds differ from the chord by +-1 in the first coordinate
    torch.testing.assert_close(flow.straightness(bent, t), torch.full((4,), 0.2, dtype=torch.float64))


def test_reflow_pairs_each_noise_with_its_own_image(gen):
    mix, lin = mixture2d.default(), schedules.LinearPath()
    u = flow.mixture_velocity(mix, lin)
    noise = torch.randn(50, 2, generator=gen, dtype=torch.float64)
    x0, z = flow.reflow_pairs(u, noise, 10, batch_size=7)
    assert z is noise and x0.shape == noise.shape
    for i in (0, 13, 49):
        alone = flow.sample(u, steps=10, method="heun", x_1=noise[i:i + 1]).x
        torch.testing.assert_close(x0[i:i + 1], alone)
    perm = torch.randperm(50, generator=gen)
    torch.testing.assert_close(flow.reflow_pairs(u, noise[perm], 10)[0], x0[perm])


def test_distill_loss(gen):
    x0, eps = torch.randn(8, 2, generator=gen), torch.randn(8, 2, generator=gen)
    assert flow.distill_loss(lambda z, t: z - x0, x0, eps).item() < 1e-12
    torch.testing.assert_close(flow.distill_loss(lambda z, t: torch.zeros_like(z), x0, eps),
                               (eps - x0).square().mean())


def test_velocity_log_likelihood_is_what_the_sde_likelihood_uses():
    mix, vp = mixture2d.default(), sde.VPSDE()
    x = mix.sample(20, torch.Generator().manual_seed(4)).double()
    a = sde.ode_log_likelihood(vp, sde.mixture_score(mix, vp), x, 10)
    b = flow.log_likelihood(flow.mixture_velocity(mix, vp.path), x, vp.path, 10)
    torch.testing.assert_close(a.log_prob, b.log_prob)
    assert math.isfinite(a.log_prob.sum().item())


def test_bad_input():
    lin = schedules.LinearPath()
    x = torch.zeros(3, 2)
    with pytest.raises(ValueError, match="path"):
        flow.conditional_path("linear", x, x, 0.5)
    with pytest.raises(ValueError, match="noise"):
        flow.conditional_path(lin, x, torch.zeros(3, 3), 0.5)
    with pytest.raises(ValueError, match="t"):
        flow.conditional_path(lin, x, x, torch.zeros(4))
    with pytest.raises(ValueError, match="t must lie"):
        flow.conditional_path(lin, x, x, 1.5)
    with pytest.raises(ValueError, match="x0"):
        flow.cfm_loss(lambda x, t: x, torch.zeros(3, 2, dtype=torch.long))
    with pytest.raises(ValueError, match="t_eps"):
        flow.cfm_loss(lambda x, t: x, x, t_eps=1.0)
    with pytest.raises(ValueError, match="model"):
        flow.cfm_loss("net", x)
    with pytest.raises(ValueError, match="parameterization"):
        flow.to_velocity(x, x, lin(torch.full((3,), 0.5)), "noise")
    with pytest.raises(ValueError, match="coefs"):
        flow.to_velocity(x, x, (1.0, 0.5), "eps")
    with pytest.raises(ValueError, match="source"):
        flow.reparameterize(lambda x, t: x, lin, "noise")
    with pytest.raises(ValueError, match="mixture"):
        flow.mixture_velocity(object(), lin)
    with pytest.raises(ValueError, match="shape or x_1"):
        flow.sample(lambda x, t: x)
    with pytest.raises(ValueError, match="method"):
        flow.sample(lambda x, t: x, (3, 2), 2, method="midpoint")
    with pytest.raises(ValueError, match="divergence"):
        flow.log_likelihood(lambda x, t: x, x, divergence="exactly")
    with pytest.raises(ValueError, match="trajectory"):
        flow.straightness(torch.zeros(5, 3, 2), torch.linspace(1, 0, 4))
    with pytest.raises(ValueError, match="batch_size"):
        flow.reflow_pairs(lambda x, t: x, x, 2, batch_size=0)
    with pytest.raises(ValueError, match="noise"):
        flow.distill_loss(lambda x, t: x, x, torch.zeros(2, 2))
    with pytest.raises(ValueError, match="log_snr"):
        flow.time_at_log_snr(lin, torch.zeros(3, dtype=torch.long))
