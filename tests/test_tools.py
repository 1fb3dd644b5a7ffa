import math

import pytest
import torch

from unigen import tools
from unigen.data import tasks
from unigen.nn import transformer


# ---- a scripted "model": it writes a fixed text, whatever it is fed --------------------------

class Scripted(torch.nn.Module):
    """A causal model that writes ``script`` after the prompt, reading its own context.

    At context length n it puts all its mass on the token at position n - 1 - offset of
    the script, where offset is the prompt's length plus one (START), and on END after it.
    Tool results appended to the context shift it along, as they would a real model.
    """

    def __init__(self, script: str, prompt_len: int, skip: dict | None = None):
        super().__init__()
        self.ids = tasks.encode_text(script)
        self.offset = prompt_len + 1
        self.skip = skip or {}          # context length -> extra positions to skip
        self.dummy = torch.nn.Parameter(torch.zeros(1))

    def forward(self, idx):
        B, T = idx.shape
        logits = torch.full((B, T, tasks.WORD_VOCAB), -20.0)
        for t in range(T):
            k = t + 1 - self.offset
            tok = self.ids[k] if 0 <= k < len(self.ids) else 0
            logits[:, t, tok] = 0.0
        return logits


KW = dict(encode=tasks.encode_text, decode=tasks.decode_text, max_new_tokens=40)


def test_calculator_and_parse_call():
    assert tools.calculator("37*12") == "444"
    assert tools.calculator("50-8") == "42"
    assert tools.calculator(" 3 + 4 ") == "7"
    assert tools.parse_call("x <calc>37*12</calc>") == "37*12"
    assert tools.parse_call("x <calc>37*12") is None
    for bad in ("37/12", "__import__('os')", "", "1+2+3", "-4*2"):
        with pytest.raises(tools.ToolError):
            tools.calculator(bad)
    with pytest.raises(tools.ToolError):
        tools.parse_call("no opening</calc>")
    with pytest.raises(ValueError):
        tools.parse_call(3)


def test_tool_loop_appends_the_result_and_continues():
    prompt = "37 boxes of 12 pens. pens?"
    # the model writes the call, then (shifted by the tool's 3 characters) the unit
    script = "<calc>37*12</calc>" + "xxx" + " pens."
    model = Scripted(script, len(prompt))
    run = tools.run_with_tool(model, prompt, **KW)
    assert run.text == "<calc>37*12</calc>444 pens."
    assert run.tool_results == ["444"]
    sources = [s for s, _ in run.pieces]
    assert sources.count("tool") == 1 and sources[-1] == "model"
    assert tasks.word_answer(run.text) == 444
    # without the tool the model's own characters stand
    alone = tools.run_with_tool(model, prompt, tool=None, **KW)
    assert alone.text == script and alone.tool_results == []
    assert tasks.word_answer(alone.text) is None


def test_tool_loop_matches_a_transformer_with_and_without_cache():
    torch.manual_seed(0)
    cfg = transformer.TransformerConfig(vocab_size=tasks.WORD_VOCAB, block_size=64, n_layer=1,
                                        n_head=2, n_embd=16)
    model = transformer.Transformer(cfg)

    class NoCache(torch.nn.Module):
        def __init__(self, m):
            super().__init__()
            self.m = m

        def forward(self, idx):
            return self.m(idx)
    a = tools.run_with_tool(model, "12 cats", tool=None, **KW).text
    b = tools.run_with_tool(NoCache(model), "12 cats", tool=None, **KW).text
    assert a == b
    # an untrained model rambles: the loop stops when the context fills the block
    long = tools.run_with_tool(model, "12 cats", tool=None, encode=tasks.encode_text,
                               decode=tasks.decode_text, max_new_tokens=200).text
    assert len(long) <= 64 - 1 - len("12 cats") + 1


def test_tool_loop_bad_calls_and_failing_tools():
    prompt = "1 boxes"
    bad = Scripted("<calc>3/4</calc> done", len(prompt))
    with pytest.raises(tools.ToolError, match="cannot parse"):
        tools.run_with_tool(bad, prompt, **KW)

    def broken(arg):
        raise RuntimeError("out of service")
    good = Scripted("<calc>3*4</calc> done", len(prompt))
    with pytest.raises(tools.ToolError, match="out of service"):
        tools.run_with_tool(good, prompt, tool=broken, **KW)
    with pytest.raises(tools.ToolError, match="str"):
        tools.run_with_tool(good, prompt, tool=lambda a: 12, **KW)
    with pytest.raises(ValueError):
        tools.run_with_tool(good, 5, **KW)
    with pytest.raises(ValueError):
        tools.run_with_tool(good, prompt, encode=tasks.encode_text, decode=tasks.decode_text,
                            max_new_tokens=0)
    with pytest.raises(ValueError):
        tools.run_with_tool(good, prompt, tool="calc", **KW)


# ---- grammar -------------------------------------------------------------------------------

DIGITS = range(1, 11)
DASH = 11


