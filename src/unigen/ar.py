r"""Autoregressive models: the chain rule, its loss, exact likelihoods, samplers and decoding.

Introduced in *From counting to neural next-token prediction* (Part II) and used by
*A causal transformer* and *Decoding*. A model is any callable
``model(idx (B, T)) -> logits (B, T, V)`` whose output at position ``i`` depends on
``idx[:, :i+1]`` only, for example :class:`unigen.nn.transformer.Transformer`:

.. math:: p_\theta(x) = \prod_{i=1}^{L} p_\theta(x_i \mid x_{<i}).

Sequences are token tensors ``(N, L)`` right-padded with the END token (id 0, as from
:func:`unigen.data.surnames.encode`). The model reads a START token (also id 0)
followed by ``x_1 .. x_{L-1}`` and predicts ``x_1 .. x_L``. As for
:class:`unigen.baselines.NGram`, each letter and the first END count; the
padding after it does not, so NLLs in nats/char compare with Part I.

The three verbs every paradigm module offers (:mod:`unigen.outputs`):

- :func:`loss` (= :func:`ar_loss`): the next-token cross-entropy, the training loss;
- :func:`sample`: a :class:`~unigen.outputs.SampleOutput` of ids and the number of network calls;
- :func:`nll`: an :class:`~unigen.outputs.NLL` of kind ``"exact"`` (the chain rule).

And the chapter's own functions:

- :func:`token_logprobs`, :func:`log_prob`, :func:`nll_per_token`: exact likelihoods;
- :func:`stream` (a generator that yields tokens) and :func:`greedy`;
- decoding: :func:`apply_temperature`, :func:`top_k_filter`, :func:`top_p_filter`,
  :func:`process_logits`, :func:`greedy`, :func:`beam_search`;
- faster training on variable-length data: :func:`pack` and :func:`packed_loss`, :func:`trim_padding`.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator

import torch
import torch.nn.functional as F

from .outputs import NLL, SampleOutput
from .sampling import TOP_P_TOL, apply_temperature, process_logits, top_k_filter, top_p_filter
from .utils import check_positive, check_tensor, evaluating

__all__ = [
    "loss", "sample", "nll",
    "END", "shift_right", "target_mask", "ar_loss", "token_logprobs", "log_prob", "nll_per_token",
    "apply_temperature", "top_k_filter", "top_p_filter", "TOP_P_TOL", "process_logits",
    "stream", "greedy", "Beam", "beam_search", "trim_padding", "IGNORE", "pack", "packed_loss",
]

END = 0   # the end token; also the start token the model reads first


# ---- the chain rule and its loss --------------------------------------------------------

def _check_ids(name: str, x, vocab_size: int | None = None) -> torch.Tensor:
    check_tensor(name, x, dim=2, floating=False)
    if x.shape[1] < 1:
        raise ValueError(f"{name} must hold at least one token per row, got shape {tuple(x.shape)}")
    if x.numel() and x.min() < 0:
        raise ValueError(f"{name} must hold token ids >= 0")
    if vocab_size is not None and x.numel() and x.max() >= vocab_size:
        raise ValueError(f"{name} must hold token ids < {vocab_size}")
    return x


def shift_right(x: torch.Tensor, start: int = END) -> torch.Tensor:
    """The model's input for targets ``x (N, L)``: ``[start, x_1, ..., x_{L-1}]``."""
    _check_ids("x", x)
    first = torch.full_like(x[:, :1], start)
    return torch.cat([first, x[:, :-1]], 1)


def target_mask(x: torch.Tensor, end: int = END) -> torch.Tensor:
    """Boolean ``(N, L)``: the positions that count, every token up to and including the first END.

    Rows without an END count in full.
    """
    _check_ids("x", x)
    is_end = (x == end).int()
    ends_before = is_end.cumsum(1) - is_end          # number of ENDs strictly before each position
    return ends_before == 0


def _model_device(model) -> torch.device:
    """The device of the model's first parameter (CPU for a model without parameters)."""
    params = getattr(model, "parameters", None)
    first = next(params(), None) if callable(params) else None
    return first.device if first is not None else torch.device("cpu")


def _logits(model, inputs: torch.Tensor) -> torch.Tensor:
    logits = model(inputs)
    if not isinstance(logits, torch.Tensor) or logits.dim() != 3 or logits.shape[:2] != inputs.shape:
        raise ValueError(f"model must map ids (B, T) to logits (B, T, V); got "
                         f"{tuple(getattr(logits, 'shape', ()))} for input {tuple(inputs.shape)}")
    return logits


