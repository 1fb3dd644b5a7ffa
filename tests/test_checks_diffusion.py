"""The checks of Part III accept the solutions and reject the mistakes students make, with a helpful message."""
import math

import pytest
import torch

from unigen import checks, ddpm, schedules
from unigen.checks.diffusion import toy_eps
from unigen.nn import dit
from check_helpers import rejected, cases


# ---- q_sample ---------------------------------------------------------------------------------

def q_sample(x0, alpha_bar, eps):
    return alpha_bar.sqrt()[:, None] * x0 + (1 - alpha_bar).sqrt()[:, None] * eps


def q_missing_sqrt(x0, ab, eps):                            # variances instead of standard deviations
    return ab[:, None] * x0 + (1 - ab)[:, None] * eps


def q_swapped_coefficients(x0, ab, eps):
    return (1 - ab).sqrt()[:, None] * x0 + ab.sqrt()[:, None] * eps


def q_minus_noise(x0, ab, eps):
    return ab.sqrt()[:, None] * x0 - (1 - ab).sqrt()[:, None] * eps


def q_no_broadcast(x0, ab, eps):                            # alpha_bar (B,) against (B, D)
    return ab.sqrt() * x0 + (1 - ab).sqrt() * eps


def q_in_place(x0, ab, eps):
    return x0.mul_(ab.sqrt()[:, None]).add_((1 - ab).sqrt()[:, None] * eps)


def q_ignores_eps(x0, ab, eps):
    return ab.sqrt()[:, None] * x0


@cases((q_missing_sqrt, "`x_t` differs"), (q_swapped_coefficients, "`x_t` differs"),
       (q_minus_noise, "`x_t` differs"), (q_ignores_eps, "`x_t` differs"),
       (q_no_broadcast, "q_sample raised RuntimeError"), (q_in_place, "modified its input `x0` in place"))
def test_q_sample_rejects(wrong, expected):
    msg = rejected(checks.q_sample, wrong)
    assert expected in msg
    assert "alpha_bar = torch.tensor([0.9, 0.2])" in msg and "then call q_sample(x0, alpha_bar, eps)" in msg


def test_q_sample_per_column_broadcast_fails_where_b_equals_d():
    def per_column(x0, ab, eps):                            # broadcasts silently when B == D
        if x0.shape[0] != x0.shape[1]:
            return q_sample(x0, ab, eps)
        return q_no_broadcast(x0, ab, eps)
    msg = rejected(checks.q_sample, per_column)
    assert "`x_t` differs" in msg and "trial 2 of" in msg


# ---- cosine_alpha_bar -------------------------------------------------------------------------

def cosine_alpha_bar(t, s):
    f = torch.cos((t + s) / (1 + s) * math.pi / 2) ** 2
    return f / math.cos(s / (1 + s) * math.pi / 2) ** 2


def cos_not_normalised(t, s):
    return torch.cos((t + s) / (1 + s) * math.pi / 2) ** 2


def cos_not_squared(t, s):
    return torch.cos((t + s) / (1 + s) * math.pi / 2) / math.cos(s / (1 + s) * math.pi / 2)


def cos_forgot_offset(t, s):                                # s only in the denominator
    return torch.cos(t / (1 + s) * math.pi / 2) ** 2


def cos_forgot_one_plus_s(t, s):                            # alpha_bar(1) is not 0
    return torch.cos((t + s) * math.pi / 2) ** 2 / math.cos(s * math.pi / 2) ** 2


@cases((cos_not_normalised, "`alpha_bar` differs"), (cos_not_squared, "`alpha_bar` differs"),
       (cos_forgot_offset, "`alpha_bar` differs"), (cos_forgot_one_plus_s, "`alpha_bar` differs"))
def test_cosine_alpha_bar_rejects(wrong, expected):
    msg = rejected(checks.cosine_alpha_bar, wrong)
    assert expected in msg
    assert "t = torch.tensor([0.0, 0.25, 0.5, 0.75, 1.0], dtype=torch.float64)\n    s = 0.008" in msg


# ---- posterior_mean_variance ------------------------------------------------------------------

