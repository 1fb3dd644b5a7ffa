"""Tests for unigen.metrics (closed forms, limiting cases, input checks) and the cached digit classifier of unigen.nn.classifier."""
import math
import shutil

import pytest
import torch

from unigen import metrics
from unigen.data import digits
from unigen.nn import classifier as nn_classifier


def gaussian(n, d=2, shift=0.0, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, d, generator=g) + shift


@pytest.fixture(scope="module")
def classifier_home(tmp_path_factory):
    """Train the digit classifier once, caching it in a temporary UNIGEN_HOME."""
    home = tmp_path_factory.mktemp("unigen_home")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("UNIGEN_HOME", str(home))
        state = torch.get_rng_state()
        model = nn_classifier.digit_classifier(device="cpu")
        assert torch.equal(torch.get_rng_state(), state), "training must not change the global RNG"
    return home, model


@pytest.fixture(scope="module")
def classifier(classifier_home):
    return classifier_home[1]


# ---- likelihoods ---------------------------------------------------------------------------

def test_bits_per_dim_value():
    assert metrics.bits_per_dim(64 * math.log(2) * 3.0, 64) == pytest.approx(3.0)
    assert metrics.nats_to_bits(math.log(2)) == pytest.approx(1.0)
    t = metrics.bits_per_dim(torch.tensor([0.0, 8 * math.log(2)]), 8)
    torch.testing.assert_close(t, torch.tensor([0.0, 1.0]))


# ---- point-cloud distances -------------------------------------------------------------------

@pytest.mark.parametrize("distance", [metrics.energy_distance, metrics.mmd_rbf])
def test_distance_zero_for_same_samples_and_grows_with_shift(distance):
    x = gaussian(300, seed=0)
    assert distance(x, x) == pytest.approx(0.0, abs=1e-12)
    same = distance(x, gaussian(300, seed=1))
    near = distance(x, gaussian(300, shift=0.5, seed=1))
    far = distance(x, gaussian(300, shift=2.0, seed=1))
    assert 0 <= same < near < far
    assert same < 0.2 * near


@pytest.mark.parametrize("distance", [metrics.energy_distance, metrics.mmd_rbf])
def test_distance_symmetric_and_flattens_images(distance):
    x, y = gaussian(50, d=64, seed=0), gaussian(70, d=64, shift=0.3, seed=1)
    assert distance(x, y) == pytest.approx(distance(y, x), rel=1e-10)
    assert distance(x.reshape(50, 1, 8, 8), y.reshape(70, 1, 8, 8)) == pytest.approx(distance(x, y), rel=1e-10)


def test_energy_distance_1d_closed_form():
    # x = {0}, y = {1}: 2 * 1 - 0 - 0 = 2
    assert metrics.energy_distance(torch.zeros(1, 1), torch.ones(1, 1)) == pytest.approx(2.0)


def test_mmd_explicit_bandwidth_closed_form():
    # one point each at distance 1, one kernel of bandwidth h: 1 + 1 - 2 exp(-1 / (2 h^2))
    value = metrics.mmd_rbf(torch.zeros(1, 1), torch.ones(1, 1), bandwidths=[1.0])
    assert value == pytest.approx(2 - 2 * math.exp(-0.5))


# ---- Fréchet distance --------------------------------------------------------------------------

def test_frechet_distance_diagonal_gaussians_closed_form():
    g = torch.Generator().manual_seed(0)
    m1, m2 = (torch.randn(5, generator=g, dtype=torch.float64) for _ in range(2))
    s1, s2 = (torch.rand(5, generator=g, dtype=torch.float64) + 0.1 for _ in range(2))
    expected = ((m1 - m2) ** 2 + (s1 - s2) ** 2).sum().item()
    got = metrics.frechet_distance(m1, torch.diag(s1 ** 2), m2, torch.diag(s2 ** 2))
    assert got == pytest.approx(expected, rel=1e-9)


