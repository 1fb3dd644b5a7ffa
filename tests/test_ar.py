import itertools

import pytest
import torch

from unigen import ar, baselines
from unigen.data import surnames
from unigen.nn import transformer as tr

INF = float("-inf")


class TableBigram(torch.nn.Module):
    """logits(x_i | x_{i-1}) = table[x_{i-1}]: a causal model with known probabilities."""

    def __init__(self, table):
        super().__init__()
        self.table = torch.nn.Parameter(table.clone())

    def forward(self, idx):
        return self.table[idx]


def tiny(vocab=4, block=6, seed=0):
    torch.manual_seed(seed)
    cfg = tr.TransformerConfig(vocab_size=vocab, block_size=block, n_layer=1, n_head=2, n_embd=8)
    m = tr.Transformer(cfg).eval()
    with torch.no_grad():                      # make the distributions far from uniform
        m.head.weight.mul_(60)
    return m


# ---- the chain rule and the loss --------------------------------------------------------

def test_shift_right_and_mask():
    x = torch.tensor([[3, 1, 0, 0], [2, 2, 2, 2], [0, 0, 0, 0]])
    assert ar.shift_right(x).tolist() == [[0, 3, 1, 0], [0, 2, 2, 2], [0, 0, 0, 0]]
    assert ar.target_mask(x).tolist() == [[1, 1, 1, 0], [1, 1, 1, 1], [1, 0, 0, 0]]