def posterior(x0, x_t, ab, ab_prev, *, variance="tilde", swap=False, alpha_k=None, beta=None):
    beta = 1 - ab / ab_prev if beta is None else beta
    alpha_k = 1 - beta if alpha_k is None else alpha_k
    c0 = math.sqrt(ab_prev) * beta / (1 - ab)
    ct = math.sqrt(alpha_k) * (1 - ab_prev) / (1 - ab)
    if swap:
        c0, ct = ct, c0
    var = {"tilde": (1 - ab_prev) / (1 - ab) * beta, "beta": beta}[variance]
    return c0 * x0 + ct * x_t, var


def post_variance_beta(x0, x_t, ab, ab_prev):                   # beta_k, not beta_tilde_k
    return posterior(x0, x_t, ab, ab_prev, variance="beta")


def post_std_not_variance(x0, x_t, ab, ab_prev):
    mean, var = posterior(x0, x_t, ab, ab_prev)
    return mean, math.sqrt(var)


def post_swapped_coefficients(x0, x_t, ab, ab_prev):
    return posterior(x0, x_t, ab, ab_prev, swap=True)


def post_alpha_bar_for_alpha(x0, x_t, ab, ab_prev):              # sqrt(alpha_bar_k) for sqrt(1 - beta_k)
    return posterior(x0, x_t, ab, ab_prev, alpha_k=ab)


def post_beta_is_one_minus_alpha_bar(x0, x_t, ab, ab_prev):      # confuses alpha_bar_k with 1 - beta_k
    return posterior(x0, x_t, ab, ab_prev, beta=1 - ab)


def post_variance_per_entry(x0, x_t, ab, ab_prev):               # a (B, D) tensor, not a float
    mean, var = posterior(x0, x_t, ab, ab_prev)
    return mean, torch.full_like(x0, var)


@cases((post_variance_beta, "`variance` is 0.375, expected 0.15"), (post_std_not_variance, "`variance` is"),
       (post_swapped_coefficients, "`mean` differs"), (post_alpha_bar_for_alpha, "`mean` differs"),
       (post_beta_is_one_minus_alpha_bar, "`mean` differs"),
       (post_variance_per_entry, "`variance` should be a single number like 0.15, got a tensor of shape (2, 2)"))
def test_posterior_rejects(wrong, expected):
    msg = rejected(checks.posterior_mean_variance, wrong)
    assert expected in msg
    assert "alpha_bar_k = 0.5\n    alpha_bar_prev = 0.8" in msg


def test_posterior_first_step_is_a_case():
    def breaks_at_first_step(x0, x_t, ab, ab_prev):
        mean, var = posterior(x0, x_t, ab, ab_prev)
        return mean, var if ab_prev < 1 else 1 - ab        # "no posterior at k = 1": uses beta_1
    msg = rejected(checks.posterior_mean_variance, breaks_at_first_step)
    assert "`variance` is" in msg and "alpha_bar_prev = 1.0" in msg


# ---- ancestral_step ---------------------------------------------------------------------------

def ancestral_step(x_t, eps_hat, ab, ab_prev, z, *, x0_sign=1.0, divide=True, variance="tilde", swap=False,
                   std=math.sqrt):
    x0_hat = x_t - x0_sign * math.sqrt(1 - ab) * eps_hat
    if divide:
        x0_hat = x0_hat / math.sqrt(ab)
    mean, var = posterior(x_t, x0_hat, ab, ab_prev) if swap else posterior(x0_hat, x_t, ab, ab_prev,
                                                                           variance=variance)
    return mean + std(var) * z


def ancestral_eps_form(x_t, eps_hat, ab, ab_prev, z):         # Ho et al.'s Algorithm 2: the same step
    beta = 1 - ab / ab_prev
    mean = (x_t - beta / math.sqrt(1 - ab) * eps_hat) / math.sqrt(1 - beta)
    return mean + math.sqrt((1 - ab_prev) / (1 - ab) * beta) * z


def ancestral_variance_beta(x_t, eps_hat, ab, ab_prev, z):     # beta_k, not beta_tilde_k
    return ancestral_step(x_t, eps_hat, ab, ab_prev, z, variance="beta")


def ancestral_variance_not_std(x_t, eps_hat, ab, ab_prev, z):  # var * z, no square root
    return ancestral_step(x_t, eps_hat, ab, ab_prev, z, std=lambda v: v)


