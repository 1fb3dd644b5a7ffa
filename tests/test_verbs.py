"""The three verbs of every paradigm module: loss -> scalar, sample -> SampleOutput, nll -> NLL.

Each verb only calls the chapter's own function, so its numbers are those of that function
with the same generator seed.
"""
import pytest
import torch

from unigen import ar, ddpm, flow, masked, schedules, sde
from unigen.nn import transformer as tr
from unigen.outputs import NLL, SampleOutput


def seed(s=0):
    return torch.Generator().manual_seed(s)


class PointNet(torch.nn.Module):
    """A tiny network ``model(x (B, 2), t (B,)) -> (B, 2)`` for the Gaussian families."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.net = torch.nn.Sequential(torch.nn.Linear(3, 16), torch.nn.Tanh(), torch.nn.Linear(16, 2))

    def forward(self, x, t):
        return self.net(torch.cat([x, t[:, None].to(x)], 1))


class TokenNet(torch.nn.Module):
    """A tiny bidirectional ``model(x_t (B, L)) -> logits (B, L, V + 1)``; id V is MASK."""

    def __init__(self, V=4):
        super().__init__()
        torch.manual_seed(0)
        self.emb = torch.nn.Embedding(V + 1, 8)
        self.out = torch.nn.Linear(8, V + 1)

    def forward(self, x):
        h = self.emb(x)
        return self.out(h + h.mean(1, keepdim=True))


def tiny_ar():
    torch.manual_seed(0)
    return tr.Transformer(tr.TransformerConfig(vocab_size=4, block_size=8, n_layer=1, n_head=2, n_embd=8))


def has_grad(model, value):
    assert value.dim() == 0 and torch.isfinite(value)
    value.backward()
    return any(p.grad is not None and p.grad.abs().sum() > 0 for p in model.parameters())


POINTS = torch.randn(6, 2, generator=seed(1))
IDS = torch.tensor([[1, 2, 3, 0, 0], [2, 2, 0, 0, 0], [3, 1, 1, 2, 0]])
MASK_ID = 4


# ---- ar -----------------------------------------------------------------------------------------

def test_ar_verbs():
    m = tiny_ar()
    assert has_grad(m, ar.loss(m, IDS))
    assert torch.equal(ar.loss(m, IDS), ar.ar_loss(m, IDS))
    out = ar.sample(m, 5, 6, generator=seed())
    assert isinstance(out, SampleOutput) and out.x.shape == (5, 7) and isinstance(out.nfe, int)
    steps = torch.stack(list(ar.stream(m, 5, 6, generator=seed())), 1)
    assert out.nfe == steps.shape[1] and torch.equal(out.x[:, :out.nfe], steps)   # bit-identical
    nll = ar.nll(m, IDS)
    assert isinstance(nll, NLL) and nll.kind == "exact"
    torch.testing.assert_close(nll.values, -ar.log_prob(m, IDS), rtol=0, atol=0)


def test_ar_sample_counts_the_steps_it_runs():
    """nfe is max_len with end=None, and fewer when every row ends early."""
    always_end = lambda idx: torch.tensor([10.0, -10, -10, -10]).expand(*idx.shape, 4)   # noqa: E731
    assert ar.sample(always_end, 3, 6, generator=seed()).nfe == 1
    assert ar.sample(always_end, 3, 6, end=None, generator=seed()).nfe == 6


def test_ar_verbs_bad_input():
    m = tiny_ar()
    with pytest.raises(ValueError, match="batch"):
        ar.loss(m, IDS.float())
    with pytest.raises(ValueError, match="max_len"):
        ar.sample(m, 2, 0)
    with pytest.raises(ValueError, match="x"):
        ar.nll(m, torch.tensor([1, 2]))


# ---- ddpm ---------------------------------------------------------------------------------------

def test_ddpm_verbs():
    m, sched = PointNet(), schedules.ddpm_linear(20)
    assert has_grad(m, ddpm.loss(m, POINTS, sched, generator=seed()))
    assert torch.equal(ddpm.loss(m, POINTS, sched, generator=seed()),
                       ddpm.ddpm_loss(m, POINTS, sched, generator=seed()))
    for name, fn in [("ddim", ddpm.ddim_sample), ("ddpm", ddpm.ddpm_sample)]:
        out = ddpm.sample(m, (4, 2), sched, sampler=name, steps=5, generator=seed())
        assert isinstance(out, SampleOutput) and out.x.shape == (4, 2) and isinstance(out.nfe, int)
        assert torch.equal(out.x, fn(m, (4, 2), sched, steps=5, generator=seed()).x)
    nll = ddpm.nll(m, POINTS, sched, n_steps=4, generator=seed())
    assert isinstance(nll, NLL) and nll.kind == "bound"
    want = ddpm.nll_bound(m, POINTS, sched, n_steps=4, generator=seed())["bound"]
    assert torch.equal(nll.values, want.detach().double())


def test_ddpm_verbs_bad_input():
    m, sched = PointNet(), schedules.ddpm_linear(20)
    with pytest.raises(ValueError, match="batch"):
        ddpm.loss(m, IDS, sched)
    with pytest.raises(ValueError, match="sampler"):
        ddpm.sample(m, (4, 2), sched, sampler="euler")
    with pytest.raises(ValueError, match="x0"):
        ddpm.nll(m, torch.zeros(3), sched)


# ---- sde ----------------------------------------------------------------------------------------

def test_sde_verbs():
    m, vp = PointNet(), sde.VPSDE()
    assert has_grad(m, sde.loss(m, POINTS, vp, generator=seed()))
    score = sde.model_score(m, vp)
    samplers = [("sde", sde.reverse_sde_sample, {}), ("ode", sde.pf_ode_sample, {}),
                ("pc", sde.pc_sample, {})]
    for method, fn, kw in samplers:
        out = sde.sample(m, (4, 2), vp, 6, method=method, generator=seed(), **kw)
        assert isinstance(out, SampleOutput) and out.x.shape == (4, 2) and isinstance(out.nfe, int)
        want = fn(vp, score, (4, 2), 6, t_eps=1e-3, generator=seed())
        assert torch.equal(out.x, want.x) and out.nfe == want.nfe
    rk4 = sde.sample(m, (4, 2), vp, 3, method="ode", solver="rk4", generator=seed())
    assert rk4.nfe == 12
    for divergence, kind in [("exact", "exact"), ("rademacher", "estimate")]:
        nll = sde.nll(m, POINTS, vp, 5, divergence=divergence, generator=seed())
        assert isinstance(nll, NLL) and nll.kind == kind
        want = sde.ode_log_likelihood(vp, score, POINTS, 5, t_eps=1e-3, divergence=divergence,
                                      generator=seed()).log_prob
        assert torch.equal(nll.values, -want.double())


def test_sde_verbs_bad_input():
    m, vp = PointNet(), sde.VPSDE()
    with pytest.raises(ValueError, match="batch"):
        sde.loss(m, IDS, vp)
    with pytest.raises(ValueError, match="method"):
        sde.sample(m, (4, 2), vp, method="euler")
    with pytest.raises(ValueError, match="solver"):
        sde.sample(m, (4, 2), vp, method="sde", solver="rk4")
    with pytest.raises(ValueError, match="divergence"):
        sde.nll(m, POINTS, vp, divergence="hutchinson")


# ---- flow ---------------------------------------------------------------------------------------

def test_flow_verbs():
    m = PointNet()
    assert has_grad(m, flow.loss(m, POINTS, generator=seed()))
    assert torch.equal(flow.loss(m, POINTS, generator=seed()), flow.cfm_loss(m, POINTS, generator=seed()))
    out = flow.sample(m, (4, 2), 5, generator=seed())
    assert isinstance(out, SampleOutput) and out.x.shape == (4, 2) and out.nfe == 5
    for divergence, kind in [("exact", "exact"), ("gaussian", "estimate")]:
        nll = flow.nll(m, POINTS, steps=4, divergence=divergence, generator=seed())
        assert isinstance(nll, NLL) and nll.kind == kind
        want = flow.log_likelihood(m, POINTS, None, 4, divergence=divergence, generator=seed()).log_prob
        assert torch.equal(nll.values, -want.double())


def test_flow_verbs_bad_input():
    m = PointNet()
    with pytest.raises(ValueError, match="batch"):
        flow.loss(m, IDS)
    with pytest.raises(ValueError, match="shape"):
        flow.sample(m)
    with pytest.raises(ValueError, match="divergence"):
        flow.nll(m, POINTS, divergence="hutchinson")


# ---- masked -------------------------------------------------------------------------------------

def test_masked_verbs():
    m = TokenNet()
    assert has_grad(m, masked.loss(m, IDS, MASK_ID, generator=seed()))
    assert torch.equal(masked.loss(m, IDS, MASK_ID, generator=seed()),
                       masked.masked_loss(m, IDS, MASK_ID, generator=seed()))
    out = masked.sample(m, 3, 5, MASK_ID, steps=2, generator=seed())
    assert isinstance(out, SampleOutput) and isinstance(out, masked.DecodeOutput)
    assert out.x.shape == (3, 5) and out.nfe == 2 and out.trajectory == []
    nll = masked.nll(m, IDS, MASK_ID, generator=seed())
    assert isinstance(nll, NLL) and nll.kind == "bound"
    assert torch.equal(nll.values, masked.nelbo(m, IDS, MASK_ID, generator=seed()))


def test_masked_verbs_bad_input():
    m = TokenNet()
    with pytest.raises(ValueError, match="batch"):
        masked.loss(m, IDS.float(), MASK_ID)
    with pytest.raises(ValueError, match="n"):
        masked.sample(m, 0, 5, MASK_ID, steps=2)
    with pytest.raises(ValueError, match="x0"):
        masked.nll(m, torch.full((2, 3), MASK_ID), MASK_ID)


@pytest.mark.parametrize("module", [ar, ddpm, sde, flow, masked])
def test_every_module_exports_the_three_verbs(module):
    for verb in ("loss", "sample", "nll"):
        assert verb in module.__all__ and callable(getattr(module, verb))
        assert getattr(module, verb).__doc__