def test_frechet_distance_zero_for_identical_and_symmetric():
    g = torch.Generator().manual_seed(1)
    a, b = torch.randn(6, 6, generator=g), torch.randn(6, 6, generator=g)
    c1, c2 = a @ a.T, b @ b.T + 0.1 * torch.eye(6)
    mu1, mu2 = torch.randn(6, generator=g), torch.randn(6, generator=g)
    assert metrics.frechet_distance(mu1, c1, mu1, c1) == pytest.approx(0.0, abs=1e-6)
    d12, d21 = metrics.frechet_distance(mu1, c1, mu2, c2), metrics.frechet_distance(mu2, c2, mu1, c1)
    assert d12 > 0 and d12 == pytest.approx(d21, rel=1e-6)


# ---- digit classifier and Fréchet digit distance -------------------------------------------------

def test_digit_classifier_accuracy(classifier):
    x, y = digits.load("test")
    assert not classifier.training
    with torch.no_grad():
        accuracy = (classifier(x).argmax(1) == y).float().mean().item()
    assert accuracy >= 0.95
    assert classifier.features(x[:3]).shape == (3, 64)


def test_digit_classifier_cache(classifier_home, tmp_path, monkeypatch):
    home, model = classifier_home
    files = list((home / ".cache").glob("digit_classifier_*.pt"))
    assert len(files) == 1
    # a fresh home holding only the saved file: the classifier must load it, not train
    (tmp_path / ".cache").mkdir()
    shutil.copy(files[0], tmp_path / ".cache" / files[0].name)
    monkeypatch.setenv("UNIGEN_HOME", str(tmp_path))
    monkeypatch.setattr(nn_classifier, "_train_classifier", lambda config: pytest.fail("trained instead of loading"))
    loaded = nn_classifier.digit_classifier(device="cpu")
    assert loaded is not model
    for a, b in zip(loaded.state_dict().values(), model.state_dict().values()):
        assert torch.equal(a, b)
    assert nn_classifier.digit_classifier(device="cpu") is loaded          # in-process cache


def test_digit_classifier_leaves_global_rng_alone(classifier_home, tmp_path, monkeypatch):
    home, _ = classifier_home
    monkeypatch.setenv("UNIGEN_HOME", str(tmp_path))
    shutil.copytree(home / ".cache", tmp_path / ".cache")
    state = torch.get_rng_state()
    nn_classifier.digit_classifier(device="cpu")                              # loads from the file
    assert torch.equal(torch.get_rng_state(), state)


def test_frechet_digit_distance_data_vs_noise(classifier):
    x_test, _ = digits.load("test")
    x_train, _ = digits.load("train")
    noise = torch.rand(len(x_test), 1, 8, 8, generator=torch.Generator().manual_seed(0)) * 2 - 1
    data = metrics.frechet_digit_distance(x_test, x_train, classifier=classifier)
    rubbish = metrics.frechet_digit_distance(x_test, noise, classifier=classifier)
    assert 0 < data < 0.2 * rubbish
    flat = metrics.frechet_digit_distance(x_test.reshape(-1, 64), x_train, classifier=classifier)
    assert flat == pytest.approx(data, rel=1e-6)


# ---- reference ratio ---------------------------------------------------------------------------

def test_reference_ratio_near_one_for_data():
    x_train, _ = digits.load("train")
    x_test, _ = digits.load("test")
    g = torch.Generator().manual_seed(0)
    out = metrics.reference_ratio(metrics.energy_distance, x_train[:400], x_test, x_train[400:], generator=g)
    assert set(out) == {"model", "data", "data_std", "ratio"} and out["data_std"] > 0
    assert out["ratio"] == pytest.approx(out["model"] / out["data"])
    assert 0.6 < out["ratio"] < 1.6
    noise = torch.rand(400, 1, 8, 8, generator=g) * 2 - 1
    bad = metrics.reference_ratio(metrics.energy_distance, noise, x_test, x_train[400:], generator=g)
    assert bad["ratio"] > 5