def ancestral_x0_wrong_sign(x_t, eps_hat, ab, ab_prev, z):     # x_t + sigma eps
    return ancestral_step(x_t, eps_hat, ab, ab_prev, z, x0_sign=-1.0)


def ancestral_x0_not_divided(x_t, eps_hat, ab, ab_prev, z):    # forgets the 1 / sqrt(alpha_bar_k)
    return ancestral_step(x_t, eps_hat, ab, ab_prev, z, divide=False)


def ancestral_arguments_swapped(x_t, eps_hat, ab, ab_prev, z):  # posterior(x_t, x0_hat, ...)
    return ancestral_step(x_t, eps_hat, ab, ab_prev, z, swap=True)


def ancestral_no_noise(x_t, eps_hat, ab, ab_prev, z):          # the mean only
    return ancestral_step(x_t, eps_hat, ab, ab_prev, z, std=lambda v: 0.0)


@cases((ancestral_variance_beta, "`x_prev` differs at 4 of 4 entries; first at index (0, 0)"),
       (ancestral_variance_not_std, "`x_prev` differs"), (ancestral_x0_wrong_sign, "`x_prev` differs"),
       (ancestral_x0_not_divided, "`x_prev` differs"), (ancestral_arguments_swapped, "`x_prev` differs"),
       (ancestral_no_noise, "`x_prev` differs"))
def test_ancestral_step_rejects(wrong, expected):
    msg = rejected(checks.ancestral_step, wrong)
    assert msg.startswith("ancestral_step: ") and expected in msg and "trial 1 of" in msg
    assert "alpha_bar_k = 0.5\n    alpha_bar_prev = 0.8" in msg
    assert "then call ancestral_step(x_t, eps_hat, alpha_bar_k, alpha_bar_prev, z)" in msg


def test_ancestral_last_step_is_a_case():
    def noise_at_last_step(x_t, eps_hat, ab, ab_prev, z):      # "no posterior at k = 1": adds sqrt(beta_1) z
        out = ancestral_step(x_t, eps_hat, ab, ab_prev, z)
        return out if ab_prev < 1 else out + math.sqrt(1 - ab) * z
    msg = rejected(checks.ancestral_step, noise_at_last_step)
    assert "trial 2 of" in msg and "alpha_bar_prev = 1.0" in msg


# ---- ddim_update ------------------------------------------------------------------------------

def ddim(x_t, eps, ab, ab_prev, eta, noise, *, std_of=None, direction=True, sign=1.0, out_ab=None):
    x0 = (x_t - sign * math.sqrt(1 - ab) * eps) / math.sqrt(ab)
    beta = 1 - ab / ab_prev
    beta_tilde = (1 - ab_prev) / (1 - ab) * beta
    std = eta * math.sqrt(beta_tilde) if std_of is None else eta * std_of(beta, beta_tilde)
    dir_coef = math.sqrt(max(1 - ab_prev - std**2, 0.0)) if direction else math.sqrt(1 - ab_prev)
    return math.sqrt(ab_prev if out_ab is None else out_ab) * x0 + dir_coef * eps + std * noise


def ddim_ignores_eta(x_t, eps, ab, ab_prev, eta, noise):
    return ddim(x_t, eps, ab, ab_prev, 0.0, noise)


def ddim_variance_not_std(x_t, eps, ab, ab_prev, eta, noise):     # eta * beta_tilde, no square root
    return ddim(x_t, eps, ab, ab_prev, eta, noise, std_of=lambda b, bt: bt)


def ddim_sigma_from_beta(x_t, eps, ab, ab_prev, eta, noise):      # beta_k, not beta_tilde_k
    return ddim(x_t, eps, ab, ab_prev, eta, noise, std_of=lambda b, bt: math.sqrt(b))


def ddim_direction_ignores_sigma(x_t, eps, ab, ab_prev, eta, noise):
    return ddim(x_t, eps, ab, ab_prev, eta, noise, direction=False)


def ddim_x0_wrong_sign(x_t, eps, ab, ab_prev, eta, noise):
    return ddim(x_t, eps, ab, ab_prev, eta, noise, sign=-1.0)


def ddim_off_by_one_step(x_t, eps, ab, ab_prev, eta, noise):      # scales x0_hat by alpha_bar_k
    return ddim(x_t, eps, ab, ab_prev, eta, noise, out_ab=ab)


