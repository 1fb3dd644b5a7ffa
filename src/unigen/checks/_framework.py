"""The checking machinery: compare a learner's function with the reference on random inputs."""
from __future__ import annotations

import math

import torch

__all__ = ["CheckFailed", "compare"]


class CheckFailed(AssertionError):
    """Raised when a learner's function disagrees with the reference."""


def _describe(x) -> str:
    if isinstance(x, torch.Tensor):
        text = f"tensor{tuple(x.shape)} {x.dtype}"
        if x.numel() <= 12:
            text += f" = {x.tolist()}"
        return text
    return repr(x)


def _clone(args):
    return tuple(a.clone() if isinstance(a, torch.Tensor) else a for a in args)


def _compare_outputs(got, want, atol, rtol, where="output"):
    """Return None if equal within tolerance, else a sentence saying what differs."""
    if isinstance(want, (tuple, list)):
        if not isinstance(got, (tuple, list)) or len(got) != len(want):
            return f"{where} should be a sequence of {len(want)} items, got {_describe(got)}"
        for i, (g, w) in enumerate(zip(got, want)):
            msg = _compare_outputs(g, w, atol, rtol, f"{where}[{i}]")
            if msg:
                return msg
        return None
    if isinstance(want, torch.Tensor):
        if not isinstance(got, torch.Tensor):
            return f"{where} should be a tensor of shape {tuple(want.shape)}, got {type(got).__name__}"
        if got.shape != want.shape:
            return f"{where} has shape {tuple(got.shape)}, expected {tuple(want.shape)}"
        if got.is_floating_point() != want.is_floating_point():
            return f"{where} has dtype {got.dtype}, expected a {'floating' if want.is_floating_point() else 'integer'} dtype"
        g, w = got.detach().double(), want.detach().double()
        bad = ~torch.isclose(g, w, rtol=rtol, atol=atol, equal_nan=True)
        if bad.any():
            i = tuple(int(j) for j in bad.nonzero()[0])
            err = (g - w).abs().nan_to_num(math.inf).max().item()
            return (f"{where} differs at {bad.sum().item()} of {bad.numel()} entries; first at index {i}: "
                    f"got {g[i].item():.6g}, expected {w[i].item():.6g} (max abs error {err:.3g})")
        return None
    try:
        g, w = float(got), float(want)
    except (TypeError, ValueError):
        return f"{where} should be a number like {want!r}, got {_describe(got)}"
    if not math.isclose(g, w, rel_tol=rtol, abs_tol=atol):
        return f"{where} is {g:.6g}, expected {w:.6g} (error {abs(g - w):.3g})"
    return None


def compare(learner, reference, make_inputs, *, n_trials: int = 5, atol: float = 1e-5, rtol: float = 1e-4,
            seed: int = 0, name: str | None = None, quiet: bool = False) -> None:
    """Check ``learner(*args) == reference(*args)`` on ``n_trials`` inputs from ``make_inputs(generator)``.

    Also checks that the learner does not modify its inputs in place. Prints a
    tick on success (unless ``quiet``); raises :class:`CheckFailed` otherwise.
    """
    if not callable(learner):
        raise ValueError(f"learner must be a function, got {type(learner).__name__}")
    if not isinstance(n_trials, int) or n_trials < 1:
        raise ValueError(f"n_trials must be a positive int, got {n_trials!r}")
    name = name or getattr(reference, "__name__", "function")
    gen = torch.Generator().manual_seed(seed)
    for trial in range(n_trials):
        args = tuple(make_inputs(gen))
        want = reference(*_clone(args))
        mine = _clone(args)
        shown = ", ".join(_describe(a) for a in args)
        try:
            got = learner(*mine)
        except NotImplementedError:
            raise CheckFailed(f"{name}: not implemented yet (the stub still raises NotImplementedError)") from None
        except Exception as e:  # noqa: BLE001 - report any learner error with its input
            raise CheckFailed(f"{name} raised {type(e).__name__}: {e}\n  on input: {shown}") from e
        for a, m in zip(args, mine):
            if isinstance(a, torch.Tensor) and not torch.equal(a, m):
                raise CheckFailed(f"{name} modified its input in place; work on a copy.\n  input: {shown}")
        msg = _compare_outputs(got, want, atol, rtol)
        if msg:
            raise CheckFailed(f"{name}: {msg}\n  on trial {trial + 1} with input: {shown}")
    if not quiet:
        print(f"✓ {name} matches the reference on {n_trials} random inputs")