def test_loss_and_nll_match_a_count_bigram():
    ids = surnames.encode(surnames.load("val")[:2000])
    ngram = baselines.NGram(2, 27, alpha=0.5).fit(ids)
    model = TableBigram(ngram.counts.double().add(0.5).log().float())
    lp_ref, mask_ref = ngram.token_logprobs(ids)
    lp, mask = ar.token_logprobs(model, ids)
    assert torch.equal(mask, mask_ref)
    torch.testing.assert_close(lp, lp_ref, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(ar.log_prob(model, ids), ngram.log_prob(ids), atol=1e-4, rtol=1e-5)
    assert ar.nll_per_token(model, ids) == pytest.approx(ngram.nll_per_token(ids), abs=1e-5)
    assert ar.ar_loss(model, ids).item() == pytest.approx(ngram.nll_per_token(ids), abs=1e-5)


def test_probabilities_of_all_sequences_sum_to_one():
    """Chain rule: sum over every string of <= 3 tokens (then END) of p(x) is 1."""
    m = tiny()
    seqs = []
    for n in range(4):
        for letters in itertools.product(range(1, 4), repeat=n):
            seqs.append(list(letters) + [0] * (5 - n))
    x = torch.tensor(seqs)
    lp, _ = ar.token_logprobs(m, x)
    # force the length limit: at position 3 only END may follow, so renormalise like beam_search
    total = lp.sum(1).exp().sum()
    assert 0.0 < float(total) <= 1.0 + 1e-9
    # the missing mass is exactly P(no END within 3 tokens)
    long = torch.tensor([list(t) + [0, 0] for t in itertools.product(range(1, 4), repeat=4)])
    prefix_mass = ar.token_logprobs(m, long)[0][:, :4].sum(1).exp().sum()
    assert float(total + prefix_mass) == pytest.approx(1.0, abs=1e-9)


def test_loss_backpropagates_and_ignores_padding():
    m = tiny()
    m.train()
    x = torch.tensor([[1, 2, 0, 0, 0], [3, 0, 0, 0, 0]])
    loss = ar.ar_loss(m, x)
    loss.backward()
    assert m.head.weight.grad is not None
    y = x.clone()
    y[:, -1] = 3                                      # change the padding only
    assert ar.ar_loss(m, y).item() == pytest.approx(loss.item(), abs=1e-6)


def test_token_logprobs_restores_training_mode():
    m = tiny()
    m.train()
    ar.token_logprobs(m, torch.tensor([[1, 0]]))
    assert m.training


# ---- decoding transforms ------------------------------------------------------------------

def kept(logits):
    return torch.isfinite(logits)


def test_temperature():
    logits = torch.tensor([2.0, 1.0, 0.0])
    torch.testing.assert_close(ar.apply_temperature(logits, 0.5), logits * 2)
    p_cold = ar.apply_temperature(logits, 0.1).softmax(-1)
    p_hot = ar.apply_temperature(logits, 100.0).softmax(-1)
    assert p_cold[0] > 0.99 and (p_hot - 1 / 3).abs().max() < 0.01
    for bad in (0, -1.0, float("nan"), "1"):
        with pytest.raises(ValueError, match="temperature"):
            ar.apply_temperature(logits, bad)


def test_top_k_basic_and_ties():
    logits = torch.tensor([[1.0, 3.0, 2.0, 0.0], [1.0, 1.0, 1.0, 0.0]])
    out = ar.top_k_filter(logits, 2)
    assert kept(out).tolist() == [[False, True, True, False], [True, True, True, False]]  # ties all kept
    torch.testing.assert_close(out[kept(out)], logits[kept(out)])
    assert kept(ar.top_k_filter(logits, 10)).all()
    assert kept(ar.top_k_filter(logits, 1)).sum(1).tolist() == [1, 3]
    for bad in (0, 1.5, True, -2):
        with pytest.raises(ValueError, match="k"):
            ar.top_k_filter(logits, bad)


def test_top_p_keeps_the_token_that_crosses_p():
    probs = torch.tensor([0.5, 0.3, 0.15, 0.05])
    logits = probs.log()
    assert kept(ar.top_p_filter(logits, 0.5)).tolist() == [True, False, False, False]   # 0.5 reaches p exactly
    assert kept(ar.top_p_filter(logits, 0.6)).tolist() == [True, True, False, False]    # 0.3 crosses 0.6
    assert kept(ar.top_p_filter(logits, 0.81)).tolist() == [True, True, True, False]
    assert kept(ar.top_p_filter(logits, 0.999)).all()
    # shuffled vocabulary: same decision per token
    perm = torch.tensor([2, 0, 3, 1])
    assert kept(ar.top_p_filter(logits[perm], 0.6)).tolist() == kept(ar.top_p_filter(logits, 0.6))[perm].tolist()


def test_top_p_exact_boundary_is_not_decided_by_rounding():
    # float64: the probabilities of log([0.5, 0.3, 0.15, 0.05]) give 0.5 + 0.3 = 0.79999999999999993
    probs = torch.tensor([0.5, 0.3, 0.15, 0.05], dtype=torch.float64)
    assert float(probs.log().softmax(-1)[:2].sum()) < 0.8
    assert kept(ar.top_p_filter(probs.log(), 0.8)).tolist() == [True, True, False, False]
    assert kept(ar.top_p_filter(probs.log(), 0.95)).tolist() == [True, True, True, False]
    assert kept(ar.top_p_filter(probs.log(), 0.8 + 2 * ar.TOP_P_TOL)).tolist() == [True, True, True, False]
    # float32 logits: the probabilities are off by ~1e-7, so rounding decides the tie too
    z32 = torch.tensor([0.45, 0.35, 0.2]).log()
    assert kept(ar.top_p_filter(z32, 0.45)).tolist() == [True, False, False]
    assert kept(ar.top_p_filter(z32 - 3.1, 0.8)).tolist() == [True, True, False]   # shifted logits


def test_top_p_always_keeps_one_token():
    logits = torch.tensor([[5.0, 0.0, 0.0], [0.0, 0.0, 0.0]])
    out = ar.top_p_filter(logits, 0.1)                 # the top token alone exceeds p
    assert kept(out).sum(1).tolist() == [1, 3]          # second row: a three-way tie is kept whole
    assert kept(ar.top_p_filter(logits, 1e-9)).sum(1).tolist() == [1, 3]
    assert not torch.isnan(out.softmax(-1)).any()


def test_top_p_single_token_holds_all_mass():
    logits = torch.tensor([INF, 0.0, INF, INF])
    for p in (0.01, 0.5, 1.0):
        out = ar.top_p_filter(logits, p)
        assert kept(out).tolist() == [False, True, False, False]
        torch.testing.assert_close(out.softmax(-1), torch.tensor([0.0, 1.0, 0.0, 0.0]))
    peaked = torch.tensor([80.0, 0.0, 0.0])            # the others hold ~1e-35
    assert kept(ar.top_p_filter(peaked, 0.999999)).tolist() == [True, False, False]


def test_top_p_one_keeps_everything_and_ties():
    logits = torch.randn(5, 7)
    torch.testing.assert_close(ar.top_p_filter(logits, 1.0), logits)
    quarters = torch.zeros(4)                           # four tokens of 0.25
    assert kept(ar.top_p_filter(quarters, 0.5)).all()   # ties with the crossing token are kept
    two_ties = torch.tensor([0.4, 0.2, 0.2, 0.2]).log()
    assert kept(ar.top_p_filter(two_ties, 0.5)).tolist() == [True, True, True, True]
    assert kept(ar.top_p_filter(two_ties, 0.4)).tolist() == [True, False, False, False]


def test_top_p_batched_rows_independent(gen):
    logits = torch.randn(6, 3, 9, generator=gen)
    out = ar.top_p_filter(logits, 0.7)
    for i in range(6):
        for j in range(3):
            torch.testing.assert_close(out[i, j], ar.top_p_filter(logits[i, j], 0.7))
    mass = (logits.softmax(-1) * kept(out)).sum(-1)
    assert (mass >= 0.7 - 1e-6).all()


def test_top_p_bad_input():
    for bad in (0, 0.0, -0.1, 1.1, float("nan"), "0.9", None):
        with pytest.raises(ValueError, match="p"):
            ar.top_p_filter(torch.zeros(3), bad)
    with pytest.raises(ValueError, match="logits"):
        ar.top_p_filter(torch.zeros(3, dtype=torch.int64), 0.5)
    with pytest.raises(ValueError, match="logits"):
        ar.top_p_filter([0.1, 0.2], 0.5)


def test_process_logits_order():
    logits = torch.tensor([3.0, 2.0, 1.0, 0.0])
    out = ar.process_logits(logits, temperature=2.0, top_k=3, top_p=0.5)
    want = ar.top_p_filter(ar.top_k_filter(logits / 2, 3), 0.5)
    torch.testing.assert_close(out, want)


# ---- sampling -----------------------------------------------------------------------------

def test_stream_yields_tokens_and_stops_at_end(gen):
    m = tiny(block=8)
    tokens = list(ar.stream(m, 5, 7, generator=gen))
    assert 1 <= len(tokens) <= 7
    assert all(t.shape == (5,) and t.dtype == torch.int64 for t in tokens)
    seq = torch.stack(tokens, 1)
    ended = (seq == 0).int().cummax(1).values.bool()
    assert (seq[ended] == 0).all()                       # after END only END


def test_sample_cache_and_no_cache_agree():
    m = tiny(block=8)
    out = ar.sample(m, 20, 7, generator=torch.Generator().manual_seed(1))
    b = ar.sample(m, 20, 7, generator=torch.Generator().manual_seed(1), use_cache=False).x
    a = out.x
    assert a.shape == (20, 8) and torch.equal(a, b)
    assert (a[:, -1] == 0).all()
    steps = list(ar.stream(m, 20, 7, generator=torch.Generator().manual_seed(1)))
    assert out.nfe == len(steps)              # one network call per step actually run


def test_sample_distribution_matches_the_model():
    """Frequencies of sampled first tokens match p(x_1) from the model."""
    m = tiny(vocab=3, block=4)
    x = ar.sample(m, 20000, 3, generator=torch.Generator().manual_seed(0)).x
    p1 = m(torch.zeros(1, 1, dtype=torch.int64))[0, -1].softmax(-1)
    freq = torch.bincount(x[:, 0], minlength=3) / len(x)
    assert (freq - p1).abs().max() < 0.015


def test_greedy_and_prefix():
    m = tiny(block=8)
    g = ar.greedy(m, 7)
    assert g.shape == (1, 8)
    # greedy = argmax at each step
    ctx = torch.zeros(1, 1, dtype=torch.int64)
    for i in range(7):
        tok = int(m(ctx)[0, -1].argmax())
        assert tok == int(g[0, i])
        if tok == 0:
            break
        ctx = torch.cat([ctx, torch.tensor([[tok]])], 1)
    prefix = torch.tensor([[2, 3], [1, 1]])
    out = ar.greedy(m, 7, prefix=prefix)
    assert out.shape == (2, 8) and torch.equal(out[:, :2], prefix)
    s = ar.sample(m, 2, 7, prefix=prefix, top_k=1, generator=torch.Generator().manual_seed(0)).x
    assert torch.equal(s, out)                           # top-k with k=1 is greedy


def test_temperature_and_top_p_sampling_restrict_support():
    m = TableBigram(torch.tensor([[0.0, 2.0, 1.0, -1.0]] * 4))
    x = ar.sample(m, 500, 1, top_p=0.5, generator=torch.Generator().manual_seed(0)).x
    assert set(x[:, 0].tolist()) == {1}       # probs ~ [.09, .64, .24, .03]: the top token alone > .5
    y = ar.sample(m, 500, 1, top_p=0.8, generator=torch.Generator().manual_seed(0)).x
    assert set(y[:, 0].tolist()) == {1, 2}    # .64 + .24 crosses .8: two tokens
    z = ar.sample(m, 500, 1, top_k=3, temperature=5.0, generator=torch.Generator().manual_seed(0)).x
    assert set(z[:, 0].tolist()) == {0, 1, 2}


def test_sampler_bad_input():
    m = tiny()
    with pytest.raises(ValueError, match="n"):
        next(ar.stream(m, 0))
    with pytest.raises(ValueError, match="block_size"):
        next(ar.stream(m, 1, 10))
    with pytest.raises(ValueError, match="temperature"):
        next(ar.stream(m, 1, 3, temperature=0))
    with pytest.raises(ValueError, match="prefix"):
        next(ar.stream(m, 2, 3, prefix=torch.tensor([[1, 2]])))
    with pytest.raises(ValueError, match="max_len"):
        ar.sample(m, 2, 0)
    with pytest.raises(ValueError, match="x"):
        ar.ar_loss(m, torch.zeros(2, 3))
    with pytest.raises(ValueError, match="model"):
        ar.ar_loss(lambda idx: idx.float(), torch.zeros(2, 3, dtype=torch.int64))


# ---- beam search --------------------------------------------------------------------------

def all_complete_sequences(V, max_len):
    for n in range(max_len + 1):
        for letters in itertools.product(range(1, V), repeat=n):
            yield list(letters) + [0]


def test_beam_search_is_exact_when_wide_enough():
    m = tiny(vocab=3, block=5)
    max_len = 3
    seqs = list(all_complete_sequences(3, max_len))
    x = torch.tensor([s + [0] * (max_len + 1 - len(s)) for s in seqs])
    lp = ar.log_prob(m, x)
    # beam search forces END after max_len tokens; brute-force scores include that renormalisation
    # only through the forced END's log-prob, which token_logprobs also counts: same quantity.
    best = int(lp.argmax())
    beams = ar.beam_search(m, beam_width=len(seqs), max_len=max_len, n_best=3)
    assert beams[0].tokens == seqs[best]
    assert beams[0].log_prob == pytest.approx(float(lp[best]), abs=1e-5)
    order = lp.argsort(descending=True)[:3].tolist()
    assert [b.tokens for b in beams] == [seqs[i] for i in order]
    for b in beams:
        assert b.score == b.log_prob


def test_beam_width_one_beats_greedy_and_length_normalisation():
    m = tiny(vocab=4, block=8)
    g = ar.greedy(m, 6)
    b = ar.beam_search(m, beam_width=1, max_len=6)[0]
    # width 1 follows the greedy path but also keeps the hypotheses that ended on the way
    assert b.log_prob >= float(ar.log_prob(m, g)) - 1e-5
    beams = ar.beam_search(m, beam_width=4, max_len=6, length_alpha=1.0)
    for b in beams:
        assert b.score == pytest.approx(b.log_prob / len(b.tokens))
    assert [b.score for b in beams] == sorted([b.score for b in beams], reverse=True)
    wider = ar.beam_search(m, beam_width=6, max_len=6)
    assert wider[0].log_prob >= ar.beam_search(m, beam_width=1, max_len=6)[0].log_prob - 1e-12


def test_beam_search_prefix_and_bad_input():
    m = tiny(vocab=4, block=8)
    beams = ar.beam_search(m, beam_width=3, max_len=6, prefix=[2, 1])
    assert all(b.tokens[:2] == [2, 1] and b.tokens[-1] == 0 for b in beams)
    x = torch.tensor([beams[0].tokens + [0] * (7 - len(beams[0].tokens))])
    lp, _ = ar.token_logprobs(m, x)
    assert beams[0].log_prob == pytest.approx(float(lp[0, 2:].sum()), abs=1e-5)
    with pytest.raises(ValueError, match="beam_width"):
        ar.beam_search(m, beam_width=0)
    with pytest.raises(ValueError, match="length_alpha"):
        ar.beam_search(m, length_alpha=-1.0)
    with pytest.raises(ValueError, match="prefix"):
        ar.beam_search(m, prefix=[1, -2])
    with pytest.raises(ValueError, match="block_size"):
        ar.beam_search(m, max_len=13)


# ---- length batches -----------------------------------------------------------------------

def test_trim_padding():
    x = torch.tensor([[1, 2, 0, 0, 0], [3, 0, 0, 0, 0]])
    assert ar.trim_padding(x).tolist() == [[1, 2, 0], [3, 0, 0]]
    full = torch.tensor([[1, 2, 3]])                   # no END: nothing to trim
    assert ar.trim_padding(full).shape == (1, 3)
    m = tiny()
    y = torch.tensor([[1, 2, 0, 0, 0, 0], [3, 0, 0, 0, 0, 0]])
    assert ar.ar_loss(m, ar.trim_padding(y)).item() == pytest.approx(ar.ar_loss(m, y).item(), abs=1e-6)


def test_pack_gives_the_same_loss_as_padding(gen):
    x = surnames.encode(surnames.load("val")[:300])
    inputs, targets, segments = ar.pack(x, 40, generator=gen)
    assert inputs.shape == targets.shape == segments.shape and inputs.shape[1] == 40
    real = targets != ar.IGNORE
    assert int(real.sum()) == int(ar.target_mask(x).sum())             # every counted token, once
    assert sorted(segments[real].unique().tolist()) == list(range(300))
    m = tiny(vocab=27, block=14)
    with torch.no_grad():
        packed = ar.packed_loss(m, (inputs, targets, segments)).item()
        padded = ar.ar_loss(m, x).item()
    assert packed == pytest.approx(padded, abs=1e-5)
    # per-token log-probs agree too
    with torch.no_grad():
        logp = m(inputs, segments=segments).log_softmax(-1)
    lp_packed = logp.gather(2, targets.clamp(min=0)[..., None])[..., 0][real]
    lp_padded, mask = ar.token_logprobs(m, x)
    assert float(lp_packed.double().sum()) == pytest.approx(float(lp_padded.sum()), rel=1e-5)


def test_pack_bad_input(gen):
    x = surnames.encode(["abc", "de"])
    with pytest.raises(ValueError, match="row_len"):
        ar.pack(x, 3)
    with pytest.raises(ValueError, match="batch"):
        ar.packed_loss(tiny(), x)


def test_decoders_give_the_model_back_in_training_mode():
    config = tr.TransformerConfig(vocab_size=6, block_size=8, n_layer=1, n_head=1,
                                           n_embd=8, dropout=0.1)
    model = tr.Transformer(config).train()
    tokens = list(ar.stream(model, 2, 3, generator=torch.Generator().manual_seed(0)))
    assert len(tokens) >= 1 and model.training
    ar.beam_search(model, beam_width=2, max_len=3)
    assert model.training
    ar.token_logprobs(model, torch.tensor([[1, 2, 0]]))
    assert model.training