def ar_loss(model, x: torch.Tensor, *, start: int = END, end: int = END) -> torch.Tensor:
    r"""Next-token cross-entropy, :math:`-\frac{1}{|M|}\sum_{(n,i) \in M} \log p_\theta(x_{n,i} \mid x_{n,<i})`.

    ``M`` holds every letter and the first END of each row (:func:`target_mask`).
    The gradient of this mean is the maximum-likelihood gradient, so minimising it
    fits :math:`p_\theta` to the data (Part I).
    """
    _check_ids("x", x)
    x = x.to(_model_device(model))
    logits = _logits(model, shift_right(x, start))
    mask = target_mask(x, end)
    nll = F.cross_entropy(logits.transpose(1, 2), x, reduction="none")   # (N, L)
    return (nll * mask).sum() / mask.sum()


def loss(model, batch: torch.Tensor, **kw) -> torch.Tensor:
    """The training verb: :func:`ar_loss` of ``batch``, ids ``(N, L)`` (keywords ``start``, ``end``)."""
    _check_ids("batch", batch)
    return ar_loss(model, batch, **kw)


def token_logprobs(model, x: torch.Tensor, *, start: int = END, end: int = END,
                   batch_size: int = 4096) -> tuple[torch.Tensor, torch.Tensor]:
    r"""Per-position :math:`\log p_\theta(x_i \mid x_{<i})`, ``(N, L)`` float64 zeroed where the mask is off, and the mask.

    Same return convention as :meth:`unigen.baselines.NGram.token_logprobs`. Runs
    in eval mode without gradients, ``batch_size`` rows at a time.
    """
    _check_ids("x", x)
    if not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive int, got {batch_size!r}")
    device = _model_device(model)
    out = []
    with evaluating(model), torch.no_grad():
        for i in range(0, len(x), batch_size):
            xb = x[i:i + batch_size].to(device)
            logp = _logits(model, shift_right(xb, start)).double().log_softmax(-1)
            out.append(logp.gather(2, xb[..., None])[..., 0].cpu())
    mask = target_mask(x, end).cpu()
    lp = torch.cat(out) if out else torch.zeros(x.shape, dtype=torch.float64)
    return lp * mask, mask


def log_prob(model, x: torch.Tensor, **kw) -> torch.Tensor:
    r"""Exact :math:`\log p_\theta(x) = \sum_i \log p_\theta(x_i \mid x_{<i})` of each sequence, ``(N,)`` float64 (nats)."""
    lp, _ = token_logprobs(model, x, **kw)
    return lp.sum(1)


def nll_per_token(model, x: torch.Tensor, **kw) -> float:
    """Mean negative log-likelihood per predicted token (nats/char, END included), as ``NGram.nll_per_token``."""
    lp, mask = token_logprobs(model, x, **kw)
    return float(-lp.sum() / mask.sum())


def nll(model, x: torch.Tensor, **kw) -> NLL:
    r"""The likelihood verb: :math:`-\log p_\theta(x)` of each row of ``x (N, L)``, exact (chain rule), in nats.

    Keywords go to :func:`token_logprobs` (``start``, ``end``, ``batch_size``).
    """
    return NLL(-log_prob(model, x, **kw), "exact")


# ---- sampling -----------------------------------------------------------------------------

def _block_size(model) -> int | None:
    config = getattr(model, "config", None)
    return getattr(config, "block_size", None)


def _check_prefix(prefix, n: int) -> torch.Tensor | None:
    if prefix is None:
        return None
    check_tensor("prefix", prefix, dim=2, floating=False)
    if prefix.shape[0] != n:
        raise ValueError(f"prefix must have n = {n} rows, got shape {tuple(prefix.shape)}")
    if prefix.numel() and prefix.min() < 0:
        raise ValueError("prefix must hold token ids >= 0")
    return prefix


