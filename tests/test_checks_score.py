"""The checks of Part IV accept the solutions and reject the mistakes students make, with a helpful message."""
import math

import pytest
import torch

from unigen import checks
from check_helpers import rejected, cases


# ---- langevin_step ----------------------------------------------------------------------------

def langevin_step(x, score_x, step_size, z):
    return x + step_size * score_x + math.sqrt(2 * step_size) * z


def lang_missing_two(x, s, eps, z):                           # sqrt(eps), not sqrt(2 eps)
    return x + eps * s + math.sqrt(eps) * z


def lang_missing_sqrt(x, s, eps, z):                          # the variance 2 eps as the scale
    return x + eps * s + 2 * eps * z


def lang_half_step_drift(x, s, eps, z):                       # the other convention: eps/2 and sqrt(eps)
    return x + eps / 2 * s + math.sqrt(eps) * z


def lang_descends_the_score(x, s, eps, z):                    # wrong sign
    return x - eps * s + math.sqrt(2 * eps) * z


def lang_no_noise(x, s, eps, z):                              # gradient ascent, not sampling
    return x + eps * s


def lang_in_place(x, s, eps, z):
    return x.add_(eps * s + math.sqrt(2 * eps) * z)


@cases((lang_missing_two, "`x_next` differs"), (lang_missing_sqrt, "`x_next` differs"),
       (lang_half_step_drift, "`x_next` differs"), (lang_descends_the_score, "`x_next` differs"),
       (lang_no_noise, "`x_next` differs"), (lang_in_place, "modified its input `x` in place"))
def test_langevin_step_rejects(wrong, expected):
    msg = rejected(checks.langevin_step, wrong)
    assert expected in msg and "trial 1 of" in msg
    assert "step_size = 0.02" in msg and "then call langevin_step(x, score_x, step_size, z)" in msg


# ---- dsm_target -------------------------------------------------------------------------------

def dsm_target(x_t, x0, alpha_t, sigma_t):
    return -(x_t - alpha_t[:, None] * x0) / sigma_t[:, None] ** 2


def dsm_divides_by_sigma_once(x_t, x0, a, s):                 # returns -eps: std, not variance
    return -(x_t - a[:, None] * x0) / s[:, None]


def dsm_wrong_sign(x_t, x0, a, s):
    return (x_t - a[:, None] * x0) / s[:, None] ** 2


def dsm_forgets_alpha(x_t, x0, a, s):                         # the mean is alpha_t x0, not x0
    return -(x_t - x0) / s[:, None] ** 2


def dsm_extra_half(x_t, x0, a, s):                            # the 1/2 of the exponent kept
    return -(x_t - a[:, None] * x0) / (2 * s[:, None] ** 2)


def dsm_no_broadcast(x_t, x0, a, s):                          # (B,) against (B, D): columns, not rows
    return -(x_t - a * x0) / s**2


@cases((dsm_divides_by_sigma_once, "`score` differs"), (dsm_wrong_sign, "`score` differs"),
       (dsm_forgets_alpha, "`score` differs"), (dsm_extra_half, "`score` differs"),
       (dsm_no_broadcast, "`score` differs"))
def test_dsm_target_rejects(wrong, expected):
    msg = rejected(checks.dsm_target, wrong)
    assert msg.startswith("dsm_target: " + expected) and "trial 1 of" in msg
    assert "alpha_t = torch.tensor([0.8, 0.5], dtype=torch.float64)" in msg
    assert "then call dsm_target(x_t, x0, alpha_t, sigma_t)" in msg


# ---- hutchinson_estimate ----------------------------------------------------------------------

def hutchinson_estimate(f, x, v):                             # the notebook's solution
    x = x.detach().clone().requires_grad_(True)
    with torch.enable_grad():
        vjp = torch.autograd.grad((f(x) * v).sum(), x)[0]
    return (vjp * v).sum(1).detach()


def _vjp(f, x, v):
    x = x.detach().clone().requires_grad_(True)
    return torch.autograd.grad((f(x) * v).sum(), x)[0]


def hutch_exact_trace(f, x, v):                               # the exact divergence ignores the probe
    x = x.detach().clone().requires_grad_(True)
    out = f(x)
    return sum(torch.autograd.grad(out[:, i].sum(), x, retain_graph=True)[0][:, i] for i in range(x.shape[1]))


def hutch_forgets_second_v(f, x, v):                          # returns the sum of v^T J, not v^T J v
    return _vjp(f, x, v).sum(1)


def hutch_batch_total(f, x, v):                               # one number for the batch
    return (_vjp(f, x, v) * v).sum()


def hutch_mean_over_dims(f, x, v):
    return (_vjp(f, x, v) * v).mean(1)


