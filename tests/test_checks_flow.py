"""The checks of Part V accept the solutions and reject the mistakes students make, with a helpful message."""
import re

import pytest
import torch

from unigen import checks, flow
from check_helpers import rejected, cases


def trial_of(msg) -> int:
    return int(re.search(r"\(trial (\d+) of \d+\)", msg).group(1))


# ---- conditional_velocity ---------------------------------------------------------------------

def conditional_velocity(x0, eps, d_alpha_t, d_sigma_t):
    return d_alpha_t[:, None] * x0 + d_sigma_t[:, None] * eps


def cv_linear_path_only(x0, eps, da, ds):                     # eps - x0 whatever the path
    return eps - x0


def cv_swapped(x0, eps, da, ds):
    return da[:, None] * eps + ds[:, None] * x0


def cv_towards_the_data(x0, eps, da, ds):                     # wrong sign: the velocity of s = 1 - t
    return -(da[:, None] * x0 + ds[:, None] * eps)


def cv_no_broadcast(x0, eps, da, ds):                         # (B,) against (B, D): columns, not rows
    return da * x0 + ds * eps


def cv_in_place(x0, eps, da, ds):
    return x0.mul_(da[:, None]).add_(ds[:, None] * eps)


@cases((cv_linear_path_only, "`velocity` differs"), (cv_swapped, "`velocity` differs"),
       (cv_towards_the_data, "`velocity` differs"), (cv_no_broadcast, "`velocity` differs"),
       (cv_in_place, "modified its input `x0` in place"))
def test_conditional_velocity_rejects(wrong, expected):
    msg = rejected(checks.conditional_velocity, wrong)
    assert expected in msg and "trial 1 of" in msg
    assert "d_alpha_t = torch.tensor([-1.0, -2.0], dtype=torch.float64)" in msg
    assert "then call conditional_velocity(x0, eps, d_alpha_t, d_sigma_t)" in msg


# ---- velocity_from_eps ------------------------------------------------------------------------

def velocity_from_eps(x_t, eps_hat, alpha_t, sigma_t, d_alpha_t, d_sigma_t):
    x0_hat = (x_t - sigma_t[:, None] * eps_hat) / alpha_t[:, None]
    return d_alpha_t[:, None] * x0_hat + d_sigma_t[:, None] * eps_hat


def vfe_forgets_alpha(x_t, e, a, s, da, ds):                  # x0_hat = x_t - sigma eps, not divided by alpha
    return da[:, None] * (x_t - s[:, None] * e) + ds[:, None] * e


def vfe_plus_sigma(x_t, e, a, s, da, ds):                     # wrong sign in x0_hat
    return da[:, None] * (x_t + s[:, None] * e) / a[:, None] + ds[:, None] * e


def vfe_x_t_for_x0(x_t, e, a, s, da, ds):                     # the CFM target with x_t in place of x0
    return da[:, None] * x_t + ds[:, None] * e


def vfe_swapped_alpha_sigma(x_t, e, a, s, da, ds):
    return da[:, None] * (x_t - a[:, None] * e) / s[:, None] + ds[:, None] * e


def vfe_no_broadcast(x_t, e, a, s, da, ds):
    return da * (x_t - s * e) / a + ds * e


def vfe_vp_only(x_t, e, a, s, da, ds):                        # f x - g^2 s / 2 with VP's g^2 = -2 f
    f = da[:, None] / a[:, None]
    return f * x_t - f * e / s[:, None]


@cases((vfe_forgets_alpha, "trial 1 of"), (vfe_plus_sigma, "trial 1 of"), (vfe_x_t_for_x0, "trial 1 of"),
       (vfe_swapped_alpha_sigma, "trial 1 of"), (vfe_no_broadcast, "trial 1 of"),
       (vfe_vp_only, "failing case (trial"))
def test_velocity_from_eps_rejects(wrong, expected):
    msg = rejected(checks.velocity_from_eps, wrong)
    assert msg.startswith("velocity_from_eps: `velocity` differs") and expected in msg
    assert "then call velocity_from_eps(" in msg