@torch.no_grad()
def stream(model, n: int = 1, max_new_tokens: int = 13, *, prefix: torch.Tensor | None = None,
           temperature: float = 1.0, top_k: int | None = None, top_p: float | None = None,
           greedy: bool = False, use_cache: bool = True, start: int = END, end: int | None = END,
           generator: torch.Generator | None = None, device=None) -> Iterator[torch.Tensor]:
    """Yield the next token of ``n`` sequences, ``(n,)`` int64, one step at a time.

    The model reads ``[start] + prefix`` and then its own tokens. Each step draws
    from :func:`process_logits` (or takes the argmax when ``greedy``). Once a row has
    produced ``end`` it keeps producing ``end``; the generator stops when every row
    has ended or after ``max_new_tokens`` steps (``end=None`` never stops early).
    With ``use_cache`` a model that has ``new_cache()`` is fed one token per step
    (a KV cache); otherwise the whole context is recomputed every step.
    """
    if not isinstance(n, int) or n < 1:
        raise ValueError(f"n must be a positive int, got {n!r}")
    if not isinstance(max_new_tokens, int) or max_new_tokens < 1:
        raise ValueError(f"max_new_tokens must be a positive int, got {max_new_tokens!r}")
    if not greedy:
        process_logits(torch.zeros(2), temperature=temperature, top_k=top_k, top_p=top_p)  # validate early
    if device is None:
        device = _model_device(model)
    prefix = _check_prefix(prefix, n)
    ctx = torch.full((n, 1), start, dtype=torch.int64, device=device)
    if prefix is not None:
        ctx = torch.cat([ctx, prefix.to(device)], 1)
    block = _block_size(model)
    if block is not None and ctx.shape[1] + max_new_tokens - 1 > block:
        raise ValueError(f"context of {ctx.shape[1]} plus max_new_tokens={max_new_tokens} "
                         f"exceeds the model's block_size {block}")
    with evaluating(model):        # the mode comes back when the generator ends or is closed
        yield from _stream_tokens(model, ctx, n, max_new_tokens, use_cache, greedy, temperature,
                                  top_k, top_p, end, generator, device)


def _stream_tokens(model, ctx, n, max_new_tokens, use_cache, greedy, temperature, top_k, top_p, end,
                   generator, device):
    cache = model.new_cache() if use_cache and hasattr(model, "new_cache") else None
    done = torch.zeros(n, dtype=torch.bool, device=device)
    feed = ctx
    for _ in range(max_new_tokens):
        logits = (model(feed, cache=cache) if cache is not None else model(ctx))[:, -1]   # (n, V)
        if greedy:
            nxt = logits.argmax(-1)
        else:
            probs = process_logits(logits.float(), temperature=temperature, top_k=top_k, top_p=top_p).softmax(-1)
            nxt = torch.multinomial(probs.cpu(), 1, generator=generator)[:, 0].to(device)
        if end is not None:
            nxt = torch.where(done, torch.full_like(nxt, end), nxt)
            done = done | (nxt == end)
        yield nxt
        if end is not None and bool(done.all()):
            return
        feed = nxt[:, None]
        ctx = torch.cat([ctx, feed], 1)


def sample(model, n: int, max_len: int = 13, *, end: int = END, **kw) -> SampleOutput:
    """Draw ``n`` sequences of at most ``max_len`` tokens plus END: ``x`` is ``(n, max_len + 1)`` ids, as ``NGram.sample``.

    Keyword arguments go to :func:`stream` (``temperature``, ``top_k``, ``top_p``,
    ``generator``, ``use_cache``, ``prefix``, ...). With a ``prefix`` the prefix is
    included at the start of each row (and counts towards ``max_len``). With
    ``end=None`` every row runs ``max_len`` tokens and the last column is END padding.

    Returns a :class:`~unigen.outputs.SampleOutput` whose ``nfe`` is the number of network
    calls actually made: one per generated position, and fewer than ``max_len`` when every
    row has produced ``end`` early (sampling stops there).
    """
    if not isinstance(max_len, int) or max_len < 1:
        raise ValueError(f"max_len must be a positive int, got {max_len!r}")
    prefix = kw.get("prefix")
    n_prefix = 0 if prefix is None else prefix.shape[1]
    if n_prefix >= max_len + 1:
        raise ValueError(f"prefix of length {n_prefix} leaves no room within max_len={max_len}")
    steps = list(stream(model, n, max_len - n_prefix, end=end, **kw))
    device = steps[0].device
    out = torch.full((n, max_len + 1), END if end is None else end, dtype=torch.int64, device=device)
    if n_prefix:
        out[:, :n_prefix] = prefix.to(device)
    if steps:
        out[:, n_prefix:n_prefix + len(steps)] = torch.stack(steps, 1)
    return SampleOutput(x=out.cpu(), nfe=len(steps))


