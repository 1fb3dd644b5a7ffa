import pytest
import torch

from unigen import checks


def test_conditional_velocity_check():
    checks.conditional_velocity(lambda x0, eps, da, ds: da[:, None] * x0 + ds[:, None] * eps, quiet=True)
    with pytest.raises(checks.CheckFailed, match="conditional_velocity"):   # the linear path's eps - x0 only
        checks.conditional_velocity(lambda x0, eps, da, ds: eps - x0)


def test_velocity_from_eps_check():
    def mine(x_t, eps, a, s, da, ds):
        x0 = (x_t - s[:, None] * eps) / a[:, None]
        return da[:, None] * x0 + ds[:, None] * eps
    checks.velocity_from_eps(mine, quiet=True)
    with pytest.raises(checks.CheckFailed, match="velocity_from_eps"):     # forgot to divide by alpha
        checks.velocity_from_eps(lambda x_t, eps, a, s, da, ds: da[:, None] * (x_t - s[:, None] * eps)
                                 + ds[:, None] * eps)


def test_euler_sample_check():
    def mine(velocity, x, steps):
        h = 1.0 / steps
        for n in range(steps):
            t = torch.full((len(x),), 1.0 - n * h, dtype=x.dtype)
            x = x - h * velocity(x, t)
        return x
    checks.euler_sample(mine, quiet=True)

    def forwards(velocity, x, steps):                                       # integrates the wrong way
        for n in range(steps):
            x = x + velocity(x, torch.full((len(x),), n / steps, dtype=x.dtype)) / steps
        return x
    with pytest.raises(checks.CheckFailed, match="euler_sample"):
        checks.euler_sample(forwards)


def test_straightness_check():
    def mine(traj, t):
        h = t[1:] - t[:-1]
        speed = (traj[1:] - traj[:-1]) / h[:, None, None]
        chord = (traj[-1] - traj[0]) / (t[-1] - t[0])
        return ((speed - chord) ** 2).sum(-1).mul(h.abs()[:, None]).sum(0) / (t[-1] - t[0]).abs()
    checks.straightness(mine, quiet=True)
    with pytest.raises(checks.CheckFailed, match="straightness"):           # forgot the step widths
        checks.straightness(lambda traj, t: ((traj[1:] - traj[:-1]) - (traj[-1] - traj[0])).square()
                            .sum(-1).sum(0))

    def even_grid_only(traj, t):                  # ignores t: right only on an even grid over [0, 1]
        S = len(traj) - 1
        speed = (traj[1:] - traj[:-1]) * -S
        chord = -(traj[-1] - traj[0])
        return ((speed - chord) ** 2).sum(-1).sum(0) / S
    even = torch.linspace(1, 0, 5, dtype=torch.float64)
    traj = torch.randn(5, 3, 2, dtype=torch.float64)
    torch.testing.assert_close(even_grid_only(traj, even), mine(traj, even))
    with pytest.raises(checks.CheckFailed, match="straightness"):
        checks.straightness(even_grid_only)

    def unweighted_mean(traj, t):                 # averages the steps instead of weighting by width
        h = t[1:] - t[:-1]
        speed = (traj[1:] - traj[:-1]) / h[:, None, None]
        chord = (traj[-1] - traj[0]) / (t[-1] - t[0])
        return ((speed - chord) ** 2).sum(-1).mean(0)
    with pytest.raises(checks.CheckFailed, match="straightness"):
        checks.straightness(unweighted_mean)
