r"""Decoding with a tool and decoding under a grammar: two things an AR model does naturally.

Introduced in *Where each family wins* (Part VII). Both build on the fact that an
autoregressive model produces its output one token at a time, left to right, and
gives the exact probability of each token given everything before it:

- **tool calls** (:func:`stream_with_tool`, :func:`run_with_tool`): the model writes a
  call such as ``<calc>37*12</calc>``; generation pauses at the closing tag, the tool
  runs (:func:`calculator`), its result is appended to the context as if the model had
  written it, and generation continues. The loop is
  ``generate -> detect call -> run tool -> append -> continue``.
- **grammar constraints** (:class:`Grammar`, :func:`constrain`, :func:`constrained_sample`):
  at every step the tokens the grammar forbids get logit :math:`-\infty`, so the
  output follows the grammar by construction. The constrained distribution is
  :math:`q(y_t \mid y_{<t}) = p(y_t \mid y_{<t}) / Z_t` on the allowed set, with
  :math:`Z_t = \sum_{v\ \text{allowed}} p(v \mid y_{<t})`, so
  :math:`\log q(y) = \log p(y) - \sum_t \log Z_t`.

A model is a causal ``model(idx (B, T)) -> logits (B, T, V)`` as in :mod:`unigen.ar`;
with ``new_cache()`` (:class:`unigen.nn.transformer.Transformer`) it is fed one new
token per step. Id 0 is the START/END token (:data:`unigen.ar.END`).
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Callable, Iterator, Sequence

import torch

from .ar import END
from .utils import check_tensor, evaluating

__all__ = [
    "CALL_OPEN", "CALL_CLOSE", "ToolError", "calculator", "parse_call", "stream_with_tool",
    "ToolRun", "run_with_tool", "Grammar", "constrain", "constrained_sample",
]

CALL_OPEN, CALL_CLOSE = "<calc>", "</calc>"

# ---- the tool -------------------------------------------------------------------------------


class ToolError(ValueError):
    """A tool call that does not parse, or a tool that failed."""


_EXPR = re.compile(r"^\s*(\d{1,9})\s*([-+*])\s*(\d{1,9})\s*$")


def calculator(expression: str) -> str:
    """Evaluate ``"a op b"`` with non-negative integers ``a, b`` and ``op`` in ``+ - *``.

    Returns the result as a decimal string. Anything else raises :class:`ToolError`
    (no ``eval``: the model's text is never executed as code).
    """
    if not isinstance(expression, str):
        raise ToolError(f"expression must be a str, got {type(expression).__name__}")
    m = _EXPR.match(expression)
    if m is None:
        raise ToolError(f"cannot parse {expression!r}: expected 'a+b', 'a-b' or 'a*b'")
    a, op, b = int(m.group(1)), m.group(2), int(m.group(3))
    return str(a + b if op == "+" else a - b if op == "-" else a * b)


def parse_call(text: str, open_tag: str = CALL_OPEN, close_tag: str = CALL_CLOSE) -> str | None:
    """The argument of the call that ``text`` has just closed, or ``None`` if it ends otherwise.

    ``"... <calc>37*12</calc>"`` gives ``"37*12"``. A closing tag without an opening
    one (or an opening tag inside the argument) raises :class:`ToolError`.
    """
    if not isinstance(text, str):
        raise ValueError(f"text must be a str, got {type(text).__name__}")
    if not open_tag or not close_tag:
        raise ValueError("open_tag and close_tag must be non-empty strings")
    if not text.endswith(close_tag):
        return None
    body = text[: len(text) - len(close_tag)]
    start = body.rfind(open_tag)
    if start < 0:
        raise ToolError(f"{close_tag!r} without a matching {open_tag!r} in {text!r}")
    return body[start + len(open_tag):]


# ---- the tool loop --------------------------------------------------------------------------


def _check_model_inputs(prompt, encode, decode, max_new_tokens):
    if not isinstance(prompt, str):
        raise ValueError(f"prompt must be a str, got {type(prompt).__name__}")
    if not callable(encode) or not callable(decode):
        raise ValueError("encode and decode must be callables (str -> ids, ids -> str)")
    if not isinstance(max_new_tokens, int) or max_new_tokens < 1:
        raise ValueError(f"max_new_tokens must be a positive int, got {max_new_tokens!r}")


def _device(model) -> torch.device:
    params = getattr(model, "parameters", None)
    first = next(params(), None) if callable(params) else None
    return first.device if first is not None else torch.device("cpu")


@torch.no_grad()
def stream_with_tool(model, prompt: str, *, encode: Callable[[str], Sequence[int]],
                     decode: Callable[[Sequence[int]], str], tool: Callable[[str], str] | None = calculator,
                     max_new_tokens: int = 64, end: int = END, open_tag: str = CALL_OPEN,
                     close_tag: str = CALL_CLOSE) -> Iterator[tuple[str, str]]:
    """Greedy decoding of one answer, yielding ``(source, text)`` pieces as they appear.

    ``source`` is ``"model"`` for a token the model wrote and ``"tool"`` for a tool
    result that was appended. The loop: generate a token; if the text now ends with
    ``close_tag``, parse the call (:func:`parse_call`), run ``tool`` on it, append
    its result to the context and continue. ``tool=None`` never calls a tool: the
    model must write the result itself. Stops at ``end`` or after ``max_new_tokens``
    model tokens, or when the context fills the model's ``config.block_size``. A call
    that does not parse or a tool that raises gives :class:`ToolError`.
    """
    _check_model_inputs(prompt, encode, decode, max_new_tokens)
    if tool is not None and not callable(tool):
        raise ValueError("tool must be a callable str -> str or None")
    device = _device(model)
    with evaluating(model):
        cache = model.new_cache() if hasattr(model, "new_cache") else None
        context = [end] + list(encode(prompt))
        feed = torch.tensor([context], dtype=torch.long, device=device)
        text = prompt
        block = getattr(getattr(model, "config", None), "block_size", None)
        for _ in range(max_new_tokens):
            if block is not None and len(context) > block:
                return                                            # no room left
            logits = model(feed, cache=cache) if cache is not None else model(
                torch.tensor([context], dtype=torch.long, device=device))
            token = int(logits[0, -1].argmax())                   # 1. generate
            if token == end:
                return
            piece = decode([token])
            context.append(token)
            text += piece
            yield "model", piece
            new = [token]
            argument = parse_call(text, open_tag, close_tag) if tool is not None else None
            if argument is not None:                              # 2. a call was written
                result = _run_tool(tool, argument)                # 3. run the tool
                ids = list(encode(result))                        # 4. append its result
                context += ids
                text += result
                new += ids
                yield "tool", result
            feed = torch.tensor([new], dtype=torch.long, device=device)   # 5. continue


def _run_tool(tool: Callable[[str], str], argument: str) -> str:
    """``tool(argument)``, with any failure or a non-string result reported as :class:`ToolError`."""
    try:
        result = tool(argument)
    except ToolError:
        raise
    except Exception as exc:                                      # a tool that fails
        raise ToolError(f"tool failed on {argument!r}: {exc}") from exc
    if not isinstance(result, str):
        raise ToolError(f"tool must return a str, got {type(result).__name__}")
    return result


@dataclass
class ToolRun:
    """What :func:`run_with_tool` returns: the generated text, the tool results, the pieces."""

    text: str
    tool_results: list[str] = field(default_factory=list)
    pieces: list[tuple[str, str]] = field(default_factory=list)


def run_with_tool(model, prompt: str, **kw) -> ToolRun:
    """Collect :func:`stream_with_tool` into a :class:`ToolRun` (the text after the prompt)."""
    pieces = list(stream_with_tool(model, prompt, **kw))
    return ToolRun("".join(p for _, p in pieces), [p for s, p in pieces if s == "tool"], pieces)


# ---- grammar constraints --------------------------------------------------------------------


class Grammar:
    """A sequence of slots, each a set of token ids repeated ``lo..hi`` times, then ``end``.

    ``Grammar([(ids_1, lo_1, hi_1), (ids_2, lo_2, hi_2), ...], end=0)`` accepts the token
    strings made of ``lo_1..hi_1`` tokens from ``ids_1``, then ``lo_2..hi_2`` from ``ids_2``,
    and so on, followed by ``end`` (after which only ``end`` is allowed). For example
    a date ``DD-MM`` is ``[(digits, 2, 2), ([dash], 1, 1), (digits, 2, 2)]``. The state
    after a prefix is ``(slot, count)``; :meth:`allowed` lists the next tokens.
    Consecutive slots whose ids overlap where either could continue are refused
    (the grammar would be ambiguous), and so is a slot with no ids: it admits no token.
    """

    def __init__(self, slots: Sequence[tuple[Sequence[int], int, int]], end: int = END):
        if not isinstance(slots, (list, tuple)) or not slots:
            raise ValueError("slots must be a non-empty list of (ids, lo, hi)")
        if not isinstance(end, int) or end < 0:
            raise ValueError(f"end must be an int >= 0, got {end!r}")
        parsed = []
        for i, slot in enumerate(slots):
            if not isinstance(slot, (list, tuple)) or len(slot) != 3:
                raise ValueError(f"slots[{i}] must be (ids, lo, hi), got {slot!r}")
            ids, lo, hi = slot
            ids = frozenset(int(v) for v in ids)
            if not ids:
                raise ValueError(f"slots[{i}] admits no token (empty set of ids)")
            if any(v < 0 for v in ids) or end in ids:
                raise ValueError(f"slots[{i}] must hold ids >= 0 other than end={end}")
            if not (isinstance(lo, int) and isinstance(hi, int) and 1 <= lo <= hi):
                raise ValueError(f"slots[{i}] needs ints 1 <= lo <= hi, got lo={lo!r}, hi={hi!r}")
            parsed.append((ids, lo, hi))
        for i in range(len(parsed) - 1):
            (a, lo, hi), (b, _, _) = parsed[i], parsed[i + 1]
            if lo < hi and a & b:
                raise ValueError(f"slots[{i}] and slots[{i + 1}] share ids {sorted(a & b)}: ambiguous")
        self.slots, self.end = parsed, end

    START = (0, 0)
    DONE = (-1, 0)

    def allowed(self, state: tuple[int, int]) -> frozenset:
        """The token ids that may come next in ``state``."""
        i, k = state
        if i == -1:
            return frozenset({self.end})
        ids, lo, hi = self.slots[i]
        out = set(ids) if k < hi else set()
        if k >= lo:
            out |= self.slots[i + 1][0] if i + 1 < len(self.slots) else {self.end}
        return frozenset(out)

    def step(self, state: tuple[int, int], token: int) -> tuple[int, int]:
        """The state after ``token``; a token the grammar forbids raises ``ValueError``."""
        if token not in self.allowed(state):
            raise ValueError(f"token {token} is not allowed in state {state}")
        i, k = state
        if i == -1 or token == self.end:
            return self.DONE
        ids, _, hi = self.slots[i]
        if k < hi and token in ids:
            return (i, k + 1)
        return (i + 1, 1)

    def accepts(self, tokens: Sequence[int]) -> bool:
        """Whether ``tokens`` (ending with ``end``, padding ``end`` allowed) is in the language."""
        state = self.START
        for t in [int(v) for v in tokens]:
            if t not in self.allowed(state):
                return False
            state = self.step(state, t)
        return state == self.DONE

    def mask(self, states: Sequence[tuple[int, int]], vocab_size: int) -> torch.Tensor:
        """``(B, vocab_size)`` bool: the allowed tokens of each state."""
        if not isinstance(vocab_size, int) or vocab_size < 1:
            raise ValueError(f"vocab_size must be a positive int, got {vocab_size!r}")
        out = torch.zeros(len(states), vocab_size, dtype=torch.bool)
        for b, s in enumerate(states):
            ids = [v for v in self.allowed(s) if v < vocab_size]
            out[b, ids] = True
        return out


def constrain(logits: torch.Tensor, allowed: torch.Tensor) -> torch.Tensor:
    r"""Logits with the forbidden tokens at :math:`-\infty` (``allowed``: bool of the same shape).

    Raises ``ValueError`` when a row allows no token at all.
    """
    check_tensor("logits", logits, floating=True)
    check_tensor("allowed", allowed)
    if allowed.dtype != torch.bool or allowed.shape != logits.shape:
        raise ValueError(f"allowed must be a bool tensor of shape {tuple(logits.shape)}")
    if not bool(allowed.any(-1).all()):
        raise ValueError("the grammar admits no token in some row (allowed is all False)")
    return logits.masked_fill(~allowed, float("-inf"))


@torch.no_grad()
def constrained_sample(model, grammar: Grammar | None, prefix: torch.Tensor, max_new_tokens: int, *,
                       greedy: bool = False, temperature: float = 1.0,
                       generator: torch.Generator | None = None, start: int = END):
    r"""Decode after ``prefix (B, P)`` with the grammar's mask applied at every step.

    Returns ``(tokens (B, max_new_tokens), logp (B,), log_mass (B,))``: the new tokens
    (``end``-padded), :math:`\log p(y)` of the tokens up to the first ``end`` under the
    *unconstrained* model at temperature 1, and :math:`\sum_t \log Z_t`, the log of the
    probability mass the constraint kept at each step (0 where nothing was removed).
    The constrained model gives :math:`\log q(y) = \log p(y) - \sum_t \log Z_t`. With
    ``grammar=None`` nothing is masked (the same loop, for comparison).
    """
    _check_constrained(grammar, prefix, max_new_tokens, greedy, temperature)
    with evaluating(model):
        return _constrained_loop(model, grammar, prefix, max_new_tokens, greedy, temperature,
                                 generator, start)


def _check_constrained(grammar, prefix, max_new_tokens, greedy, temperature) -> None:
    if grammar is not None and not isinstance(grammar, Grammar):
        raise ValueError(f"grammar must be a Grammar or None, got {type(grammar).__name__}")
    check_tensor("prefix", prefix, dim=2, floating=False)
    if not isinstance(max_new_tokens, int) or max_new_tokens < 1:
        raise ValueError(f"max_new_tokens must be a positive int, got {max_new_tokens!r}")
    if not greedy and not (isinstance(temperature, (int, float)) and temperature > 0):
        raise ValueError(f"temperature must be > 0, got {temperature!r}")


def _constrained_loop(model, grammar, prefix, max_new_tokens, greedy, temperature, generator, start):
    """:func:`constrained_sample`'s decoding loop, on checked arguments and a model in eval mode."""
    device = _device(model)
    B = prefix.shape[0]
    cache = model.new_cache() if hasattr(model, "new_cache") else None
    ctx = torch.cat([torch.full((B, 1), start, dtype=torch.long), prefix.cpu()], 1).to(device)
    feed = ctx
    states = [Grammar.START] * B
    end = grammar.end if grammar is not None else END
    done = torch.zeros(B, dtype=torch.bool)
    logp = torch.zeros(B, dtype=torch.float64)
    log_mass = torch.zeros(B, dtype=torch.float64)
    out = []
    for _ in range(max_new_tokens):
        logits = (model(feed, cache=cache) if cache is not None else model(ctx))[:, -1].double().cpu()
        log_p = logits.log_softmax(-1)
        if grammar is not None:
            allowed = grammar.mask(states, logits.shape[-1])
            logits = constrain(logits, allowed)
            mass = log_p.masked_fill(~allowed, float("-inf")).logsumexp(-1)
        else:
            mass = torch.zeros(B, dtype=torch.float64)
        if greedy:
            nxt = logits.argmax(-1)
        else:
            probs = (logits / temperature).softmax(-1)
            nxt = torch.multinomial(probs, 1, generator=generator)[:, 0]
        nxt = torch.where(done, torch.full_like(nxt, end), nxt)
        logp += torch.where(done, 0.0, log_p.gather(1, nxt[:, None])[:, 0])
        log_mass += torch.where(done, 0.0, mass)
        if grammar is not None:
            states = [grammar.step(s, int(t)) for s, t in zip(states, nxt)]
        done = done | (nxt == end)
        out.append(nxt)
        if bool(done.all()):
            break
        feed = nxt[:, None].to(device)
        ctx = torch.cat([ctx, feed], 1)
    tokens = torch.full((B, max_new_tokens), end, dtype=torch.long)
    tokens[:, :len(out)] = torch.stack(out, 1)
    return tokens, logp, log_mass