@cases((ddim_ignores_eta, "trial 2 of"), (ddim_variance_not_std, "trial 2 of"), (ddim_sigma_from_beta, "trial 2 of"),
       (ddim_direction_ignores_sigma, "trial 2 of"), (ddim_x0_wrong_sign, "trial 1 of"),
       (ddim_off_by_one_step, "trial 1 of"))
def test_ddim_update_rejects(wrong, expected):
    msg = rejected(checks.ddim_update, wrong)
    assert msg.startswith("ddim_update: `x_prev` differs") and expected in msg
    assert "then call ddim_update(x_t, eps, alpha_bar_k, alpha_bar_prev, eta, noise)" in msg


# ---- ddim_invert ------------------------------------------------------------------------------

def ddim_invert(x0, eps_fn, schedule, steps, *, time_shift=0, first_t=1, respaced=True, sqrt=True,
                renoise_x0=False):
    g = schedules.respace(schedule, steps) if respaced else schedule
    x = x0
    for k in range(1, g.T + 1):
        j = max(k - 1, first_t) + time_shift
        eps = eps_fn(x, g.t[j].expand(len(x)))
        ab_prev, ab = g.alpha_bar[k - 1].item(), g.alpha_bar[k].item()
        a_prev, s_prev = math.sqrt(ab_prev), math.sqrt(1 - ab_prev)
        a, s = (math.sqrt(ab), math.sqrt(1 - ab)) if sqrt else (ab, 1 - ab)
        x0_hat = x0 if renoise_x0 else (x - s_prev * eps) / a_prev
        x = a * x0_hat + s * eps
    return x


def invert_eps_at_new_time(x0, eps_fn, schedule, steps):      # reads eps at t_k, one step ahead
    return ddim_invert(x0, eps_fn, schedule, steps, time_shift=1, first_t=0)


def invert_eps_at_time_zero(x0, eps_fn, schedule, steps):     # no special first step: eps read at t_0 = 0
    return ddim_invert(x0, eps_fn, schedule, steps, first_t=0)


def invert_ignores_steps(x0, eps_fn, schedule, steps):        # every step of the schedule
    return ddim_invert(x0, eps_fn, schedule, steps, respaced=False)


def invert_alpha_bar_not_sqrt(x0, eps_fn, schedule, steps):   # alpha_bar_k x0_hat + (1 - alpha_bar_k) eps
    return ddim_invert(x0, eps_fn, schedule, steps, sqrt=False)


def invert_renoises_data(x0, eps_fn, schedule, steps):        # re-noises x0, not x0_hat
    return ddim_invert(x0, eps_fn, schedule, steps, renoise_x0=True)


def invert_one_jump(x0, eps_fn, schedule, steps):             # x_T from one eps read at t_1
    g = schedules.respace(schedule, steps)
    a, s = g.coefficients(g.T, x0)
    return a * x0 + s * eps_fn(x0, g.t[1].expand(len(x0)))


def invert_in_place(x0, eps_fn, schedule, steps):
    return x0.copy_(ddim_invert(x0.clone(), eps_fn, schedule, steps))


@cases((invert_eps_at_new_time, "`x_T` differs"), (invert_eps_at_time_zero, "`x_T` differs"),
       (invert_ignores_steps, "`x_T` differs"), (invert_alpha_bar_not_sqrt, "`x_T` differs"),
       (invert_renoises_data, "`x_T` differs"), (invert_one_jump, "`x_T` differs"),
       (invert_in_place, "modified its input `x0` in place"))
def test_ddim_invert_rejects(wrong, expected):
    msg = rejected(checks.ddim_invert, wrong)
    assert msg.startswith("ddim_invert") and expected in msg and "trial 1 of" in msg
    assert "x0 = torch.tensor([[1.0, -0.5], [0.25, 2.0]], dtype=torch.float64), eps_fn: function" in msg
    assert 'args = checks.failing_inputs("ddim_invert", trial=1)' in msg and "steps = 5" in msg


def test_ddim_invert_one_step_is_a_case():
    def loops_from_two(x0, eps_fn, schedule, steps):         # range(2, T + 1): skips the first step
        if steps > 1:
            return ddim_invert(x0, eps_fn, schedule, steps)
        return x0
    msg = rejected(checks.ddim_invert, loops_from_two)
    assert "trial 3 of" in msg and "steps = 1" in msg