def test_velocity_from_eps_vp_only_formula_fails_on_the_linear_path():
    """The VP shortcut is right on the fixed (VP) case and wrong where alpha^2 + sigma^2 != 1."""
    args = checks.failing_inputs("velocity_from_eps", trial=1)
    torch.testing.assert_close(vfe_vp_only(*args), velocity_from_eps(*args))
    msg = rejected(checks.velocity_from_eps, vfe_vp_only)
    assert trial_of(msg) > 1
    x_t, e, a, s, da, ds = checks.failing_inputs("velocity_from_eps", trial=trial_of(msg))
    assert ((a**2 + s**2 - 1).abs() > 1e-3).any()


# ---- euler_sample -----------------------------------------------------------------------------

def euler_sample(velocity, x_1, steps):                       # the notebook's solution
    x, h = x_1, 1.0 / steps
    for n in range(steps):
        t = torch.full((len(x),), 1.0 - n * h, dtype=x.dtype, device=x.device)
        x = x - h * velocity(x, t)
    return x


def euler(velocity, x, steps, *, sign=-1.0, time=lambda n, h: 1.0 - n * h, n_steps=None, h=None):
    h = 1.0 / steps if h is None else h
    for n in range(steps if n_steps is None else n_steps):
        x = x + sign * h * velocity(x, torch.full((len(x),), time(n, h), dtype=x.dtype))
    return x


def euler_forwards(velocity, x, steps):                       # from t = 0 to t = 1
    return euler(velocity, x, steps, sign=1.0, time=lambda n, h: n * h)


def euler_wrong_sign(velocity, x, steps):                     # t decreases, but x moves along +v
    return euler(velocity, x, steps, sign=1.0)


def euler_time_at_step_end(velocity, x, steps):               # off by one: v at t_{n+1}, not t_n
    return euler(velocity, x, steps, time=lambda n, h: 1.0 - (n + 1) * h)


def euler_one_step_short(velocity, x, steps):                 # range(steps - 1)
    return euler(velocity, x, steps, n_steps=steps - 1)


def euler_fixed_steps(velocity, x, steps):                    # ignores steps
    return euler(velocity, x, 4)


def euler_in_place(velocity, x_1, steps):
    x, h = x_1, 1.0 / steps
    for n in range(steps):
        x -= h * velocity(x, torch.full((len(x),), 1.0 - n * h, dtype=x.dtype))
    return x


def euler_scalar_time(velocity, x, steps):                    # t as a number, not (B,)
    h = 1.0 / steps
    for n in range(steps):
        x = x - h * velocity(x, 1.0 - n * h)
    return x


@cases((euler_forwards, "euler_sample: `x_0` differs"), (euler_wrong_sign, "euler_sample: `x_0` differs"),
       (euler_time_at_step_end, "euler_sample: `x_0` differs"), (euler_one_step_short, "euler_sample: `x_0` differs"),
       (euler_fixed_steps, "euler_sample: `x_0` differs"),
       (euler_in_place, "euler_sample modified its input `x_1` in place"),
       (euler_scalar_time, "euler_sample raised TypeError"))
def test_euler_sample_rejects(wrong, expected):
    msg = rejected(checks.euler_sample, wrong)
    assert msg.startswith(expected)
    assert "velocity: function" in msg and 'args = checks.failing_inputs("euler_sample", trial=' in msg
    assert "then call euler_sample(*args)" in msg


# ---- straightness -----------------------------------------------------------------------------

def straightness(trajectory, t):                              # the notebook's solution
    h = t[1:] - t[:-1]
    speed = (trajectory[1:] - trajectory[:-1]) / h[:, None, None]
    chord = (trajectory[-1] - trajectory[0]) / (t[-1] - t[0])
    return ((speed - chord) ** 2).sum(-1).mul(h.abs()[:, None]).sum(0) / (t[-1] - t[0]).abs()


