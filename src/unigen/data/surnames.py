"""US-census surnames from the ``names`` package: character-level text.

Introduced in *The generative modelling problem* (Part I). The file
``names/dist.all.last`` holds 88,799 distinct surnames of 2 to 13 capital
letters; we lower-case them. The vocabulary is ``.`` (id 0, the end token,
also used as the start/padding symbol) and ``a``..``z`` (ids 1..26).
"""
from __future__ import annotations

from functools import lru_cache
from importlib import resources

import torch

from ..utils import check_tensor
from .splits import take_split

__all__ = ["load", "all_names", "encode", "decode", "VOCAB", "END", "VOCAB_SIZE", "MAX_LEN"]

VOCAB = "." + "abcdefghijklmnopqrstuvwxyz"
END = 0
VOCAB_SIZE = len(VOCAB)
MAX_LEN = 13
_STOI = {c: i for i, c in enumerate(VOCAB)}


@lru_cache(maxsize=1)
def all_names() -> tuple[str, ...]:
    """All 88,799 surnames, lower-case, in the file's order (by frequency)."""
    text = resources.files("names").joinpath("dist.all.last").read_text()
    out = tuple(line.split()[0].lower() for line in text.splitlines() if line.strip())
    bad = [n for n in out if not n.isascii() or not n.isalpha()]
    if bad:  # pragma: no cover - guards against a changed package
        raise RuntimeError(f"unexpected characters in surnames, e.g. {bad[:3]}")
    return out


def load(split: str = "train", *, seed: int = 0) -> list[str]:
    """The surnames of ``split`` (80/10/10 over the distinct names, with ``seed``)."""
    return take_split(list(all_names()), split, seed=seed)


def encode(names: list[str] | str, length: int = MAX_LEN + 1) -> torch.Tensor:
    """Token ids, shape ``(N, length)``: each name's letters, then END tokens up to ``length``.

    Every row holds at least one END, so ``length`` must exceed the longest name.
    """
    if isinstance(names, str):
        names = [names]
    if not isinstance(length, int) or length < 2:
        raise ValueError(f"length must be an int >= 2, got {length!r}")
    out = torch.full((len(names), length), END, dtype=torch.int64)
    for i, name in enumerate(names):
        if len(name) >= length:
            raise ValueError(f"names[{i}] = {name!r} needs length > {len(name)}, got length={length}")
        try:
            out[i, :len(name)] = torch.tensor([_STOI[c] for c in name])
        except KeyError as e:
            raise ValueError(f"names[{i}] = {name!r} has a character outside a-z: {e}") from None
    return out


def decode(ids: torch.Tensor) -> list[str]:
    """Strings from token ids of shape ``(N, L)`` (or ``(L,)``), stopping at the first END."""
    check_tensor("ids", ids, dim=(1, 2), floating=False)
    if ids.numel() and (ids.min() < 0 or ids.max() >= VOCAB_SIZE):
        raise ValueError(f"ids must lie in 0..{VOCAB_SIZE - 1}")
    rows = ids[None] if ids.dim() == 1 else ids
    out = []
    for row in rows.tolist():
        chars = []
        for i in row:
            if i == END:
                break
            chars.append(VOCAB[i])
        out.append("".join(chars))
    return out
