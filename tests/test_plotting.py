import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

from unigen import plotting  # noqa: E402
from unigen.data import mixture2d  # noqa: E402


def test_plots_draw():
    plotting.use_style()
    fig, axes = plt.subplots(1, 3)
    plotting.scatter2d(torch.randn(50, 2), axes[0], title="pts")
    plotting.density2d(mixture2d.default().log_prob, axes[1], n=30)
    plotting.image_grid(torch.rand(12, 1, 8, 8) * 2 - 1, axes[2], ncol=5)
    assert axes[0].get_title() == "pts" and len(axes[1].images) == 1 and len(axes[2].images) == 1
    plt.close(fig)


def test_grid2d_area():
    pts, area, xs = plotting.grid2d(1.0, 11)
    assert pts.shape == (121, 2) and abs(area - 0.04) < 1e-12 and len(xs) == 11


def test_sweep_animation_to_jshtml():
    anim = plotting.sweep_animation(lambda ax, v: ax.plot([0, v]), [1.0, 2.0], label="v")
    html = anim.to_jshtml()
    assert "<script" in html and html.count("data:image/png") >= 2


def test_plotting_bad_input():
    with pytest.raises(ValueError, match="x"):
        plotting.scatter2d(torch.randn(5, 3))
    with pytest.raises(ValueError, match="images"):
        plotting.image_grid(torch.rand(2, 3, 8, 8))
    with pytest.raises(ValueError, match="values"):
        plotting.sweep_animation(lambda ax, v: None, [])
    with pytest.raises(ValueError, match="n must"):
        plotting.grid2d(1.0, 1)
