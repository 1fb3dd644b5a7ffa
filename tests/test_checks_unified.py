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
