"""The checking machinery: compare a learner's function with the reference on random inputs.

A check feeds the learner's function and the reference the same inputs: first a
few fixed ``cases`` (edge cases, ties), then ``n_trials`` random inputs from
``make_inputs(generator)``. On the first mismatch it raises :class:`CheckFailed`
with a message that names what differs in the exercise's own terms (the
``outputs`` and ``inputs`` names) and gives the failing case: the inputs
themselves when they are small, otherwise a one-line call,
``checks.failing_inputs(name, trial=k)``, that rebuilds them exactly.
"""
from __future__ import annotations

import inspect
import math
from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np
import torch

__all__ = ["CheckFailed", "compare", "failing_inputs", "register_inputs"]

SMALL = 12          # tensors with at most this many numbers are printed in full


class CheckFailed(AssertionError):
    """Raised when a learner's function disagrees with the reference."""


# ---- the registry of input makers -------------------------------------------------------------

@dataclass(frozen=True)
class _Inputs:
    make: Callable | None       # make(generator) -> tuple of arguments, for the random trials
    cases: tuple                # fixed argument tuples, tried first (trials 1..len(cases))


_REGISTRY: dict[str, _Inputs] = {}


def _check_cases(cases) -> tuple:
    if isinstance(cases, (str, bytes)) or not isinstance(cases, Sequence):
        raise ValueError(f"cases must be a list of argument tuples, got {type(cases).__name__}")
    if not all(isinstance(c, tuple) for c in cases):
        raise ValueError("cases must be a list of argument tuples, e.g. [(x, 0.5), (y, 1.0)]")
    return tuple(cases)


def _check_makers(make_inputs, cases) -> list:
    """Validate how a check builds its inputs (a generator function, fixed cases, or both)."""
    if make_inputs is not None and not callable(make_inputs):
        raise ValueError(f"make_inputs must be a function of a torch.Generator, got {type(make_inputs).__name__}")
    cases = _check_cases(cases)
    if make_inputs is None and not cases:
        raise ValueError("give make_inputs, cases or both")
    return cases


def register_inputs(name: str, make_inputs: Callable | None = None, *, cases: Sequence[tuple] = ()) -> None:
    """Record how the check ``name`` builds its inputs, so :func:`failing_inputs` can rebuild them.

    :func:`compare` registers its inputs itself; a checks module also registers
    them when it is imported, so that a fresh session can rebuild a failing case.
    """
    if not isinstance(name, str) or not name:
        raise ValueError(f"name must be a non-empty string, got {name!r}")
    cases = _check_makers(make_inputs, cases)
    _REGISTRY[name] = _Inputs(make_inputs, cases)


def _clone(args):
    return tuple(a.clone() if isinstance(a, torch.Tensor) else a for a in args)


def _inputs_of_trial(entry: _Inputs, trial: int, seed: int) -> tuple:
    if trial <= len(entry.cases):
        return _clone(entry.cases[trial - 1])
    gen = torch.Generator().manual_seed(seed)
    for _ in range(trial - len(entry.cases)):
        args = tuple(entry.make(gen))
    return args


def failing_inputs(name: str, trial: int, *, seed: int = 0) -> tuple:
    """The exact arguments of trial ``trial`` (counted from 1) of the check ``name``.

    A failure message of a check gives this call when the inputs are too large to
    print, e.g. ``args = checks.failing_inputs("q_sample", trial=3)``; then call
    ``q_sample(*args)`` to reproduce the failure. ``seed`` is the check's seed (0 unless
    the check was called with another).
    """
    if not isinstance(name, str) or name not in _REGISTRY:
        known = ", ".join(sorted(_REGISTRY)) or "none yet"
        raise ValueError(f"name must be the name of a check (run the check once first); got {name!r}, "
                         f"known: {known}")
    if isinstance(trial, bool) or not isinstance(trial, int) or trial < 1:
        raise ValueError(f"trial must be a positive int (trials count from 1), got {trial!r}")
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise ValueError(f"seed must be an int, got {seed!r}")
    entry = _REGISTRY[name]
    if entry.make is None and trial > len(entry.cases):
        raise ValueError(f"trial must be at most {len(entry.cases)} for {name} (it has no random trials), got {trial}")
    return _inputs_of_trial(entry, trial, seed)


