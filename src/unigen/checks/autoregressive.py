"""Checks for the exercises of Part II, *Autoregressive models*."""
from __future__ import annotations


import torch
import torch.nn.functional as F

from .. import ar
from ._framework import CheckFailed, compare

__all__ = ["sequence_log_prob", "causal_attention", "top_p_filter", "beam_score"]


def sequence_log_prob(fn, **kw) -> None:
    """Exercise: ``fn(logits (N, L, V), x (N, L) int64) -> (N,)`` log p(x), counting each token up to the first END (0)."""
    def make(gen):
        N, L, V = int(torch.randint(1, 6, (1,), generator=gen)), int(torch.randint(2, 7, (1,), generator=gen)), 5
        x = torch.randint(0, V, (N, L), generator=gen)
        x[:, -1] = torch.where(torch.rand(N, generator=gen) < 0.5, 0, x[:, -1])
        return 2 * torch.randn(N, L, V, generator=gen, dtype=torch.float64), x

    def reference(logits, x):
        lp = logits.log_softmax(-1).gather(2, x[..., None])[..., 0]
        return (lp * ar.target_mask(x)).sum(1)
    reference.__name__ = "sequence_log_prob"
    compare(fn, reference, make, name="sequence_log_prob", **kw)


def causal_attention(fn, **kw) -> None:
    """Exercise: ``fn(q, k, v)`` with shapes ``(B, H, T, d)`` -> ``(B, H, T, d)`` causal softmax attention."""
    def make(gen):
        B, H, T, d = 2, int(torch.randint(1, 4, (1,), generator=gen)), int(torch.randint(1, 8, (1,), generator=gen)), 4
        return tuple(torch.randn(B, H, T, d, generator=gen, dtype=torch.float64) for _ in range(3))

    def reference(q, k, v):
        return F.scaled_dot_product_attention(q, k, v, is_causal=True)
    reference.__name__ = "causal_attention"
    compare(fn, reference, make, name="causal_attention", atol=1e-6, **kw)


def top_p_filter(fn, **kw) -> None:
    """Exercise: ``fn(logits (..., V), p) -> logits`` with ``-inf`` outside the nucleus (see :func:`unigen.ar.top_p_filter`).

    First the edge cases (the token that crosses ``p``, the top token alone above
    ``p``, a single token holding all the mass, ``p = 1``), then exact ties at the
    boundary (tokens tied with the last kept one are all kept), then
    ``n_trials`` random inputs (default 6). A failure names the case it failed on.
    """
    ties = "tokens tied with the last kept token must all be kept"
    fixed = [
        (torch.tensor([0.5, 0.3, 0.15, 0.05]).log(), 0.6, "0.3 crosses p = 0.6: keep two tokens"),
        (torch.tensor([5.0, 0.0, 0.0]), 0.1, "the top token alone holds more than p: keep it alone"),
        (torch.tensor([float("-inf"), 0.0, float("-inf")]), 0.5, "one token holds all the mass"),
        (torch.tensor([1.0, 2.0, 3.0]), 1.0, "p = 1 keeps every token"),
        (torch.zeros(4), 0.3, f"four tokens of 0.25 and p = 0.3: keep all four ({ties})"),
        (torch.tensor([2.0, 1.0, 1.0, 0.0]), 0.7, f"two tokens of 0.197 tie at the boundary ({ties})"),
        (torch.tensor([[0.0, 0.0, 3.0], [1.0, 0.0, 1.0]]), 0.3, f"a batch of two rows with ties ({ties})"),
        (torch.tensor([3.0, 1.0, 1.0]), 0.5, "ties below the boundary are dropped with it"),
    ]
    n_random = kw.pop("n_trials", 6)
    quiet = kw.pop("quiet", False)
    for logits, p, what in fixed:
        try:
            compare(fn, ar.top_p_filter, lambda gen: (logits, p), n_trials=1, name="top_p_filter",
                    quiet=True, **kw)
        except CheckFailed as e:
            raise CheckFailed(f"{e}\n  the case: {what}") from e.__cause__

    def make(gen):
        V = int(torch.randint(2, 12, (1,), generator=gen))
        return 2 * torch.randn(3, V, generator=gen), float(torch.rand(1, generator=gen)) * 0.95 + 0.02
    compare(fn, ar.top_p_filter, make, name="top_p_filter", n_trials=n_random, quiet=True, **kw)
    if not quiet:
        print(f"✓ top_p_filter matches the reference on {len(fixed)} edge and tie cases "
              f"and {n_random} random inputs")


def beam_score(fn, **kw) -> None:
    """Exercise: ``fn(log_prob float, length int, alpha float) -> float`` the length-normalised score ``log_prob / length**alpha``."""
    def make(gen):
        return (-float(torch.rand(1, generator=gen)) * 20, int(torch.randint(1, 14, (1,), generator=gen)),
                float(torch.rand(1, generator=gen)) * 1.5)

    def reference(lp, length, alpha):
        return lp / length ** alpha
    reference.__name__ = "beam_score"
    compare(fn, reference, make, name="beam_score", **kw)
