import math

import pytest
import torch
import torch.nn.functional as F

from unigen.nn import transformer as tr


def small(causal=True, **kw):
    cfg = dict(vocab_size=11, block_size=12, n_layer=2, n_head=2, n_embd=16, causal=causal)
    cfg.update(kw)
    torch.manual_seed(0)
    return tr.Transformer(tr.TransformerConfig(**cfg)).eval()


def test_shapes_and_params(gen):
    m = small()
    idx = torch.randint(0, 11, (3, 7), generator=gen)
    assert m(idx).shape == (3, 7, 11)
    assert m.n_params() == sum(p.numel() for p in m.parameters())
    attn = m.blocks[0].attn
    x = torch.randn(3, 7, 16, generator=gen)
    assert attn(x).shape == (3, 7, 16)
    w = attn.attention_weights(x)
    assert w.shape == (3, 2, 7, 7)
    torch.testing.assert_close(w.sum(-1), torch.ones(3, 2, 7))


def test_causal_logits_ignore_the_future(gen):
    m = small()
    idx = torch.randint(0, 11, (2, 10), generator=gen)
    changed = idx.clone()
    changed[:, 6:] = (changed[:, 6:] + 1) % 11
    torch.testing.assert_close(m(idx)[:, :6], m(changed)[:, :6])
    assert not torch.allclose(m(idx)[:, 6:], m(changed)[:, 6:])
    w = m.blocks[0].attn.attention_weights(torch.randn(1, 5, 16, generator=gen))
    assert (w[0].triu(1) == 0).all()


def test_bidirectional_sees_the_future(gen):
    m = small(causal=False)
    idx = torch.randint(0, 11, (2, 10), generator=gen)
    changed = idx.clone()
    changed[:, -1] = (changed[:, -1] + 1) % 11
    assert not torch.allclose(m(idx)[:, 0], m(changed)[:, 0])
    with pytest.raises(ValueError, match="causal"):
        m.new_cache()


def test_attention_matches_a_by_hand_computation(gen):
    attn = small().blocks[1].attn
    x = torch.randn(2, 6, 16, generator=gen)
    q, k, v = attn.heads(x)
    scores = q @ k.transpose(-2, -1) / math.sqrt(attn.head_size)
    scores = scores.masked_fill(torch.ones(6, 6).triu(1).bool(), float("-inf"))
    y = (scores.softmax(-1) @ v).transpose(1, 2).reshape(2, 6, 16)
    torch.testing.assert_close(attn(x), attn.proj(y))


def test_cache_equals_full_forward(gen):
    m = small()
    idx = torch.randint(0, 11, (3, 12), generator=gen)
    full = m(idx)
    cache = m.new_cache()
    parts = [m(idx[:, :5], cache=cache)]                       # a prompt of 5, then 1 at a time, then 2
    for i in range(5, 10):
        parts.append(m(idx[:, i:i + 1], cache=cache))
    parts.append(m(idx[:, 10:], cache=cache))
    assert len(cache) == 12
    torch.testing.assert_close(torch.cat(parts, 1), full, atol=1e-5, rtol=1e-4)
    with pytest.raises(ValueError, match="block_size"):
        m(idx[:, :1], cache=cache)


def test_cache_reorder(gen):
    m = small()
    idx = torch.randint(0, 11, (3, 4), generator=gen)
    cache = m.new_cache()
    m(idx, cache=cache)
    cache.reorder(torch.tensor([2, 2, 0]))
    nxt = torch.randint(0, 11, (3, 1), generator=gen)
    out = m(nxt, cache=cache)[:, -1]
    want = m(torch.cat([idx[[2, 2, 0]], nxt], 1))[:, -1]
    torch.testing.assert_close(out, want, atol=1e-5, rtol=1e-4)


def test_dropout_only_in_training(gen):
    m = small(dropout=0.5)
    idx = torch.randint(0, 11, (2, 8), generator=gen)
    torch.testing.assert_close(m(idx), m(idx))
    m.train()
    assert not torch.allclose(m(idx), m(idx))


