import math

import pytest
import torch

from unigen import solvers

LAM = -1.3


def linear(x, t):
    """dx/dt = LAM x + cos t has the known solution below."""
    return LAM * x + torch.cos(t)[:, None]


def exact(x0, t0, t1):
    # x(t) = C e^{LAM t} + (LAM' cos + sin) / (1 + LAM^2) with particular solution p(t)
    def p(t):
        return (-LAM * math.cos(t) + math.sin(t)) / (1 + LAM**2)
    return (x0 - p(t0)) * math.exp(LAM * (t1 - t0)) + p(t1)


@pytest.mark.parametrize("method,order", [("euler", 1), ("heun", 2), ("rk4", 4)])
@pytest.mark.parametrize("direction", [(0.0, 1.0), (1.0, 0.0)])
def test_order_of_convergence(method, order, direction):
    t0, t1 = direction
    x0 = torch.tensor([[0.7], [-1.2]], dtype=torch.float64)
    errors = []
    for steps in (10, 20, 40):
        out = solvers.integrate(linear, x0, t0, t1, steps, method=method)
        errors.append((out.x - exact(x0, t0, t1)).abs().max().item())
        assert out.nfe == steps * {"euler": 1, "heun": 2, "rk4": 4}[method]
    rates = [math.log2(errors[i] / errors[i + 1]) for i in range(2)]
    assert all(abs(r - order) < 0.25 for r in rates), rates


def test_named_solvers_match_integrate_and_grid():
    x0 = torch.randn(4, 3, dtype=torch.float64)
    grid = torch.tensor([0.0, 0.1, 0.3, 0.6, 1.0], dtype=torch.float64)
    for name in solvers.METHODS:
        a = getattr(solvers, name)(linear, x0, 0.0, 1.0, 8)
        b = solvers.integrate(linear, x0, 0.0, 1.0, 8, method=name)
        torch.testing.assert_close(a.x, b.x)
        c = getattr(solvers, name)(linear, x0, grid=grid, return_trajectory=True)
        assert c.trajectory.shape == (5, 4, 3)
        torch.testing.assert_close(c.trajectory[0], x0)
        torch.testing.assert_close(c.trajectory[-1], c.x)


def test_tuple_state_integrates_each_part():
    x0 = torch.ones(3, 2, dtype=torch.float64)
    y0 = torch.zeros(3, dtype=torch.float64)

    def f(state, t):
        x, y = state
        return (-x, x.sum(1))          # y' = sum of x, so y(1) = 2 (1 - e^-1)
    out = solvers.rk4(f, (x0, y0), 0.0, 1.0, 20, return_trajectory=True)
    torch.testing.assert_close(out.x[0], x0 * math.exp(-1), rtol=1e-6, atol=1e-8)
    torch.testing.assert_close(out.x[1], torch.full((3,), 2 * (1 - math.exp(-1)), dtype=torch.float64),
                               rtol=1e-6, atol=1e-8)
    assert out.trajectory[0].shape == (21, 3, 2) and out.trajectory[1].shape == (21, 3)


def test_time_passed_per_sample():
    seen = []

    def f(x, t):
        seen.append(t)
        return torch.zeros_like(x)
    solvers.heun(f, torch.zeros(5, 2), 1.0, 0.0, 2)
    assert all(t.shape == (5,) and t.dtype == torch.float32 for t in seen)
    assert [round(float(t[0]), 6) for t in seen] == [1.0, 0.5, 0.5, 0.0]


def test_euler_maruyama_ornstein_uhlenbeck_moments():
    """dx = -x dt + sqrt(2) dW from x=2: mean 2e^{-t}, variance 1 - e^{-2t}."""
    gen = torch.Generator().manual_seed(0)
    x0 = torch.full((40_000, 1), 2.0, dtype=torch.float64)
    out = solvers.euler_maruyama(lambda x, t: -x, lambda x, t: math.sqrt(2.0), x0, 0.0, 1.0, 200,
                                 generator=gen)
    assert out.nfe == 200
    assert abs(out.x.mean().item() - 2 * math.exp(-1)) < 0.02
    assert abs(out.x.var().item() - (1 - math.exp(-2))) < 0.02
    # same seed, same path; a (B,) diffusion coefficient broadcasts
    a = solvers.euler_maruyama(lambda x, t: -x, lambda x, t: torch.ones(x.shape[0]), x0[:5], 0.0, 1.0, 5,
                               generator=torch.Generator().manual_seed(1))
    b = solvers.euler_maruyama(lambda x, t: -x, lambda x, t: 1.0, x0[:5], 0.0, 1.0, 5,
                               generator=torch.Generator().manual_seed(1))
    torch.testing.assert_close(a.x, b.x)


def test_euler_maruyama_backwards_and_no_last_noise():
    x0 = torch.zeros(3, 2)
    out = solvers.euler_maruyama(lambda x, t: torch.zeros_like(x), lambda x, t: 1.0, x0, 1.0, 0.0, 1,
                                 last_step_noise=False, return_trajectory=True)
    assert (out.x == 0).all() and out.trajectory.shape == (2, 3, 2)


def test_bad_input():
    x = torch.zeros(2, 2)
    with pytest.raises(ValueError, match="method"):
        solvers.integrate(linear, x, 0.0, 1.0, 4, method="midpoint")
    with pytest.raises(ValueError, match="steps"):
        solvers.euler(linear, x, 0.0, 1.0, 0)
    with pytest.raises(ValueError, match="t0 and t1"):
        solvers.euler(linear, x, 0.5, 0.5, 3)
    with pytest.raises(ValueError, match="grid"):
        solvers.euler(linear, x, grid=torch.tensor([0.0, 0.5, 0.2]))
    with pytest.raises(ValueError, match="steps or grid"):
        solvers.euler(linear, x, 0.0, 1.0, 3, grid=torch.tensor([0.0, 1.0]))
    with pytest.raises(ValueError, match="f must be callable"):
        solvers.rk4("f", x, 0.0, 1.0, 3)
    with pytest.raises(ValueError, match="x must"):
        solvers.rk4(linear, [1.0, 2.0], 0.0, 1.0, 3)
    with pytest.raises(ValueError, match="x must"):
        solvers.rk4(linear, torch.zeros(2, dtype=torch.long), 0.0, 1.0, 3)
    with pytest.raises(ValueError, match="g must be callable"):
        solvers.euler_maruyama(linear, None, x, 0.0, 1.0, 3)
    with pytest.raises(ValueError, match="x must be a tensor"):
        solvers.euler_maruyama(linear, lambda x, t: 1.0, (x, x), 0.0, 1.0, 3)