def test_reference_ratio_reproducible_with_generator():
    pool, ref, samples = gaussian(100, seed=0), gaussian(30, seed=1), gaussian(20, seed=2)
    a = metrics.reference_ratio(metrics.energy_distance, samples, ref, pool, generator=torch.Generator().manual_seed(3))
    b = metrics.reference_ratio(metrics.energy_distance, samples, ref, pool, generator=torch.Generator().manual_seed(3))
    assert a == b


# ---- novelty and diversity ---------------------------------------------------------------------

def test_novelty_and_distinct_ratio_strings():
    train = ["smith", "jones", "brown"]
    samples = ["smith", "smyth", "smyth", "jones"]
    assert metrics.novelty(samples, train) == pytest.approx(0.5)
    assert metrics.distinct_ratio(samples) == pytest.approx(0.75)


def test_novelty_and_distinct_ratio_tensor_rows():
    train = torch.tensor([[1, 2, 3], [4, 5, 6]])
    samples = torch.tensor([[1, 2, 3], [1, 2, 3], [3, 2, 1], [6, 5, 4]])
    assert metrics.novelty(samples, train) == pytest.approx(0.5)
    assert metrics.distinct_ratio(samples) == pytest.approx(0.75)
    assert metrics.novelty(train, train) == 0.0 and metrics.distinct_ratio(train) == 1.0


# ---- bad inputs --------------------------------------------------------------------------------

@pytest.mark.parametrize("call, name", [
    (lambda: metrics.nats_to_bits("1"), "x"),
    (lambda: metrics.bits_per_dim(1.0, 0), "dims"),
    (lambda: metrics.bits_per_dim(1.0, 2.5), "dims"),
    (lambda: metrics.bits_per_dim("1", 4), "nll_nats"),
    (lambda: metrics.energy_distance([[0.0]], torch.zeros(2, 1)), "x"),
    (lambda: metrics.energy_distance(torch.zeros(2, 1), torch.zeros(2, 3)), "y"),
    (lambda: metrics.energy_distance(torch.zeros(2, 1), torch.zeros(2, 1, dtype=torch.long)), "y"),
    (lambda: metrics.mmd_rbf(torch.zeros(5), torch.zeros(2, 1)), "x"),
    (lambda: metrics.mmd_rbf(torch.zeros(2, 1), torch.zeros(2, 1), bandwidths=[1.0, -1.0]), "bandwidths"),
    (lambda: metrics.mmd_rbf(torch.zeros(2, 1), torch.zeros(2, 1), bandwidths=[]), "bandwidths"),
    (lambda: metrics.reference_ratio("energy", torch.zeros(2, 1), torch.zeros(2, 1), torch.zeros(2, 1)), "metric"),
    (lambda: metrics.reference_ratio(metrics.energy_distance, torch.zeros(5, 1), torch.zeros(2, 1),
                                     torch.zeros(3, 1)), "data_pool"),
    (lambda: metrics.reference_ratio(metrics.energy_distance, torch.zeros(0, 1), torch.zeros(2, 1),
                                     torch.zeros(3, 1)), "samples"),
    (lambda: metrics.reference_ratio(metrics.energy_distance, torch.zeros(2, 1), torch.zeros(2, 1),
                                     torch.zeros(3, 1), generator=0), "generator"),
    (lambda: nn_classifier.digit_classifier(epochs=0), "epochs"),
    (lambda: nn_classifier.digit_classifier(seed=1.5), "seed"),
    (lambda: nn_classifier.digit_classifier(device="gpu0"), "device"),
    (lambda: metrics.frechet_distance(torch.zeros(2, 2), torch.eye(2), torch.zeros(2), torch.eye(2)), "mu1"),
    (lambda: metrics.frechet_distance(torch.zeros(2), torch.eye(3), torch.zeros(2), torch.eye(2)), "cov1"),
    (lambda: metrics.frechet_distance(torch.zeros(2), torch.eye(2), torch.zeros(3), torch.eye(2)), "mu2"),
    (lambda: metrics.frechet_distance(torch.zeros(2), torch.eye(2), torch.zeros(2), torch.ones(2)), "cov2"),
    (lambda: metrics.frechet_digit_distance(torch.zeros(4, 1, 8, 8), torch.zeros(4, 1, 8, 8),
                                            classifier=torch.nn.Linear(64, 10)), "classifier"),
    (lambda: metrics.novelty([], ["a"]), "samples"),
    (lambda: metrics.novelty(["a"], []), "train"),
    (lambda: metrics.novelty(["a"], torch.zeros(1, 1, dtype=torch.long)), "train"),
    (lambda: metrics.novelty(torch.zeros(2, 2), torch.zeros(1, 2, dtype=torch.long)), "samples"),
    (lambda: metrics.distinct_ratio([1, 2]), "samples"),
    (lambda: metrics.distinct_ratio(torch.zeros(0, 3, dtype=torch.long)), "samples"),
])
def test_bad_inputs_raise_value_error_naming_argument(call, name):
    with pytest.raises(ValueError, match=rf"^{name}\b"):
        call()


