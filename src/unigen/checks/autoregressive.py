"""Checks for the exercises of Part II, *Autoregressive models*.

Each check tries a small case with short numbers first (so that a failure can be
read off by hand), then random inputs.
"""
from __future__ import annotations

import re

import torch
import torch.nn.functional as F

from .. import ar
from ._framework import CheckFailed, compare, register_inputs

__all__ = ["sequence_log_prob", "causal_attention", "top_p_filter", "beam_score"]

F64 = torch.float64


# ---- sequence_log_prob ------------------------------------------------------------------------

# Two rows of three tokens over a vocabulary of two (0 is END): a token after the END and an
# END first, then an END last and a row without END.
_SEQ_LOGITS = torch.tensor([[[0.0, 1.0], [2.0, 0.0], [0.0, 0.0]], [[1.0, 0.0], [0.0, 3.0], [-1.0, 1.0]]], dtype=F64)
_SEQ_CASES = [(_SEQ_LOGITS, torch.tensor([[1, 0, 1], [0, 1, 1]])),
              (_SEQ_LOGITS, torch.tensor([[1, 1, 0], [1, 1, 1]]))]


def _make_sequence(gen):
    N, L, V = int(torch.randint(1, 6, (1,), generator=gen)), int(torch.randint(2, 7, (1,), generator=gen)), 5
    x = torch.randint(0, V, (N, L), generator=gen)
    x[:, -1] = torch.where(torch.rand(N, generator=gen) < 0.5, 0, x[:, -1])
    return 2 * torch.randn(N, L, V, generator=gen, dtype=F64), x


register_inputs("sequence_log_prob", _make_sequence, cases=_SEQ_CASES)


def _sequence_log_prob(logits, x):
    lp = logits.log_softmax(-1).gather(2, x[..., None])[..., 0]
    return (lp * ar.target_mask(x)).sum(1)


def sequence_log_prob(fn, **kw) -> None:
    """Exercise: ``fn(logits (N, L, V), x (N, L) int64) -> (N,)`` log p(x), counting each token up to the first END (0).

    The cases include a token after the END, an END first, an END last and a row without END.
    """
    compare(fn, _sequence_log_prob, _make_sequence, cases=_SEQ_CASES, name="sequence_log_prob",
            inputs=("logits", "x"), outputs=("log_prob",), **kw)


# ---- causal_attention -------------------------------------------------------------------------

# One head, T = 3 positions, d = 2 (the scale is 1/sqrt(2), not 1/2).
_ATTN_CASES = [(torch.tensor([[[[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]]]], dtype=F64),
                torch.tensor([[[[1.0, 1.0], [0.0, 2.0], [-1.0, 0.0]]]], dtype=F64),
                torch.tensor([[[[1.0, 0.0], [0.0, 1.0], [2.0, -1.0]]]], dtype=F64))]


def _make_attention(gen):
    B, H = 2, int(torch.randint(1, 4, (1,), generator=gen))
    T, d = int(torch.randint(1, 8, (1,), generator=gen)), int(torch.randint(1, 9, (1,), generator=gen))
    return tuple(torch.randn(B, H, T, d, generator=gen, dtype=F64) for _ in range(3))


register_inputs("causal_attention", _make_attention, cases=_ATTN_CASES)


def _causal_attention(q, k, v):
    return F.scaled_dot_product_attention(q, k, v, is_causal=True)


def causal_attention(fn, **kw) -> None:
    """Exercise: ``fn(q, k, v)`` with shapes ``(B, H, T, d)`` -> ``(B, H, T, d)`` causal softmax attention.

    The head size ``d`` and the length ``T`` vary from input to input.
    """
    kw = {"atol": 1e-6, **kw}
    compare(fn, _causal_attention, _make_attention, cases=_ATTN_CASES, name="causal_attention",
            inputs=("q", "k", "v"), outputs=("out",), **kw)


