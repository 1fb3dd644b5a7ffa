import math

import numpy as np
import pytest
import torch

from unigen import data
from unigen.data import digits, mixture2d, moons, surnames
from unigen.plotting import grid2d


# ---- splits ---------------------------------------------------------------------------------

def test_splits_are_disjoint_cover_and_fixed():
    parts = [data.split_indices(103, s) for s in data.SPLITS]
    assert sum(len(p) for p in parts) == 103
    assert len(np.unique(np.concatenate(parts))) == 103
    assert np.array_equal(parts[0], data.split_indices(103, "train"))
    assert not np.array_equal(parts[0], data.split_indices(103, "train", seed=1))


def test_split_bad_input():
    with pytest.raises(ValueError, match="split"):
        data.split_indices(10, "dev")
    with pytest.raises(ValueError, match="fractions"):
        data.split_indices(10, "train", fractions=(0.5, 0.5, 0.5))
    with pytest.raises(ValueError, match="n must"):
        data.split_indices(2, "train")


# ---- mixture2d --------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def mix():
    return mixture2d.default()


def test_density_integrates_to_one(mix):
    pts, area, _ = grid2d(lim=4.5, n=400)
    assert abs(mix.log_prob(pts).exp().sum().item() * area - 1) < 1e-3
    # the noised marginal is a density too
    assert abs(mix.log_prob_t(pts, 0.6, 0.8).exp().sum().item() * area - 1) < 1e-3


@pytest.mark.parametrize("a,s", [(1.0, 0.0), (0.8, 0.6), (0.3, 0.95), (0.0, 1.0)])
def test_score_equals_autograd_of_log_prob(mix, a, s, gen):
    x = torch.randn(64, 2, generator=gen, dtype=torch.float64) * 2
    x.requires_grad_(True)
    (g,) = torch.autograd.grad(mix.log_prob_t(x, a, s).sum(), x)
    torch.testing.assert_close(mix.score_t(x.detach(), a, s), g)


def test_score_accepts_per_sample_times(mix, gen):
    x = torch.randn(3, 2, generator=gen, dtype=torch.float64)
    a, s = torch.tensor([1.0, 0.7, 0.2]), torch.tensor([0.1, 0.7, 0.98])
    each = torch.cat([mix.score_t(x[i:i + 1], a[i], s[i]) for i in range(3)])
    torch.testing.assert_close(mix.score_t(x, a, s), each)


def test_posterior_eps_is_minus_sigma_score(mix, gen):
    x = torch.randn(32, 2, generator=gen, dtype=torch.float64)
    _, eps = mix.posterior_t(x, 0.6, 0.8)
    torch.testing.assert_close(eps, -0.8 * mix.score_t(x, 0.6, 0.8))


def test_velocity_matches_monte_carlo_conditional_expectation(mix):
    """u_t(q) = E[a' x0 + s' eps | x_t = q], estimated without the closed form.

    Bayes with samples x0 ~ p_0: E[x0 | x_t = q] is the average of x0 weighted by the
    likelihood N(q; a x0, s^2 I), and eps = (q - a x0) / s given x_t = q.
    """
    gen = torch.Generator().manual_seed(1)
    a, s, da, ds = 0.6, 0.8, -1.0, 1.0                        # the linear path at t = 0.4 ... any values work
    x0 = mix.sample(400_000, gen).double()
    queries = torch.tensor([[1.2, 0.0], [0.0, 0.0], [-0.8, 0.9], [2.5, -2.0]], dtype=torch.float64)
    exact = mix.velocity_t(queries, a, s, da, ds)
    for q, u in zip(queries, exact):
        w = torch.softmax(-((q - a * x0) ** 2).sum(1) / (2 * s**2), 0)
        target = da * x0 + ds * (q - a * x0) / s               # a' x0 + s' eps for each prior sample
        mc = (w[:, None] * target).sum(0)
        se = ((w[:, None] ** 2) * (target - mc) ** 2).sum(0).sqrt()   # delta-method standard error
        assert (se < 0.01).all()
        assert ((mc - u).abs() < 5 * se + 1e-4).all(), (q, mc, u, se)


def test_velocity_at_pure_noise_is_mean_flow(mix, gen):
    x = torch.randn(5, 2, generator=gen, dtype=torch.float64)
    v = mix.velocity_t(x, 0.0, 1.0, -1.0, 1.0)               # E[x0] = 0 for the ring, eps = x
    torch.testing.assert_close(v, x, atol=1e-12, rtol=0)