def test_frechet_digit_distance_bad_images(classifier):
    with pytest.raises(ValueError, match=r"^x\b"):
        metrics.frechet_digit_distance(torch.zeros(4, 1, 4, 4), torch.zeros(4, 1, 8, 8), classifier=classifier)
    with pytest.raises(ValueError, match=r"^y\b"):
        metrics.frechet_digit_distance(torch.zeros(4, 64), torch.zeros(4, 64, dtype=torch.long), classifier=classifier)


# ---- discrete data, continuous models ------------------------------------------------------

def test_discretized_gaussian_probabilities_sum_to_one():
    levels = torch.linspace(-1, 1, 17, dtype=torch.float64)[:, None].expand(17, 6)
    mean = torch.tensor([-3.0, -1.0, 0.03, 0.5, 1.0, 4.0], dtype=torch.float64).expand(17, 6)
    for std in (1e-3, 0.05, 0.4, 10.0):
        lp = metrics.discretized_gaussian_log_prob(levels, mean, std, n_bins=17)
        torch.testing.assert_close(lp.exp().sum(0), torch.ones(6, dtype=torch.float64))
        assert (lp <= 0).all()
    # an inner bin is the CDF difference, an edge bin reaches to -infinity
    normal = torch.distributions.Normal(0.1, 0.3)
    x = torch.tensor([0.0, -1.0], dtype=torch.float64)
    lp = metrics.discretized_gaussian_log_prob(x, torch.full((2,), 0.1, dtype=torch.float64), 0.3, n_bins=17)
    want = torch.stack([normal.cdf(torch.tensor(1 / 16)) - normal.cdf(torch.tensor(-1 / 16)),
                        normal.cdf(torch.tensor(-1 + 1 / 16))]).double().log()
    torch.testing.assert_close(lp, want, rtol=1e-5, atol=1e-6)
    # far in the tail the log-mass stays finite
    far = metrics.discretized_gaussian_log_prob(torch.tensor([0.5]), torch.tensor([-0.5]), 0.01, n_bins=17)
    assert torch.isfinite(far).all() and far.item() < -4000


def test_dequantization_bound_with_a_known_answer():
    # p = N(mu, s^2); E_u[-log p(x + u)] = log(sqrt(2 pi) s) + ((x - mu)^2 + delta^2 / 12) / (2 s^2)
    mu, s, delta = 0.2, 0.15, 0.125
    x = torch.linspace(-1, 1, 17, dtype=torch.float64)
    closed = math.log(math.sqrt(2 * math.pi) * s) + ((x - mu) ** 2 + delta**2 / 12) / (2 * s**2)
    bound = metrics.dequantized_nll(closed, 1, delta)
    normal = torch.distributions.Normal(torch.tensor(mu, dtype=torch.float64), s)
    exact = -torch.log(normal.cdf(x + delta / 2) - normal.cdf(x - delta / 2))
    assert (bound >= exact).all() and (bound - exact)[9:11].max() < 0.01   # tight where p is flat
    # the Monte-Carlo version with dequantize() agrees with the closed form
    y = metrics.dequantize(x.repeat(20000, 1), delta, generator=torch.Generator().manual_seed(0))
    assert ((y - x).abs() <= delta / 2).all()
    mc = metrics.dequantized_nll(-normal.log_prob(y).mean(0), 1, delta)
    torch.testing.assert_close(mc, bound, rtol=0, atol=0.02)
    # a density that is constant on each bin makes the bound exact
    probs = torch.tensor([0.2, 0.5, 0.3], dtype=torch.float64)
    assert torch.allclose(metrics.dequantized_nll(-torch.log(probs / delta), 1, delta), -torch.log(probs))