# ---- top_p_filter -----------------------------------------------------------------------------

_TIES = "tokens tied with the last kept token must all be kept"
_TOP_P_FIXED = [
    (torch.tensor([0.5, 0.3, 0.15, 0.05]).log(), 0.6, "0.3 crosses p = 0.6: keep two tokens"),
    (torch.tensor([5.0, 0.0, 0.0]), 0.1, "the top token alone holds more than p: keep it alone"),
    (torch.tensor([float("-inf"), 0.0, float("-inf")]), 0.5, "one token holds all the mass"),
    (torch.tensor([1.0, 2.0, 3.0]), 1.0, "p = 1 keeps every token"),
    (torch.zeros(4), 0.3, f"four tokens of 0.25 and p = 0.3: keep all four ({_TIES})"),
    (torch.tensor([2.0, 1.0, 1.0, 0.0]), 0.7, f"two tokens of 0.197 tie at the boundary ({_TIES})"),
    (torch.tensor([[0.0, 0.0, 3.0], [1.0, 0.0, 1.0]]), 0.3, f"a batch of two rows with ties ({_TIES})"),
    (torch.tensor([3.0, 1.0, 1.0]), 0.5, "ties below the boundary are dropped with it"),
]
_TOP_P_CASES = [(logits, p) for logits, p, _ in _TOP_P_FIXED]


def _make_top_p(gen):
    V = int(torch.randint(2, 12, (1,), generator=gen))
    return 2 * torch.randn(3, V, generator=gen), float(torch.rand(1, generator=gen)) * 0.95 + 0.02


register_inputs("top_p_filter", _make_top_p, cases=_TOP_P_CASES)


def _top_p_filter(logits, p):
    return ar.top_p_filter(logits, p)


def top_p_filter(fn, **kw) -> None:
    """Exercise: ``fn(logits (..., V), p) -> logits`` with ``-inf`` outside the nucleus (see :func:`unigen.ar.top_p_filter`).

    First the edge cases (the token that crosses ``p``, the top token alone above
    ``p``, a single token holding all the mass, ``p = 1``), then exact ties at the
    boundary (tokens tied with the last kept one are all kept), then
    ``n_trials`` random inputs (default 6). A failure on a fixed case says what the case tests.
    """
    kw = {"n_trials": 6, **kw}
    try:
        compare(fn, _top_p_filter, _make_top_p, cases=_TOP_P_CASES, name="top_p_filter",
                inputs=("logits", "p"), outputs=("filtered_logits",), **kw)
    except CheckFailed as e:
        trial = re.search(r"\(trial (\d+) of \d+\)", str(e))
        if trial is None or int(trial.group(1)) > len(_TOP_P_FIXED):
            raise
        raise CheckFailed(f"{e}\n  the case: {_TOP_P_FIXED[int(trial.group(1)) - 1][2]}") from e.__cause__


# ---- beam_score -------------------------------------------------------------------------------

# alpha = 0.5 (the square root of the length), alpha = 0 (the plain log-probability), length 1.
_BEAM_CASES = [(-6.0, 4, 0.5), (-6.0, 4, 0.0), (-3.0, 1, 1.0)]


def _make_beam(gen):
    return (-float(torch.rand(1, generator=gen)) * 20, int(torch.randint(1, 14, (1,), generator=gen)),
            float(torch.rand(1, generator=gen)) * 1.5)


register_inputs("beam_score", _make_beam, cases=_BEAM_CASES)


def _beam_score(log_prob, length, alpha):
    return log_prob / length ** alpha


def beam_score(fn, **kw) -> None:
    """Exercise: ``fn(log_prob float, length int, alpha float) -> float`` the length-normalised score ``log_prob / length**alpha``."""
    compare(fn, _beam_score, _make_beam, cases=_BEAM_CASES, name="beam_score",
            inputs=("log_prob", "length", "alpha"), outputs=("score",), **kw)
