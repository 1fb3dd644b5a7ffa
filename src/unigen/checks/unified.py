"""Checks for the exercises of Part VII, *The unified view*, *Where each wins* and *A practical comparison*."""
from __future__ import annotations

import torch

from .. import compare as comparison
from ..data import tasks
from ._framework import compare, register_inputs

__all__ = ["lsb_digits", "sudoku_valid", "pareto_front", "bigram_tv", "constrained_logprob",
           "reveal_steps"]

F64 = torch.float64


# ---- lsb_digits -------------------------------------------------------------------------------

# Zeros inside and at the end of a number (305, 0), one digit (width 1), and a full width (99).
_LSB_CASES = [(torch.tensor([7, 42, 305, 0]), 3), (torch.tensor([9, 10, 99]), 2), (torch.tensor([0, 5, 9]), 1)]


def _make_lsb(gen):
    width = int(torch.randint(1, 6, (1,), generator=gen))
    B = int(torch.randint(1, 7, (1,), generator=gen))
    return torch.randint(0, 10 ** width, (B,), generator=gen), width


register_inputs("lsb_digits", _make_lsb, cases=_LSB_CASES)


def _lsb_digits(n, width):
    return tasks.lsb_digits(n, width)


def lsb_digits(fn, **kw) -> None:
    """Exercise: ``fn(n (B,) int64, width int) -> digits (B, width)``, decimal digits least significant first."""
    compare(fn, _lsb_digits, _make_lsb, cases=_LSB_CASES, name="lsb_digits",
            inputs=("n", "width"), outputs=("digits",), **kw)


# ---- sudoku_valid -----------------------------------------------------------------------------

# One batch of five 4x4 grids in raster order, each a trap for one kind of mistake.
_SUDOKU_CASES = [(torch.tensor([
    [1, 2, 3, 4, 3, 4, 1, 2, 2, 1, 4, 3, 4, 3, 2, 1],      # 0: a solved sudoku
    [1, 2, 3, 4, 3, 4, 2, 1, 4, 3, 1, 2, 2, 1, 4, 3],      # 1: solved; its every-other-cell groups repeat
    [1, 2, 3, 4, 2, 3, 4, 1, 3, 4, 1, 2, 4, 1, 2, 3],      # 2: rows and columns fine, the boxes repeat
    [2, 2, 3, 3, 3, 3, 2, 2, 2, 2, 3, 3, 3, 3, 2, 2],      # 3: every row, column and box sums to 10
    [2, 1, 3, 4, 3, 4, 1, 2, 2, 1, 4, 3, 4, 3, 2, 1],      # 4: grid 0 with two cells of a row swapped
]),)]