def test_discrete_helpers_bad_input():
    x = torch.zeros(3)
    with pytest.raises(ValueError, match="bin_width"):
        metrics.dequantize(x, 0.0)
    with pytest.raises(ValueError, match="x must"):
        metrics.dequantize(torch.zeros(3, dtype=torch.long), 0.1)
    with pytest.raises(ValueError, match="dims"):
        metrics.dequantized_nll(1.0, 0, 0.1)
    with pytest.raises(ValueError, match="bin_width"):
        metrics.dequantized_nll(1.0, 4, -0.1)
    with pytest.raises(ValueError, match="bin centres"):
        metrics.discretized_gaussian_log_prob(torch.tensor([0.03]), x[:1], 0.1, n_bins=17)
    with pytest.raises(ValueError, match="bin centres"):
        metrics.discretized_gaussian_log_prob(torch.tensor([1.125]), x[:1], 0.1, n_bins=17)
    with pytest.raises(ValueError, match="std"):
        metrics.discretized_gaussian_log_prob(x, x, 0.0, n_bins=17)
    with pytest.raises(ValueError, match="n_bins"):
        metrics.discretized_gaussian_log_prob(x, x, 0.1, n_bins=1)
    with pytest.raises(ValueError, match="low and high"):
        metrics.discretized_gaussian_log_prob(x, x, 0.1, n_bins=17, low=1.0, high=-1.0)


def test_energy_and_fd_ratios_are_reference_ratios():
    from unigen.data import mixture2d
    x_train, x_test = mixture2d.load("train")[:600], mixture2d.load("test")[:300]
    samples = x_train[:200] + 0.1
    want = metrics.reference_ratio(metrics.energy_distance, samples, x_test, x_train,
                                   torch.Generator().manual_seed(0))
    got = metrics.energy_ratio(samples, x_test, x_train, torch.Generator().manual_seed(0), full=True)
    assert got == want
    fixed = metrics.energy_ratio(samples, x_test, data_value=want["data"])
    assert fixed == pytest.approx(want["model"] / want["data"])
    with pytest.raises(ValueError, match="data_pool"):
        metrics.energy_ratio(samples, x_test)
    with pytest.raises(ValueError, match="samples"):
        metrics.energy_ratio([1.0], x_test, x_train)


def test_fd_ratio_clips_to_the_pixel_range(classifier):
    from unigen.data import digits
    (x_train, _), (x_test, _) = digits.load("train"), digits.load("test")
    clf = classifier
    loud = 3.0 * x_test[:100]
    want = metrics.reference_ratio(lambda a, b: metrics.frechet_digit_distance(a, b, clf),
                                   loud.clamp(-1, 1), x_test, x_train, torch.Generator().manual_seed(0))
    got = metrics.fd_ratio(loud, x_test, x_train, torch.Generator().manual_seed(0), classifier=clf)
    assert got == want["ratio"]


def test_the_likelihood_units_are_re_exported_by_metrics():
    """Bits/dim, dequantisation and the discretised decoder live in unigen.likelihood."""
    from unigen import likelihood

    for name in ("LN2", "nats_to_bits", "bits_per_dim", "dequantize", "dequantized_nll",
                 "log_normal_mass", "discretized_gaussian_log_prob"):
        assert getattr(metrics, name) is getattr(likelihood, name)
        assert name in likelihood.__all__
