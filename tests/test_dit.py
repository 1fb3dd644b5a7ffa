import pytest
import torch

from unigen.nn import dit


def test_dit(check_image_backbone):
    check_image_backbone(lambda: dit.DiT(dim=16, depth=2, heads=2, n_classes=10))


def test_unconditional_dit_rejects_labels_and_bad_config():
    with pytest.raises(ValueError, match="unconditional"):
        dit.DiT(dim=16, depth=1, heads=2)(torch.randn(2, 1, 8, 8), torch.rand(2), torch.zeros(2, dtype=torch.long))
    with pytest.raises(ValueError, match="patch"):
        dit.DiT(patch=3)


def test_patchify_round_trip_and_layout():
    x = torch.arange(64.0).reshape(1, 1, 8, 8)
    p = dit.patchify(x, 2)
    assert p.shape == (1, 16, 4)
    assert p[0, 0].tolist() == [0.0, 1.0, 8.0, 9.0]          # top-left patch, row by row
    assert p[0, 1].tolist() == [2.0, 3.0, 10.0, 11.0]        # raster order: the next patch to the right
    assert p[0, 4].tolist() == [16.0, 17.0, 24.0, 25.0]
    assert torch.equal(dit.unpatchify(p, 2, 1, 8, 8), x)


def test_dit_uses_the_transformer_attention():
    from unigen.nn import transformer
    net = dit.DiT(dim=16, depth=1, heads=2)
    assert isinstance(net.blocks[0].attn, transformer.SelfAttention) and not net.blocks[0].attn.causal


def test_sincos_positions_are_fixed_distinct_and_checked():
    pos = dit.sincos_2d(4, 16)
    assert pos.shape == (16, 16)
    assert torch.cdist(pos, pos).add(torch.eye(16)).min() > 0.1      # every patch gets its own code
    torch.testing.assert_close(pos[1, 8:], pos[5, 8:])               # same column -> same column half
    assert "pos" in dict(dit.DiT(dim=16, depth=1, heads=2).named_buffers())
    with pytest.raises(ValueError, match="multiple of 4"):
        dit.sincos_2d(4, 10)