def test_ddim_invert_failing_case_rebuilds():
    x0, eps_fn, schedule, steps = checks.failing_inputs("ddim_invert", trial=4)
    assert eps_fn is toy_eps and isinstance(schedule, schedules.DiscreteSchedule) and 1 <= steps <= schedule.T
    torch.testing.assert_close(ddim_invert(x0, eps_fn, schedule, steps),
                               ddim_invert(x0, eps_fn, schedule, steps, first_t=1))


# ---- cfg_combine ------------------------------------------------------------------------------

def cfg_other_convention(c, u, w):                             # (1 + w) c - w u: w = 0 is conditional
    return c + w * (c - u)


def cfg_swapped(c, u, w):
    return c + w * (u - c)


def cfg_forgot_subtraction(c, u, w):
    return u + w * c


def cfg_in_place(c, u, w):
    u += w * (c - u)
    return u


@cases((cfg_other_convention, "`guided` differs"), (cfg_swapped, "`guided` differs"),
       (cfg_forgot_subtraction, "`guided` differs"), (cfg_in_place, "modified its input `out_uncond` in place"))
def test_cfg_combine_rejects(wrong, expected):
    msg = rejected(checks.cfg_combine, wrong)
    assert expected in msg and "w = 3.0" in msg


# ---- patchify ---------------------------------------------------------------------------------

def patchify(x, p):
    B, C, H, W = x.shape
    x = x.reshape(B, C, H // p, p, W // p, p).permute(0, 2, 4, 1, 3, 5)
    return x.reshape(B, (H // p) * (W // p), C * p * p)


def patch_rows_not_patches(x, p):
    return x.reshape(x.shape[0], -1, p * p)


def patch_column_major_order(x, p):                          # patches top to bottom, then left to right
    B, C, H, W = x.shape
    return x.reshape(B, C, H // p, p, W // p, p).permute(0, 4, 2, 1, 3, 5).reshape(B, -1, C * p * p)


def patch_flattened_by_column(x, p):                         # each patch read column by column
    B, C, H, W = x.shape
    return x.reshape(B, C, H // p, p, W // p, p).permute(0, 2, 4, 1, 5, 3).reshape(B, -1, C * p * p)


def patch_square_images_only(x, p):                          # uses H for W
    B, C, H, W = x.shape
    return patchify(x[..., :H], p) if W >= H else patchify(x, p)


def patch_fixed_size(x, p):                                  # ignores p
    return patchify(x, 2)


@cases((patch_rows_not_patches, "`patches` differs"), (patch_column_major_order, "`patches` differs"),
       (patch_flattened_by_column, "`patches` differs"), (patch_square_images_only, "`patches` has shape"),
       (patch_fixed_size, "`patches` has shape"))
def test_patchify_rejects(wrong, expected):
    msg = rejected(checks.patchify, wrong)
    assert expected in msg


def test_patchify_first_case_is_readable():
    msg = rejected(checks.patchify, patch_flattened_by_column)
    assert "x = torch.tensor([[[[0.0, 1.0, 2.0, 3.0], [4.0, 5.0, 6.0, 7.0]]]])\n    p = 2" in msg
    assert "got 4, expected 1" in msg


# ---- the solutions pass -----------------------------------------------------------------------

def test_diffusion_checks_accept_solutions():
    checks.q_sample(q_sample, quiet=True)
    checks.cosine_alpha_bar(cosine_alpha_bar, quiet=True)
    checks.posterior_mean_variance(posterior, quiet=True)
    checks.ancestral_step(ancestral_step, quiet=True)
    checks.ancestral_step(ancestral_eps_form, quiet=True)
    checks.ddim_update(ddim, quiet=True)
    checks.ddim_invert(ddim_invert, quiet=True)
    checks.cfg_combine(ddpm.cfg_combine, quiet=True)
    checks.cfg_combine(lambda c, u, w: w * c + (1 - w) * u, quiet=True)    # the same, written as a mixture
    checks.patchify(patchify, quiet=True)
    checks.patchify(dit.patchify, quiet=True)
    checks.patchify(lambda x, p: torch.nn.functional.unfold(x, p, stride=p).transpose(1, 2), quiet=True)