def st(traj, t, *, widths=True, weights="abs", span=True, square=True, reduce_dims="sum"):
    h = t[1:] - t[:-1]
    steps = traj[1:] - traj[:-1]
    speed = steps / h[:, None, None] if widths else steps
    chord = (traj[-1] - traj[0]) / ((t[-1] - t[0]) if span else -1.0)
    dev = (speed - chord) ** 2 if square else (speed - chord).abs()
    dev = dev.sum(-1) if reduce_dims == "sum" else dev.mean(-1)
    if weights == "mean":
        return dev.mean(0)
    w = h.abs() if weights == "abs" else h
    return (dev * w[:, None]).sum(0) / ((t[-1] - t[0]).abs() if span else 1.0)


def st_forgot_step_widths(traj, t):                           # displacements, not speeds
    return st(traj, t, widths=False)


def st_even_grid_only(traj, t):                               # ignores t: right only on an even grid over [0, 1]
    S = len(traj) - 1
    speed = (traj[1:] - traj[:-1]) * -S
    chord = -(traj[-1] - traj[0])
    return ((speed - chord) ** 2).sum(-1).sum(0) / S


def st_unweighted_mean(traj, t):                              # averages the steps instead of weighting by width
    return st(traj, t, weights="mean")


def st_signed_widths(traj, t):                                # h < 0 from t = 1 to 0: a negative S
    return st(traj, t, weights="signed")


def st_assumes_unit_span(traj, t):                            # chord x_0 - x_N and no division by |t_N - t_0|
    return st(traj, t, span=False)


def st_norm_not_squared(traj, t):
    return st(traj, t, square=False)


def st_mean_over_dims(traj, t):
    return st(traj, t, reduce_dims="mean")


@cases((st_forgot_step_widths, "trial 1 of"), (st_even_grid_only, "trial 1 of"),
       (st_unweighted_mean, "trial 1 of"), (st_signed_widths, "trial 1 of"),
       (st_assumes_unit_span, "failing case (trial"),
       (st_norm_not_squared, "trial 1 of"), (st_mean_over_dims, "trial 1 of"))
def test_straightness_rejects(wrong, expected):
    msg = rejected(checks.straightness, wrong)
    assert msg.startswith("straightness: `straightness` differs") and expected in msg
    assert "then call straightness(" in msg


def test_straightness_first_case_is_readable():
    msg = rejected(checks.straightness, st_even_grid_only)
    assert "trajectory = torch.tensor([[[0.0, 0.0]], [[1.0, 1.0]], [[2.0, 0.0]]], dtype=torch.float64)" in msg
    assert "t = torch.tensor([1.0, 0.75, 0.0], dtype=torch.float64)" in msg


def test_straightness_even_grid_formula_is_right_on_even_grids_only():
    """The gap reported on the check: ignoring t is right on linspace(1, 0), so the check uses uneven grids."""
    even = torch.linspace(1, 0, 5, dtype=torch.float64)
    traj = torch.randn(5, 3, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(st_even_grid_only(traj, even), straightness(traj, even))
    torch.testing.assert_close(st_assumes_unit_span(traj, even), straightness(traj, even))
    assert trial_of(rejected(checks.straightness, st_assumes_unit_span)) > 1       # passes the fixed case
    for k in range(2, 8):
        trajectory, t = checks.failing_inputs("straightness", trial=k)
        h = t.diff()
        assert (h < 0).all() and (h.max() - h.min()).abs() > 1e-3 and len(trajectory) == len(t)


# ---- the solutions pass -----------------------------------------------------------------------

def test_flow_checks_accept_solutions():
    checks.conditional_velocity(conditional_velocity, quiet=True)
    checks.velocity_from_eps(velocity_from_eps, quiet=True)
    checks.euler_sample(euler_sample, quiet=True)
    checks.euler_sample(euler, quiet=True)
    checks.straightness(straightness, quiet=True)
    checks.straightness(st, quiet=True)
    checks.straightness(flow.straightness, quiet=True)
