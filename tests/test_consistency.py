"""unigen.consistency: boundary condition, the teacher's step, the two losses, sampling, bad input."""
import pytest
import torch

from unigen import consistency as cm
from unigen import ddpm, flow, pretrained, schedules, solvers
from unigen.data import mixture2d
from unigen.nn import mlp

LIN = schedules.LinearPath()


def _model(path=LIN, t_min=0.0):
    torch.manual_seed(0)
    return cm.ConsistencyModel(mlp.TimeMLP(dim=2, hidden=16, depth=1), path, sigma_data=1.4, t_min=t_min)


@pytest.mark.parametrize("path", [LIN, schedules.CosineVP()], ids=["linear", "cosine"])
@pytest.mark.parametrize("t_min", [0.0, 0.002, 0.3])
def test_boundary_condition_is_exact(path, t_min):
    model = _model(path, t_min)
    x = torch.randn(64, 2) * 3
    assert torch.equal(model(x, t_min), x)                    # bit for bit, whatever the weights
    c_skip, c_out = cm.skip_out(torch.tensor([t_min, 1.0], dtype=torch.float64), path, sigma_data=0.5,
                                t_min=t_min)
    assert c_skip[0] == 1 and c_out[0] == 0 and 0 < c_skip[1] < 1 and c_out[1] > 0
    assert not torch.allclose(model(x, 0.9), x)


def test_skip_out_values():
    c_skip, c_out = cm.skip_out(torch.tensor([0.5], dtype=torch.float64), LIN, sigma_data=0.5, t_min=0.1)
    torch.testing.assert_close(c_skip, torch.tensor([0.25 / (0.16 + 0.25)], dtype=torch.float64))
    torch.testing.assert_close(c_out, torch.tensor([0.5 * 0.4 / 0.5**0.5], dtype=torch.float64))


def test_teacher_step_is_euler_on_the_linear_path_and_ddim_on_a_grid():
    x, t, s = torch.randn(5, 2, dtype=torch.float64), 0.7, 0.4
    velocity = flow.mixture_velocity(mixture2d.default(), LIN)
    euler = x + (s - t) * velocity(x, t)
    torch.testing.assert_close(cm.teacher_step(velocity, x, t, s, LIN), euler)
    grid = schedules.ddpm_cosine(1000)
    eps_fn = lambda z, time: torch.tanh(z) * (1 + time[:, None])         # noqa: E731
    for k in (2, 300, 900):
        t_k = grid.t[k].item()
        eps = eps_fn(x, torch.full((5,), t_k, dtype=torch.float64))
        a, sig = grid.coefficients(k, x)
        want = ddpm.ddim_step(x, eps, ddpm.x0_from_eps(x, eps, a, sig), k, grid, torch.zeros_like(x))
        got = cm.teacher_step(eps_fn, x, t_k, grid.t[k - 1].item(), grid.path, parameterization="eps")
        torch.testing.assert_close(got, want)


def _exact_consistency(velocity):
    """f(x, t): the exact ODE from each example's t down to 0 (RK4, 200 steps per unit time)."""
    def f(x, t):
        out = torch.empty_like(x)
        for value in t.unique():
            rows = t == value
            steps = max(1, int(200 * value.item()))
            out[rows] = x[rows] if value == 0 else solvers.rk4(velocity, x[rows], value.item(), 0.0, steps).x
        return out
    return f


def test_the_exact_consistency_function_has_zero_cd_loss():
    mix = mixture2d.default()
    velocity = flow.mixture_velocity(mix, LIN)
    x0 = mix.sample(256, torch.Generator().manual_seed(0)).double()
    times = torch.linspace(0.0, 1.0, 11, dtype=torch.float64)
    exact = _exact_consistency(velocity)
    kw = dict(method="heun", generator=torch.Generator().manual_seed(1))
    loss_exact = cm.cd_loss(exact, x0, velocity, LIN, times, **kw).item()
    one_euler_step = lambda x, t: x - t[:, None] * velocity(x, t)        # noqa: E731
    kw["generator"] = torch.Generator().manual_seed(1)
    loss_euler = cm.cd_loss(one_euler_step, x0, velocity, LIN, times, **kw).item()
    assert loss_exact < 1e-4 and loss_euler > 100 * loss_exact, (loss_exact, loss_euler)


def test_ct_loss_shares_the_noise_between_the_two_times():
    x0 = torch.randn(32, 2)
    times = torch.tensor([0.0, 1.0])                        # one interval: x_1 = eps, x_0 = x0
    loss = cm.ct_loss(lambda x, t: x, x0, LIN, times, generator=torch.Generator().manual_seed(3))
    gen = torch.Generator().manual_seed(3)
    torch.randint(0, 1, (32,), generator=gen)               # the draw of n
    eps = torch.randn(x0.shape, generator=gen)
    torch.testing.assert_close(loss, (eps - x0).square().mean())
    constant = cm.ct_loss(lambda x, t: torch.ones_like(x), x0, LIN, times)
    assert constant.item() == 0.0


