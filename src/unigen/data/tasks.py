r"""Small generated tasks where the order of generation matters: addition and 4x4 sudoku.

Introduced in *The unified view* (Part VII). Both are token sequences that share one
vocabulary layout with :mod:`unigen.ar` and :mod:`unigen.masked`: id 0 is the START/END
token the autoregressive model reads first, and every task token has an id >= 1.

- **Addition, least-significant digit first.** ``a + b = c`` with ``width``-digit
  operands, every number written from its units digit up, so a left-to-right model
  meets the carry just when it needs it. A row is
  ``a_0 .. a_{w-1} + b_0 .. b_{w-1} = c_0 .. c_w`` (the sum has ``width + 1`` digits):
  digit ``d`` is id ``d + 1``, ``+`` is :data:`PLUS`, ``=`` is :data:`EQUALS`.
- **4x4 sudoku.** All 288 grids in which every row, column and 2x2 box holds 1..4
  (:func:`sudoku_grids`), as rows of 16 ids (value ``v`` is id ``v``) in raster order;
  :data:`BLANK` (id 5) marks a hidden cell in a puzzle. :class:`SudokuPrior` gives the
  exact conditionals of the uniform distribution over the grids, a "perfect model" with
  which every generation order has the same likelihood.
"""
from __future__ import annotations

import itertools
from functools import lru_cache

import torch

from ..utils import check_tensor
from .splits import take_split

__all__ = [
    "PLUS", "EQUALS", "ADD_VOCAB", "lsb_digits", "from_lsb_digits", "addition",
    "addition_answer_slice",
    "BLANK", "SUDOKU_VOCAB", "sudoku_grids", "is_valid_sudoku", "sudoku_split", "sudoku_puzzles",
    "SudokuPrior",
]

# ---- addition ------------------------------------------------------------------------------

PLUS, EQUALS = 11, 12          # digits 0..9 are ids 1..10
ADD_VOCAB = 13                 # ids 0..12 (id 0: START/END)


def _check_width(width) -> int:
    if not isinstance(width, int) or isinstance(width, bool) or not 1 <= width <= 9:
        raise ValueError(f"width must be an int in 1..9, got {width!r}")
    return width


