"""The checking machinery (unigen.checks._framework): messages, failing cases, failing_inputs, bad input."""
import re
import subprocess
import sys

import pytest
import torch

from unigen import checks
from unigen.checks import _framework


def double(x):
    return x * 2


def make_vec(g):
    return (torch.randn(4, generator=g),)


def make_big(g):
    return torch.randn(5, 3, generator=g), float(torch.rand(1, generator=g))


def scaled(x, a):
    return x * a


def failure(learner, reference, make=None, **kw):
    with pytest.raises(checks.CheckFailed) as e:
        checks.compare(learner, reference, make, **kw)
    return str(e.value)


def test_compare_accepts_reference_and_reports_mismatch(capsys):
    checks.compare(double, double, make_vec, name="double")
    assert "✓ double matches the reference on 5 random inputs" in capsys.readouterr().out
    assert "differs at" in failure(lambda x: x * 2.1, double, make_vec)
    assert "shape" in failure(lambda x: x[:2] * 2, double, make_vec)
    assert "in place" in failure(lambda x: x.mul_(2), double, make_vec)
    assert "not implemented yet" in failure(lambda x: (_ for _ in ()).throw(NotImplementedError()), double, make_vec)
    assert "raised ZeroDivisionError" in failure(lambda x: 1 / 0, double, make_vec)


def test_positional_call_and_default_names_still_work():
    # the form the other parts' checks use: compare(fn, reference, make, name=..., n_trials=..., quiet=...)
    checks.compare(double, double, make_vec, name="double", n_trials=2, quiet=True, atol=1e-6)
    msg = failure(lambda x: (x * 2, x), lambda x: (x * 2, x * 3), make_vec)
    assert "output[1] differs" in msg                       # no names given: positions


def test_outputs_are_named_in_messages():
    def ref(x):
        return x * 2, float(x.sum())

    msg = failure(lambda x: (x * 2, float(x.sum()) + 1), ref, make_vec, outputs=("mean", "variance"))
    assert msg.splitlines()[0].startswith("ref: `variance` is ")
    msg = failure(lambda x: (x * 3, float(x.sum())), ref, make_vec, outputs=("mean", "variance"))
    assert "`mean` differs at 4 of 4 entries; first at index (0,)" in msg
    assert "should return 2 outputs (mean, variance)" in failure(lambda x: x * 2, ref, make_vec,
                                                                outputs=("mean", "variance"))
    assert "`twice` has shape (2,), expected (4,)" in failure(lambda x: x[:2], double, make_vec, outputs="twice")
    assert "`twice` is None: is a `return` missing?" in failure(lambda x: None, double, make_vec, outputs=("twice",))


def test_dtype_messages():
    def mask(x):
        return x > 0

    assert "`m` has dtype torch.int64, expected torch.bool" in failure(lambda x: (x > 0).long(), mask, make_vec,
                                                                        outputs=("m",))
    assert "expected a floating dtype" in failure(lambda x: (x * 2).long(), double, make_vec)
    # integer entries are shown as integers, booleans as booleans
    assert "got False, expected True" in failure(lambda x: x < -9, lambda x: x > -9, make_vec)


def test_small_inputs_are_printed_as_literals_that_rebuild_them():
    seen = []

    def wrong(x, a):
        seen.append((x.clone(), a))
        return x * a + 1e-3

    msg = failure(wrong, scaled, cases=[(torch.tensor([0.1, -2.5, 1 / 3]), 0.7)])
    assert "failing case (trial 1 of 1):" in msg and "then call scaled(x, a)" in msg
    ns = {"torch": torch}
    exec("\n".join(line.strip() for line in msg.splitlines() if re.match(r"\s+(x|a) = ", line)), ns)
    assert torch.equal(ns["x"], seen[0][0]) and ns["x"].dtype == torch.float32 and ns["a"] == 0.7


@pytest.mark.parametrize("value", [
    torch.tensor([[1.0, -0.0], [float("inf"), float("-inf")]], dtype=torch.float64),
    torch.tensor(float("nan")), torch.rand(3, generator=torch.Generator().manual_seed(1)),
    torch.tensor([1, -7, 3]), torch.tensor([True, False]), torch.zeros(0, 3), torch.tensor([1.5], dtype=torch.float16),
])
def test_literal_round_trip(value):
    rebuilt = eval(_framework._literal(value), {"torch": torch})
    assert rebuilt.dtype == value.dtype and rebuilt.shape == value.shape
    assert torch.isclose(rebuilt, value, rtol=0, atol=0, equal_nan=True).all() if value.is_floating_point() \
        else torch.equal(rebuilt, value)


def test_inputs_named_from_the_reference_signature_or_explicitly():
    msg = failure(lambda x, a: x, scaled, cases=[(torch.ones(2), 3.0)])
    assert "    x = torch.tensor([1.0, 1.0])\n    a = 3.0" in msg
    msg = failure(lambda x, a: x, scaled, cases=[(torch.ones(2), 3.0)], inputs=("x0", "alpha_bar"))
    assert "    alpha_bar = 3.0" in msg and "then call scaled(x0, alpha_bar)" in msg