def hutch_no_derivative(f, x, v):                             # v^T f(x), not v^T J v
    return (f(x) * v).sum(1)


def hutch_probe_of_ones(f, x, v):                             # ignores v: a probe of ones
    ones = torch.ones_like(x)
    return (_vjp(f, x, ones) * ones).sum(1)


@cases((hutch_exact_trace, "`estimate` differs"), (hutch_forgets_second_v, "`estimate` differs"),
       (hutch_batch_total, "`estimate` has shape (), expected"), (hutch_mean_over_dims, "`estimate` differs"),
       (hutch_no_derivative, "`estimate` differs"), (hutch_probe_of_ones, "`estimate` differs"))
def test_hutchinson_estimate_rejects(wrong, expected):
    msg = rejected(checks.hutchinson_estimate, wrong)
    assert msg.startswith("hutchinson_estimate: " + expected)
    assert "f: function" in msg and 'args = checks.failing_inputs("hutchinson_estimate", trial=' in msg


def test_hutchinson_failing_case_reproduces():
    msg = rejected(checks.hutchinson_estimate, hutch_mean_over_dims)
    trial = int(msg.split("trial=")[1].split(")")[0])
    f, x, v = checks.failing_inputs("hutchinson_estimate", trial=trial)
    assert not torch.allclose(hutch_mean_over_dims(f, x, v), hutchinson_estimate(f, x, v))


# ---- vp_pf_velocity ---------------------------------------------------------------------------

def vp_pf_velocity(x, score_x, beta_t):
    return -0.5 * beta_t[:, None] * (x + score_x)


def vp_reverse_sde_drift(x, s, b):                            # f - g^2 s: the SDE's drift, not the ODE's
    return -0.5 * b[:, None] * x - b[:, None] * s


def vp_forward_drift_only(x, s, b):                           # forgets the score term
    return -0.5 * b[:, None] * x


def vp_score_sign(x, s, b):
    return -0.5 * b[:, None] * (x - s)


def vp_missing_half(x, s, b):
    return -b[:, None] * (x + s)


def vp_reverse_time(x, s, b):                                 # the velocity of s = 1 - t
    return 0.5 * b[:, None] * (x + s)


def vp_no_broadcast(x, s, b):
    return -0.5 * b * (x + s)


@cases((vp_reverse_sde_drift, "`velocity` differs"), (vp_forward_drift_only, "`velocity` differs"),
       (vp_score_sign, "`velocity` differs"), (vp_missing_half, "`velocity` differs"),
       (vp_reverse_time, "`velocity` differs"), (vp_no_broadcast, "`velocity` differs"))
def test_vp_pf_velocity_rejects(wrong, expected):
    msg = rejected(checks.vp_pf_velocity, wrong)
    assert msg.startswith("vp_pf_velocity: " + expected) and "trial 1 of" in msg
    assert "beta_t = torch.tensor([1.0, 4.0], dtype=torch.float64)" in msg


# ---- discretized_log_prob ---------------------------------------------------------------------

def discretized_log_prob(x, mean, std, delta=2 / 16):         # the notebook's solution
    normal = torch.distributions.Normal(mean, std)
    upper = torch.where(x >= 1, torch.ones_like(x), normal.cdf(x + delta / 2))
    lower = torch.where(x <= -1, torch.zeros_like(x), normal.cdf(x - delta / 2))
    return torch.log(upper - lower)


def disc(x, mean, std, delta, *, half=None, open_low=True, open_high=True, scale=None, log=True):
    half = delta / 2 if half is None else half
    normal = torch.distributions.Normal(mean, std if scale is None else scale(std))
    upper = torch.where((x >= 1) & open_high, torch.ones_like(x), normal.cdf(x + half))
    lower = torch.where((x <= -1) & open_low, torch.zeros_like(x), normal.cdf(x - half))
    return torch.log(upper - lower) if log else upper - lower


def disc_closed_edges(x, mean, std, delta=2 / 16):            # the edge bins stop at -1 - delta/2, 1 + delta/2
    return disc(x, mean, std, delta, open_low=False, open_high=False)


def disc_only_lower_edge_open(x, mean, std, delta=2 / 16):
    return disc(x, mean, std, delta, open_high=False)


def disc_full_width(x, mean, std, delta=2 / 16):              # x +- delta, bins twice as wide
    return disc(x, mean, std, delta, half=delta)


def disc_fixed_width(x, mean, std, delta=2 / 16):             # 1/16 written as a number: ignores delta
    return disc(x, mean, std, delta, half=1 / 16)


