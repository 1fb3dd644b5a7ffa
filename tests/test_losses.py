"""The Gaussian families' named losses are one loss with different time samplers and weightings."""
import pytest
import torch

from unigen import ddpm, flow, schedules, sde
from unigen.losses import gaussian_loss, regression_target, uniform_times
from unigen.parameterizations import x0_from_eps


def eps_net(x, t, *args):                         # a fixed, smooth "network" read as epsilon
    return torch.tanh(x * (1.0 + t[:, None])) + 0.3 * t[:, None]


def seeded():
    return torch.Generator().manual_seed(7)


X0 = torch.randn(256, 3, generator=torch.Generator().manual_seed(0), dtype=torch.float64)


def test_dsm_is_the_eps_loss_and_its_score_form_weights_by_sigma_squared():
    vp = sde.VPSDE()
    a = sde.dsm_loss(eps_net, X0, vp, generator=seeded())
    b = gaussian_loss(eps_net, X0, uniform_times(vp.path, 1e-3), generator=seeded())
    assert torch.equal(a, b)

    def score_net(x, t):
        return -eps_net(x, t) / vp.path.sigma(t)[:, None]
    c = sde.dsm_loss(score_net, X0, vp, parameterization="score", generator=seeded())
    assert torch.allclose(a, c, rtol=1e-10)


def test_flow_matching_is_the_eps_loss_weighted_by_the_velocity_factor():
    path = schedules.LinearVP()
    velocity_net = flow.reparameterize(eps_net, path, "eps", "velocity")
    noise = torch.randn(X0.shape, generator=torch.Generator().manual_seed(1), dtype=X0.dtype)
    cfm = flow.cfm_loss(velocity_net, X0, path, noise=noise, t_eps=1e-3, generator=seeded())

    def factor(c):            # ||u_hat - u||^2 = (d_sigma - d_alpha sigma / alpha)^2 ||eps_hat - eps||^2
        return (c.d_sigma_t - c.d_alpha_t * c.sigma_t / c.alpha_t) ** 2
    weighted = gaussian_loss(eps_net, X0, uniform_times(path, 1e-3), noise=noise, weighting=factor,
                             generator=seeded())
    assert torch.allclose(cfm, weighted, rtol=1e-9)


def test_ddpm_x0_loss_is_the_eps_loss_weighted_by_one_over_snr():
    sched = schedules.ddpm_linear(1000)
    grid = sched.path

    def x0_net(x, t):
        return x0_from_eps(x, eps_net(x, t), grid.alpha(t), grid.sigma(t))
    a = ddpm.ddpm_loss(x0_net, X0, sched, parameterization="x0", generator=seeded())
    b = ddpm.ddpm_loss(eps_net, X0, sched, weighting=lambda snr: 1 / snr, generator=seeded())
    assert torch.allclose(a, b, rtol=1e-8)
    c = gaussian_loss(eps_net, X0, ddpm.step_times(sched), generator=seeded())
    assert torch.equal(c, ddpm.ddpm_loss(eps_net, X0, sched, generator=seeded()))


@pytest.mark.parametrize("dim", [2, 64])
def test_every_loss_is_a_mean_over_dimensions(dim):
    x0 = torch.randn(4000, dim, generator=torch.Generator().manual_seed(3))
    zero = lambda x, t: torch.zeros_like(x)                          # noqa: E731
    for loss in (sde.dsm_loss(zero, x0, sde.VPSDE(), generator=seeded()),
                 ddpm.ddpm_loss(zero, x0, schedules.ddpm_linear(100), generator=seeded())):
        assert abs(loss.item() - 1.0) < 0.05                         # E||eps||^2 / D = 1


def test_bad_input():
    path = schedules.LinearPath()
    with pytest.raises(ValueError, match="times"):
        gaussian_loss(eps_net, X0, "uniform")
    with pytest.raises(ValueError, match="weighting"):
        gaussian_loss(eps_net, X0, uniform_times(path), weighting=lambda c: torch.ones(3))
    with pytest.raises(ValueError, match="derivatives"):
        gaussian_loss(eps_net, X0, ddpm.step_times(schedules.ddpm_linear(10)),
                      parameterization="velocity")
    with pytest.raises(ValueError, match="noise"):
        gaussian_loss(eps_net, X0, uniform_times(path), noise=torch.zeros(3, 3))
    with pytest.raises(ValueError, match="x0"):
        gaussian_loss(eps_net, torch.zeros(5), uniform_times(path))
    with pytest.raises(ValueError, match="t_eps"):
        uniform_times(path, 1.0)
    with pytest.raises(ValueError, match="parameterization"):
        regression_target(X0, X0, path(torch.rand(256)), "flow")
