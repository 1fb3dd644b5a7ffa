import math

import pytest
import torch

from unigen import checks, ddpm
from unigen.nn import dit


def test_diffusion_checks_accept_references():
    checks.q_sample(lambda x0, ab, eps: ab.sqrt()[:, None] * x0 + (1 - ab).sqrt()[:, None] * eps, quiet=True)
    checks.cosine_alpha_bar(lambda t, s: (torch.cos((t + s) / (1 + s) * math.pi / 2) / math.cos(s / (1 + s) * math.pi / 2)) ** 2,
                            quiet=True)
    checks.cfg_combine(ddpm.cfg_combine, quiet=True)
    checks.patchify(dit.patchify, quiet=True)

    def posterior(x0, x_t, ab, ab_prev):
        beta = 1 - ab / ab_prev
        mean = (math.sqrt(ab_prev) * beta * x0 + math.sqrt(1 - beta) * (1 - ab_prev) * x_t) / (1 - ab)
        return mean, (1 - ab_prev) / (1 - ab) * beta
    checks.posterior_mean_variance(posterior, quiet=True)

    def ddim(x_t, eps, ab, ab_prev, eta, noise):
        x0 = (x_t - math.sqrt(1 - ab) * eps) / math.sqrt(ab)
        sig = eta * math.sqrt((1 - ab_prev) / (1 - ab) * (1 - ab / ab_prev))
        return math.sqrt(ab_prev) * x0 + math.sqrt(1 - ab_prev - sig**2) * eps + sig * noise
    checks.ddim_update(ddim, quiet=True)


def test_diffusion_checks_reject_wrong_answers():
    with pytest.raises(checks.CheckFailed, match="q_sample"):
        checks.q_sample(lambda x0, ab, eps: ab[:, None] * x0 + (1 - ab)[:, None] * eps)    # forgot the square roots
    with pytest.raises(checks.CheckFailed, match="cosine_alpha_bar"):
        checks.cosine_alpha_bar(lambda t, s: torch.cos((t + s) / (1 + s) * math.pi / 2) ** 2)  # not normalised
    with pytest.raises(checks.CheckFailed, match="cfg_combine"):
        checks.cfg_combine(lambda c, u, w: c + w * (c - u))
    with pytest.raises(checks.CheckFailed, match="patchify"):
        checks.patchify(lambda x, p: x.reshape(x.shape[0], -1, p * p))                   # rows, not patches

    def posterior_beta(x0, x_t, ab, ab_prev):                                             # variance beta, not beta_tilde
        beta = 1 - ab / ab_prev
        mean = (math.sqrt(ab_prev) * beta * x0 + math.sqrt(1 - beta) * (1 - ab_prev) * x_t) / (1 - ab)
        return mean, beta
    with pytest.raises(checks.CheckFailed, match="posterior_mean_variance"):
        checks.posterior_mean_variance(posterior_beta)

    def ddim_no_sigma(x_t, eps, ab, ab_prev, eta, noise):                                # ignores eta
        x0 = (x_t - math.sqrt(1 - ab) * eps) / math.sqrt(ab)
        return math.sqrt(ab_prev) * x0 + math.sqrt(1 - ab_prev) * eps
    with pytest.raises(checks.CheckFailed, match="ddim_update"):
        checks.ddim_update(ddim_no_sigma)
