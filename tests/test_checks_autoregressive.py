"""The checks of Part II accept the solutions and reject the mistakes students make, with a helpful message."""
import math

import pytest
import torch

from unigen import ar, checks
from check_helpers import rejected, cases


# ---- sequence_log_prob ------------------------------------------------------------------------

def sequence_log_prob(logits, x):                             # the notebook's solution
    logp = logits.log_softmax(-1).gather(2, x[..., None])[..., 0]
    is_end = (x == 0).int()
    counted = (is_end.cumsum(1) - is_end) == 0
    return (logp * counted).sum(1)


def _token_log_probs(logits, x):
    return logits.log_softmax(-1).gather(2, x[..., None])[..., 0]


def seq_counts_after_end(logits, x):                          # sums the padding after the END too
    return _token_log_probs(logits, x).sum(1)


def seq_excludes_the_end(logits, x):                          # off by one: the END itself is not counted
    return (_token_log_probs(logits, x) * (x.eq(0).cumsum(1) == 0)).sum(1)


def seq_drops_every_end(logits, x):                           # masks the END tokens, keeps what follows
    return (_token_log_probs(logits, x) * (x != 0)).sum(1)


def seq_softmax_over_positions(logits, x):                    # wrong axis
    lp = logits.log_softmax(1).gather(2, x[..., None])[..., 0]
    return (lp * ar.target_mask(x)).sum(1)


def seq_shifted_targets(logits, x):                           # off by one: logits[:, i] taken to predict x[:, i+1]
    lp = logits[:, :-1].log_softmax(-1).gather(2, x[:, 1:, None])[..., 0]
    return (lp * ar.target_mask(x)[:, 1:]).sum(1)


def seq_mean_per_token(logits, x):                            # the average, not the log-probability
    mask = ar.target_mask(x)
    return (_token_log_probs(logits, x) * mask).sum(1) / mask.sum(1)


@cases((seq_counts_after_end, "`log_prob` differs"), (seq_excludes_the_end, "`log_prob` differs"),
       (seq_drops_every_end, "`log_prob` differs"), (seq_softmax_over_positions, "`log_prob` differs"),
       (seq_shifted_targets, "`log_prob` differs"), (seq_mean_per_token, "`log_prob` differs"))
def test_sequence_log_prob_rejects(wrong, expected):
    msg = rejected(checks.sequence_log_prob, wrong)
    assert msg.startswith("sequence_log_prob: " + expected)
    assert "trial 1 of" in msg and "x = torch.tensor([[1, 0, 1], [0, 1, 1]])" in msg
    assert "then call sequence_log_prob(logits, x)" in msg


def test_sequence_log_prob_row_without_end_is_a_case():
    def no_end_counts_nothing(logits, x):                     # rows without an END get 0
        has_end = (x == 0).any(1)
        return sequence_log_prob(logits, x) * has_end
    msg = rejected(checks.sequence_log_prob, no_end_counts_nothing)
    assert "trial 2 of" in msg and "x = torch.tensor([[1, 1, 0], [1, 1, 1]])" in msg


# ---- causal_attention -------------------------------------------------------------------------

def causal_attention(q, k, v, *, scale=None, mask_from=1, axis=-1, T_of=lambda q, k: q.shape[-2]):
    T = T_of(q, k)
    s = q @ k.transpose(-2, -1) / (math.sqrt(q.shape[-1]) if scale is None else scale(q))
    future = torch.ones(T, T, dtype=torch.bool).triu(mask_from) if mask_from is not None \
        else torch.ones(T, T, dtype=torch.bool).tril(-1)
    return s.masked_fill(future, float("-inf")).softmax(axis).nan_to_num() @ v


def attn_no_scaling(q, k, v):
    return causal_attention(q, k, v, scale=lambda q: 1.0)


def attn_scaled_by_d(q, k, v):                                # d, not sqrt(d)
    return causal_attention(q, k, v, scale=lambda q: q.shape[-1])


def attn_fixed_head_size(q, k, v):                            # sqrt(4) written as a number
    return causal_attention(q, k, v, scale=lambda q: 2.0)