def test_cd_and_ct_losses_train_a_model():
    model = _model()
    x0 = mixture2d.load("train")[:64]
    velocity = flow.mixture_velocity(mixture2d.default(), LIN)
    times = torch.linspace(0, 1, 5)
    for loss in (cm.cd_loss(model, x0, velocity, LIN, times, distance="pseudo_huber"),
                 cm.ct_loss(model, x0, LIN, times, target=_model())):
        loss.backward()
        assert loss.item() > 0 and model.net.inp.weight.grad is not None


def test_sample_counts_one_evaluation_per_time():
    model = _model()
    x_1 = torch.randn(10, 2)
    one = cm.sample(model, times=[1.0], x_1=x_1)
    torch.testing.assert_close(one.x, model(x_1, 1.0))
    out = cm.sample(model, times=[1.0, 0.6, 0.2], x_1=x_1, generator=torch.Generator().manual_seed(0),
                    return_trajectory=True)
    assert out.nfe == 3 and out.x.shape == (10, 2) and out.trajectory.shape == (3, 10, 2)
    assert cm.sample(model, (7, 2), generator=torch.Generator().manual_seed(0)).x.shape == (7, 2)


def test_recipe_builds_and_trains():
    recipe = pretrained.RECIPES["cm_digits_unet"]
    model = cm.build_for_recipe(recipe)
    assert isinstance(model, cm.ConsistencyModel)
    x = torch.randn(3, 1, 8, 8)
    assert torch.equal(model(x, 0.0), x)
    trained, hist = cm.train_for_recipe("cm_digits_unet", recipe, steps=2, progress=False)
    assert hist.steps == 2 and trained(x, 0.5).shape == x.shape


def test_bad_input():
    model = _model()
    x0, times = torch.randn(8, 2), torch.linspace(0, 1, 5)
    velocity = flow.mixture_velocity(mixture2d.default(), LIN)
    with pytest.raises(ValueError, match="path"):
        cm.ConsistencyModel(mlp.TimeMLP(dim=2), "linear")
    with pytest.raises(ValueError, match="net"):
        cm.ConsistencyModel(lambda x, t: x, LIN)
    with pytest.raises(ValueError, match="sigma_data"):
        cm.skip_out(0.5, LIN, sigma_data=-1.0)
    with pytest.raises(ValueError, match="t_min"):
        cm.ConsistencyModel(mlp.TimeMLP(dim=2), LIN, t_min=1.0)
    with pytest.raises(ValueError, match="t must be >= t_min"):
        cm.skip_out(torch.tensor([0.1]), LIN, t_min=0.2)
    with pytest.raises(ValueError, match="times"):
        cm.cd_loss(model, x0, velocity, LIN, torch.tensor([0.0, 0.5, 0.4]))
    with pytest.raises(ValueError, match="times"):
        cm.ct_loss(model, x0, LIN, torch.tensor([0.5]))
    with pytest.raises(ValueError, match="distance"):
        cm.ct_loss(model, x0, LIN, times, distance="l1")
    with pytest.raises(ValueError, match="teacher"):
        cm.cd_loss(model, x0, "teacher", LIN, times)
    with pytest.raises(ValueError, match="x0"):
        cm.ct_loss(model, torch.randn(8), LIN, times)
    with pytest.raises(ValueError, match="method"):
        cm.teacher_step(velocity, x0, 0.5, 0.2, LIN, method="rk4")
    with pytest.raises(ValueError, match="s must not be later"):
        cm.teacher_step(velocity, x0, 0.2, 0.5, LIN)
    with pytest.raises(ValueError, match="parameterization"):
        cm.teacher_step(velocity, x0, 0.5, 0.2, LIN, parameterization="noise")
    with pytest.raises(ValueError, match="times"):
        cm.sample(model, (4, 2), times=[0.5, 1.0])
    with pytest.raises(ValueError, match="shape or x_1"):
        cm.sample(model)


def test_exercise_checks_accept_the_solution_and_reject_mistakes():
    from unigen import checks

    def skip_out_no_shift(sigma_t, sigma_min, sigma_data):           # boundary at sigma = 0, not sigma_min
        return (sigma_data**2 / (sigma_t**2 + sigma_data**2),
                sigma_data * sigma_t / (sigma_data**2 + sigma_t**2).sqrt())

    def sample_one_step(f, x_1, times, noises):                        # ignores the later times
        return f(x_1, torch.full((len(x_1),), times[0], dtype=x_1.dtype))

    def cd_with_grad_target(f, velocity, x0, eps, n, times):           # wrong time for the target
        t_n, t_next = times[n], times[n + 1]
        x_next = (1 - t_next)[:, None] * x0 + t_next[:, None] * eps
        x_hat = x_next + (t_n - t_next)[:, None] * velocity(x_next, t_next)
        return (f(x_next, t_next) - f(x_hat, t_next)).square().mean(1).mean()

    for check, wrong in ((checks.skip_out_coefficients, skip_out_no_shift),
                         (checks.consistency_sample, sample_one_step),
                         (checks.consistency_distillation_loss, cd_with_grad_target)):
        with pytest.raises(checks.CheckFailed):
            check(wrong, quiet=True)
