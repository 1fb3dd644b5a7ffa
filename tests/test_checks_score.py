import math

import pytest
import torch

from unigen import checks


def test_langevin_step_check():
    checks.langevin_step(lambda x, s, eps, z: x + eps * s + math.sqrt(2 * eps) * z, quiet=True)
    with pytest.raises(checks.CheckFailed, match="langevin_step"):
        checks.langevin_step(lambda x, s, eps, z: x + eps * s + math.sqrt(eps) * z)   # forgot the 2


def test_dsm_target_check():
    checks.dsm_target(lambda x_t, x0, a, s: (a[:, None] * x0 - x_t) / s[:, None] ** 2, quiet=True)
    with pytest.raises(checks.CheckFailed, match="dsm_target"):   # returns -eps: divided by sigma once
        checks.dsm_target(lambda x_t, x0, a, s: (a[:, None] * x0 - x_t) / s[:, None])


def test_hutchinson_estimate_check():
    def mine(f, x, v):
        x = x.clone().requires_grad_(True)
        vjp = torch.autograd.grad((f(x) * v).sum(), x)[0]
        return (vjp * v).sum(1)
    checks.hutchinson_estimate(mine, quiet=True)

    def exact_trace(f, x, v):                 # the exact divergence is not the estimator
        x = x.clone().requires_grad_(True)
        out = f(x)
        return sum(torch.autograd.grad(out[:, i].sum(), x, retain_graph=True)[0][:, i] for i in range(3))
    with pytest.raises(checks.CheckFailed, match="hutchinson_estimate"):
        checks.hutchinson_estimate(exact_trace)


def test_vp_pf_velocity_check():
    checks.vp_pf_velocity(lambda x, s, b: -0.5 * b[:, None] * (x + s), quiet=True)
    with pytest.raises(checks.CheckFailed, match="vp_pf_velocity"):  # the reverse-SDE drift instead
        checks.vp_pf_velocity(lambda x, s, b: -0.5 * b[:, None] * x - b[:, None] * s)


def test_discretized_log_prob_check():
    def mine(x, mean, std):
        lo = torch.where(x <= -1, torch.full_like(x, -math.inf), x - 1 / 16)
        hi = torch.where(x >= 1, torch.full_like(x, math.inf), x + 1 / 16)
        normal = torch.distributions.Normal(mean, std)
        return torch.log(normal.cdf(hi) - normal.cdf(lo))
    checks.discretized_log_prob(mine, quiet=True)

    def closed_edges(x, mean, std):           # forgets that the edge bins reach to infinity
        normal = torch.distributions.Normal(mean, std)
        return torch.log(normal.cdf(x + 1 / 16) - normal.cdf(x - 1 / 16))
    with pytest.raises(checks.CheckFailed, match="discretized_log_prob"):
        checks.discretized_log_prob(closed_edges)


def test_dequantized_bpd_check():
    def mine(log_p, dims, n_levels):
        return (-log_p - dims * math.log(2 / (n_levels - 1))) / (dims * math.log(2))
    checks.dequantized_bpd(mine, quiet=True)
    with pytest.raises(checks.CheckFailed, match="dequantized_bpd"):   # the bits/dim of the density itself
        checks.dequantized_bpd(lambda log_p, dims, n_levels: -log_p / (dims * math.log(2)))