def greedy(model, max_len: int = 13, *, prefix: torch.Tensor | None = None, **kw) -> torch.Tensor:
    """The argmax path: ``(B, max_len + 1)`` ids (one row, or one per ``prefix`` row), END-padded."""
    n = 1 if prefix is None else prefix.shape[0]
    return sample(model, n, max_len, prefix=prefix, greedy=True, **kw).x


# ---- beam search --------------------------------------------------------------------------

@dataclass
class Beam:
    """A finished hypothesis of :func:`beam_search`: its tokens (ending in END), log-probability and score."""

    tokens: list[int]
    log_prob: float
    score: float


def _check_beam(model, beam_width, max_len, length_alpha, prefix) -> tuple[list[int], int]:
    """:func:`beam_search`'s arguments, checked: the prefix as a list, and the number of steps."""
    if not isinstance(beam_width, int) or beam_width < 1:
        raise ValueError(f"beam_width must be a positive int, got {beam_width!r}")
    if not isinstance(max_len, int) or max_len < 1:
        raise ValueError(f"max_len must be a positive int, got {max_len!r}")
    check_positive("length_alpha", length_alpha, allow_zero=True)
    prefix = list(prefix or [])
    if any(not isinstance(t, int) or t < 0 for t in prefix):
        raise ValueError(f"prefix must be a list of token ids >= 0, got {prefix!r}")
    n_steps = max_len - len(prefix) + 1                     # up to max_len tokens, then END
    if n_steps < 1:
        raise ValueError(f"prefix of length {len(prefix)} exceeds max_len={max_len}")
    block = _block_size(model)
    if block is not None and len(prefix) + n_steps > block:
        raise ValueError(f"prefix plus max_len exceeds the model's block_size {block}")
    return prefix, n_steps


def _best_extensions(alive, alive_lp, logp, beam_width: int, end: int):
    """The best one-token extensions of the alive beams: (alive sequences, their log-probs, ended ones).

    Looks at the ``2 * beam_width`` best candidates, so that ``beam_width`` survive even if some end.
    """
    cand = (alive_lp[:, None] + logp).flatten()
    V = logp.shape[1]
    top = cand.topk(min(2 * beam_width, int(torch.isfinite(cand).sum())))
    next_alive, next_lp, ended = [], [], []
    for value, flat in zip(top.values.tolist(), top.indices.tolist()):
        row, tok = divmod(flat, V)
        seq = alive[row].tolist()[1:] + [tok]
        if tok == end:
            ended.append((seq, value))
        elif len(next_alive) < beam_width:
            next_alive.append(seq)
            next_lp.append(value)
    return next_alive, next_lp, ended


def beam_search(model, beam_width: int = 5, max_len: int = 13, *, prefix: list[int] | None = None,
                length_alpha: float = 0.0, start: int = END, end: int = END, n_best: int | None = None,
                device=None) -> list[Beam]:
    r"""Approximate :math:`\arg\max_x \log p_\theta(x)` by keeping the ``beam_width`` best partial sequences.

    A hypothesis ends when it produces ``end``; after ``max_len`` tokens only ``end``
    is allowed, so every returned log-probability is exact for a complete sequence
    (prefix tokens excluded: it scores :math:`\log p(\text{continuation} \mid \text{prefix})`).
    Finished hypotheses are ranked by the length-normalised score
    :math:`\log p / |y|^{\alpha}`, with :math:`|y|` the number of predicted tokens
    (END included): ``length_alpha = 0`` ranks by raw log-probability, which favours
    short outputs; ``1`` ranks by the mean log-probability per token.

    Returns up to ``n_best`` (default ``beam_width``) :class:`Beam` objects, best first.
    """
    prefix, n_steps = _check_beam(model, beam_width, max_len, length_alpha, prefix)
    n_best = beam_width if n_best is None else n_best
    if device is None:
        device = _model_device(model)

    def score(lp: float, length: int) -> float:
        return lp / length ** length_alpha

    alive = torch.tensor([[start] + prefix], dtype=torch.int64, device=device)   # (beams, T)
    alive_lp = torch.zeros(1, dtype=torch.float64, device=device)
    finished: list[Beam] = []
    with evaluating(model), torch.no_grad():
        for step in range(n_steps):
            logp = model(alive)[:, -1].double().log_softmax(-1)                   # (beams, V)
            if step == n_steps - 1:                                              # length limit: END only
                forced = torch.full_like(logp, float("-inf"))
                forced[:, end] = logp[:, end]
                logp = forced
            next_alive, next_lp, ended = _best_extensions(alive, alive_lp, logp, beam_width, end)
            finished += [Beam(seq, value, score(value, step + 1)) for seq, value in ended]
            if not next_alive:
                break
            # stop when no alive beam can beat the n_best-th finished one (only exact for alpha = 0)
            if length_alpha == 0 and len(finished) >= n_best:
                worst_kept = sorted(b.score for b in finished)[-n_best]
                if max(next_lp) < worst_kept:
                    break
            alive = torch.tensor([[start] + s for s in next_alive], dtype=torch.int64, device=device)
            alive_lp = torch.tensor(next_lp, dtype=torch.float64, device=device)
    finished.sort(key=lambda b: b.score, reverse=True)
    return finished[:n_best]