def attn_masks_the_diagonal(q, k, v):                         # triu(0): a token cannot see itself
    return causal_attention(q, k, v, mask_from=0)


def attn_masks_the_past(q, k, v):                             # the transposed mask
    return causal_attention(q, k, v, mask_from=None)


def attn_softmax_over_queries(q, k, v):                       # wrong axis
    return causal_attention(q, k, v, axis=-2)


def attn_mask_of_head_size(q, k, v):                          # the mask's size from d, not T
    return causal_attention(q, k, v, T_of=lambda q, k: q.shape[-1])


@cases((attn_no_scaling, "`out` differs"), (attn_scaled_by_d, "`out` differs"),
       (attn_fixed_head_size, "`out` differs"), (attn_masks_the_diagonal, "`out` differs"),
       (attn_masks_the_past, "`out` differs"), (attn_softmax_over_queries, "`out` differs"),
       (attn_mask_of_head_size, "causal_attention raised RuntimeError"))
def test_causal_attention_rejects(wrong, expected):
    msg = rejected(checks.causal_attention, wrong)
    assert expected in msg and "trial 1 of" in msg
    assert "q = torch.tensor([[[[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]]]], dtype=torch.float64)" in msg
    assert "then call causal_attention(q, k, v)" in msg


def test_causal_attention_head_size_varies():
    def right_for_d_2_only(q, k, v):
        return causal_attention(q, k, v, scale=lambda q: math.sqrt(2))
    msg = rejected(checks.causal_attention, right_for_d_2_only)
    assert "`out` differs" in msg and 'checks.failing_inputs("causal_attention", trial=' in msg


# ---- top_p_filter -----------------------------------------------------------------------------

def top_p(logits, p, *, keep_rule=lambda sp, before, p: before < p - 1e-6, ties=True, descending=True,
          fill=float("-inf"), dim=-1):
    probs = logits.double().softmax(dim)
    sp, order = probs.sort(dim, descending=descending)
    keep_sorted = keep_rule(sp, sp.cumsum(dim) - sp, p)
    keep_sorted.select(dim, 0).fill_(True)
    if ties:
        n_keep = keep_sorted.sum(dim, keepdim=True)
        keep = probs >= sp.gather(dim, n_keep - 1)
    else:
        keep = torch.zeros_like(keep_sorted).scatter(dim, order, keep_sorted)
    return logits.masked_fill(~keep, fill)


def top_p_drops_the_crossing_token(logits, p):               # keeps cumsum <= p
    return top_p(logits, p, keep_rule=lambda sp, before, p: sp + before <= p)


def top_p_without_ties(logits, p):                            # right boundary, ties split by the sort
    return top_p(logits, p, ties=False)


def top_p_sorted_ascending(logits, p):
    return top_p(logits, p, descending=False, ties=False)


def top_p_zero_not_minus_inf(logits, p):                      # a logit of 0 is not a probability of 0
    return top_p(logits, p, fill=0.0)


def top_p_in_place(logits, p):
    keep = torch.isfinite(top_p(logits, p))
    logits[~keep] = float("-inf")
    return logits


def top_p_returns_probabilities(logits, p):
    return top_p(logits, p).softmax(-1)


def top_p_one_row_only(logits, p):                            # sorts along the first axis
    return top_p(logits, p, dim=0)


@cases((top_p_drops_the_crossing_token, "the case: 0.3 crosses p = 0.6: keep two tokens"),
       (top_p_without_ties, "the case: four tokens of 0.25 and p = 0.3: keep all four (tokens tied with"),
       (top_p_sorted_ascending, "the case: 0.3 crosses p = 0.6"),
       (top_p_zero_not_minus_inf, "`filtered_logits` differs at 2 of 4 entries; first at index (2,): got 0, "
                                  "expected -inf"),
       (top_p_in_place, "modified its input `logits` in place"),
       (top_p_returns_probabilities, "`filtered_logits` differs"),
       (top_p_one_row_only, "the case: a batch of two rows with ties"))