# ---- describing inputs and outputs ------------------------------------------------------------

def _describe(x) -> str:
    if isinstance(x, torch.Tensor):
        text = f"tensor{tuple(x.shape)} {x.dtype}"
        if x.numel() <= SMALL:
            text += f" = {x.tolist()}"
        return text
    if x is None:
        return "None"
    return repr(x) if _is_small(x) else type(x).__name__


def _is_small(x) -> bool:
    if isinstance(x, torch.Tensor):
        return x.numel() <= SMALL
    if x is None or isinstance(x, (bool, int, float, str)):
        return True
    if isinstance(x, (tuple, list)):
        return len(x) <= SMALL and all(isinstance(v, (bool, int, float, str)) for v in x)
    return False


def _number(v, dtype) -> str:
    if isinstance(v, bool):
        return repr(v)
    if isinstance(v, int):
        return str(v)
    if math.isnan(v):
        return "float('nan')"
    if math.isinf(v):
        return "float('inf')" if v > 0 else "float('-inf')"
    text = str(np.float32(v)) if dtype in (torch.float32, torch.float16, torch.bfloat16) else repr(v)
    return text


def _nested(v, dtype) -> str:
    if isinstance(v, list):
        return "[" + ", ".join(_nested(u, dtype) for u in v) + "]"
    return _number(v, dtype)


def _literal(x) -> str:
    """Python source that rebuilds ``x`` exactly (small tensors and plain values)."""
    if isinstance(x, torch.Tensor):
        implied = {torch.float32, torch.int64, torch.bool}
        dtype = "" if x.dtype in implied else f", dtype={x.dtype}"
        if x.numel() == 0:
            return f"torch.empty({tuple(x.shape)}{dtype})"
        return f"torch.tensor({_nested(x.tolist(), x.dtype)}{dtype})"
    if isinstance(x, float):
        return _number(x, torch.float64)
    return repr(x)


def _failing_case(name: str, arg_names, args, trial: int, n_total: int, seed: int) -> str:
    head = f"  failing case (trial {trial} of {n_total})"
    if all(_is_small(a) for a in args):
        lines = [f"{head}:"] + [f"    {n} = {_literal(a)}" for n, a in zip(arg_names, args)]
        lines.append(f"  then call {name}({', '.join(arg_names)})")
        return "\n".join(lines)
    shapes = ", ".join(f"{n} = {_literal(a)}" if _is_small(a) else f"{n}: {_describe(a)}"
                       for n, a in zip(arg_names, args))
    seed_arg = f", seed={seed}" if seed else ""
    return (f"{head}: {shapes}\n"
            f'  rebuild it with  args = checks.failing_inputs("{name}", trial={trial}{seed_arg})\n'
            f"  then call {name}(*args)")


def _same(a: torch.Tensor, b: torch.Tensor) -> bool:
    """Equal shapes, dtypes and entries (NaN equal to NaN)."""
    if a.shape != b.shape or a.dtype != b.dtype:
        return False
    if a.is_floating_point() or a.is_complex():
        return bool(torch.isclose(a, b, rtol=0, atol=0, equal_nan=True).all())
    return torch.equal(a, b)


def _quoted(where: str) -> str:
    return where if where.startswith("output") else f"`{where}`"


def _compare_tensors(got, want: torch.Tensor, atol, rtol, label: str):
    """:func:`_compare_outputs` for a tensor: type, shape, kind of dtype, then the values."""
    if not isinstance(got, torch.Tensor):
        return f"{label} should be a tensor of shape {tuple(want.shape)}, got {type(got).__name__}"
    if got.shape != want.shape:
        return f"{label} has shape {tuple(got.shape)}, expected {tuple(want.shape)}"
    is_bool = (got.dtype == torch.bool, want.dtype == torch.bool)
    if got.is_floating_point() != want.is_floating_point() or is_bool[0] != is_bool[1]:
        if want.dtype == torch.bool:
            return f"{label} has dtype {got.dtype}, expected torch.bool"
        kind = "a floating" if want.is_floating_point() else "an integer"
        return f"{label} has dtype {got.dtype}, expected {kind} dtype (like {want.dtype})"
    g, w = got.detach().double(), want.detach().double()
    bad = ~torch.isclose(g, w, rtol=rtol, atol=atol, equal_nan=True)
    if bad.any():
        i = tuple(int(j) for j in bad.nonzero()[0])
        err = (g - w).abs().nan_to_num(math.inf).max().item()
        return (f"{label} differs at {bad.sum().item()} of {bad.numel()} entries; first at index {i}: "
                f"got {_entry(got, i)}, expected {_entry(want, i)} (max abs error {err:.3g})")
    return None


