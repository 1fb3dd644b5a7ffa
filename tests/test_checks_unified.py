import pytest
import torch

from unigen import checks
from unigen.data import tasks


def test_unified_checks_accept_references():
    checks.lsb_digits(tasks.lsb_digits, quiet=True)
    checks.sudoku_valid(tasks.is_valid_sudoku, quiet=True)
    from unigen import compare
    checks.pareto_front(compare.pareto_front, quiet=True)
    checks.bigram_tv(compare.bigram_tv, quiet=True)


def test_unified_checks_reject_wrong_answers():
    with pytest.raises(checks.CheckFailed):
        checks.lsb_digits(lambda n, w: tasks.lsb_digits(n, w).flip(1), quiet=True)  # MSB first
    with pytest.raises(checks.CheckFailed):
        def rows_only(g):
            return (g.reshape(-1, 4, 4).sort(-1).values == torch.arange(1, 5)).all(-1).all(-1)
        checks.sudoku_valid(rows_only, quiet=True)
    with pytest.raises(checks.CheckFailed):
        checks.pareto_front(lambda c, e: (c <= c.min()) | (e <= e.min()), quiet=True)
    with pytest.raises(checks.CheckFailed):
        checks.bigram_tv(lambda a, b: 0.0, quiet=True)
    with pytest.raises(checks.CheckFailed, match="not implemented"):
        checks.lsb_digits(lambda n, w: (_ for _ in ()).throw(NotImplementedError()), quiet=True)


def _log_z(logp, allowed):
    return logp.masked_fill(~allowed, float("-inf")).logsumexp(-1)


def test_constrained_logprob_check():
    def right(logp, allowed, tokens):
        return float((logp.gather(1, tokens[:, None])[:, 0] - _log_z(logp, allowed)).sum())

    def no_renormalisation(logp, allowed, tokens):
        return float(logp.gather(1, tokens[:, None])[:, 0].sum())

    def forbidden_mass(logp, allowed, tokens):
        log_z = torch.log1p(-_log_z(logp, allowed).exp().clamp(max=1 - 1e-12))
        return float((logp.gather(1, tokens[:, None])[:, 0] - log_z).sum())

    def max_instead_of_sum(logp, allowed, tokens):
        log_z = logp.masked_fill(~allowed, float("-inf")).max(-1).values
        return float((logp.gather(1, tokens[:, None])[:, 0] - log_z).sum())

    def adds_log_z(logp, allowed, tokens):
        return float((logp.gather(1, tokens[:, None])[:, 0] + _log_z(logp, allowed)).sum())
    checks.constrained_logprob(right, quiet=True)
    for wrong in (no_renormalisation, forbidden_mass, max_instead_of_sum, adds_log_z):
        with pytest.raises(checks.CheckFailed):
            checks.constrained_logprob(wrong, quiet=True)


def test_reveal_steps_check():
    def right(trajectory, mask_id):
        return (torch.stack(trajectory) != mask_id).int().argmax(0)

    def counts_from_one(trajectory, mask_id):
        return right(trajectory, mask_id) + 1

    def last_masked_step(trajectory, mask_id):
        masked = (torch.stack(trajectory) == mask_id).int()
        return (masked * torch.arange(len(trajectory))[:, None, None]).max(0).values

    def number_of_masked_steps(trajectory, mask_id):
        return (torch.stack(trajectory[1:]) == mask_id).sum(0)
    checks.reveal_steps(right, quiet=True)
    for wrong in (counts_from_one, last_masked_step, number_of_masked_steps):
        with pytest.raises(checks.CheckFailed):
            checks.reveal_steps(wrong, quiet=True)