def _make_sudoku(gen):
    grids = tasks.sudoku_grids()
    B = int(torch.randint(2, 8, (1,), generator=gen))
    g = grids[torch.randint(0, len(grids), (B,), generator=gen)].clone()
    for b in range(0, B, 2):                   # break every other grid, in one of three ways
        r, c1, c2 = torch.randperm(4, generator=gen)[:3].tolist()
        kind = (b // 2) % 3
        if kind == 0:                              # swap in a row: the rows stay valid
            g[b, [4 * r + c1, 4 * r + c2]] = g[b, [4 * r + c2, 4 * r + c1]]
        elif kind == 1:                            # swap in a column: the columns stay valid
            g[b, [4 * c1 + r, 4 * c2 + r]] = g[b, [4 * c2 + r, 4 * c1 + r]]
        else:                                      # a wrong value
            g[b, 4 * r + c1] = g[b, 4 * r + c1] % 4 + 1
    return (g,)


register_inputs("sudoku_valid", _make_sudoku, cases=_SUDOKU_CASES)


def _sudoku_valid(grids):
    return tasks.is_valid_sudoku(grids)


def sudoku_valid(fn, **kw) -> None:
    """Exercise: ``fn(grids (B, 16)) -> valid (B,)`` bool, whether each 4x4 grid is a solved sudoku.

    The fixed case holds a Latin square whose 2x2 boxes repeat, a grid whose rows, columns and
    boxes all sum to 10, and a solved grid whose every-other-cell groups repeat.
    """
    compare(fn, _sudoku_valid, _make_sudoku, cases=_SUDOKU_CASES, name="sudoku_valid",
            inputs=("grids",), outputs=("valid",), **kw)


# ---- pareto_front -----------------------------------------------------------------------------

# Points (cost, error): (1, 4) is beaten by (1, 3) with equal cost; (2, 2) appears twice (both stay);
# (3, 3) is beaten on both; then a single point, and three identical points.
_PARETO_CASES = [
    (torch.tensor([1.0, 1.0, 2.0, 2.0, 3.0, 3.0]), torch.tensor([4.0, 3.0, 2.0, 2.0, 1.0, 3.0])),
    (torch.tensor([2.0]), torch.tensor([5.0])),
    (torch.tensor([1.0, 1.0, 1.0]), torch.tensor([2.0, 2.0, 2.0])),
]


def _make_pareto(gen):
    N = int(torch.randint(1, 9, (1,), generator=gen))
    return (torch.randint(1, 5, (N,), generator=gen).double(), torch.randint(1, 5, (N,), generator=gen).double())


register_inputs("pareto_front", _make_pareto, cases=_PARETO_CASES)


def _pareto_front(cost, error):
    return comparison.pareto_front(cost, error)


def pareto_front(fn, **kw) -> None:
    """Exercise: ``fn(cost (N,), error (N,)) -> on_front (N,)`` bool, the points no other point dominates.

    Lower is better on both. The cases include equal costs, equal errors and duplicated points.
    """
    compare(fn, _pareto_front, _make_pareto, cases=_PARETO_CASES, name="pareto_front",
            inputs=("cost", "error"), outputs=("on_front",), **kw)


# ---- bigram_tv --------------------------------------------------------------------------------

# Disjoint bigrams ("^a", "ab", "b$" against "^b", "ba", "a$": distance 1); a one-letter name, whose
# only bigrams are "^b" and "b$"; lists of different lengths; identical lists (distance 0).
_BIGRAM_CASES = [(["ab"], ["ba"]), (["ab", "b"], ["ab"]), (["abc", "ca"], ["ab", "bc", "a"]),
                 (["ab", "ba"], ["ba", "ab"])]


def _word(gen):
    n = int(torch.randint(1, 5, (1,), generator=gen))
    return "".join("abc"[i] for i in torch.randint(0, 3, (n,), generator=gen).tolist())


def _make_bigram(gen):
    return ([_word(gen) for _ in range(int(torch.randint(1, 5, (1,), generator=gen)))],
            [_word(gen) for _ in range(int(torch.randint(1, 5, (1,), generator=gen)))])


register_inputs("bigram_tv", _make_bigram, cases=_BIGRAM_CASES)


def _bigram_tv(a, b):
    return comparison.bigram_tv(a, b)


def bigram_tv(fn, **kw) -> None:
    """Exercise: ``fn(a: list[str], b: list[str]) -> tv`` float, the TV distance of bigram frequencies.

    Each name is read as ``^name$``; the frequencies are counts over all bigrams of a list divided by
    their total; the distance is half the sum of the absolute differences.
    """
    compare(fn, _bigram_tv, _make_bigram, cases=_BIGRAM_CASES, name="bigram_tv",
            inputs=("a", "b"), outputs=("tv",), **kw)


# ---- constrained_logprob ----------------------------------------------------------------------

# T = 2 steps over V = 3 tokens: p = (0.5, 0.25, 0.25) with token 1 forbidden, then p = (0.1, 0.6, 0.3)
# with token 0 forbidden; log q = log(0.5 / 0.75) + log(0.3 / 0.9).
_CONSTRAINED_CASES = [(torch.tensor([[0.5, 0.25, 0.25], [0.1, 0.6, 0.3]], dtype=F64).log(),
                       torch.tensor([[True, False, True], [False, True, True]]), torch.tensor([0, 2]))]


def _make_constrained(gen):
    T = int(torch.randint(1, 6, (1,), generator=gen))
    V = int(torch.randint(3, 7, (1,), generator=gen))
    logp = torch.randn(T, V, generator=gen, dtype=F64).log_softmax(-1)
    allowed = torch.rand(T, V, generator=gen) < 0.5
    allowed[torch.arange(T), torch.randint(0, V, (T,), generator=gen)] = True
    choice = torch.rand(T, V, generator=gen).masked_fill(~allowed, -1.0).argmax(1)
    return logp, allowed, choice


register_inputs("constrained_logprob", _make_constrained, cases=_CONSTRAINED_CASES)


def _constrained_logprob(logp, allowed, tokens):
    log_z = logp.masked_fill(~allowed, float("-inf")).logsumexp(-1)
    return float((logp.gather(1, tokens[:, None])[:, 0] - log_z).sum())


def constrained_logprob(fn, **kw) -> None:
    """Exercise: ``fn(logp (T, V), allowed (T, V) bool, tokens (T,)) -> log_q`` float, log q of a constrained output.

    ``q(y_t | y_<t) = p(y_t | y_<t) / Z_t`` on the allowed tokens, ``Z_t`` the allowed mass.
    """
    compare(fn, _constrained_logprob, _make_constrained, cases=_CONSTRAINED_CASES, name="constrained_logprob",
            inputs=("logp", "allowed", "tokens"), outputs=("log_q",), **kw)


# ---- reveal_steps -----------------------------------------------------------------------------

# Mask id 9; final tokens (3, 1, 4) and (5, 0, 2), revealed at steps (0, 2, 1) and (1, 0, 2).
_REVEAL_CASES = [([torch.tensor([[3, 9, 9], [9, 0, 9]]), torch.tensor([[3, 9, 4], [5, 0, 9]]),
                   torch.tensor([[3, 1, 4], [5, 0, 2]])], 9)]


def _make_reveal(gen):
    mask_id = 9
    N = int(torch.randint(1, 4, (1,), generator=gen))
    L = int(torch.randint(2, 7, (1,), generator=gen))
    final = torch.randint(0, mask_id, (N, L), generator=gen)
    when = torch.randint(0, 4, (N, L), generator=gen)            # 0: known from the start
    steps = int(when.max()) + 1
    return [torch.where(when <= k, final, mask_id) for k in range(steps)], mask_id


register_inputs("reveal_steps", _make_reveal, cases=_REVEAL_CASES)


def _reveal_steps(trajectory, mask_id):
    return (torch.stack(trajectory) != mask_id).int().argmax(0)


def reveal_steps(fn, **kw) -> None:
    """Exercise: ``fn(trajectory: list of (N, L), mask_id) -> revealed_at (N, L)``.

    The index of the first entry of ``trajectory`` in which each position is no longer ``mask_id``
    (0 for the positions known from the start).
    """
    compare(fn, _reveal_steps, _make_reveal, cases=_REVEAL_CASES, name="reveal_steps",
            inputs=("trajectory", "mask_id"), outputs=("revealed_at",), **kw)
