import math

import pytest
import torch

from unigen import ar, checks


def test_sequence_log_prob_check():
    def mine(logits, x):
        lp = logits.log_softmax(-1).gather(2, x[..., None])[..., 0]
        return (lp * ar.target_mask(x)).sum(1)
    checks.sequence_log_prob(mine, quiet=True)

    def counts_the_padding(logits, x):
        return logits.log_softmax(-1).gather(2, x[..., None])[..., 0].sum(1)
    with pytest.raises(checks.CheckFailed, match="sequence_log_prob"):
        checks.sequence_log_prob(counts_the_padding)

    def forgets_the_end(logits, x):
        lp = logits.log_softmax(-1).gather(2, x[..., None])[..., 0]
        return (lp * ar.target_mask(x) * (x != 0)).sum(1)
    with pytest.raises(checks.CheckFailed):
        checks.sequence_log_prob(forgets_the_end)


def test_causal_attention_check():
    def mine(q, k, v):
        T = q.shape[-2]
        s = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])
        s = s.masked_fill(torch.ones(T, T, dtype=torch.bool).triu(1), float("-inf"))
        return s.softmax(-1) @ v
    checks.causal_attention(mine, quiet=True)

    def no_scaling(q, k, v):
        T = q.shape[-2]
        s = (q @ k.transpose(-2, -1)).masked_fill(torch.ones(T, T, dtype=torch.bool).triu(1), float("-inf"))
        return s.softmax(-1) @ v
    with pytest.raises(checks.CheckFailed, match="causal_attention"):
        checks.causal_attention(no_scaling)

    def mask_includes_diagonal(q, k, v):
        T = q.shape[-2]
        s = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])
        s = s.masked_fill(torch.ones(T, T, dtype=torch.bool).triu(0), -1e9)
        return s.softmax(-1) @ v
    with pytest.raises(checks.CheckFailed):
        checks.causal_attention(mask_includes_diagonal)


def test_top_p_check():
    checks.top_p_filter(ar.top_p_filter, quiet=True)

    def drops_the_crossing_token(logits, p):            # the common bug: keep cumsum <= p
        probs = logits.softmax(-1)
        sp, order = probs.sort(-1, descending=True)
        keep_sorted = sp.cumsum(-1) <= p
        keep = torch.zeros_like(keep_sorted).scatter(-1, order, keep_sorted)
        return logits.masked_fill(~keep, float("-inf"))
    with pytest.raises(checks.CheckFailed, match="top_p_filter"):
        checks.top_p_filter(drops_the_crossing_token)


def test_top_p_check_rejects_a_filter_without_ties():
    def keeps_a_prefix_of_the_sort(logits, p):          # right boundary, but ties split by the sort
        probs = logits.double().softmax(-1)
        sp, order = probs.sort(-1, descending=True)
        keep_sorted = sp.cumsum(-1) - sp < p
        keep_sorted[..., 0] = True
        keep = torch.zeros_like(keep_sorted).scatter(-1, order, keep_sorted)
        return logits.masked_fill(~keep, float("-inf"))
    assert torch.isfinite(keeps_a_prefix_of_the_sort(torch.zeros(4), 0.3)).sum() == 2
    with pytest.raises(checks.CheckFailed, match="tied with the last kept token") as err:
        checks.top_p_filter(keeps_a_prefix_of_the_sort)
    assert "top_p_filter" in str(err.value) and "four tokens of 0.25" in str(err.value)


def test_top_p_check_reports_learner_errors_and_counts():
    with pytest.raises(checks.CheckFailed, match="raised ZeroDivisionError"):
        checks.top_p_filter(lambda logits, p: 1 / 0)
    checks.top_p_filter(ar.top_p_filter, n_trials=2, seed=3, quiet=True)


def test_beam_score_check():
    checks.beam_score(lambda lp, n, a: lp / n ** a, quiet=True)
    with pytest.raises(checks.CheckFailed):
        checks.beam_score(lambda lp, n, a: lp / n)