# ---- training efficiency: packing sequences without padding ---------------------------------

IGNORE = -100   # target id that the loss skips (F.cross_entropy's default ignore_index)


def trim_padding(x: torch.Tensor, end: int = END) -> torch.Tensor:
    """Drop the trailing columns of ``x (N, L)`` that hold only padding (after every row's first END)."""
    mask = target_mask(x, end)
    n = int(mask.any(0).nonzero().max()) + 1 if mask.numel() else 0
    return x[:, :max(n, 1)]


def pack(x: torch.Tensor, row_len: int, *, start: int = END, end: int = END,
         generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    r"""Pack the sequences of ``x (N, L)`` end to end into rows of ``row_len`` positions, in random order.

    Returns ``inputs``, ``targets`` and ``segments``, each ``(R, row_len)`` int64. A
    sequence of :math:`\ell` counted tokens occupies :math:`\ell` consecutive positions
    of one row, with inputs ``[start, x_1, ..., x_{l-1}]`` and targets ``[x_1, ..., x_l]``,
    and its own segment id (its row index in ``x``). Unused positions at the end of
    a row get target :data:`IGNORE` and a segment of their own. With
    ``model(inputs, segments=segments)`` (see :class:`unigen.nn.transformer.Transformer`)
    each sequence gets exactly the logits it gets alone, so :func:`packed_loss` is
    the loss of :func:`ar_loss` over the same tokens, without computing on padding.
    """
    _check_ids("x", x)
    lengths = target_mask(x, end).sum(1)
    if not isinstance(row_len, int) or row_len < int(lengths.max()):
        raise ValueError(f"row_len must be an int >= the longest sequence ({int(lengths.max())}), got {row_len!r}")
    order = torch.randperm(len(x), generator=generator)
    rows, offsets, row, fill = [], [], 0, 0
    for n in lengths[order].tolist():                       # first fit, in order
        if fill + n > row_len:
            row, fill = row + 1, 0
        rows.append(row)
        offsets.append(fill)
        fill += n
    R = row + 1
    L = x.shape[1]
    dest = (torch.tensor(rows) * row_len + torch.tensor(offsets))[:, None] + torch.arange(L)   # (N, L)
    valid = target_mask(x[order], end)
    inputs = torch.full((R * row_len,), start, dtype=torch.int64)
    targets = torch.full((R * row_len,), IGNORE, dtype=torch.int64)
    segments = torch.arange(R * row_len, dtype=torch.int64) + len(x)   # fillers: a segment each
    inputs[dest[valid]] = shift_right(x[order], start)[valid]
    targets[dest[valid]] = x[order][valid]
    segments[dest[valid]] = order[:, None].expand(-1, L)[valid]
    return inputs.view(R, row_len), targets.view(R, row_len), segments.view(R, row_len)


def packed_loss(model, batch: tuple[torch.Tensor, torch.Tensor, torch.Tensor]) -> torch.Tensor:
    """:func:`ar_loss` on packed rows ``(inputs, targets, segments)`` from :func:`pack`: mean over real targets."""
    if not isinstance(batch, (tuple, list)) or len(batch) != 3:
        raise ValueError("batch must be a tuple (inputs, targets, segments) from ar.pack")
    inputs, targets, segments = batch
    logits = model(inputs, segments=segments)
    return F.cross_entropy(logits.flatten(0, 1), targets.flatten(), ignore_index=IGNORE)