def disc_std_as_variance(x, mean, std, delta=2 / 16):
    return disc(x, mean, std, delta, scale=lambda s: s**2)


def disc_mass_not_log(x, mean, std, delta=2 / 16):
    return disc(x, mean, std, delta, log=False)


def disc_density_times_width(x, mean, std, delta=2 / 16):     # log p(x) + log delta: no open edges
    return torch.distributions.Normal(mean, std).log_prob(x) + math.log(delta)


@cases((disc_closed_edges, "`log_prob` differs"), (disc_only_lower_edge_open, "`log_prob` differs"),
       (disc_full_width, "`log_prob` differs"), (disc_std_as_variance, "`log_prob` differs"),
       (disc_mass_not_log, "`log_prob` differs"), (disc_density_times_width, "`log_prob` differs"))
def test_discretized_log_prob_rejects(wrong, expected):
    msg = rejected(checks.discretized_log_prob, wrong)
    assert msg.startswith("discretized_log_prob: " + expected) and "trial 1 of" in msg
    assert "std = 0.25\n    delta = 0.125" in msg and "then call discretized_log_prob(x, mean, std, delta)" in msg


def test_discretized_log_prob_needs_delta():
    msg = rejected(checks.discretized_log_prob, disc_fixed_width)
    assert msg.startswith("discretized_log_prob: `log_prob` differs") and "trial 2 of" in msg
    assert "delta = 0.5" in msg


# ---- dequantized_bpd --------------------------------------------------------------------------

def dequantized_bpd(log_p, dims, n_levels):                   # the notebook's solution
    delta = 2 / (n_levels - 1)
    return (-log_p - dims * math.log(delta)) / (dims * math.log(2))


def bpd(log_p, dims, delta, *, per_dim=True, base=math.log(2), sign=1.0):
    return (-log_p - sign * (dims if per_dim else 1) * math.log(delta)) / (dims * base)


def bpd_of_the_density(log_p, dims, n_levels):                # forgets the bin width
    return -log_p / (dims * math.log(2))


def bpd_levels_off_by_one(log_p, dims, n_levels):             # delta = 2 / n_levels
    return bpd(log_p, dims, 2 / n_levels)


def bpd_unit_range(log_p, dims, n_levels):                    # data on [0, 1]: delta = 1 / (n_levels - 1)
    return bpd(log_p, dims, 1 / (n_levels - 1))


def bpd_delta_sign(log_p, dims, n_levels):
    return bpd(log_p, dims, 2 / (n_levels - 1), sign=-1.0)


def bpd_nats(log_p, dims, n_levels):                          # nats per dimension, not bits
    return bpd(log_p, dims, 2 / (n_levels - 1), base=1.0)


def bpd_delta_once(log_p, dims, n_levels):                    # log delta once, not once per dimension
    return bpd(log_p, dims, 2 / (n_levels - 1), per_dim=False)


@cases((bpd_of_the_density, "`bpd` differs"), (bpd_levels_off_by_one, "`bpd` differs"),
       (bpd_unit_range, "`bpd` differs"), (bpd_delta_sign, "`bpd` differs"), (bpd_nats, "`bpd` differs"),
       (bpd_delta_once, "`bpd` differs"))
def test_dequantized_bpd_rejects(wrong, expected):
    msg = rejected(checks.dequantized_bpd, wrong)
    assert msg.startswith("dequantized_bpd: " + expected) and "trial 1 of" in msg
    assert "log_p = torch.tensor([-10.0, 0.0, 5.0], dtype=torch.float64)\n    dims = 4\n    n_levels = 5" in msg


# ---- the solutions pass -----------------------------------------------------------------------

def test_score_checks_accept_solutions():
    checks.langevin_step(langevin_step, quiet=True)
    checks.dsm_target(dsm_target, quiet=True)
    checks.hutchinson_estimate(hutchinson_estimate, quiet=True)
    checks.vp_pf_velocity(vp_pf_velocity, quiet=True)
    checks.discretized_log_prob(discretized_log_prob, quiet=True)
    checks.discretized_log_prob(disc, quiet=True)
    checks.dequantized_bpd(dequantized_bpd, quiet=True)


def test_discretized_log_prob_levels_vary():
    """Some random inputs use other bin widths than the chapter's 1/8, each on its own grid."""
    deltas = {checks.failing_inputs("discretized_log_prob", trial=k)[3] for k in range(3, 12)}
    assert 2 / 16 in deltas and len(deltas) > 1
    for k in range(1, 12):
        x, _, _, delta = checks.failing_inputs("discretized_log_prob", trial=k)
        assert torch.allclose((x + 1) / delta, ((x + 1) / delta).round()) and x.min() == -1 and x.max() == 1
