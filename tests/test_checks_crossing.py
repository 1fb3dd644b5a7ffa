import torch
import torch.nn.functional as F
import pytest

from unigen import checks


def test_mask_tokens_check():
    checks.mask_tokens(lambda x0, u, a, m: torch.where(u >= a[:, None], m, x0), quiet=True)
    with pytest.raises(checks.CheckFailed, match="mask_tokens"):      # masks with probability alpha_t
        checks.mask_tokens(lambda x0, u, a, m: torch.where(u < a[:, None], m, x0))


def test_mdlm_linear_term_check():
    def mine(logits, x0, masked, t):
        return (F.cross_entropy(logits.transpose(1, 2), x0, reduction="none") * masked).sum(1) / t
    checks.mdlm_linear_term(mine, quiet=True)

    def averages(logits, x0, masked, t):                              # mean instead of sum over positions
        return (F.cross_entropy(logits.transpose(1, 2), x0, reduction="none") * masked).mean(1) / t
    with pytest.raises(checks.CheckFailed, match="mdlm_linear_term"):
        checks.mdlm_linear_term(averages)


def test_raster_mask_check():
    def mine(k, kind):
        m = torch.zeros(k, k)
        m[:k // 2] = 1
        m[k // 2, :k // 2 + (kind == "B")] = 1
        return m
    checks.raster_mask(mine, quiet=True)
    with pytest.raises(checks.CheckFailed, match="raster_mask"):     # type A and B swapped
        checks.raster_mask(lambda k, kind: mine(k, "A" if kind == "B" else "B"))


def test_block_causal_mask_check():
    def mine(scales):
        block = torch.cat([torch.full((s * s,), k) for k, s in enumerate(scales)])
        return block[:, None] >= block[None, :]
    checks.block_causal_mask(mine, quiet=True)
    with pytest.raises(checks.CheckFailed, match="block_causal_mask"):   # plain causal, not block-causal
        checks.block_causal_mask(lambda s: torch.ones(sum(x * x for x in s), sum(x * x for x in s)).tril().bool())
