import pytest
import torch

from unigen import ar, masked
from unigen.data import tasks


def test_lsb_digits_round_trip_and_order():
    n = torch.tensor([0, 7, 305, 999])
    d = tasks.lsb_digits(n, 3)
    assert d[2].tolist() == [5, 0, 3]                 # units first
    assert torch.equal(tasks.from_lsb_digits(d), n)


def test_addition_rows_hold_correct_sums():
    x = tasks.addition(50, 3, generator=torch.Generator().manual_seed(0))
    assert x.shape == (50, 12) and x.min() >= 1 and x.max() < tasks.ADD_VOCAB
    assert (x[:, 3] == tasks.PLUS).all() and (x[:, 7] == tasks.EQUALS).all()
    a, b = tasks.from_lsb_digits(x[:, :3] - 1), tasks.from_lsb_digits(x[:, 4:7] - 1)
    c = tasks.from_lsb_digits(x[:, tasks.addition_answer_slice(3)] - 1)
    assert torch.equal(a + b, c)


def test_sudoku_grids_are_the_288_solutions():
    g = tasks.sudoku_grids()
    assert g.shape == (288, 16) and tasks.is_valid_sudoku(g).all()
    assert len({tuple(r) for r in g.tolist()}) == 288
    bad = g[:2].clone()
    bad[:, [0, 1]] = bad[:, [1, 0]]                   # swapping two cells breaks a column
    assert not tasks.is_valid_sudoku(bad).any()
    parts = [tasks.sudoku_split(s) for s in ("train", "val", "test")]
    assert sum(len(p) for p in parts) == 288


def test_puzzles_keep_clues():
    g = tasks.sudoku_split("test")
    p, given = tasks.sudoku_puzzles(g, 6, generator=torch.Generator().manual_seed(0))
    assert (given.sum(1) == 6).all()
    assert torch.equal(p[given], g[given]) and (p[~given] == tasks.BLANK).all()


def test_sudoku_prior_is_a_perfect_masked_model():
    prior = tasks.SudokuPrior()
    g = tasks.sudoku_grids()[:4]
    for seed in range(3):
        order = torch.randperm(16, generator=torch.Generator().manual_seed(seed))
        nll = masked.order_nll(prior, g, tasks.BLANK, order)
        torch.testing.assert_close(nll, torch.full((4,), torch.log(torch.tensor(288.0)).item(),
                                                   dtype=torch.float64))
    # greedy infilling from a few clues always completes a valid grid
    gen = torch.Generator().manual_seed(1)
    p, given = tasks.sudoku_puzzles(tasks.sudoku_grids()[:20], 5, generator=gen)
    out = masked.infill(prior, p, given, tasks.BLANK, order="confidence", greedy=True).x
    assert tasks.is_valid_sudoku(out).all() and torch.equal(out[given], p[given])
    assert ar.target_mask(g).all()                    # no END inside a grid: every cell counts


def test_bad_inputs():
    with pytest.raises(ValueError, match="width"):
        tasks.addition(3, 0)
    with pytest.raises(ValueError, match="n must"):
        tasks.lsb_digits(torch.tensor([1000]), 3)
    with pytest.raises(ValueError, match="digits"):
        tasks.from_lsb_digits(torch.tensor([[10]]))
    with pytest.raises(ValueError, match="grids"):
        tasks.is_valid_sudoku(torch.ones(2, 9, dtype=torch.long))
    with pytest.raises(ValueError, match="n_given"):
        tasks.sudoku_puzzles(tasks.sudoku_grids()[:2], 17)
    with pytest.raises(ValueError, match="x_t"):
        tasks.SudokuPrior()(torch.ones(2, 4, dtype=torch.long))


def test_addition_msb_writes_the_same_sums_reversed():
    lsb = tasks.addition(40, 3, generator=torch.Generator().manual_seed(0))
    msb = tasks.addition(40, 3, generator=torch.Generator().manual_seed(0), order="msb")
    assert msb.shape == lsb.shape
    assert torch.equal(msb[:, :3], lsb[:, :3].flip(1))
    assert torch.equal(msb[:, tasks.addition_answer_slice(3)],
                       lsb[:, tasks.addition_answer_slice(3)].flip(1))
    nums = tasks.addition_numbers(msb, 3, "msb")
    assert torch.equal(nums, tasks.addition_numbers(lsb, 3))
    assert (nums[:, 0] + nums[:, 1] == nums[:, 2]).all()
    with pytest.raises(ValueError):
        tasks.addition(4, 3, order="left")
    with pytest.raises(ValueError):
        tasks.addition_numbers(msb[:, :5], 3)
    with pytest.raises(ValueError):
        tasks.addition_numbers(torch.zeros_like(msb), 3)


def test_word_problems_and_text_round_trip():
    probs = tasks.word_problems(200, generator=torch.Generator().manual_seed(0))
    for question, answer, value in probs:
        expr = answer[len("<calc>"):answer.index("</calc>")]
        a, op, b = expr[:2], expr[2], expr[3:]
        assert op in "+-*" and value >= 0
        assert value == (int(a) * int(b) if op == "*" else int(a) + int(b) if op == "+"
                         else int(a) - int(b))
        assert a in question and b in question
        assert tasks.word_answer(answer) == value
        assert tasks.decode_text(tasks.encode_text(question + answer)) == question + answer
    rows = tasks.word_problem_rows(probs, 60)
    assert rows.shape == (200, 60) and (rows[:, -1] == 0).all()
    assert tasks.decode_text(rows[0]) == probs[0][0] + probs[0][1]
    assert tasks.word_answer("no call") is None
    with pytest.raises(ValueError):
        tasks.encode_text("Capital")
    with pytest.raises(ValueError):
        tasks.decode_text([99])
    with pytest.raises(ValueError):
        tasks.word_problem_rows(probs, 10)
    with pytest.raises(ValueError):
        tasks.word_problems(0)
