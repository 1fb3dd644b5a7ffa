import pytest
import torch

from unigen import baselines, checks


def test_compare_accepts_reference_and_reports_mismatch(capsys):
    ref = lambda x: x * 2  # noqa: E731
    make = lambda g: (torch.randn(4, generator=g),)  # noqa: E731
    checks.compare(ref, ref, make, name="double")
    assert "✓ double" in capsys.readouterr().out
    with pytest.raises(checks.CheckFailed, match="differs at"):
        checks.compare(lambda x: x * 2.1, ref, make)
    with pytest.raises(checks.CheckFailed, match="shape"):
        checks.compare(lambda x: x[:2] * 2, ref, make)
    with pytest.raises(checks.CheckFailed, match="in place"):
        checks.compare(lambda x: x.mul_(2), ref, make)
    with pytest.raises(checks.CheckFailed, match="not implemented"):
        checks.compare(lambda x: (_ for _ in ()).throw(NotImplementedError()), ref, make)
    with pytest.raises(checks.CheckFailed, match="raised ZeroDivisionError"):
        checks.compare(lambda x: 1 / 0, ref, make)


def test_bigram_check_accepts_reference_and_rejects_wrong():
    checks.bigram_logprobs(baselines.smoothed_logprobs, quiet=True)

    def forgot_vocab_in_denominator(counts, alpha):
        c = counts.double()
        return torch.log(c + alpha) - torch.log(c.sum(-1, keepdim=True) + alpha)

    with pytest.raises(checks.CheckFailed, match="bigram_logprobs"):
        checks.bigram_logprobs(forgot_vocab_in_denominator)


def test_gaussian_check_accepts_reference_and_rejects_unbiased_cov():
    def mine(x_train, x_test):
        return float(-baselines.GaussianFit().fit(x_train).log_prob(x_test).mean())
    checks.gaussian_fit_nll(mine, quiet=True)

    def diagonal_only(x_train, x_test):
        mu, var = x_train.mean(0), x_train.var(0, unbiased=False)
        d = torch.distributions.Normal(mu, var.sqrt())
        return float(-d.log_prob(x_test).sum(1).mean())

    with pytest.raises(checks.CheckFailed, match="gaussian_fit_nll"):
        checks.gaussian_fit_nll(diagonal_only)


def test_compare_bad_input():
    with pytest.raises(ValueError, match="learner"):
        checks.compare(3, abs, lambda g: (1,))
    with pytest.raises(ValueError, match="n_trials"):
        checks.compare(abs, abs, lambda g: (1,), n_trials=0)
