"""Checks for the exercises of Part VII, *The unified view* and *A practical comparison*."""
from __future__ import annotations

import torch

from .. import compare
from ..data import tasks
from ._framework import compare as compare_fn

__all__ = ["lsb_digits", "sudoku_valid", "pareto_front", "bigram_tv", "constrained_logprob",
           "reveal_steps"]


def lsb_digits(fn, **kw) -> None:
    """Exercise: ``fn(n (B,), width) -> (B, width)``, decimal digits least significant first."""
    def make(gen):
        width = int(torch.randint(1, 6, (1,), generator=gen))
        B = int(torch.randint(1, 7, (1,), generator=gen))
        return torch.randint(0, 10 ** width, (B,), generator=gen), width

    def reference(n, width):
        return tasks.lsb_digits(n, width)
    reference.__name__ = "lsb_digits"
    compare_fn(fn, reference, make, name="lsb_digits", **kw)


def sudoku_valid(fn, **kw) -> None:
    """Exercise: ``fn(grids (B, 16)) -> (B,)`` bool, whether each 4x4 grid is a solved sudoku."""
    grids = tasks.sudoku_grids()

    def make(gen):
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

    def reference(g):
        return tasks.is_valid_sudoku(g)
    reference.__name__ = "sudoku_valid"
    compare_fn(fn, reference, make, name="sudoku_valid", **kw)


def pareto_front(fn, **kw) -> None:
    """Exercise: ``fn(cost (N,), error (N,)) -> (N,)`` bool, the undominated points."""
    def make(gen):
        N = int(torch.randint(1, 9, (1,), generator=gen))
        return (torch.randint(1, 5, (N,), generator=gen).double(),
                torch.randint(1, 5, (N,), generator=gen).double())

    def reference(cost, error):
        return compare.pareto_front(cost, error)
    reference.__name__ = "pareto_front"
    compare_fn(fn, reference, make, name="pareto_front", **kw)


def bigram_tv(fn, **kw) -> None:
    """Exercise: ``fn(a: list[str], b: list[str]) -> float``, TV distance of bigram frequencies."""
    letters = "abc"

    def word(gen):
        n = int(torch.randint(1, 5, (1,), generator=gen))
        return "".join(letters[i] for i in torch.randint(0, 3, (n,), generator=gen).tolist())

    def make(gen):
        return ([word(gen) for _ in range(int(torch.randint(1, 5, (1,), generator=gen)))],
                [word(gen) for _ in range(int(torch.randint(1, 5, (1,), generator=gen)))])

    def reference(a, b):
        return compare.bigram_tv(a, b)
    reference.__name__ = "bigram_tv"
    compare_fn(fn, reference, make, name="bigram_tv", **kw)


def constrained_logprob(fn, **kw) -> None:
    """Exercise: ``fn(logp (T, V), allowed (T, V) bool, tokens (T,)) -> float``, log q of a constrained output.

    ``q(y_t | y_<t) = p(y_t | y_<t) / Z_t`` on the allowed tokens, ``Z_t`` the allowed mass.
    """
    def make(gen):
        T = int(torch.randint(1, 6, (1,), generator=gen))
        V = int(torch.randint(3, 7, (1,), generator=gen))
        logp = torch.randn(T, V, generator=gen, dtype=torch.float64).log_softmax(-1)
        allowed = torch.rand(T, V, generator=gen) < 0.5
        allowed[torch.arange(T), torch.randint(0, V, (T,), generator=gen)] = True
        choice = torch.rand(T, V, generator=gen).masked_fill(~allowed, -1.0).argmax(1)
        return logp, allowed, choice

    def reference(logp, allowed, tokens):
        log_z = logp.masked_fill(~allowed, float("-inf")).logsumexp(-1)
        return float((logp.gather(1, tokens[:, None])[:, 0] - log_z).sum())
    reference.__name__ = "constrained_logprob"
    compare_fn(fn, reference, make, name="constrained_logprob", **kw)


def reveal_steps(fn, **kw) -> None:
    """Exercise: ``fn(trajectory: list of (N, L), mask_id) -> (N, L)``, the entry where each position appears."""
    mask_id = 9

    def make(gen):
        N = int(torch.randint(1, 4, (1,), generator=gen))
        L = int(torch.randint(2, 7, (1,), generator=gen))
        final = torch.randint(0, mask_id, (N, L), generator=gen)
        when = torch.randint(0, 4, (N, L), generator=gen)            # 0: known from the start
        steps = int(when.max()) + 1
        trajectory = [torch.where(when <= k, final, mask_id) for k in range(steps)]
        return trajectory, mask_id

    def reference(trajectory, mask_id):
        return (torch.stack(trajectory) != mask_id).int().argmax(0)
    reference.__name__ = "reveal_steps"
    compare_fn(fn, reference, make, name="reveal_steps", **kw)
