"""The checks of Part I accept the solutions and reject the mistakes students make, with a helpful message."""
import math

import pytest
import torch

from unigen import baselines, checks
from check_helpers import rejected


# ---- bigram_logprobs --------------------------------------------------------------------------

def bigram_solution(counts, alpha):
    smoothed = counts.double() + alpha
    return smoothed.log() - smoothed.sum(-1, keepdim=True).log()


def bigram_forgot_vocab_in_denominator(counts, alpha):
    c = counts.double()
    return torch.log(c + alpha) - torch.log(c.sum(-1, keepdim=True) + alpha)


def bigram_normalised_over_columns(counts, alpha):           # wrong axis: P(prev | next)
    smoothed = counts.double() + alpha
    return smoothed.log() - smoothed.sum(0, keepdim=True).log()


def bigram_probabilities_not_logs(counts, alpha):
    smoothed = counts.double() + alpha
    return smoothed / smoothed.sum(-1, keepdim=True)


def bigram_add_one_ignores_alpha(counts, alpha):
    return bigram_solution(counts, 1.0)


def bigram_no_smoothing(counts, alpha):                      # log 0 = -inf for unseen pairs
    c = counts.double()
    return c.log() - c.sum(-1, keepdim=True).log()


BIGRAM_WRONG = [bigram_forgot_vocab_in_denominator, bigram_normalised_over_columns,
                bigram_probabilities_not_logs, bigram_add_one_ignores_alpha, bigram_no_smoothing]


def test_bigram_check_accepts_solutions():
    checks.bigram_logprobs(bigram_solution, quiet=True)
    checks.bigram_logprobs(baselines.smoothed_logprobs, quiet=True)


@pytest.mark.parametrize("wrong", BIGRAM_WRONG, ids=lambda f: f.__name__)
def test_bigram_check_rejects(wrong):
    msg = rejected(checks.bigram_logprobs, wrong)
    assert msg.startswith("bigram_logprobs: `log_probs` differs")
    assert "counts = torch.tensor([[0, 0, 0], [5, 0, 1], [2, 3, 0]])\n    alpha = 0.5" in msg


# ---- gaussian_fit_nll -------------------------------------------------------------------------

def _fit(x_train, unbiased=False):
    mu = x_train.mean(0)
    c = x_train - mu
    return mu, c.T @ c / (len(x_train) - unbiased)


def _nll(x, mu, cov):
    L = torch.linalg.cholesky(cov)
    z = torch.linalg.solve_triangular(L, (x - mu).T, upper=False)
    D = x.shape[1]
    per_point = 0.5 * (z**2).sum(0) + torch.log(torch.diagonal(L)).sum() + 0.5 * D * math.log(2 * math.pi)
    return per_point


def gauss_solution(x_train, x_test):
    return float(_nll(x_test, *_fit(x_train)).mean())


def gauss_unbiased_covariance(x_train, x_test):           # 1/(N-1), not the MLE's 1/N
    return float(_nll(x_test, *_fit(x_train, unbiased=True)).mean())


def gauss_diagonal_covariance(x_train, x_test):
    mu, cov = _fit(x_train)
    return float(_nll(x_test, mu, torch.diag(torch.diagonal(cov))).mean())


def gauss_forgot_2pi(x_train, x_test):
    D = x_train.shape[1]
    return gauss_solution(x_train, x_test) - 0.5 * D * math.log(2 * math.pi)


def gauss_sum_not_mean(x_train, x_test):
    return float(_nll(x_test, *_fit(x_train)).sum())


def gauss_log_likelihood(x_train, x_test):                # wrong sign
    return -gauss_solution(x_train, x_test)


def gauss_fit_on_test_set(x_train, x_test):
    return float(_nll(x_test, *_fit(x_test)).mean())


def gauss_forgot_return(x_train, x_test):
    float(_nll(x_test, *_fit(x_train)).mean())


GAUSS_WRONG = [gauss_unbiased_covariance, gauss_diagonal_covariance, gauss_forgot_2pi, gauss_sum_not_mean,
               gauss_log_likelihood, gauss_fit_on_test_set]


def test_gaussian_check_accepts_solution():
    checks.gaussian_fit_nll(gauss_solution, quiet=True)


@pytest.mark.parametrize("wrong", GAUSS_WRONG, ids=lambda f: f.__name__)
def test_gaussian_check_rejects(wrong):
    msg = rejected(checks.gaussian_fit_nll, wrong)
    assert msg.startswith("gaussian_fit_nll: `nll` is ")
    assert "x_train = torch.tensor([[0.5, 1.0]," in msg and "then call gaussian_fit_nll(x_train, x_test)" in msg


def test_gaussian_check_says_return_is_missing():
    assert "`nll` is None: is a `return` missing?" in rejected(checks.gaussian_fit_nll, gauss_forgot_return)