def test_gradient_flows(gen):
    m = small()
    m.train()
    idx = torch.randint(0, 11, (2, 8), generator=gen)
    F.cross_entropy(m(idx).flatten(0, 1), idx.flatten()).backward()
    assert all(p.grad is not None for p in m.parameters())


def test_bad_input():
    with pytest.raises(ValueError, match="divisible"):
        tr.TransformerConfig(n_embd=10, n_head=3)
    with pytest.raises(ValueError, match="dropout"):
        tr.TransformerConfig(dropout=1.0)
    with pytest.raises(ValueError, match="vocab_size"):
        tr.TransformerConfig(vocab_size=0)
    with pytest.raises(ValueError, match="causal"):
        tr.TransformerConfig(causal="yes")
    with pytest.raises(ValueError, match="config"):
        tr.Transformer({"vocab_size": 3})
    with pytest.raises(ValueError, match="n_head"):
        tr.SelfAttention(16, 3)
    m = small()
    with pytest.raises(ValueError, match="idx"):
        m(torch.zeros(2, 3))                                    # float ids
    with pytest.raises(ValueError, match="idx"):
        m(torch.zeros(6, dtype=torch.int64))                    # 1-D
    with pytest.raises(ValueError, match="idx"):
        m(torch.full((1, 3), 11))                               # out of vocabulary
    with pytest.raises(ValueError, match="block_size"):
        m(torch.zeros(1, 13, dtype=torch.int64))
    with pytest.raises(ValueError, match="cache"):
        m(torch.zeros(1, 3, dtype=torch.int64), cache=[None, None])
    with pytest.raises(ValueError, match="x"):
        m.blocks[0].attn(torch.randn(2, 3, 8))                 # wrong width


def test_segments_give_each_packed_sequence_its_own_logits(gen):
    m = small()
    a = torch.randint(0, 11, (1, 5), generator=gen)
    b = torch.randint(0, 11, (1, 4), generator=gen)
    c = torch.randint(0, 11, (1, 3), generator=gen)
    packed = torch.cat([a, b, c], 1)
    segments = torch.tensor([[0] * 5 + [1] * 4 + [7] * 3])
    assert m.segment_positions(segments).tolist() == [[0, 1, 2, 3, 4, 0, 1, 2, 3, 0, 1, 2]]
    out = m(packed, segments=segments)
    torch.testing.assert_close(out, torch.cat([m(a), m(b), m(c)], 1), atol=1e-5, rtol=1e-4)
    bi = small(causal=False)
    torch.testing.assert_close(bi(packed, segments=segments), torch.cat([bi(a), bi(b), bi(c)], 1),
                               atol=1e-5, rtol=1e-4)
    with pytest.raises(ValueError, match="segments"):
        m(packed, segments=segments[:, :5])
    with pytest.raises(ValueError, match="segments"):
        m(packed, segments=segments.float())
    with pytest.raises(ValueError, match="block_size"):
        m(torch.zeros(1, 13, dtype=torch.int64), segments=torch.zeros(1, 13, dtype=torch.int64))
    with pytest.raises(ValueError, match="cache"):
        m(packed, m.new_cache(), segments=segments)


def test_attention_mask_argument(gen):
    attn = tr.SelfAttention(16, 4, causal=False).eval()
    x = torch.randn(2, 5, 16, generator=gen)
    full = torch.ones(5, 5, dtype=torch.bool)
    torch.testing.assert_close(attn(x, attn_mask=full), attn(x))
    lower = full.tril()
    causal = tr.SelfAttention(16, 4, causal=True).eval()
    causal.load_state_dict(attn.state_dict())
    torch.testing.assert_close(attn(x, attn_mask=lower), causal(x), atol=1e-6, rtol=1e-5)
    with pytest.raises(ValueError, match="attn_mask"):
        attn(x, attn_mask=full.float())
