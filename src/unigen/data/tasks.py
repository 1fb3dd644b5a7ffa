r"""Small generated tasks where the order of generation matters: addition, word problems, 4x4 sudoku.

Introduced in *The unified view* and *Where each family wins* (Part VII). All are token sequences that share one
vocabulary layout with :mod:`unigen.ar` and :mod:`unigen.masked`: id 0 is the START/END
token the autoregressive model reads first, and every task token has an id >= 1.

- **Addition, least-significant digit first.** ``a + b = c`` with ``width``-digit
  operands, every number written from its units digit up, so a left-to-right model
  meets the carry just when it needs it. A row is
  ``a_0 .. a_{w-1} + b_0 .. b_{w-1} = c_0 .. c_w`` (the sum has ``width + 1`` digits):
  digit ``d`` is id ``d + 1``, ``+`` is :data:`PLUS`, ``=`` is :data:`EQUALS`.
- **Addition, most-significant digit first** (``order="msb"``): the same sums written
  the usual way, so the first digit of the sum depends on a carry that may come from
  the last place (*Where each family wins*).
- **Arithmetic word problems with a calculator call** (:func:`word_problems`): short
  character-level texts such as ``37 boxes of 12 pens. pens?<calc>37*12</calc>444 pens.``;
  the answer calls a calculator (see :mod:`unigen.tools`). Characters are ids
  ``1..len(WORD_CHARS)`` (:func:`encode_text`, :func:`decode_text`), id 0 ends the text.
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
    "addition_answer_slice", "addition_numbers",
    "WORD_CHARS", "WORD_VOCAB", "WORD_TEMPLATES", "encode_text", "decode_text", "word_problems",
    "word_problem_rows", "word_answer",
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


def _check_order(order) -> str:
    if order not in ("lsb", "msb"):
        raise ValueError(f"order must be 'lsb' or 'msb', got {order!r}")
    return order


def addition(n: int, width: int = 3, *, generator: torch.Generator | None = None,
             order: str = "lsb") -> torch.Tensor:
    """``n`` random sums of two ``width``-digit numbers as token rows ``(n, 3 width + 3)``.

    ``order="lsb"`` writes every number least-significant digit first (the default),
    ``"msb"`` most-significant first; the same generator gives the same sums in both.
    """
    if not isinstance(n, int) or n < 1:
        raise ValueError(f"n must be a positive int, got {n!r}")
    _check_width(width)
    _check_order(order)
    a = torch.randint(0, 10 ** width, (n,), generator=generator)
    b = torch.randint(0, 10 ** width, (n,), generator=generator)
    plus, equals = torch.full((n, 1), PLUS), torch.full((n, 1), EQUALS)
    parts = [lsb_digits(a, width), lsb_digits(b, width), lsb_digits(a + b, width + 1)]
    if order == "msb":
        parts = [p.flip(1) for p in parts]
    return torch.cat([parts[0] + 1, plus, parts[1] + 1, equals, parts[2] + 1], 1)


def addition_numbers(rows: torch.Tensor, width: int, order: str = "lsb") -> torch.Tensor:
    """The integers ``(a, b, c)`` written in :func:`addition` rows ``(B, 3 width + 3)``: ``(B, 3)``.

    ``c`` is read from the answer columns, so a model's (possibly wrong) sum can be decoded.
    """
    _check_width(width)
    _check_order(order)
    check_tensor("rows", rows, dim=2, floating=False)
    if rows.shape[1] != 3 * width + 3:
        raise ValueError(f"rows must have 3 width + 3 = {3 * width + 3} columns, got {rows.shape[1]}")
    cols = [slice(0, width), slice(width + 1, 2 * width + 1), addition_answer_slice(width)]
    digits = [rows[:, c] - 1 for c in cols]
    if digits[0].numel() and any(bool((d < 0).any() or (d > 9).any()) for d in digits):
        raise ValueError("rows must hold digit ids 1..10 in the number columns")
    if order == "msb":
        digits = [d.flip(1) for d in digits]
    return torch.stack([from_lsb_digits(d) for d in digits], 1)


def addition_answer_slice(width: int) -> slice:
    """The columns of an :func:`addition` row that hold the sum (the part a model must produce)."""
    _check_width(width)
    return slice(2 * width + 2, 3 * width + 3)


# ---- word problems with a calculator call ---------------------------------------------------

WORD_CHARS = " .,?<>/*+-0123456789abcdefghijklmnopqrstuvwxyz"
WORD_VOCAB = len(WORD_CHARS) + 1          # id 0: START/END
_CHAR_ID = {c: i + 1 for i, c in enumerate(WORD_CHARS)}

# (question, operation, unit of the answer); {a} and {b} are two-digit numbers
WORD_TEMPLATES = (
    ("{a} boxes of {b} pens. pens?", "*", "pens"),
    ("{a} rows of {b} seats. seats?", "*", "seats"),
    ("{a} red and {b} blue cars. cars?", "+", "cars"),
    ("{a} cats, {b} more came. cats?", "+", "cats"),
    ("{a} eggs, {b} broke. eggs left?", "-", "eggs"),
    ("{a} apples, {b} eaten. apples?", "-", "apples"),
)


def encode_text(text: str) -> list[int]:
    """Character ids of ``text`` (characters from :data:`WORD_CHARS`)."""
    if not isinstance(text, str):
        raise ValueError(f"text must be a str, got {type(text).__name__}")
    bad = sorted(set(text) - set(_CHAR_ID))
    if bad:
        raise ValueError(f"text holds characters outside WORD_CHARS: {bad}")
    return [_CHAR_ID[c] for c in text]


def decode_text(ids) -> str:
    """Inverse of :func:`encode_text`; stops at the first END (id 0)."""
    out = []
    for i in (ids.tolist() if isinstance(ids, torch.Tensor) else ids):
        i = int(i)
        if i == 0:
            break
        if not 1 <= i <= len(WORD_CHARS):
            raise ValueError(f"ids must lie in 0..{len(WORD_CHARS)}, got {i}")
        out.append(WORD_CHARS[i - 1])
    return "".join(out)


def word_problems(n: int, *, generator: torch.Generator | None = None) -> list[tuple[str, str, int]]:
    """``n`` random problems as ``(question, answer, value)``.

    The answer calls the calculator and then states the result with its unit, e.g.
    ``("37 boxes of 12 pens. pens?", "<calc>37*12</calc>444 pens.", 444)``. The
    numbers are two-digit; a subtraction never goes below zero.
    """
    if not isinstance(n, int) or n < 1:
        raise ValueError(f"n must be a positive int, got {n!r}")
    kind = torch.randint(0, len(WORD_TEMPLATES), (n,), generator=generator).tolist()
    ab = torch.randint(10, 100, (n, 2), generator=generator).tolist()
    out = []
    for k, (a, b) in zip(kind, ab):
        question, op, unit = WORD_TEMPLATES[k]
        if op == "-" and a < b:
            a, b = b, a
        value = a * b if op == "*" else a + b if op == "+" else a - b
        answer = f"<calc>{a}{op}{b}</calc>{value} {unit}."
        out.append((question.format(a=a, b=b), answer, value))
    return out


def word_problem_rows(problems, length: int) -> torch.Tensor:
    """Token rows ``(n, length)`` of ``question + answer``, END-padded (for :func:`unigen.ar.ar_loss`)."""
    if not isinstance(length, int) or length < 2:
        raise ValueError(f"length must be an int >= 2, got {length!r}")
    rows = torch.zeros(len(problems), length, dtype=torch.long)
    for r, (question, answer, _) in enumerate(problems):
        ids = encode_text(question + answer)
        if len(ids) >= length:
            raise ValueError(f"length {length} leaves no room for END after {question + answer!r}")
        rows[r, :len(ids)] = torch.tensor(ids)
    return rows


def word_answer(text: str) -> int | None:
    """The final number of an answer: the digits right after ``</calc>`` (``None`` if absent)."""
    if not isinstance(text, str):
        raise ValueError(f"text must be a str, got {type(text).__name__}")
    tail = text.rsplit("</calc>", 1)
    if len(tail) < 2:
        return None
    digits = ""
    for c in tail[1]:
        if not c.isdigit():
            break
        digits += c
    return int(digits) if digits else None


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
