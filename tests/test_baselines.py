import math

import pytest
import torch

from unigen import baselines
from unigen.data import surnames


def test_smoothed_logprobs_normalised_and_formula():
    counts = torch.tensor([[3, 0, 1], [0, 0, 0]])
    lp = baselines.smoothed_logprobs(counts, 0.5)
    torch.testing.assert_close(lp.exp().sum(1), torch.ones(2, dtype=torch.float64))
    assert math.isclose(lp[0, 0].item(), math.log(3.5 / 5.5))
    assert torch.allclose(lp[1], torch.full((3,), -math.log(3), dtype=torch.float64))


def test_ngram_matches_hand_count():
    ids = surnames.encode(["ab", "ab", "b"], length=4)           # V = 27
    m = baselines.NGram(2, 27, alpha=1.0).fit(ids)
    # contexts after '.': a twice, b once -> P(a|.) = (2 + 1) / (3 + 27)
    lp, mask = m.token_logprobs(surnames.encode(["a"], length=4))
    assert mask.tolist() == [[True, True, False, False]]
    assert math.isclose(lp[0, 0].item(), math.log(3 / 30))
    # P(. | a) = (0 + 1) / (2 + 27): 'a' is always followed by 'b'
    assert math.isclose(lp[0, 1].item(), math.log(1 / 29))


def test_ngram_probabilities_sum_to_one_over_short_strings():
    ids = surnames.encode(["ab", "ba", "a"], length=4)
    m = baselines.NGram(2, 3, alpha=0.5).fit(ids.clamp(max=2))
    # all strings over {a, b} of length <= 2 (plus longer ones) -- check the length-0..6 mass approaches 1
    total = 0.0
    from itertools import product
    for L in range(0, 7):
        for s in product([1, 2], repeat=L):
            row = torch.tensor([list(s) + [0]])
            total += m.log_prob(row).exp().item()
    assert 0.95 < total <= 1.0 + 1e-9


def test_ngram_sample_shapes_and_validity():
    ids = surnames.encode(surnames.load("val")[:2000])
    m = baselines.NGram(3, 27, 0.1).fit(ids)
    out = m.sample(50, max_len=13, generator=torch.Generator().manual_seed(0))
    assert out.shape == (50, 14) and (out[:, -1] == 0).all()
    assert all(n.isalpha() or n == "" for n in surnames.decode(out))


def test_ngram_context_counts():
    m = baselines.NGram(2, 27, alpha=1.0).fit(surnames.encode(["ab", "ab", "b"], length=4))
    # predictions of "ba": contexts '.', 'b', 'a' seen 3, 3 and 2 times
    assert m.context_counts(surnames.encode(["ba"], length=4)).tolist() == [3, 3, 2]


def test_ngram_bad_input():
    with pytest.raises(ValueError, match="n must"):
        baselines.NGram(0, 27)
    with pytest.raises(ValueError, match="alpha"):
        baselines.NGram(2, 27, alpha=0)
    m = baselines.NGram(2, 27)
    with pytest.raises(ValueError, match="END"):
        m.fit(torch.ones(2, 3, dtype=torch.int64))
    with pytest.raises(ValueError, match="ids"):
        m.fit(torch.ones(2, 3))
    with pytest.raises(RuntimeError, match="fit"):
        m.log_prob(surnames.encode(["a"]))


def test_gaussian_fit_recovers_truth_and_entropy():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(50_000, 2, generator=g, dtype=torch.float64) * torch.tensor([1.0, 2.0]) + 3
    fit = baselines.GaussianFit().fit(x)
    assert torch.allclose(fit.mean, torch.tensor([3.0, 3.0], dtype=torch.float64), atol=0.03)
    assert abs(-fit.log_prob(x).mean().item() - fit.entropy()) < 1e-6     # MLE: train NLL = own entropy
    with pytest.raises(ValueError, match="x"):
        fit.log_prob(torch.ones(3, 3, dtype=torch.float64))


def test_histogram_is_a_density():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(5000, 2, generator=g).clamp(-3.4, 3.4)
    h = baselines.Histogram2D(bins=20, lim=3.5).fit(x)
    assert abs(h.log_density.exp().sum().item() * h.cell_area - 1) < 1e-9
    with pytest.raises(ValueError, match="x must lie"):
        h.log_prob(torch.tensor([[5.0, 0.0]]))
    with pytest.raises(ValueError, match="bins"):
        baselines.Histogram2D(bins=0)
    with pytest.raises(ValueError, match="n must"):
        h.sample(0)


def test_histogram_samples_follow_the_cells():
    x = torch.tensor([[0.5, 0.5]] * 99 + [[-0.5, -0.5]])
    h = baselines.Histogram2D(bins=2, lim=1.0, alpha=1e-9).fit(x)
    s = h.sample(2000, torch.Generator().manual_seed(0))
    assert s.shape == (2000, 2) and (s.abs() < 1).all()
    assert 0.97 < ((s > 0).all(1)).float().mean() < 1.0


def test_independent_pixels():
    x = torch.tensor([[0, 1], [0, 2], [0, 1]])
    m = baselines.IndependentPixels(n_levels=3, alpha=1.0).fit(x)
    # pixel 0: counts (3,0,0)+1 -> 4/6; pixel 1: (0,2,1)+1 -> level 1: 3/6
    assert math.isclose(m.log_prob(torch.tensor([[0, 1]])).item(), math.log(4 / 6) + math.log(3 / 6))
    with pytest.raises(ValueError, match="x must"):
        m.log_prob(torch.tensor([[0, 3]]))
    with pytest.raises(ValueError, match="pixels"):
        m.log_prob(torch.tensor([[0, 1, 1]]))
