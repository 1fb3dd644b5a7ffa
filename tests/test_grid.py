"""Tests for unigen.nn.grid: the posterior over levels against brute force, bad input."""
import pytest
import torch

from unigen import schedules
from unigen.nn import grid, mlp

LEVELS = torch.linspace(-1, 1, 17, dtype=torch.float64)


def brute_force(x, a, s, logits, dequantized):
    """E[x0 | x_t] by quadrature over each bin (dequantized) or over the levels."""
    n = 2001 if dequantized else 1
    u = (torch.arange(n, dtype=torch.float64) + 0.5) / n - 0.5 if dequantized else torch.zeros(1)
    y = (LEVELS[:, None] + 0.125 * u[None]).reshape(-1)                       # (L * n,)
    z = (x[..., None] - a[:, None, None] * y) / s[:, None, None]
    logp = logits.repeat_interleave(n, -1) - 0.5 * z**2
    return (logp.softmax(-1) * y).sum(-1)


@pytest.mark.parametrize("dequantized", [False, True])
@pytest.mark.parametrize("a0, s0", [(0.999, 0.02), (0.9, 0.3), (0.3, 0.95), (1e-4, 1.0)])
def test_posterior_mean_matches_brute_force(dequantized, a0, s0):
    g = torch.Generator().manual_seed(0)
    x = torch.randn(4, 5, generator=g, dtype=torch.float64) * 0.8
    logits = torch.randn(4, 5, 17, generator=g, dtype=torch.float64)
    a, s = torch.full((4,), a0, dtype=torch.float64), torch.full((4,), s0, dtype=torch.float64)
    got = grid.grid_posterior_mean(x, a, s, logits, LEVELS, dequantized=dequantized)
    torch.testing.assert_close(got, brute_force(x, a, s, logits, dequantized), rtol=0, atol=1e-5)


def test_small_noise_snaps_to_the_grid():
    x0 = LEVELS[torch.randint(0, 17, (3, 8), generator=torch.Generator().manual_seed(1))]
    a = torch.full((3,), 0.9999, dtype=torch.float64)
    s = torch.full((3,), 0.005, dtype=torch.float64)
    x_t = a[:, None] * x0 + 0.01 * torch.randn(3, 8, dtype=torch.float64)
    flat = torch.zeros(3, 8, 17, dtype=torch.float64)
    torch.testing.assert_close(grid.grid_posterior_mean(x_t, a, s, flat, LEVELS), x0)


def test_denoiser_shapes_gradients_and_bad_input():
    body = mlp.TimeMLP(dim=6, hidden=16, depth=1)
    net = grid.GridDenoiser(body, schedules.LinearPath(), dequantized=True)
    x, t = torch.randn(5, 6), torch.rand(5) * 0.98 + 0.01
    out = net(x, t)
    assert out.shape == (5, 6) and (out.abs() <= 1 + 1 / 16).all()
    out.sum().backward()
    assert all(torch.isfinite(p.grad).all() for p in net.parameters() if p.grad is not None)
    assert torch.isfinite(net(x, torch.ones(5))).all()          # alpha = 0 on the linear path
    with pytest.raises(ValueError, match="path"):
        grid.GridDenoiser(mlp.TimeMLP(dim=6), "linear")
    with pytest.raises(ValueError, match="n_levels"):
        grid.GridDenoiser(mlp.TimeMLP(dim=6), schedules.LinearPath(), n_levels=1)
    with pytest.raises(ValueError, match="prior_logits"):
        grid.grid_posterior_mean(x, t, t, torch.zeros(5, 6, 3), LEVELS.float())
    with pytest.raises(ValueError, match="sigma_t"):
        grid.grid_posterior_mean(x, t, torch.zeros(5), torch.zeros(5, 6, 17), LEVELS.float())