@pytest.mark.parametrize("seed", [0, 3])
def test_large_inputs_give_a_one_liner_that_reproduces_them(seed):
    seen = []

    def wrong(x, a):
        seen.append((x.clone(), a))
        return x * a if len(seen) < 3 else x * a + 1     # fails on the third random trial

    msg = failure(wrong, scaled, make_big, name="scaled_big", seed=seed)
    call = re.search(r"args = (checks\.failing_inputs\(.*\))", msg).group(1)
    assert call == (f'checks.failing_inputs("scaled_big", trial=3{", seed=3" if seed else ""})')
    assert "x: tensor(5, 3) torch.float32, a = 0." in msg and "then call scaled_big(*args)" in msg
    args = eval(call, {"checks": checks})
    assert torch.equal(args[0], seen[2][0]) and args[1] == seen[2][1]


def test_failing_inputs_counts_fixed_cases_first():
    fixed = (torch.arange(20.0), 2.0)
    msg = failure(lambda x, a: x * a if x.numel() == 20 else -x, scaled, make_big, cases=[fixed], name="mixed")
    assert 'failing_inputs("mixed", trial=2)' in msg and "trial 2 of 6" in msg
    assert torch.equal(checks.failing_inputs("mixed", trial=1)[0], fixed[0])
    g = torch.Generator().manual_seed(0)
    assert torch.equal(checks.failing_inputs("mixed", trial=2)[0], make_big(g)[0])


def test_failing_inputs_of_a_book_check_in_a_fresh_session():
    code = ("from unigen import checks; import torch\n"
            "x, p = checks.failing_inputs('patchify', trial=3)\n"
            "print(tuple(x.shape), p)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    g = torch.Generator().manual_seed(0)
    from unigen.checks import diffusion
    for _ in range(2):
        x, p = diffusion._make_patchify(g)
    assert out.strip() == f"{tuple(x.shape)} {p}"


def test_in_place_names_the_input_and_nan_inputs_are_not_flagged():
    msg = failure(lambda x, a: x.mul_(a), scaled, make_big)
    assert "modified its input `x` in place" in msg and "x = x.clone()" in msg
    checks.compare(scaled, scaled, cases=[(torch.tensor([float("nan"), 1.0]), 2.0)], quiet=True)


def test_exceptions_and_stubs_keep_their_messages():
    msg = failure(lambda x, a: x @ x, scaled, make_big)
    assert msg.startswith("scaled raised RuntimeError") and "failing_inputs" in msg
    stub = failure(lambda x, a: (_ for _ in ()).throw(NotImplementedError()), scaled, make_big)
    assert stub == "scaled: not implemented yet (the stub still raises NotImplementedError)"


def test_success_message_counts_cases(capsys):
    checks.compare(scaled, scaled, make_big, cases=[(torch.ones(2), 1.0)], n_trials=2, name="s")
    assert "✓ s matches the reference on 1 fixed case and 2 random inputs" in capsys.readouterr().out


def test_compare_bad_input():
    bad = [
        (dict(learner=3), "learner"), (dict(reference=3), "reference"), (dict(make_inputs=3), "make_inputs"),
        (dict(make_inputs=None), "make_inputs, cases"), (dict(cases=[1, 2]), "cases"), (dict(cases="ab"), "cases"),
        (dict(n_trials=0), "n_trials"), (dict(n_trials=2.0), "n_trials"), (dict(atol=-1), "atol"),
        (dict(rtol="x"), "rtol"), (dict(seed=-1), "seed"), (dict(seed=1.5), "seed"), (dict(name=""), "name"),
        (dict(inputs=("x", "not a name")), "inputs"), (dict(inputs=("x", "x")), "inputs"), (dict(inputs=3), "inputs"),
        (dict(outputs=()), "outputs"), (dict(inputs=("x",)), "inputs names 1"),
        (dict(outputs=("m", "v")), "outputs names 2"),
    ]
    for change, word in bad:
        kw = dict(learner=scaled, reference=scaled, make_inputs=make_big) | change
        with pytest.raises(ValueError, match=re.escape(word)):
            checks.compare(kw.pop("learner"), kw.pop("reference"), kw.pop("make_inputs"), quiet=True, **kw)


def test_failing_inputs_bad_input():
    checks.compare(scaled, scaled, cases=[(torch.ones(2), 1.0)], name="only_cases", quiet=True)
    for kw, word in [(dict(name="no_such_check", trial=1), "name"), (dict(name=3, trial=1), "name"),
                     (dict(name="q_sample", trial=0), "trial"), (dict(name="q_sample", trial="1"), "trial"),
                     (dict(name="q_sample", trial=True), "trial"), (dict(name="q_sample", trial=1, seed="0"), "seed"),
                     (dict(name="only_cases", trial=2), "trial must be at most 1")]:
        with pytest.raises(ValueError, match=word):
            checks.failing_inputs(**kw)
    with pytest.raises(ValueError, match="make_inputs"):
        checks.register_inputs("x", 3)
    with pytest.raises(ValueError, match="name"):
        checks.register_inputs("", make_big)
