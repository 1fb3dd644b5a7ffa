"""One training loop for every paradigm: a step or seconds budget, EMA, tqdm, a history.

Introduced in *The generative modelling problem* (Part I). A paradigm only
supplies ``loss_fn(model, batch) -> scalar``; the loop is shared, so a
"matched budget" comparison really trains everyone the same way.
"""
from __future__ import annotations

import copy
import inspect
import math
import time
from dataclasses import dataclass, field

import torch
from tqdm.auto import tqdm

from .utils import check_in, check_positive

__all__ = ["EMA", "History", "train", "batches"]


class EMA:
    """Exponential moving average of a model's parameters: :math:`\\bar\\theta \\leftarrow d\\,\\bar\\theta + (1-d)\\,\\theta`."""

    def __init__(self, model: torch.nn.Module, decay: float = 0.999):
        if not 0.0 < decay < 1.0:
            raise ValueError(f"decay must lie in (0, 1), got {decay!r}")
        self.decay = decay
        self.model = copy.deepcopy(model).eval().requires_grad_(False)

    @torch.no_grad()
    def update(self, model: torch.nn.Module) -> None:
        for avg, p in zip(self.model.parameters(), model.parameters()):
            avg.lerp_(p.detach(), 1.0 - self.decay)
        for avg, b in zip(self.model.buffers(), model.buffers()):
            avg.copy_(b)


@dataclass
class History:
    """What :func:`train` returns: the loss at each step, wall time, the EMA model if any, and the
    validation curve when a validation set was given (``val_steps``, ``val_losses``, ``best_step``)."""

    losses: list[float] = field(default_factory=list)
    seconds: float = 0.0
    ema: torch.nn.Module | None = None
    val_steps: list[int] = field(default_factory=list)
    val_losses: list[float] = field(default_factory=list)
    best_step: int | None = None
    stopped_early: bool = False

    @property
    def steps(self) -> int:
        return len(self.losses)

    def smoothed(self, window: int = 50) -> torch.Tensor:
        """Running mean of the loss over ``window`` steps (for plots)."""
        x = torch.tensor(self.losses, dtype=torch.float64)
        if len(x) < window:
            return x
        return torch.nn.functional.avg_pool1d(x[None, None], window, 1)[0, 0]


class _EarlyStopping:
    """Evaluate on held-out data every ``every`` steps, keep the best weights, stop after ``patience``
    evaluations without improvement (never, if ``patience`` is None).

    A loss that draws noise (a diffusion or flow loss: random times, noise, dropped labels) would give
    a validation curve that moves with the draw as well as with the weights, and the "best" weights
    would partly be the luckiest draw. So when ``loss_fn`` accepts a ``generator`` keyword, every
    evaluation passes a fresh generator seeded ``VAL_SEED``: each evaluation sees the same times and
    the same noise, and the curve moves only with the weights (common random numbers). Training
    calls ``loss_fn(model, batch)`` as always, so its default generator is untouched.
    """

    VAL_SEED = 0

    def __init__(self, loss_fn, val_data, every: int, patience: int | None, device):
        if not isinstance(every, int) or every < 1:
            raise ValueError(f"eval_every must be a positive int, got {every!r}")
        if patience is not None and (not isinstance(patience, int) or patience < 1):
            raise ValueError(f"patience must be a positive int or None, got {patience!r}")
        tensors = val_data if isinstance(val_data, (tuple, list)) else (val_data,)
        if not tensors or not all(isinstance(t, torch.Tensor) for t in tensors):
            raise ValueError("val_data must be a tensor or a tuple of tensors")
        self.batch = (tuple(t.to(device) for t in val_data) if isinstance(val_data, (tuple, list))
                      else val_data.to(device))
        self.loss_fn, self.every, self.patience = loss_fn, every, patience
        self.best, self.best_state, self.waited = math.inf, None, 0
        self.seeded = _takes_generator(loss_fn)

    def loss(self, model: torch.nn.Module) -> float:
        """The validation loss of ``model``, with the same noise at every call if the loss draws any."""
        with torch.no_grad():
            if self.seeded:
                fresh = torch.Generator().manual_seed(self.VAL_SEED)
                return float(self.loss_fn(model, self.batch, generator=fresh))
            return float(self.loss_fn(model, self.batch))

    def __call__(self, scored: torch.nn.Module, trained: torch.nn.Module, hist: History,
                 last: bool = False) -> bool:
        """Evaluate ``scored`` if it is time (every ``every`` steps, and after the ``last`` step, so
        that the final weights are always among the candidates); return True to stop training."""
        if hist.steps % self.every and not last:
            return False
        was_training = scored.training
        scored.eval()
        value = self.loss(scored)
        scored.train(was_training)
        hist.val_steps.append(hist.steps)
        hist.val_losses.append(value)
        if value < self.best:
            self.best, self.waited, hist.best_step = value, 0, hist.steps
            self.best_state = (copy.deepcopy(trained.state_dict()), copy.deepcopy(scored.state_dict()))
            return False
        self.waited += 1
        hist.stopped_early = self.patience is not None and self.waited >= self.patience
        return hist.stopped_early

    def restore(self, scored: torch.nn.Module, trained: torch.nn.Module) -> None:
        """Put the best weights back into the trained model and the evaluated one (its EMA)."""
        if self.best_state is not None:
            trained.load_state_dict(self.best_state[0])
            scored.load_state_dict(self.best_state[1])