def _compare_outputs(got, want, atol, rtol, where="output", names=None):
    """Return None if equal within tolerance, else a sentence saying what differs."""
    if names is not None and len(names) > 1:
        if not isinstance(got, (tuple, list)) or len(got) != len(want):
            return (f"should return {len(names)} outputs ({', '.join(names)}), "
                    f"got {_describe(got) if got is not None else 'None (is a `return` missing?)'}")
        for g, w, n in zip(got, want, names):
            msg = _compare_outputs(g, w, atol, rtol, n)
            if msg:
                return msg
        return None
    if names is not None:
        where = names[0]
    label = _quoted(where)
    if got is None and want is not None:
        return f"{label} is None: is a `return` missing?"
    if isinstance(want, (tuple, list)):
        if not isinstance(got, (tuple, list)) or len(got) != len(want):
            return f"{label} should be a sequence of {len(want)} items, got {_describe(got)}"
        for i, (g, w) in enumerate(zip(got, want)):
            msg = _compare_outputs(g, w, atol, rtol, f"{where}[{i}]")
            if msg:
                return msg
        return None
    if isinstance(want, torch.Tensor):
        return _compare_tensors(got, want, atol, rtol, label)
    try:
        g, w = float(got), float(want)
    except (TypeError, ValueError, RuntimeError):
        if isinstance(got, torch.Tensor) and isinstance(want, (int, float)):
            return f"{label} should be a single number like {want:.6g}, got a tensor of shape {tuple(got.shape)}"
        return f"{label} should be a number like {want!r}, got {_describe(got)}"
    if not math.isclose(g, w, rel_tol=rtol, abs_tol=atol) and not (math.isnan(g) and math.isnan(w)):
        return f"{label} is {g:.6g}, expected {w:.6g} (error {abs(g - w):.3g})"
    return None


def _entry(x: torch.Tensor, i: tuple) -> str:
    v = x[i].item()
    return repr(v) if isinstance(v, (bool, int)) else f"{v:.6g}"


def _names(arg: str, value) -> tuple | None:
    if value is None:
        return None
    if isinstance(value, str):
        value = (value,)
    ok = isinstance(value, (tuple, list)) and value and all(isinstance(v, str) and v.isidentifier() for v in value)
    if not ok:
        raise ValueError(f"{arg} must be a non-empty tuple of names (Python identifiers), got {value!r}")
    if len(set(value)) != len(value):
        raise ValueError(f"{arg} must not repeat a name, got {value!r}")
    return tuple(value)


