import pytest
import torch

from unigen.nn import embeddings, mlp, unet


def test_sinusoidal_embedding_shape_range_and_distinct_times():
    t = torch.tensor([0.0, 0.001, 0.5, 1.0])
    e = embeddings.sinusoidal_embedding(t, 32)
    assert e.shape == (4, 32) and e.abs().max() <= 1.0
    assert torch.equal(e[0, :16], torch.ones(16)) and torch.equal(e[0, 16:], torch.zeros(16))
    assert (e[1] - e[0]).norm() > 0.1                     # neighbouring DDPM steps are told apart
    with pytest.raises(ValueError, match="dim"):
        embeddings.sinusoidal_embedding(t, 7)
    with pytest.raises(ValueError, match="t"):
        embeddings.sinusoidal_embedding(t[:, None], 8)


def test_time_embedding_kinds():
    t = torch.rand(5)
    for kind in ("sinusoidal", "fourier"):
        assert embeddings.TimeEmbedding(16, kind=kind)(t).shape == (5, 16)
    with pytest.raises(ValueError, match="kind"):
        embeddings.TimeEmbedding(16, kind="learned")


def test_time_mlp_shapes_labels_and_bad_input():
    net = mlp.TimeMLP(dim=2, hidden=32, depth=2, n_classes=3)
    x, t = torch.randn(7, 2), torch.rand(7)
    assert net(x, t).shape == (7, 2)
    out_null = net(x, t)
    out_null2 = net(x, t, torch.full((7,), 3))
    torch.testing.assert_close(out_null, out_null2)       # y=None means the null label
    with pytest.raises(ValueError, match="x"):
        net(torch.randn(7, 3), t)
    with pytest.raises(ValueError, match="t must have shape"):
        net(x, torch.rand(6))
    with pytest.raises(ValueError, match="hidden"):
        mlp.TimeMLP(hidden=0)


def test_unet(check_image_backbone):
    check_image_backbone(lambda: unet.UNet(channels=8, emb_dim=16, n_classes=10))


def test_unconditional_unet_rejects_labels_and_bad_config():
    with pytest.raises(ValueError, match="unconditional"):
        unet.UNet(channels=8, emb_dim=16)(torch.randn(2, 1, 8, 8), torch.rand(2), torch.zeros(2, dtype=torch.long))
    with pytest.raises(ValueError, match="channels"):
        unet.UNet(channels=12, groups=8)