def date_grammar():
    return tools.Grammar([(DIGITS, 2, 2), ([DASH], 1, 1), (DIGITS, 1, 2)], end=0)


def test_grammar_accepts_exactly_its_language():
    g = date_grammar()
    assert g.accepts([3, 4, DASH, 5, 0])
    assert g.accepts([3, 4, DASH, 5, 6, 0, 0])
    assert not g.accepts([3, DASH, 5, 0])           # one digit too few
    assert not g.accepts([3, 4, DASH, 5, 6, 7, 0])   # one too many
    assert not g.accepts([3, 4, DASH, 5])            # no END
    assert g.allowed(tools.Grammar.START) == frozenset(DIGITS)
    assert g.allowed((2, 1)) == frozenset(DIGITS) | {0}
    with pytest.raises(ValueError):
        g.step((0, 0), DASH)


def test_grammar_refuses_bad_specs():
    with pytest.raises(ValueError, match="admits no token"):
        tools.Grammar([([], 1, 1)])
    with pytest.raises(ValueError, match="ambiguous"):
        tools.Grammar([(DIGITS, 1, 3), (DIGITS, 1, 1)])
    with pytest.raises(ValueError):
        tools.Grammar([(DIGITS, 2, 1)])
    with pytest.raises(ValueError):
        tools.Grammar([([0, 1], 1, 1)], end=0)
    with pytest.raises(ValueError):
        tools.Grammar([])


def test_constrain_masks_and_refuses_an_empty_row():
    logits = torch.zeros(2, 4)
    allowed = torch.tensor([[True, False, True, False], [False, False, False, True]])
    out = tools.constrain(logits, allowed)
    assert torch.isinf(out[~allowed]).all() and (out[allowed] == 0).all()
    allowed[1] = False
    with pytest.raises(ValueError, match="admits no token"):
        tools.constrain(logits, allowed)
    with pytest.raises(ValueError):
        tools.constrain(logits, allowed.int())


def test_constrained_sample_is_valid_and_its_likelihood_is_renormalised():
    torch.manual_seed(0)
    cfg = transformer.TransformerConfig(vocab_size=12, block_size=16, n_layer=1, n_head=2,
                                        n_embd=16)
    model = transformer.Transformer(cfg)
    g = date_grammar()
    prefix = torch.ones(64, 2, dtype=torch.long)
    gen = torch.Generator().manual_seed(0)
    y, logp, log_mass = tools.constrained_sample(model, g, prefix, 8, generator=gen)
    assert all(g.accepts(row.tolist()) for row in y)
    assert (log_mass < 0).all()
    # log q(y) = log p(y) - sum log Z: recompute q directly from the masked softmax
    row = y[0]
    ctx = torch.cat([torch.zeros(1, dtype=torch.long), prefix[0], row])[None]
    with torch.no_grad():
        logits = model(ctx)[0].double()
    state, logq = tools.Grammar.START, 0.0
    for t, tok in enumerate(row.tolist()):
        allowed = g.mask([state], 12)[0]
        lq = tools.constrain(logits[2 + t], allowed).log_softmax(-1)[tok].item()
        logq += lq
        state = g.step(state, tok)
        if tok == 0:
            break
    assert math.isclose(logq, (logp[0] - log_mass[0]).item(), rel_tol=1e-9, abs_tol=1e-9)
    # without a grammar nothing is removed
    _, _, none = tools.constrained_sample(model, None, prefix, 8, generator=gen)
    assert (none == 0).all()
    with pytest.raises(ValueError):
        tools.constrained_sample(model, "date", prefix, 8)
    with pytest.raises(ValueError):
        tools.constrained_sample(model, g, prefix, 0)
    with pytest.raises(ValueError):
        tools.constrained_sample(model, g, prefix.float(), 4)


# ---- the shipped word-problem models --------------------------------------------------------

def test_word_problem_recipes_build_train_and_round_trip(tmp_path):
    from unigen import pretrained
    for name, causal in (("tool_word_problems_ar", True), ("tool_word_problems_masked", False)):
        model, hist = pretrained.train_recipe(name, steps=2, progress=False)
        assert model.config.causal is causal and hist.steps == 2
        file = pretrained.save(name, model, hist.seconds, file=tmp_path / f"{name}.pt")
        loaded, meta = pretrained.load(name, file=file)
        assert meta["recipe"] == pretrained.RECIPES[name]
        x = torch.randint(0, 10, (2, 8))
        assert torch.equal(loaded(x), model(x))
    rows = pretrained.word_problem_data("tool_word_problems_ar")
    assert rows.shape == (pretrained.RECIPES["tool_word_problems_ar"]["n_train"], 64)
    with pytest.raises(ValueError):
        pretrained.word_problem_data("ddim_digits_unet")


def test_shipped_tool_model_uses_the_calculator():
    from unigen import pretrained
    model, _ = pretrained.load("tool_word_problems_ar")
    run = tools.run_with_tool(model, "37 boxes of 12 pens. pens?", **KW)
    assert run.tool_results == ["444"] and tasks.word_answer(run.text) == 444
