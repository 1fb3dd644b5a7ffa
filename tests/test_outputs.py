import pytest
import torch

from unigen.outputs import NLL, NLL_KINDS, SampleOutput


def test_nll_is_detached_cpu_float64_and_reads_per_dimension():
    v = torch.tensor([2.0, 4.0], requires_grad=True)
    out = NLL(v * 1, "exact")
    assert out.values.dtype == torch.float64 and not out.values.requires_grad
    assert out.per_dim(2) == pytest.approx(1.5)                       # 6 nats over 4 dims
    assert out.per_dim(torch.tensor([1.0, 3.0])) == pytest.approx(1.5)


@pytest.mark.parametrize("kw, word", [(dict(values=torch.zeros(2, 2), kind="exact"), "values"),
                                      (dict(values=[1.0], kind="exact"), "values"),
                                      (dict(values=torch.zeros(2), kind="ode"), "kind")])
def test_nll_rejects_bad_input(kw, word):
    with pytest.raises(ValueError, match=word):
        NLL(**kw)


def test_kinds_and_sample_output():
    assert NLL_KINDS == ("exact", "bound", "estimate")
    out = SampleOutput(torch.zeros(3, 2), 5)
    assert out.trajectory is None and out.nfe == 5
