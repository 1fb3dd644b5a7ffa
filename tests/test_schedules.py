import math
from pathlib import Path

import pytest
import torch

from unigen import schedules

_T7 = torch.linspace(0, 1, 8, dtype=torch.float64)       # knots that miss the test times below
PATHS = [schedules.LinearVP(), schedules.CosineVP(), schedules.LinearPath(), schedules.GeometricVE(),
         schedules.InterpolatedVP(_T7, schedules.LinearVP().alpha(_T7) ** 2, "coarse linear")]


@pytest.mark.parametrize("path", PATHS, ids=lambda p: type(p).__name__)
def test_derivatives_match_finite_differences(path):
    t = torch.linspace(0.05, 0.95, 19, dtype=torch.float64)
    h = 1e-6
    a, s, da, ds = path(t)
    torch.testing.assert_close(da, (path.alpha(t + h) - path.alpha(t - h)) / (2 * h), rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(ds, (path.sigma(t + h) - path.sigma(t - h)) / (2 * h), rtol=1e-5, atol=1e-6)
    assert isinstance(path(t), schedules.PathCoefficients)


@pytest.mark.parametrize("path", PATHS, ids=lambda p: type(p).__name__)
def test_log_snr_decreases_and_matches_definition(path):
    t = torch.linspace(0.01, 0.99, 50, dtype=torch.float64)
    lam = path.log_snr(t)
    assert (lam[1:] < lam[:-1]).all()
    torch.testing.assert_close(lam, torch.log(path.alpha(t) ** 2 / path.sigma(t) ** 2))
    torch.testing.assert_close(path.snr(t), lam.exp())


@pytest.mark.parametrize("path", [p for p in PATHS if p.variance_preserving], ids=lambda p: type(p).__name__)
def test_vp_endpoints_and_variance(path):
    t = torch.linspace(0, 1, 101, dtype=torch.float64)
    a, s = path.alpha(t), path.sigma(t)
    torch.testing.assert_close(a**2 + s**2, torch.ones_like(t))
    assert a[0] == 1 and s[0] == 0
    assert a[-1] < 0.01


def test_linear_path_and_ve_values():
    t = torch.tensor([0.0, 0.25, 1.0], dtype=torch.float64)
    a, s, da, ds = schedules.LinearPath()(t)
    torch.testing.assert_close(a, 1 - t)
    torch.testing.assert_close(s, t)
    assert (da == -1).all() and (ds == 1).all()
    ve = schedules.GeometricVE(0.01, 10.0)
    torch.testing.assert_close(ve.sigma(t), 0.01 * 1000.0**t)
    assert (ve.alpha(t) == 1).all() and not ve.variance_preserving


def test_sde_coefficients_of_linear_vp_are_minus_half_beta_and_beta():
    path = schedules.LinearVP()
    t = torch.linspace(0.1, 0.9, 9, dtype=torch.float64)
    f, g2 = path.sde_coefficients(t)
    torch.testing.assert_close(f, -0.5 * path.beta(t))
    torch.testing.assert_close(g2, path.beta(t))


def test_sde_coefficients_reproduce_variance_by_integration():
    """d Var/dt = 2 f Var + g^2 for x_t | x_0 = 0: integrating it must give sigma_t^2 (VE and OT paths)."""
    for path in (schedules.LinearPath(), schedules.GeometricVE()):
        t = torch.linspace(0.2, 0.8, 6001, dtype=torch.float64)
        f, g2 = path.sde_coefficients(t)
        var = path.sigma(t[:1]) ** 2
        dt = t[1] - t[0]
        for i in range(len(t) - 1):
            var = var + dt * 0.5 * ((2 * f[i] * var + g2[i]) + (2 * f[i + 1] * var + g2[i + 1]))
        assert abs(var.item() - path.sigma(t[-1:]).item() ** 2) < 1e-3 * max(1.0, var.item())


def test_outputs_follow_dtype_and_shape():
    t = torch.rand(3, 4, dtype=torch.float32)
    for path in PATHS:
        for value in path(t):
            assert value.shape == (3, 4) and value.dtype == torch.float32
    assert schedules.LinearVP().alpha(0.5).dtype == torch.float64


def test_ddpm_linear_is_ho_et_al_grid():
    """Ho et al. (2020): betas linspace(1e-4, 0.02, T), alpha_bar = cumprod(1 - beta), for any T."""
    grid = schedules.ddpm_linear(1000)
    assert grid.T == 1000 and grid.alpha_bar[0] == 1 and grid.beta[0] == 0
    assert grid.beta[1].item() == 1e-4 and abs(grid.beta[-1].item() - 0.02) < 1e-15
    torch.testing.assert_close(grid.beta[1:], torch.linspace(1e-4, 0.02, 1000, dtype=torch.float64),
                               rtol=0, atol=0)
    torch.testing.assert_close(grid.alpha_bar, torch.cumprod(1 - grid.beta, 0), rtol=0, atol=0)
    assert abs(grid.alpha_bar[500].item() - 0.078587) < 1e-6
    assert abs(grid.alpha_bar[1000].item() / 4.0358e-5 - 1) < 1e-4
    torch.testing.assert_close(grid.t, torch.arange(1001, dtype=torch.float64) / 1000)
    for T in (1, 10, 37):
        g = schedules.ddpm_linear(T)
        assert g.T == T and g.beta[1].item() == 1e-4 and abs(g.beta[-1].item() - (0.02 if T > 1 else 1e-4)) < 1e-15
        torch.testing.assert_close(g.t, torch.arange(T + 1, dtype=torch.float64) / T)
    # the betas do not scale with T: a short grid stops short of noise (respace a long one instead)
    assert abs(schedules.ddpm_linear(100).alpha_bar[-1].item() - 0.3636) < 1e-3


def test_ddpm_linear_path_passes_through_the_grid():
    grid = schedules.ddpm_linear(1000)
    assert isinstance(grid.path, schedules.InterpolatedVP) and grid.path.variance_preserving
    torch.testing.assert_close(grid.path.alpha(grid.t) ** 2, grid.alpha_bar, rtol=1e-12, atol=1e-15)
    a, s = grid.coefficients(torch.arange(1001), torch.zeros(1, dtype=torch.float64))
    torch.testing.assert_close(grid.path.sigma(grid.t), s, rtol=1e-12, atol=1e-15)
    again = schedules.discretize(grid.path, 1000)         # discretising the path gives the grid back
    torch.testing.assert_close(again.beta, grid.beta, rtol=1e-10, atol=1e-15)
    torch.testing.assert_close(again.alpha_bar, grid.alpha_bar, rtol=1e-12, atol=0)
    # on a step the rate beta(t) = -2 dlog(alpha)/dt is constant: -T log(1 - beta_k)
    f, g2 = grid.path.sde_coefficients(torch.tensor([0.0005, 0.7005], dtype=torch.float64))
    torch.testing.assert_close(g2, -1000 * torch.log(1 - grid.beta[[1, 701]]))
    torch.testing.assert_close(f, -0.5 * g2)


def test_linear_vp_grid_is_the_continuous_path_and_differs_from_ho():
    grid = schedules.linear_vp_grid(1000)
    # without clipping the grid is exactly the continuous path at t_k = k / T
    torch.testing.assert_close(grid.alpha_bar, schedules.LinearVP().alpha(grid.t) ** 2)
    assert isinstance(grid.path, schedules.LinearVP)
    assert abs(grid.beta[1].item() - 1.0994e-4) < 1e-8                     # not Ho's 1e-4
    assert abs(grid.alpha_bar[-1].item() / 4.3186e-5 - 1) < 1e-4
    ho = schedules.ddpm_linear(1000)
    assert (grid.alpha_bar - ho.alpha_bar).abs().max() < 1e-3                 # close ...
    assert grid.alpha_bar[-1] / ho.alpha_bar[-1] > 1.05                        # ... but 7 % apart at T


def test_interpolated_vp_bad_input():
    t = torch.tensor([0.0, 0.5, 1.0], dtype=torch.float64)
    ab = torch.tensor([1.0, 0.5, 0.1], dtype=torch.float64)
    with pytest.raises(ValueError, match="t must"):
        schedules.InterpolatedVP(torch.tensor([0.0, 0.7, 0.6]), ab)
    with pytest.raises(ValueError, match="alpha_bar must"):
        schedules.InterpolatedVP(t, torch.tensor([1.0, 0.5, 0.6], dtype=torch.float64))
    with pytest.raises(ValueError, match="same length"):
        schedules.InterpolatedVP(t, ab[:2])
    with pytest.raises(ValueError, match="alpha_bar must be a 1-D"):
        schedules.InterpolatedVP(t, [1.0, 0.5, 0.1])


def test_cosine_grid_clips_last_beta():
    grid = schedules.ddpm_cosine(1000)
    assert grid.beta.max() <= 0.999 + 1e-12
    assert grid.alpha_bar[-1] > 0
    torch.testing.assert_close(grid.alpha_bar[:-1], schedules.CosineVP().alpha(grid.t[:-1]) ** 2)


def test_indexing_first_step_and_beta_tilde():
    grid = schedules.ddpm_linear(50)
    assert grid.alpha_bar_prev[1] == 1.0               # the first step's "previous" is the data
    assert grid.beta_tilde[1] == 0.0                    # beta_tilde_1 = 0
    k = torch.arange(2, 51)
    torch.testing.assert_close(grid.beta_tilde[k], (1 - grid.alpha_bar[k - 1]) / (1 - grid.alpha_bar[k]) * grid.beta[k])
    assert (grid.beta_tilde[2:] < grid.beta[2:]).all()
    torch.testing.assert_close(grid.alpha_bar, torch.cumprod(grid.alpha, 0))


def test_respace_keeps_alpha_bar_and_times():
    grid = schedules.ddpm_linear(1000)
    sub = schedules.respace(grid, 10)
    assert sub.T == 10
    torch.testing.assert_close(sub.t, torch.linspace(0, 1, 11, dtype=torch.float64))
    torch.testing.assert_close(sub.alpha_bar, grid.alpha_bar[::100])
    torch.testing.assert_close(sub.alpha_bar, torch.cumprod(1 - sub.beta, 0))
    full = schedules.respace(grid, 1000)
    torch.testing.assert_close(full.beta, grid.beta)


def test_coefficients_follow_like():
    grid = schedules.ddpm_linear(100)
    like = torch.zeros(3, dtype=torch.float32)
    a, s = grid.coefficients(torch.tensor([1, 50, 100]), like)
    assert a.dtype == torch.float32 and a.shape == (3,)
    torch.testing.assert_close(a**2 + s**2, torch.ones(3))


def test_bad_input():
    path = schedules.LinearVP()
    with pytest.raises(ValueError, match="t must lie in"):
        path.alpha(torch.tensor([1.5]))
    with pytest.raises(ValueError, match="floating"):
        path.alpha(torch.tensor([0, 1]))
    with pytest.raises(ValueError, match="t must"):
        path.sigma("0.5")
    with pytest.raises(ValueError, match="beta_max"):
        schedules.LinearVP(beta_min=1.0, beta_max=0.5)
    with pytest.raises(ValueError, match="sigma_max"):
        schedules.GeometricVE(1.0, 0.5)
    with pytest.raises(ValueError, match="s must"):
        schedules.CosineVP(s=-1.0)
    with pytest.raises(ValueError, match="variance preserving"):
        schedules.discretize(schedules.LinearPath(), 10)
    with pytest.raises(ValueError, match="T must"):
        schedules.discretize(path, 0)
    with pytest.raises(ValueError, match="T must"):
        schedules.ddpm_linear(0)
    with pytest.raises(ValueError, match="T must"):
        schedules.linear_vp_grid(2.5)
    with pytest.raises(ValueError, match="path must"):
        schedules.discretize("linear", 10)
    grid = schedules.ddpm_linear(10)
    with pytest.raises(ValueError, match="steps"):
        schedules.respace(grid, 11)
    with pytest.raises(ValueError, match="k must lie"):
        grid.coefficients(11, torch.zeros(1))
    with pytest.raises(ValueError, match="k must be"):
        grid.coefficients(torch.tensor([0.5]), torch.zeros(1))
    with pytest.raises(ValueError, match="alpha_bar"):
        schedules.DiscreteSchedule(t=torch.tensor([0.0, 1.0]), alpha_bar=torch.tensor([1.0, 1.5]),
                                   beta=torch.tensor([0.0, 0.1]))


def test_ddpm_alpha_bar_T_is_near_zero_so_the_prior_is_standard_normal():
    grid = schedules.ddpm_linear(1000)
    kl_per_dim = 0.5 * (grid.alpha_bar[-1] + (1 - grid.alpha_bar[-1]) - 1 - math.log(1 - grid.alpha_bar[-1]))
    assert kl_per_dim < 1e-4


def test_a_path_draws_x_t_and_its_prior():
    path = schedules.CosineVP()
    x0 = torch.randn(5, 1, 8, 8, generator=torch.Generator().manual_seed(0))
    t = torch.rand(5, generator=torch.Generator().manual_seed(1))
    x_t, eps = path.sample(x0, t, generator=torch.Generator().manual_seed(2))
    a, s = path.alpha(t)[:, None, None, None], path.sigma(t)[:, None, None, None]
    torch.testing.assert_close(x_t, a * x0 + s * eps)
    x_half, _ = path.sample(x0, 0.5, eps)                   # one time for every example
    torch.testing.assert_close(x_half, path.alpha(0.5) * x0 + path.sigma(0.5) * eps)
    z = path.prior_sample((4000, 2), generator=torch.Generator().manual_seed(3))
    assert abs(z.std().item() - path.prior_std) < 0.03
    expected = torch.distributions.Normal(0.0, path.prior_std).log_prob(z).sum(1)
    torch.testing.assert_close(path.prior_log_prob(z), expected)
    with pytest.raises(ValueError, match="eps"):
        path.sample(x0, t, torch.randn(3))
    with pytest.raises(ValueError, match="shape"):
        path.prior_sample((0, 2))


def test_the_sde_coefficients_of_a_vp_path_are_finite_at_zero():
    path = schedules.LinearVP()
    f, g2 = path.sde_coefficients(torch.tensor([0.0, 0.5]))
    assert torch.isfinite(g2).all() and torch.allclose(g2, -2 * f)
    ve = schedules.GeometricVE()
    t = torch.tensor([0.3])
    a, s, da, ds = ve(t)
    torch.testing.assert_close(ve.sde_coefficients(t)[1], 2 * s * ds - 2 * (da / a) * s**2)


def _imports(path) -> set:
    """The package modules that the file ``path`` imports (relative imports, any depth)."""
    import ast

    imported = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.level >= 1:
            imported |= {node.module} if node.module else {a.name for a in node.names}
    return imported


def test_the_families_stand_side_by_side():
    """The seven paradigm modules import the core, never one another, and never the benchmark;
    metrics imports no dataset or network module."""
    from pathlib import Path

    src = Path(schedules.__file__).parent
    families = {"ar", "pixelcnn", "var", "ddpm", "sde", "flow", "masked"}
    for name in families:
        imported = _imports(src / f"{name}.py")
        assert not imported & (families - {name}), (name, imported)
        assert not imported & {"compare", "paradigms"}, (name, imported)
    assert not {m.split(".")[0] for m in _imports(src / "metrics.py")} & {"data", "nn"}


@pytest.mark.parametrize("name", ["alpha", "sigma", "d_alpha", "d_sigma"])
def test_public_accessors_validate_time_and_match_the_subclass(name):
    """alpha, sigma, d_alpha, d_sigma: one validated accessor each, documented, equal to ``_name``."""
    path = schedules.CosineVP()
    t = torch.tensor([0.1, 0.5, 0.9], dtype=torch.float64)
    accessor = getattr(schedules.GaussianPath, name)
    assert accessor.__name__ == name and accessor.__doc__
    assert torch.equal(getattr(path, name)(t), getattr(path, "_" + name)(t))
    assert torch.equal(torch.stack(path(t)), torch.stack([path.alpha(t), path.sigma(t),
                                                          path.d_alpha(t), path.d_sigma(t)]))
    with pytest.raises(ValueError, match="t must lie in"):
        getattr(path, name)(1.5)


def test_schedules_gathers_the_paths_and_the_grids():
    """The paths live in unigen.paths and DDPM's grids in unigen.discrete_time, which builds on
    them; ``schedules.*`` gives the same objects, and neither module imports schedules."""
    from unigen import discrete_time, paths

    for module in (paths, discrete_time):
        for name in module.__all__:
            assert getattr(schedules, name) is getattr(module, name)
            assert name in schedules.__all__
    src = Path(schedules.__file__).parent
    assert "schedules" not in _imports(src / "paths.py") | _imports(src / "discrete_time.py")
    assert "discrete_time" not in _imports(src / "paths.py")
