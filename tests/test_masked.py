import itertools
import math

import pytest
import torch

from unigen import masked
from unigen.nn import transformer

V, MASK, L = 3, 3, 4


def small_model(L=L, seed=0):
    torch.manual_seed(seed)
    cfg = transformer.TransformerConfig(vocab_size=V + 1, block_size=L, n_layer=1, n_head=2, n_embd=16,
                                        causal=False)
    return transformer.Transformer(cfg).eval()


def data(gen, n=6, L=L):
    return torch.randint(0, V, (n, L), generator=gen)


def test_schedules_and_weight():
    t = torch.tensor([0.1, 0.5, 0.9], dtype=torch.float64)
    lin, cos = masked.LinearMask(), masked.CosineMask()
    torch.testing.assert_close(lin.weight(t), 1 / t)                     # 1/t for the linear schedule
    for s in (lin, cos):
        assert float(s.alpha(0.0)) == pytest.approx(1.0)
        assert float(s.alpha(1.0)) == pytest.approx(0.0, abs=1e-12)
        tt = t.clone().requires_grad_(True)
        grad = torch.autograd.grad(s.alpha(tt).sum(), tt)[0]
        torch.testing.assert_close(s.d_alpha(t), grad)
    with pytest.raises(ValueError, match="t must lie"):
        lin.alpha(torch.tensor([1.5]))


def test_q_mask_rate(gen):
    x0 = torch.zeros(4000, 10, dtype=torch.long)
    t = torch.full((4000,), 0.3)
    x_t, m = masked.q_mask(x0, t, MASK, masked.CosineMask(), generator=gen)
    assert torch.equal(x_t == MASK, m)
    expected = 1 - math.cos(0.5 * math.pi * 0.3)
    assert abs(m.float().mean().item() - expected) < 0.01
    assert torch.equal(x_t[~m], x0[~m])


def exact_nelbo(model, x0):
    """Enumerate every mask set: sum_m (1/m) E_{|M|=m} sum_{i in M} CE_i, per row."""
    N, L = x0.shape
    out = torch.zeros(N, dtype=torch.float64)
    for m in range(1, L + 1):
        subsets = list(itertools.combinations(range(L), m))
        for s in subsets:
            mk = torch.zeros(N, L, dtype=torch.bool)
            mk[:, list(s)] = True
            out += masked._masked_ce(model, x0, mk, MASK).sum(1).double() / m / len(subsets)
    return out


def test_estimators_agree_with_enumeration(gen):
    model, x0 = small_model(), data(gen, 2)
    with torch.no_grad():
        exact = exact_nelbo(model, x0)
        size = masked.nelbo(model, x0, MASK, n_samples=300, generator=gen)
        time_lin = masked.nelbo(model, x0.repeat(2000, 1), MASK, estimator="time", generator=gen)
        time_cos = masked.nelbo(model, x0.repeat(2000, 1), MASK, estimator="time", schedule=masked.CosineMask(),
                                generator=gen)
    torch.testing.assert_close(size, exact, rtol=0.03, atol=0)
    for est in (time_lin, time_cos):                     # the bound does not depend on the schedule
        torch.testing.assert_close(est.view(2000, 2).mean(0), exact, rtol=0.05, atol=0)


def test_discrete_nelbo_tends_to_continuous(gen):
    model, x0 = small_model(), data(gen, 1)
    with torch.no_grad():
        exact = exact_nelbo(model, x0).item()
        d1 = masked.discrete_nelbo(model, x0.repeat(4000, 1), MASK, 1, generator=gen).mean().item()
        d500 = masked.discrete_nelbo(model, x0.repeat(4000, 1), MASK, 500, generator=gen).mean().item()
    # T = 1: everything masked at once, the sum of the marginal cross-entropies (exactly)
    with torch.no_grad():
        all_masked = masked._masked_ce(model, x0, torch.ones_like(x0, dtype=torch.bool), MASK).sum().item()
    assert d1 == pytest.approx(all_masked, rel=1e-6)
    assert d1 > exact
    assert d500 == pytest.approx(exact, rel=0.05)


def test_loss_matches_bound_and_has_gradients(gen):
    model, x0 = small_model(), data(gen, 3)
    model.train()
    for est in ("time", "size"):
        loss = masked.masked_loss(model, x0, MASK, estimator=est, generator=gen)
        loss.backward()
        assert loss.dim() == 0 and torch.isfinite(loss)
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in model.parameters())
    with torch.no_grad():
        many = torch.stack([masked.masked_loss(model, x0, MASK, estimator="size", generator=gen)
                            for _ in range(600)]).mean()
        exact = exact_nelbo(model, x0).mean() / L
    assert many.item() == pytest.approx(exact.item(), rel=0.05)


def test_any_order_view(gen):
    model, x0 = small_model(), data(gen, 2)
    orders = torch.tensor(list(itertools.permutations(range(L))))
    per_order = torch.stack([masked.order_nll(model, x0, MASK, o) for o in orders])      # (L!, N)
    torch.testing.assert_close(per_order.mean(0), exact_nelbo(model, x0))


def test_unmask_counts():
    assert masked.unmask_counts(7, 7) == [1] * 7
    assert sum(masked.unmask_counts(13, 4, masked.CosineMask())) == 13
    assert masked.unmask_counts(5, 1) == [5]
    assert masked.unmask_counts(0, 3) == [0, 0, 0]