def test_sampling_and_entropy(mix, gen):
    x, k = mix.sample(4000, gen, return_labels=True)
    assert x.shape == (4000, 2) and x.dtype == torch.float32
    assert torch.allclose(torch.bincount(k).float() / 4000, torch.full((8,), 1 / 8), atol=0.03)
    h, se = mix.entropy_mc(100_000, gen)
    # well-separated modes: H ~ log 8 + entropy of one Gaussian
    assert abs(h - (math.log(8) + math.log(2 * math.pi * math.e * 0.25 ** 2))) < 0.02
    assert 0 < se < 0.01


def test_mixture_bad_input(mix):
    with pytest.raises(ValueError, match="x_t"):
        mix.log_prob(torch.ones(4, 3))
    with pytest.raises(ValueError, match="x_t"):
        mix.score(torch.ones(4, 2, dtype=torch.int64))
    with pytest.raises(ValueError, match="stds"):
        mixture2d.GaussianMixture(torch.zeros(2, 2), torch.ones(3))
    with pytest.raises(ValueError, match="weights"):
        mixture2d.GaussianMixture(torch.zeros(2, 2), torch.ones(2), torch.tensor([1.0, -1.0]))
    with pytest.raises(ValueError, match="n must"):
        mix.sample(0)
    with pytest.raises(ValueError, match="std"):
        mixture2d.ring(std=0)
    with pytest.raises(ValueError, match="degenerate"):
        mixture2d.GaussianMixture(torch.zeros(1, 2), torch.zeros(1)).log_prob(torch.zeros(1, 2))


def test_mixture_dataset_is_fixed():
    a, b = mixture2d.load("train"), mixture2d.load("train")
    assert a.shape == (8000, 2) and torch.equal(a, b)
    assert len(mixture2d.load("val")) == len(mixture2d.load("test")) == 1000


# ---- moons, digits, surnames --------------------------------------------------------------------------

def test_moons():
    x = moons.load("train")
    assert x.shape == (8000, 2) and abs(x.mean().item()) < 0.05
    with pytest.raises(ValueError, match="noise"):
        moons.load(noise=-1.0)


def test_digits_formats_agree():
    lv, y = digits.load("test", "levels")
    x, y2 = digits.load("test", "continuous")
    tok, _ = digits.load("test", "tokens")
    assert lv.shape[1:] == (8, 8) and x.shape[1:] == (1, 8, 8) and tok.shape[1:] == (64,)
    assert torch.equal(y, y2) and set(y.tolist()) == set(range(10))
    assert lv.min() >= 0 and lv.max() <= 16 and x.min() >= -1 and x.max() <= 1
    assert torch.equal(digits.continuous_to_levels(x[:, 0]), lv)
    assert torch.equal(tok.reshape(-1, 8, 8), lv)
    sizes = [len(digits.load(s)[0]) for s in data.SPLITS]
    assert sum(sizes) == 1797 and sizes[0] == 1437


def test_digits_bad_input():
    with pytest.raises(ValueError, match="kind"):
        digits.load("train", "pixels")
    with pytest.raises(ValueError, match="levels"):
        digits.levels_to_continuous(torch.tensor([17]))
    with pytest.raises(ValueError, match="x must"):
        digits.continuous_to_levels(torch.tensor([1]))


def test_surnames_dataset():
    everyone = surnames.all_names()
    assert len(everyone) == len(set(everyone)) == 88_799
    parts = [surnames.load(s) for s in data.SPLITS]
    assert sum(map(len, parts)) == 88_799 and not set(parts[0]) & set(parts[2])
    assert max(map(len, everyone)) == surnames.MAX_LEN
    assert all(c in surnames.VOCAB[1:] for n in everyone[:1000] for c in n)


def test_surnames_round_trip():
    names = ["smith", "o", "wolfeschlegel"]
    ids = surnames.encode(names)
    assert ids.shape == (3, 14) and (ids[:, -1] == surnames.END).all()
    assert surnames.decode(ids) == names
    assert surnames.decode(ids[0]) == ["smith"]


def test_surnames_bad_input():
    with pytest.raises(ValueError, match="names"):
        surnames.encode(["abc1"])
    with pytest.raises(ValueError, match="length"):
        surnames.encode(["abcdef"], length=4)
    with pytest.raises(ValueError, match="ids"):
        surnames.decode(torch.tensor([[30]]))


def test_eps_function_is_the_posterior_noise_on_a_path():
    from unigen import schedules
    mix = mixture2d.default()
    path = schedules.CosineVP()
    eps = mix.eps_function(path)
    x, t = torch.randn(6, 2), torch.rand(6)
    a, s = path.alpha(t.double()), path.sigma(t.double())
    torch.testing.assert_close(eps(x, t), mix.posterior_t(x, a, s)[1].float())
    assert eps(x, t, torch.zeros(6)).dtype == x.dtype          # a label is ignored
    with pytest.raises(ValueError, match="path"):
        mix.eps_function("linear")
