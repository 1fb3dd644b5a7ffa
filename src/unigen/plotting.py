"""One figure style for the whole book, and the plots every part needs.

Introduced in *The generative modelling problem* (Part I). ``sweep_animation``
turns a parameter sweep into a self-contained ``to_jshtml`` player, which is how
the static HTML book stays interactive without a kernel.
"""
from __future__ import annotations

import matplotlib as mpl
import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib import animation

from .utils import check_positive, check_tensor

__all__ = ["use_style", "PALETTE", "scatter2d", "grid2d", "density2d", "image_grid", "sweep_animation"]

PALETTE = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf"]


def use_style() -> None:
    """Apply the book's matplotlib style (small, clean, readable at 100% zoom)."""
    mpl.rcParams.update({
        "figure.dpi": 100, "savefig.dpi": 100, "figure.figsize": (6.4, 3.6),
        "axes.grid": True, "grid.alpha": 0.25, "axes.spines.top": False, "axes.spines.right": False,
        "axes.prop_cycle": mpl.cycler(color=PALETTE), "font.size": 10, "axes.titlesize": 10,
        "legend.frameon": False, "image.cmap": "viridis", "animation.embed_limit": 40,
    })


def _np(x) -> np.ndarray:
    return x.detach().cpu().numpy() if isinstance(x, torch.Tensor) else np.asarray(x)


def scatter2d(x, ax=None, *, lim: float = 3.5, s: float = 2.0, title: str | None = None, **kw):
    """Scatter 2-D points ``x`` of shape ``(N, 2)`` on a square window ``[-lim, lim]^2``."""
    check_tensor("x", torch.as_tensor(_np(x)), dim=2, last=2)
    check_positive("lim", lim)
    ax = ax or plt.gca()
    pts = _np(x)
    ax.scatter(pts[:, 0], pts[:, 1], s=s, alpha=kw.pop("alpha", 0.6), linewidths=0, **kw)
    ax.set(xlim=(-lim, lim), ylim=(-lim, lim), aspect="equal")
    if title:
        ax.set_title(title)
    return ax


def grid2d(lim: float = 3.5, n: int = 200):
    """A square grid: returns ``(points (n*n, 2) float64, cell_area, xs)``, for densities and integrals."""
    check_positive("lim", lim)
    if not isinstance(n, int) or n < 2:
        raise ValueError(f"n must be an int >= 2, got {n!r}")
    xs = torch.linspace(-lim, lim, n, dtype=torch.float64)
    xx, yy = torch.meshgrid(xs, xs, indexing="xy")
    step = float(xs[1] - xs[0])
    return torch.stack([xx.reshape(-1), yy.reshape(-1)], 1), step * step, xs


def density2d(log_prob, ax=None, *, lim: float = 3.5, n: int = 200, title: str | None = None, **kw):
    """Show ``exp(log_prob(points))`` on a grid; ``log_prob`` maps ``(M, 2)`` float64 -> ``(M,)``."""
    if not callable(log_prob):
        raise ValueError("log_prob must be callable")
    pts, _, xs = grid2d(lim, n)
    with torch.no_grad():
        dens = torch.exp(torch.as_tensor(log_prob(pts))).reshape(n, n)
    ax = ax or plt.gca()
    ax.imshow(_np(dens), origin="lower", extent=(-lim, lim, -lim, lim), **kw)
    ax.set(aspect="equal")
    ax.grid(False)
    if title:
        ax.set_title(title)
    return ax


def image_grid(images, ax=None, *, ncol: int = 10, vmin: float = -1.0, vmax: float = 1.0,
               title: str | None = None):
    """Tile images ``(N, H, W)`` or ``(N, 1, H, W)`` into one picture with 1-pixel gaps."""
    imgs = _np(images).astype(float)
    if imgs.ndim == 4:
        if imgs.shape[1] != 1:
            raise ValueError(f"images must have one channel, got shape {imgs.shape}")
        imgs = imgs[:, 0]
    if imgs.ndim != 3 or len(imgs) == 0:
        raise ValueError(f"images must have shape (N, H, W) or (N, 1, H, W), got {imgs.shape}")
    if not isinstance(ncol, int) or ncol < 1:
        raise ValueError(f"ncol must be a positive int, got {ncol!r}")
    n, h, w = imgs.shape
    ncol = min(ncol, n)
    nrow = -(-n // ncol)
    canvas = np.full((nrow * (h + 1) - 1, ncol * (w + 1) - 1), np.nan)
    for i, img in enumerate(imgs):
        r, c = divmod(i, ncol)
        canvas[r * (h + 1):r * (h + 1) + h, c * (w + 1):c * (w + 1) + w] = img
    ax = ax or plt.gca()
    cmap = plt.get_cmap("gray_r").with_extremes(bad="white")
    ax.imshow(canvas, cmap=cmap, vmin=vmin, vmax=vmax, interpolation="nearest")
    ax.set_axis_off()
    if title:
        ax.set_title(title)
    return ax


def sweep_animation(draw, values, *, ncols: int = 1, figsize=(4.0, 4.0), interval: int = 400,
                    label: str = "", fmt: str = "{:.3g}"):
    """A ``FuncAnimation`` that redraws a figure for each value of a parameter sweep.

    ``draw(axes, value)`` draws one frame on freshly cleared axes. In a notebook,
    ``IPython.display.HTML(anim.to_jshtml())`` gives a slider that works in the
    static HTML book. The figure is closed so it is not shown twice.
    """
    if not callable(draw):
        raise ValueError("draw must be callable")
    values = list(values)
    if not values:
        raise ValueError("values must not be empty")
    fig, axes = plt.subplots(1, ncols, figsize=figsize, squeeze=False)
    axes = list(axes[0])

    def frame(i):
        for ax in axes:
            ax.clear()
        draw(axes if ncols > 1 else axes[0], values[i])
        fig.suptitle(f"{label} = {fmt.format(values[i])}" if label else "")
        return []

    anim = animation.FuncAnimation(fig, frame, frames=len(values), interval=interval, blit=False)
    plt.close(fig)
    return anim
