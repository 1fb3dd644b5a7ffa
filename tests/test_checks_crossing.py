"""The checks of Part VI accept the solutions and reject the mistakes students make, with a helpful message."""
import pytest
import torch
import torch.nn.functional as F

from unigen import checks, visual_ar
from check_helpers import rejected, cases


# ---- mask_tokens ------------------------------------------------------------------------------

def mask_tokens(x0, u, alpha_t, mask_id):
    return torch.where(u >= alpha_t[:, None], torch.full_like(x0, mask_id), x0)


def mask_with_probability_alpha(x0, u, a, m):                  # alpha_t is the keep probability
    return torch.where(u < a[:, None], m, x0)


def mask_strict_inequality(x0, u, a, m):                       # a draw equal to alpha_t must be masked
    return torch.where(u > a[:, None], m, x0)


def mask_fixed_id(x0, u, a, m):                                # ignores mask_id
    return torch.where(u >= a[:, None], 5, x0)


def mask_in_place(x0, u, a, m):
    x0[u >= a[:, None]] = m
    return x0


def mask_float_tokens(x0, u, a, m):                            # token ids come back as floats
    keep = (u < a[:, None]).double()
    return keep * x0 + (1 - keep) * m


def mask_no_broadcast(x0, u, a, m):
    return torch.where(u >= a, m, x0)


@cases((mask_with_probability_alpha, "`x_t` differs"), (mask_strict_inequality, "`x_t` differs at 3 of 8"),
       (mask_fixed_id, "`x_t` differs"), (mask_in_place, "modified its input `x0` in place"),
       (mask_float_tokens, "`x_t` has dtype torch.float64, expected an integer dtype (like torch.int64)"),
       (mask_no_broadcast, "mask_tokens raised RuntimeError"))
def test_mask_tokens_rejects(wrong, expected):
    msg = rejected(checks.mask_tokens, wrong)
    assert expected in msg
    assert "alpha_t = torch.tensor([0.5, 0.3], dtype=torch.float64)\n    mask_id = 7" in msg


def test_mask_tokens_ids_vary():
    def mask_id_is_seven(x0, u, a, m):                        # fits the first case only
        return torch.where(u >= a[:, None], 7, x0)
    assert "`x_t` differs" in rejected(checks.mask_tokens, mask_id_is_seven)


# ---- mdlm_linear_term -------------------------------------------------------------------------

def _ce(logits, x0):
    return F.cross_entropy(logits.transpose(1, 2), x0, reduction="none")


def mdlm_linear_term(logits, x0, masked, t):
    return (_ce(logits, x0) * masked).sum(1) / t


def mdlm_mean_over_positions(logits, x0, masked, t):
    return (_ce(logits, x0) * masked).mean(1) / t


def mdlm_ignores_mask(logits, x0, masked, t):
    return _ce(logits, x0).sum(1) / t


def mdlm_times_t(logits, x0, masked, t):
    return (_ce(logits, x0) * masked).sum(1) * t


def mdlm_log_prob_not_nll(logits, x0, masked, t):              # wrong sign
    return -mdlm_linear_term(logits, x0, masked, t)


def mdlm_softmax_over_positions(logits, x0, masked, t):        # normalises over L, not the vocabulary
    lp = logits.log_softmax(1).gather(2, x0[..., None])[..., 0]
    return -(lp * masked).sum(1) / t


@cases((mdlm_mean_over_positions, "`term` differs"), (mdlm_ignores_mask, "`term` differs"),
       (mdlm_times_t, "`term` differs"), (mdlm_log_prob_not_nll, "`term` differs"),
       (mdlm_softmax_over_positions, "`term` differs"))
def test_mdlm_linear_term_rejects(wrong, expected):
    msg = rejected(checks.mdlm_linear_term, wrong)
    assert expected in msg
    assert "masked = torch.tensor([[True, True, False]])" in msg and "then call mdlm_linear_term(" in msg


# ---- raster_mask ------------------------------------------------------------------------------

def raster_mask(k, kind, *, centre_row=True, whole_row=False, swap=False, rows_to=None):
    c = k // 2
    m = torch.zeros(k, k)
    m[: c if rows_to is None else rows_to] = 1
    if swap:
        kind = "A" if kind == "B" else "B"
    if centre_row:
        m[c, : (k if whole_row else c + (kind == "B"))] = 1
    return m


def raster_types_swapped(k, kind):
    return raster_mask(k, kind, swap=True)


def raster_forgot_centre_row(k, kind):                        # only the rows above
    return raster_mask(k, kind, centre_row=False)


def raster_whole_centre_row(k, kind):                         # sees the pixels to the right
    return raster_mask(k, kind, whole_row=True)


def raster_transposed(k, kind):                               # columns instead of rows
    return raster_mask(k, kind).T


def raster_one_row_too_many(k, kind):
    return raster_mask(k, kind, rows_to=k // 2 + 1)


def raster_bool_mask(k, kind):
    return raster_mask(k, kind).bool()


@cases((raster_types_swapped, "`mask` differs"), (raster_forgot_centre_row, "`mask` differs"),
       (raster_whole_centre_row, "`mask` differs"), (raster_transposed, "`mask` differs"),
       (raster_one_row_too_many, "`mask` differs"),
       (raster_bool_mask, "`mask` has dtype torch.bool, expected a floating dtype (like torch.float32)"))
def test_raster_mask_rejects(wrong, expected):
    msg = rejected(checks.raster_mask, wrong)
    assert expected in msg and "kernel_size = " in msg and "then call raster_mask(kernel_size, mask_type)" in msg


# ---- block_causal_mask ------------------------------------------------------------------------

def _blocks(scales, size=lambda s: s * s):
    return torch.cat([torch.full((size(s),), k) for k, s in enumerate(scales)])


def block_causal_mask(scales):
    b = _blocks(scales)
    return b[:, None] >= b[None, :]


def block_plain_causal(scales):
    S = sum(s * s for s in scales)
    return torch.ones(S, S).tril().bool()


def block_strict(scales):                                     # no attention within the own scale
    b = _blocks(scales)
    return b[:, None] > b[None, :]


def block_transposed(scales):                                 # keys in later scales
    return block_causal_mask(scales).T


def block_side_not_area(scales):                              # s tokens per scale, not s * s
    b = _blocks(scales, size=lambda s: s)
    return b[:, None] >= b[None, :]


def block_int_mask(scales):
    return block_causal_mask(scales).long()


@cases((block_plain_causal, "`mask` differs at 6 of 25"), (block_strict, "`mask` differs"),
       (block_transposed, "`mask` differs"), (block_side_not_area, "`mask` has shape (3, 3), expected (5, 5)"),
       (block_int_mask, "`mask` has dtype torch.int64, expected torch.bool"))
def test_block_causal_mask_rejects(wrong, expected):
    msg = rejected(checks.block_causal_mask, wrong)
    assert expected in msg and "scales = (1, 2)" in msg


# ---- the solutions pass -----------------------------------------------------------------------

def test_crossing_checks_accept_solutions():
    checks.mask_tokens(mask_tokens, quiet=True)
    checks.mdlm_linear_term(mdlm_linear_term, quiet=True)
    checks.raster_mask(raster_mask, quiet=True)
    checks.raster_mask(visual_ar.raster_mask, quiet=True)
    checks.block_causal_mask(block_causal_mask, quiet=True)
    checks.block_causal_mask(visual_ar.block_causal_mask, quiet=True, n_trials=3)   # n_trials is accepted