def _signature_names(reference, n: int) -> tuple:
    try:
        params = [p for p in inspect.signature(reference).parameters.values()
                  if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    except (TypeError, ValueError):
        params = []
    names = [p.name for p in params[:n]]
    names += [f"arg{i}" for i in range(len(names), n)]
    return tuple(names)


def _check_number(arg: str, value, *, integer=False) -> None:
    kinds = (int,) if integer else (int, float)
    if isinstance(value, bool) or not isinstance(value, kinds) or value < 0 or value != value:
        raise ValueError(f"{arg} must be a non-negative {'int' if integer else 'number'}, got {value!r}")


# ---- compare ----------------------------------------------------------------------------------

def _check_compare_args(learner, reference, make_inputs, cases, n_trials, atol, rtol, seed, name):
    """:func:`compare`'s arguments, checked; returns the cases."""
    if not callable(learner):
        raise ValueError(f"learner must be a function, got {type(learner).__name__}")
    if not callable(reference):
        raise ValueError(f"reference must be a function, got {type(reference).__name__}")
    cases = _check_makers(make_inputs, cases)
    if isinstance(n_trials, bool) or not isinstance(n_trials, int) or n_trials < 1:
        raise ValueError(f"n_trials must be a positive int, got {n_trials!r}")
    _check_number("atol", atol)
    _check_number("rtol", rtol)
    _check_number("seed", seed, integer=True)
    if name is not None and (not isinstance(name, str) or not name):
        raise ValueError(f"name must be a non-empty string, got {name!r}")
    return cases


def _check_output_names(output_names, want) -> None:
    if output_names is not None:
        n_want = len(want) if isinstance(want, (tuple, list)) and len(output_names) > 1 else 1
        if n_want != len(output_names):
            raise ValueError(f"outputs names {len(output_names)} outputs {output_names}, "
                             f"but the reference returns {n_want}")


def _run_learner(learner, name, args, arg_names, want, atol, rtol, output_names, case) -> None:
    """Call the learner on a copy of ``args``; raise :class:`CheckFailed` on an error, an in-place
    change of an input, or an output that differs from ``want``."""
    mine = _clone(args)
    try:
        got = learner(*mine)
    except NotImplementedError:
        raise CheckFailed(f"{name}: not implemented yet (the stub still raises NotImplementedError)") from None
    except Exception as e:  # noqa: BLE001 - report any learner error with its input
        raise CheckFailed(f"{name} raised {type(e).__name__}: {e}\n{case}") from e
    for n, a, m in zip(arg_names, args, mine):
        if isinstance(a, torch.Tensor) and not _same(a, m):
            raise CheckFailed(f"{name} modified its input `{n}` in place; work on a copy "
                              f"(e.g. {n} = {n}.clone()) or use out-of-place operations.\n{case}")
    msg = _compare_outputs(got, want, atol, rtol, names=output_names)
    if msg:
        raise CheckFailed(f"{name}: {msg}\n{case}")


def compare(learner, reference, make_inputs=None, *, cases: Sequence[tuple] = (), n_trials: int = 5,
            atol: float = 1e-5, rtol: float = 1e-4, seed: int = 0, name: str | None = None, quiet: bool = False,
            inputs: Sequence[str] | None = None, outputs: Sequence[str] | None = None) -> None:
    """Check ``learner(*args) == reference(*args)``: first on each of ``cases``, then on ``n_trials`` inputs
    from ``make_inputs(generator)`` (a ``torch.Generator`` seeded with ``seed``).

    ``inputs`` names the arguments (default: the reference's parameter names) and
    ``outputs`` the outputs (one name, or one per item of a returned tuple), so that
    a failure reads e.g. "`variance` differs ...". Also checks that the learner does
    not modify its inputs in place. Prints a tick on success (unless ``quiet``);
    raises :class:`CheckFailed` otherwise, with the failing case: the inputs as Python
    literals when each holds at most 12 numbers, else a call to :func:`failing_inputs`.
    """
    cases = _check_compare_args(learner, reference, make_inputs, cases, n_trials, atol, rtol, seed, name)
    input_names, output_names = _names("inputs", inputs), _names("outputs", outputs)
    name = name or getattr(reference, "__name__", "function")
    register_inputs(name, make_inputs, cases=cases)

    n_random = n_trials if make_inputs is not None else 0
    n_total = len(cases) + n_random
    gen = torch.Generator().manual_seed(seed)
    for trial in range(1, n_total + 1):
        args = _clone(cases[trial - 1]) if trial <= len(cases) else tuple(make_inputs(gen))
        if input_names is not None and len(input_names) != len(args):
            raise ValueError(f"inputs names {len(input_names)} arguments {input_names}, "
                             f"but the check gives {len(args)}")
        arg_names = input_names or _signature_names(reference, len(args))
        want = reference(*_clone(args))
        _check_output_names(output_names, want)
        case = _failing_case(name, arg_names, args, trial, n_total, seed)
        _run_learner(learner, name, args, arg_names, want, atol, rtol, output_names, case)
    if not quiet:
        parts = (([f"{len(cases)} fixed case{'s' * (len(cases) > 1)}"] if cases else [])
                 + ([f"{n_random} random input{'s' * (n_random > 1)}"] if n_random else []))
        print(f"✓ {name} matches the reference on {' and '.join(parts)}")
