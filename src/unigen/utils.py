"""Small helpers every chapter uses: seeding, devices, time broadcasting, scale.

Introduced in *The generative modelling problem* (Part I).
"""
from __future__ import annotations

import os
import random
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import torch

__all__ = [
    "seed_everything", "get_device", "expand_like", "scale", "pick",
    "project_dir", "check_tensor", "check_positive", "check_in", "check_callable", "evaluating",
    "gaussian_noise",
]

SCALES = ("default", "large")


def seed_everything(seed: int = 0) -> torch.Generator:
    """Seed ``random``, NumPy and torch (CPU and CUDA); return a CPU ``torch.Generator``.

    The returned generator is the one to pass as ``generator=`` where a
    function draws random numbers, so that randomness stays explicit.
    """
    if not isinstance(seed, (int, np.integer)) or isinstance(seed, bool):
        raise ValueError(f"seed must be an int, got {type(seed).__name__}")
    seed = int(seed)
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    return torch.Generator().manual_seed(seed)


def get_device(prefer: str | None = None) -> torch.device:
    """Return CUDA if present, then Apple MPS, then the CPU.

    ``prefer`` (or the environment variable ``UNIGEN_DEVICE``) forces one,
    e.g. ``"cpu"`` to reproduce the book's numbers on a GPU machine.
    """
    prefer = prefer or os.environ.get("UNIGEN_DEVICE")
    if prefer is not None:
        if prefer not in ("cpu", "cuda", "mps") and not prefer.startswith("cuda:"):
            raise ValueError(f"prefer must be 'cpu', 'cuda[:i]' or 'mps', got {prefer!r}")
        return torch.device(prefer)
    if torch.cuda.is_available():
        return torch.device("cuda")
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def expand_like(t: torch.Tensor | float, x: torch.Tensor) -> torch.Tensor:
    """Broadcast a per-sample time ``t`` of shape ``(B,)`` (or a scalar) against ``x`` of shape ``(B, ...)``.

    Returns a tensor of shape ``(B, 1, ..., 1)`` with ``x.dim()`` axes, on
    ``x``'s device and dtype, so that ``expand_like(t, x) * x`` works for 2-D
    points, token embeddings and images alike.
    """
    if not isinstance(x, torch.Tensor):
        raise ValueError(f"x must be a torch.Tensor, got {type(x).__name__}")
    t = torch.as_tensor(t, dtype=x.dtype, device=x.device)
    if t.dim() == 0:
        return t.reshape([1] * x.dim())
    if t.dim() != 1 or t.shape[0] not in (1, x.shape[0]):
        raise ValueError(
            f"t must be a scalar or have shape (B,) with B = x.shape[0] = {x.shape[0]}, got {tuple(t.shape)}")
    return t.reshape([t.shape[0]] + [1] * (x.dim() - 1))


def scale() -> str:
    """The run size chosen by the environment variable ``UNIGEN_SCALE``: ``"default"`` or ``"large"``.

    ``default`` fits every notebook in about two minutes on a 2-core CPU;
    ``large`` is for readers with a GPU.
    """
    value = os.environ.get("UNIGEN_SCALE", "default").strip().lower() or "default"
    if value not in SCALES:
        raise ValueError(f"UNIGEN_SCALE must be one of {SCALES}, got {value!r}")
    return value


def pick(default, large):
    """Return ``default`` or ``large`` according to :func:`scale`, e.g. ``steps = pick(2000, 50000)``."""
    return large if scale() == "large" else default


def project_dir(kind: str) -> Path:
    """A writable folder ``kind`` (``"results"`` or ``".cache"``) at the project root.

    The root is the checkout that holds ``pyproject.toml`` above this file
    (the package is installed editable); ``UNIGEN_HOME`` overrides it, and a
    non-editable install falls back to ``~/.cache/unigen``.
    """
    if kind not in ("results", ".cache"):
        raise ValueError(f"kind must be 'results' or '.cache', got {kind!r}")
    home = os.environ.get("UNIGEN_HOME")
    if home:
        root = Path(home)
    else:
        root = Path(__file__).resolve().parents[2]
        if not (root / "pyproject.toml").exists():
            root = Path.home() / ".cache" / "unigen"
    path = root / kind
    path.mkdir(parents=True, exist_ok=True)
    return path


# ---- input validation shared by every public function -------------------------------

def check_tensor(name: str, x, *, dim: int | tuple[int, ...] | None = None, last: int | None = None,
                 floating: bool | None = None) -> torch.Tensor:
    """Raise ``ValueError`` naming ``name`` unless ``x`` is a tensor of the expected rank/width/dtype."""
    if not isinstance(x, torch.Tensor):
        raise ValueError(f"{name} must be a torch.Tensor, got {type(x).__name__}")
    dims = (dim,) if isinstance(dim, int) else dim
    if dims is not None and x.dim() not in dims:
        raise ValueError(f"{name} must have {' or '.join(map(str, dims))} dimensions, got shape {tuple(x.shape)}")
    if last is not None and (x.dim() == 0 or x.shape[-1] != last):
        raise ValueError(f"{name} must have last dimension {last}, got shape {tuple(x.shape)}")
    if floating is True and not x.is_floating_point():
        raise ValueError(f"{name} must be a floating-point tensor, got {x.dtype}")
    if floating is False and x.is_floating_point():
        raise ValueError(f"{name} must be an integer tensor, got {x.dtype}")
    return x


def check_positive(name: str, value, *, allow_zero: bool = False):
    """Raise ``ValueError`` naming ``name`` unless ``value`` is a positive (or non-negative) number."""
    ok = isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool)
    if not ok or not np.isfinite(value) or value < 0 or (value == 0 and not allow_zero):
        bound = ">= 0" if allow_zero else "> 0"
        raise ValueError(f"{name} must be a finite number {bound}, got {value!r}")
    return value


def check_in(name: str, value, options):
    """Raise ``ValueError`` naming ``name`` unless ``value`` is one of ``options``."""
    if value not in options:
        raise ValueError(f"{name} must be one of {tuple(options)}, got {value!r}")
    return value


def check_callable(name: str, fn):
    """``fn`` if it is callable as ``fn(x, t)``, else a ``ValueError`` that names the argument."""
    if not callable(fn):
        raise ValueError(f"{name} must be callable as {name}(x, t), got {type(fn).__name__}")
    return fn


def gaussian_noise(shape, generator: torch.Generator | None, like: torch.Tensor) -> torch.Tensor:
    """Standard normal noise of ``shape``, drawn with ``generator`` on the generator's own device, then
    moved to ``like``'s device in ``like``'s dtype: the same draws on any device the data sits on."""
    device = generator.device if generator is not None else like.device
    return torch.randn(shape, generator=generator, device=device, dtype=like.dtype).to(like.device)


@contextmanager
def evaluating(model):
    """Run the block with ``model`` in eval mode, then give every submodule back its own mode.

    Samplers and likelihood evaluations use it, so that calling one in the middle of training does not
    leave dropout switched off. Anything without ``eval()`` (a plain function) passes through.
    """
    modules = list(model.modules()) if isinstance(model, torch.nn.Module) else []
    modes = [m.training for m in modules]
    if hasattr(model, "eval"):
        model.eval()
    try:
        yield model
    finally:
        for m, mode in zip(modules, modes):
            m.training = mode