def lsb_digits(n: torch.Tensor, width: int) -> torch.Tensor:
    """Decimal digits of integers ``n (B,)`` >= 0, least significant first: ``(B, width)``."""
    check_tensor("n", n, dim=1, floating=False)
    _check_width(width)
    if n.numel() and (n.min() < 0 or n.max() >= 10 ** width):
        raise ValueError(f"n must lie in 0..{10 ** width - 1} to fit {width} digits")
    powers = 10 ** torch.arange(width, device=n.device)
    return (n[:, None] // powers) % 10


def from_lsb_digits(digits: torch.Tensor) -> torch.Tensor:
    """Inverse of :func:`lsb_digits`: ``(B, w)`` digits, least significant first -> ``(B,)``."""
    check_tensor("digits", digits, dim=2, floating=False)
    if digits.numel() and (digits.min() < 0 or digits.max() > 9):
        raise ValueError("digits must lie in 0..9")
    powers = 10 ** torch.arange(digits.shape[1], device=digits.device)
    return (digits * powers).sum(1)


def addition(n: int, width: int = 3, *, generator: torch.Generator | None = None) -> torch.Tensor:
    """``n`` random sums of two ``width``-digit numbers as token rows ``(n, 3 width + 3)``."""
    if not isinstance(n, int) or n < 1:
        raise ValueError(f"n must be a positive int, got {n!r}")
    _check_width(width)
    a = torch.randint(0, 10 ** width, (n,), generator=generator)
    b = torch.randint(0, 10 ** width, (n,), generator=generator)
    plus, equals = torch.full((n, 1), PLUS), torch.full((n, 1), EQUALS)
    return torch.cat([lsb_digits(a, width) + 1, plus, lsb_digits(b, width) + 1, equals,
                      lsb_digits(a + b, width + 1) + 1], 1)


def addition_answer_slice(width: int) -> slice:
    """The columns of an :func:`addition` row that hold the sum (the part a model must produce)."""
    _check_width(width)
    return slice(2 * width + 2, 3 * width + 3)


# ---- 4x4 sudoku ----------------------------------------------------------------------------------

BLANK = 5                      # a hidden cell in a puzzle (and the MASK id of a masked model)
SUDOKU_VOCAB = 6               # ids 0..5 (id 0: START/END)


def _groups() -> torch.Tensor:
    """``(12, 4)`` cell indices of the 4 rows, 4 columns and 4 boxes of a 4x4 grid."""
    rows = [[4 * r + c for c in range(4)] for r in range(4)]
    cols = [[4 * r + c for r in range(4)] for c in range(4)]
    boxes = [[4 * (br + i) + bc + j for i in range(2) for j in range(2)]
             for br in (0, 2) for bc in (0, 2)]
    return torch.tensor(rows + cols + boxes)


def is_valid_sudoku(grids: torch.Tensor) -> torch.Tensor:
    """``(B,)`` bool: whether each row of ``grids (B, 16)`` (raster order) is a solved sudoku."""
    check_tensor("grids", grids, dim=2, floating=False)
    if grids.shape[1] != 16:
        raise ValueError(f"grids must have 16 cells per row, got shape {tuple(grids.shape)}")
    cells = grids[:, _groups().to(grids.device)]                             # (B, 12, 4)
    return (cells.sort(-1).values == torch.arange(1, 5, device=grids.device)).all(-1).all(-1)


@lru_cache(maxsize=1)
def _all_grids() -> torch.Tensor:
    """Backtracking over the cells in raster order; rows, columns and boxes stay free of repeats."""
    groups = _groups().tolist()
    peers = [sorted({j for g in groups if i in g for j in g} - {i}) for i in range(16)]
    out, grid = [], [0] * 16

    def fill(i):
        if i == 16:
            out.append(list(grid))
            return
        for v in range(1, 5):
            if all(grid[j] != v for j in peers[i]):
                grid[i] = v
                fill(i + 1)
        grid[i] = 0
    fill(0)
    return torch.tensor(out)


def sudoku_grids() -> torch.Tensor:
    """All 288 solved 4x4 sudoku grids, ``(288, 16)`` int64 with values 1..4, in a fixed order."""
    return _all_grids().clone()


def sudoku_split(split: str, *, seed: int = 0) -> torch.Tensor:
    """The grids of ``split`` (80/10/10 of the 288 grids, as every dataset of the book)."""
    return take_split(_all_grids(), split, seed=seed).clone()


def sudoku_puzzles(grids: torch.Tensor, n_given: int, *,
                   generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Hide all but ``n_given`` random cells of each grid: ``(puzzles, given)``, both ``(B, 16)``.

    ``puzzles`` holds :data:`BLANK` in the hidden cells; ``given`` is the boolean mask of the clues.
    """
    check_tensor("grids", grids, dim=2, floating=False)
    if not isinstance(n_given, int) or not 0 <= n_given <= 16:
        raise ValueError(f"n_given must be an int in 0..16, got {n_given!r}")
    rank = torch.rand(grids.shape, generator=generator).argsort(1).argsort(1).to(grids.device)
    given = rank < n_given
    return torch.where(given, grids, torch.full_like(grids, BLANK)), given


class SudokuPrior(torch.nn.Module):
    r"""The exact conditionals of the uniform distribution over the 288 grids, as a masked model.

    ``forward(x_t (B, 16)) -> logits (B, 16, SUDOKU_VOCAB)``: at each cell, the log of the
    number of grids that agree with the visible (non-``mask_id``) cells and hold each value
    there. As a masked-diffusion model it is perfect: every order of revealing gives
    :math:`-\log p(x) = \log 288` for every grid.
    """

    def __init__(self, mask_id: int = BLANK):
        super().__init__()
        self.mask_id = mask_id
        grids = _all_grids()
        self.register_buffer("grids", grids, persistent=False)
        self.register_buffer("onehot", torch.nn.functional.one_hot(grids, SUDOKU_VOCAB).float(),
                             persistent=False)

    def forward(self, x_t: torch.Tensor) -> torch.Tensor:
        check_tensor("x_t", x_t, dim=2, floating=False)
        if x_t.shape[1] != 16:
            raise ValueError(f"x_t must have 16 cells per row, got shape {tuple(x_t.shape)}")
        visible = x_t != self.mask_id
        same = (self.grids[None] == x_t[:, None]) | ~visible[:, None]        # (B, 288, 16)
        agree = same.all(-1).float()                                          # (B, 288)
        counts = torch.einsum("bg,gcv->bcv", agree, self.onehot)              # (B, 16, V)
        return counts.log()