def test_decode_with_length_steps_is_one_token_at_a_time(gen):
    model = small_model()
    order = torch.stack([torch.randperm(L, generator=gen) for _ in range(5)])
    out = masked.sample(model, 5, L, MASK, steps=L, order=order, greedy=True, return_trajectory=True)
    assert out.nfe == L and len(out.trajectory) == L + 1
    n_masked = [int((x == MASK).sum(1).max()) for x in out.trajectory]
    assert n_masked == list(range(L, -1, -1))
    x = torch.full((5, L), MASK)                             # by hand: reveal order[k] with the argmax
    with torch.no_grad():
        for k in range(L):
            pred = masked.masked_logits(model, x, MASK).argmax(-1)
            rows = torch.arange(5)
            x[rows, order.argsort(1)[:, k]] = pred[rows, order.argsort(1)[:, k]]
    assert torch.equal(out.x, x)
    assert (out.x != MASK).all()


def test_sampler_distribution_is_the_any_order_mixture(gen):
    Ls = 2
    model = small_model(L=Ls, seed=1)
    seqs = torch.tensor(list(itertools.product(range(V), repeat=Ls)))
    orders = torch.tensor(list(itertools.permutations(range(Ls))))
    probs = torch.stack([(-masked.order_nll(model, seqs, MASK, o)).exp() for o in orders]).mean(0)
    out = masked.sample(model, 20000, Ls, MASK, steps=Ls, generator=gen)
    codes = out.x[:, 0] * V + out.x[:, 1]
    freq = torch.bincount(codes, minlength=V ** Ls).double() / 20000
    assert (freq - probs).abs().max() < 0.015
    one_step = masked.sample(model, 10, Ls, MASK, steps=1, generator=gen)
    assert one_step.nfe == 1 and (one_step.x != MASK).all()


def test_gumbel_argmax(gen):
    logits = torch.log(torch.tensor([0.6, 0.3, 0.1]))
    draws = masked.gumbel_argmax(logits.expand(30000, 3), generator=gen)
    freq = torch.bincount(draws, minlength=3).double() / 30000
    assert (freq - torch.tensor([0.6, 0.3, 0.1], dtype=torch.float64)).abs().max() < 0.015
    with pytest.raises(ValueError, match="dtype"):
        masked.gumbel_argmax(logits, dtype=torch.float16)


def test_infill_keeps_known(gen):
    model = small_model()
    x = data(gen, 4)
    known = torch.tensor([True, False, False, True]).expand(4, L)
    out = masked.infill(model, x, known, MASK, generator=gen)
    assert torch.equal(out.x[known], x[known]) and (out.x != MASK).all()
    assert out.nfe == 2


def test_bad_input(gen):
    model, x0 = small_model(), data(gen, 2)
    with pytest.raises(ValueError, match="x0"):
        masked.masked_loss(model, x0.float(), MASK)
    with pytest.raises(ValueError, match="x0"):
        masked.masked_loss(model, torch.full((2, L), MASK), MASK)
    with pytest.raises(ValueError, match="estimator"):
        masked.masked_loss(model, x0, MASK, estimator="space")
    with pytest.raises(ValueError, match="schedule"):
        masked.masked_loss(model, x0, MASK, schedule="linear")
    with pytest.raises(ValueError, match="T must"):
        masked.discrete_nelbo(model, x0, MASK, 0)
    with pytest.raises(ValueError, match="order"):
        masked.order_nll(model, x0, MASK, torch.tensor([0, 0, 1, 2]))
    with pytest.raises(ValueError, match="steps"):
        masked.sample(model, 2, L, MASK, steps=0)
    with pytest.raises(ValueError, match="temperature"):
        masked.sample(model, 2, L, MASK, steps=2, temperature=0.0)
    with pytest.raises(ValueError, match="order"):
        masked.sample(model, 2, L, MASK, steps=2, order="left")
    with pytest.raises(ValueError, match="mask_id"):
        masked.masked_logits(model, x0, 9)
    with pytest.raises(ValueError, match="known"):
        masked.infill(model, x0, torch.ones(2, L), MASK)
    with pytest.raises(ValueError, match="unknown keyword"):
        masked.infill(model, x0, torch.ones(2, L, dtype=torch.bool), MASK, temprature=2.0)


def test_known_positions_are_never_masked(gen):
    model, x0 = small_model(), data(gen, 2)
    known = torch.tensor([[False, True, False, True], [False, False, False, True]])
    orders = torch.tensor(list(itertools.permutations(range(L))))
    per_order = torch.stack([masked.order_nll(model, x0, MASK, o, known=known) for o in orders]).mean(0)
    est = masked.nelbo(model, x0, MASK, known=known, n_samples=400, generator=gen)
    torch.testing.assert_close(est, per_order, rtol=0.03, atol=0)
    _, m = masked.q_mask(x0.repeat(50, 1), 0.99, MASK, known=known.repeat(50, 1), generator=gen)
    assert not m[known.repeat(50, 1)].any() and m[~known.repeat(50, 1)].float().mean() > 0.9
    loss = masked.masked_loss(model, x0, MASK, estimator="size", known=torch.ones_like(known), generator=gen)
    assert loss.item() == 0.0