def _takes_generator(fn) -> bool:
    """Whether ``fn`` can be called with a ``generator=`` keyword."""
    try:
        params = inspect.signature(fn).parameters
    except (TypeError, ValueError):  # a builtin without a signature
        return False
    kinds = (inspect.Parameter.KEYWORD_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    return ("generator" in params and params["generator"].kind in kinds) or any(
        p.kind == inspect.Parameter.VAR_KEYWORD for p in params.values())


def batches(data, batch_size: int, generator: torch.Generator | None = None):
    """Endless random minibatches of a tensor or a tuple of tensors (sampled without replacement per epoch)."""
    tensors = data if isinstance(data, (tuple, list)) else (data,)
    if not tensors or not all(isinstance(t, torch.Tensor) for t in tensors):
        raise ValueError("data must be a tensor or a tuple of tensors")
    n = len(tensors[0])
    if any(len(t) != n for t in tensors):
        raise ValueError("data tensors must share their first dimension")
    if not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive int, got {batch_size!r}")
    batch_size = min(batch_size, n)
    while True:
        perm = torch.randperm(n, generator=generator)
        for i in range(0, n - batch_size + 1, batch_size):
            idx = perm[i:i + batch_size]
            out = tuple(t[idx] for t in tensors)
            yield out if isinstance(data, (tuple, list)) else out[0]


def _check_budget(steps, seconds, lr, schedule) -> None:
    if steps is None and seconds is None:
        raise ValueError("give a budget: steps or seconds")
    if steps is not None and (not isinstance(steps, int) or steps < 1):
        raise ValueError(f"steps must be a positive int, got {steps!r}")
    if seconds is not None:
        check_positive("seconds", seconds)
    check_positive("lr", lr)
    check_in("schedule", schedule, ("steps", "budget"))


def train(model: torch.nn.Module, loss_fn, data, *, steps: int | None = None, seconds: float | None = None,
          batch_size: int = 256, lr: float = 1e-3, weight_decay: float = 0.0, ema_decay: float | None = None,
          grad_clip: float | None = 1.0, generator: torch.Generator | None = None, device=None,
          progress: bool = True, desc: str = "train", schedule: str = "steps", val_data=None,
          eval_every: int = 100, patience: int | None = None, warmup_steps: int = 0) -> History:
    """Train ``model`` with AdamW on ``loss_fn(model, batch)``; stop after ``steps`` or ``seconds``.

    Args:
        data: a tensor or tuple of tensors; minibatches are drawn with ``generator``.
        steps / seconds: the budget. Give at least one; with both, whichever ends first.
        ema_decay: if set, keep an :class:`EMA` copy, returned as ``history.ema``.
        device: where batches go (default: the model's device).
        val_data: held-out data. Every ``eval_every`` steps, and after the last step, ``loss_fn`` is
            evaluated on all of it (the EMA model if there is one), and at the end the weights with the lowest validation loss are
            put back: a model that starts to overfit a small dataset returns its best state, not its
            last. With ``patience``, training stops after that many evaluations without improvement.
            If ``loss_fn`` takes a ``generator`` keyword (write ``def loss(m, x, generator=gen)``),
            every evaluation draws the same noise from a fresh seeded generator, so the validation
            curve follows the weights and not the draw; training still uses the default.

    The learning rate rises linearly over ``warmup_steps`` (``lr * (step + 1) / warmup_steps``),
    then follows a cosine decay over the rest of a step budget; under a pure time budget it stays
    constant (``schedule="steps"``, the default). With ``schedule="budget"`` the cosine follows
    whichever budget runs out first, ``progress = max(step / steps, elapsed / seconds)``, so a
    run that the clock cuts short (a slow or busy machine) still ends at a small learning rate.
    """
    _check_budget(steps, seconds, lr, schedule)
    _check_warmup(warmup_steps, steps)
    device = device or next(model.parameters()).device
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=weight_decay)
    sched = _lr_scheduler(opt, steps, schedule, warmup_steps)
    ema = EMA(model, ema_decay) if ema_decay else None
    stopper = None if val_data is None else _EarlyStopping(loss_fn, val_data, eval_every, patience, device)
    hist = History()
    bar = tqdm(total=steps, desc=desc, disable=not progress, mininterval=0.5, leave=False)
    start = time.perf_counter()
    model.train()
    for batch in batches(data, batch_size, generator):
        batch = tuple(b.to(device) for b in batch) if isinstance(batch, tuple) else batch.to(device)
        _step(model, loss_fn, batch, opt, grad_clip, hist)
        _after_step(model, sched, ema, bar, hist)
        if schedule == "budget":
            _budget_lr(opt, lr, hist.steps, steps, time.perf_counter() - start, seconds,
                       warmup_steps)
        elapsed = time.perf_counter() - start
        done = bool((steps and hist.steps >= steps) or (seconds and elapsed >= seconds))
        if (stopper and stopper(ema.model if ema else model, model, hist, last=done)) or done:
            break
    return _finish(model, bar, stopper, ema, hist, start)