def test_top_p_filter_rejects(wrong, expected):
    msg = rejected(checks.top_p_filter, wrong)
    assert expected in msg and "then call top_p_filter(logits, p)" in msg


def test_top_p_filter_without_ties_is_the_reported_gap():
    """Without tie handling, zeros(4) with p = 0.3 keeps two tokens; the reference keeps four."""
    assert torch.isfinite(top_p_without_ties(torch.zeros(4), 0.3)).sum() == 2
    assert torch.isfinite(ar.top_p_filter(torch.zeros(4), 0.3)).sum() == 4
    msg = rejected(checks.top_p_filter, top_p_without_ties)
    assert msg.startswith("top_p_filter: `filtered_logits` differs")
    assert "logits = torch.tensor([0.0, 0.0, 0.0, 0.0])\n    p = 0.3" in msg and "trial 5 of 14" in msg


def test_top_p_filter_random_failures_name_the_trial():
    def wrong_on_long_rows(logits, p):                         # only differs on the random inputs
        out = ar.top_p_filter(logits, p)
        return out if logits.shape[-1] < 5 else out.nan_to_num(neginf=-1e9)
    msg = rejected(checks.top_p_filter, wrong_on_long_rows)
    assert "the case:" not in msg and 'checks.failing_inputs("top_p_filter", trial=' in msg


def test_top_p_check_reports_learner_errors_and_counts(capsys):
    with pytest.raises(checks.CheckFailed, match="raised ZeroDivisionError"):
        checks.top_p_filter(lambda logits, p: 1 / 0)
    with pytest.raises(checks.CheckFailed, match="not implemented yet"):
        checks.top_p_filter(lambda logits, p: (_ for _ in ()).throw(NotImplementedError))
    checks.top_p_filter(ar.top_p_filter, n_trials=2, seed=3)
    assert "on 8 fixed cases and 2 random inputs" in capsys.readouterr().out


# ---- beam_score -------------------------------------------------------------------------------

def beam_score(log_prob, length, alpha):
    return log_prob / length ** alpha


def beam_ignores_alpha(lp, n, a):
    return lp / n


def beam_multiplies(lp, n, a):
    return lp * n ** a


def beam_gnmt_penalty(lp, n, a):                              # Wu et al.'s ((5 + n) / 6)^alpha
    return lp / ((5 + n) / 6) ** a


def beam_length_minus_one(lp, n, a):                          # off by one: the END not counted
    return lp / max(n - 1, 1) ** a


def beam_negative_log_prob(lp, n, a):                         # a loss, not a score
    return -lp / n ** a


@cases((beam_ignores_alpha, "`score` is -1.5, expected -3"), (beam_multiplies, "`score` is -12, expected -3"),
       (beam_gnmt_penalty, "`score` is"), (beam_length_minus_one, "`score` is -3.4641, expected -3"),
       (beam_negative_log_prob, "`score` is 3, expected -3"))
def test_beam_score_rejects(wrong, expected):
    msg = rejected(checks.beam_score, wrong)
    assert msg.startswith("beam_score: " + expected)
    assert "log_prob = -6.0\n    length = 4\n    alpha = 0.5" in msg


# ---- the solutions pass -----------------------------------------------------------------------

def test_autoregressive_checks_accept_solutions():
    checks.sequence_log_prob(sequence_log_prob, quiet=True)
    checks.causal_attention(causal_attention, quiet=True)
    checks.top_p_filter(top_p, quiet=True)
    checks.top_p_filter(ar.top_p_filter, quiet=True)
    checks.beam_score(beam_score, quiet=True)


def test_failing_inputs_rebuild_the_cases_of_part_ii():
    logits, x = checks.failing_inputs("sequence_log_prob", trial=1)
    assert torch.equal(x, torch.tensor([[1, 0, 1], [0, 1, 1]]))
    assert checks.failing_inputs("beam_score", trial=2) == (-6.0, 4, 0.0)
    q, k, v = checks.failing_inputs("causal_attention", trial=4)
    assert q.shape == k.shape == v.shape and q.dtype == torch.float64
