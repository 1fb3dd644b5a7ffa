"""unigen.editing: SDEdit, DDIM inversion, class swaps and masks, on models whose ε is known exactly."""
import pytest
import torch

from unigen import checks, ddpm, editing, schedules
from check_helpers import cases, rejected

F64 = torch.float64
GRID = schedules.ddpm_cosine(1000)
MEANS = torch.tensor([[0.5, -0.25, 1.0], [-1.0, 0.5, 0.0]], dtype=F64)   # class means, data N(m_y, S^2 I)
S = 0.3
NULL = 2                                                                  # "no label": the data of class 0


def gaussian_eps(x, t, y=None):
    r"""The exact ε of data N(m, S^2 I): :math:`\sigma_t (x_t - \alpha_t m)/(\alpha_t^2 S^2 + \sigma_t^2)`."""
    a = GRID.path.alpha(t.double().cpu()).to(x)[:, None]
    s = GRID.path.sigma(t.double().cpu()).to(x)[:, None]
    m = MEANS[0] if y is None else MEANS[torch.where(y == NULL, 0, y)]
    return s * (x - a * m) / (a**2 * S**2 + s**2)


def data(n=400, seed=0):
    return MEANS[0] + S * torch.randn(n, 3, dtype=F64, generator=torch.Generator().manual_seed(seed))


def roundtrip_mse(x0, steps, t0=1.0):
    latent = editing.ddim_invert(gaussian_eps, x0, GRID, steps=steps, t0=t0).x
    grid = editing.truncate(GRID, editing.step_of(GRID, t0))
    back = ddpm.ddim_sample(gaussian_eps, None, grid, steps=steps, x_T=latent).x
    return (back - x0).square().mean().item()


def test_inversion_round_trip_converges_like_one_over_steps_squared():
    x0 = data()
    mse = {s: roundtrip_mse(x0, s) for s in (5, 50, 100, 1000)}
    assert mse[5] > 1e-3                      # not exact: eps is read at opposite ends of each step
    assert mse[5] > mse[50] > mse[100] > mse[1000]
    assert 2.5 < mse[50] / mse[100] < 5.0     # O(1/S^2)
    assert mse[1000] < 1e-5
    latent = editing.ddim_invert(gaussian_eps, x0, GRID, steps=100).x
    assert abs(latent.std().item() - 1) < 0.1 and latent.mean().abs().item() < 0.1   # ~ N(0, I)


def test_partial_inversion_and_trajectory():
    x0 = data(50)
    assert roundtrip_mse(x0, 100, t0=0.5) < roundtrip_mse(x0, 100, t0=1.0)
    out = editing.ddim_invert(gaussian_eps, x0, GRID, steps=10, t0=0.5, return_trajectory=True)
    assert out.nfe == 10 and out.trajectory.shape == (11, 50, 3)
    torch.testing.assert_close(out.trajectory[0], x0)
    torch.testing.assert_close(out.trajectory[-1], out.x)
    # one step by hand: eps read at t_1 on the clean point, then x_1 = alpha_1 x0 + sigma_1 eps
    one = editing.ddim_invert(gaussian_eps, x0, GRID, steps=1, t0=0.5).x
    grid = schedules.respace(editing.truncate(GRID, 500), 1)
    eps = gaussian_eps(x0, grid.t[1].expand(50))
    torch.testing.assert_close(one, ddpm.q_sample(x0, 1, grid, eps=eps))


def test_sdedit_at_small_t0_returns_the_input():
    x = data(200)
    same = editing.sdedit(gaussian_eps, x, GRID, 0.0, generator=torch.Generator().manual_seed(0))
    assert same.nfe == 0 and torch.equal(same.x, x)
    out = {t0: editing.sdedit(gaussian_eps, x, GRID, t0, steps=20, generator=torch.Generator().manual_seed(1)).x
           for t0 in (0.002, 0.05, 0.5, 1.0)}
    err = {t0: (o - x).square().mean().item() for t0, o in out.items()}
    # t0 = 0.002 is step 2: the output is a draw near x, at a distance of order sigma^2 = 1 - alpha_bar_2 per entry
    assert err[0.002] < 3 * (1 - GRID.alpha_bar[2].item())
    assert err[0.002] < err[0.05] < err[0.5] < err[1.0]
    # at t0 = 1 the input is forgotten: output and input are uncorrelated, so the squared
    # distance is the sum of their spreads and of the squared difference of their means
    o = out[1.0]
    apart = (x.var(0, correction=0) + o.var(0, correction=0) + (x.mean(0) - o.mean(0)).square()).mean()
    assert abs(err[1.0] / apart.item() - 1) < 0.1


def test_sdedit_is_q_sample_then_the_sampler_on_the_truncated_grid():
    x = data(30)
    out = editing.sdedit(gaussian_eps, x, GRID, 0.4, steps=8, eta=1.0, generator=torch.Generator().manual_seed(3))
    g = torch.Generator().manual_seed(3)
    x_k0 = ddpm.q_sample(x, 400, GRID, generator=g)
    grid = editing.truncate(GRID, 400)
    assert grid.T == 400 and grid.t[-1] == GRID.t[400] and torch.equal(grid.alpha_bar, GRID.alpha_bar[:401])
    want = ddpm.ddim_sample(gaussian_eps, None, grid, steps=8, eta=1.0, x_T=x_k0, generator=g)
    torch.testing.assert_close(out.x, want.x)
    assert out.nfe == 8