def _finish(model, bar, stopper, ema, hist: History, start: float) -> History:
    """Close the bar, put the best weights back (with a validation set), fill in ``hist``."""
    bar.close()
    if stopper:
        stopper.restore(ema.model if ema else model, model)
    model.eval()
    hist.seconds = time.perf_counter() - start
    hist.ema = ema.model if ema else None
    return hist


def _after_step(model, sched, ema, bar, hist: History) -> None:
    """After an optimiser step: the scheduler's step, the EMA's update and the progress bar."""
    if sched:
        sched.step()
    if ema:
        ema.update(model)
    bar.update(1)
    if hist.steps % 50 == 0:
        bar.set_postfix(loss=f"{hist.losses[-1]:.4f}")


def _lr_scheduler(opt, steps, schedule, warmup_steps):
    """The per-step scheduler: warm-up then cosine, cosine alone, or None (constant, or ``"budget"``)."""
    if warmup_steps:
        return torch.optim.lr_scheduler.LambdaLR(
            opt, _warmup_cosine(warmup_steps, steps if schedule == "steps" else None))
    if steps and schedule == "steps":
        return torch.optim.lr_scheduler.CosineAnnealingLR(opt, steps)
    return None


def _step(model, loss_fn, batch, opt, grad_clip, hist: History) -> None:
    """One optimiser step on ``batch``; its loss is appended to ``hist``."""
    loss = loss_fn(model, batch)
    if not torch.isfinite(loss):
        raise FloatingPointError(f"loss became {loss.item()} at step {hist.steps}")
    opt.zero_grad(set_to_none=True)
    loss.backward()
    if grad_clip:
        torch.nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
    opt.step()
    hist.losses.append(loss.item())


def _budget_lr(opt, lr, step, steps, elapsed, seconds, warmup_steps: int = 0) -> None:
    """The cosine learning rate of ``schedule="budget"``: it follows whichever budget runs out first."""
    done = max(step / steps if steps else 0.0, elapsed / seconds if seconds else 0.0)
    ramp = min(1.0, (step + 1) / warmup_steps) if warmup_steps else 1.0
    for group in opt.param_groups:
        group["lr"] = ramp * lr * 0.5 * (1.0 + math.cos(math.pi * min(done, 1.0)))


def _check_warmup(warmup_steps, steps) -> None:
    if not isinstance(warmup_steps, int) or isinstance(warmup_steps, bool) or warmup_steps < 0:
        raise ValueError(f"warmup_steps must be an int >= 0, got {warmup_steps!r}")
    if steps is not None and warmup_steps >= steps:
        raise ValueError(f"warmup_steps ({warmup_steps}) must be smaller than steps ({steps})")


def _warmup_cosine(warmup_steps: int, steps: int | None):
    """The learning-rate factor at step ``s`` (0-based): a linear ramp over ``warmup_steps``, then a
    cosine from 1 to 0 over the remaining ``steps - warmup_steps`` (constant 1 without ``steps``)."""
    def factor(s: int) -> float:
        if s < warmup_steps:
            return (s + 1) / warmup_steps
        if steps is None:
            return 1.0
        return 0.5 * (1.0 + math.cos(math.pi * min(1.0, (s - warmup_steps) / (steps - warmup_steps))))
    return factor