def test_class_swap_moves_to_the_new_class_and_w0_reconstructs():
    x0 = data(300)
    y_new = torch.ones(300, dtype=torch.long)
    rec = editing.class_swap(gaussian_eps, x0, y_new, GRID, null_label=NULL, guidance_scale=0.0, steps=200)
    assert (rec.x - x0).square().mean() < 1e-3 and rec.nfe == 200 + 2 * 200
    swap = editing.class_swap(gaussian_eps, x0, y_new, GRID, null_label=NULL, guidance_scale=1.0, steps=200)
    torch.testing.assert_close(swap.x.mean(0), MEANS[1], atol=0.1, rtol=0)
    # the deterministic map keeps each point's place within its class: x - m is carried over
    torch.testing.assert_close(swap.x - MEANS[1], x0 - MEANS[0], atol=0.05, rtol=0)


def test_outpaint_mask_and_strokes():
    centre = editing.outpaint_mask("centre")
    assert centre.shape == (1, 1, 8, 8) and centre.sum() == 16 and centre[0, 0, 2:6, 2:6].all()
    left = editing.outpaint_mask("left", width=3)
    assert left[..., :3].all() and not left[..., 3:].any()
    assert editing.outpaint_mask("bottom", size=6)[..., 3:, :].all()
    img = editing.render_strokes([[(0.5, 0.1), (0.5, 0.9)]])              # a "1"
    assert img.shape == (1, 8, 8) and img.min() == -1 and img.max() == 1
    assert (img[0, :, 3:5] > -1).all() and (img[0, :, :2] == -1).all()


def test_bad_input_raises_naming_the_argument():
    x = data(4)
    with pytest.raises(ValueError, match="x must"):
        editing.sdedit(gaussian_eps, x.numpy(), GRID, 0.5)
    with pytest.raises(ValueError, match="t0"):
        editing.sdedit(gaussian_eps, x, GRID, 1.5)
    with pytest.raises(ValueError, match="steps"):
        editing.sdedit(gaussian_eps, x, GRID, 0.5, steps=0)
    with pytest.raises(ValueError, match="schedule"):
        editing.sdedit(gaussian_eps, x, "cosine", 0.5)
    with pytest.raises(ValueError, match="t0"):
        editing.ddim_invert(gaussian_eps, x, GRID, t0=0.0)
    with pytest.raises(ValueError, match="x0"):
        editing.ddim_invert(gaussian_eps, x[0], GRID)
    with pytest.raises(ValueError, match="k0"):
        editing.truncate(GRID, 0)
    with pytest.raises(ValueError, match="y_new"):
        editing.class_swap(gaussian_eps, x, torch.ones(4), GRID, null_label=NULL, guidance_scale=1.0)
    with pytest.raises(ValueError, match="guidance_scale"):
        editing.class_swap(gaussian_eps, x, torch.ones(4, dtype=torch.long), GRID, null_label=NULL, guidance_scale=None)
    with pytest.raises(ValueError, match="keep"):
        editing.outpaint_mask("middle")
    with pytest.raises(ValueError, match="width"):
        editing.outpaint_mask("centre", width=3)
    with pytest.raises(ValueError, match="strokes"):
        editing.render_strokes([[(0.5, 0.5)]])
    with pytest.raises(ValueError, match="width"):
        editing.render_strokes([[(0, 0), (1, 1)]], width=0)


# ---- the exercise checks ----------------------------------------------------------------------

def sdedit_start(x, t0, alpha_bar, eps):
    k0 = round(t0 * (len(alpha_bar) - 1))
    return alpha_bar[k0].sqrt() * x + (1 - alpha_bar[k0]).sqrt() * eps


def start_floor(x, t0, alpha_bar, eps):                     # int(): rounds down, not to the nearest step
    k0 = int(t0 * (len(alpha_bar) - 1))
    return alpha_bar[k0].sqrt() * x + (1 - alpha_bar[k0]).sqrt() * eps


def start_no_sqrt(x, t0, alpha_bar, eps):
    k0 = round(t0 * (len(alpha_bar) - 1))
    return alpha_bar[k0] * x + (1 - alpha_bar[k0]) * eps


def sdedit_level(dist_sq, alpha_bar, kl_max):
    snr = alpha_bar[1:] / (1 - alpha_bar[1:])
    ok = snr[None] * dist_sq[:, None] / 2 <= kl_max
    return torch.where(ok.any(1), ok.long().argmax(1) + 1, len(alpha_bar) - 1)


def level_no_half(dist_sq, alpha_bar, kl_max):              # KL without the 1/2
    snr = alpha_bar[1:] / (1 - alpha_bar[1:])
    ok = snr[None] * dist_sq[:, None] <= kl_max
    return torch.where(ok.any(1), ok.long().argmax(1) + 1, len(alpha_bar) - 1)


def level_from_zero(dist_sq, alpha_bar, kl_max):            # counts steps from 0, not from 1
    snr = alpha_bar[1:] / (1 - alpha_bar[1:])
    ok = snr[None] * dist_sq[:, None] / 2 <= kl_max
    return torch.where(ok.any(1), ok.long().argmax(1), len(alpha_bar) - 1)


def test_checks_accept_the_solutions():
    checks.sdedit_start(sdedit_start, quiet=True)
    checks.sdedit_level(sdedit_level, quiet=True)


@cases((start_floor, "`x_k0` differs"), (start_no_sqrt, "`x_k0` differs"))
def test_sdedit_start_rejects(wrong, expected):
    assert expected in rejected(checks.sdedit_start, wrong)


@cases((level_no_half, "`k` differs"), (level_from_zero, "`k` differs"))
def test_sdedit_level_rejects(wrong, expected):
    msg = rejected(checks.sdedit_level, wrong)
    assert expected in msg and "trial 1 of" in msg
