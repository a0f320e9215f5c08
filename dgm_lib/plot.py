"""The book's plots: one style, image grids, 2-D densities and loss curves."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import matplotlib as mpl
import matplotlib.pyplot as plt
import numpy as np
from matplotlib.axes import Axes

from .checks import check_array, check_positive_int

__all__ = [
    "PALETTE",
    "density_2d",
    "image_grid",
    "loss_curve",
    "moving_average",
    "scatter_2d",
    "use_book_style",
]

#: Okabe and Ito's colour-blind-safe palette (black first for single-series plots).
PALETTE = ("#000000", "#E69F00", "#56B4E9", "#009E73", "#F0E442", "#0072B2", "#D55E00", "#CC79A7")


def use_book_style() -> None:
    """One plot style for the whole book: white background (readable in dark mode), the
    Okabe-Ito palette, moderate resolution so the HTML stays small."""
    mpl.rcParams.update(
        {
            "figure.facecolor": "white",
            "axes.facecolor": "white",
            "savefig.facecolor": "white",
            "figure.dpi": 100,
            "savefig.dpi": 100,
            "figure.figsize": (6.0, 3.8),
            "axes.prop_cycle": mpl.cycler(color=list(PALETTE)),
            "axes.spines.top": False,
            "axes.spines.right": False,
            "axes.grid": True,
            "grid.alpha": 0.3,
            "image.cmap": "viridis",
            "font.size": 10,
            "axes.titlesize": 11,
            "legend.frameon": False,
        }
    )


def _new_axes(ax: Axes | None, figsize: tuple[float, float] | None = None) -> Axes:
    if ax is not None:
        return ax
    return plt.subplots(figsize=figsize)[1]


def _tile(images: np.ndarray, nrow: int, pad_value: float) -> np.ndarray:
    """Lay (N, H, W) images out row by row, nrow per row, with 1-pixel separators."""
    n, h, w = images.shape
    rows = -(-n // nrow)
    grid = np.full((rows * (h + 1) - 1, nrow * (w + 1) - 1), pad_value, dtype=np.float32)
    for i, image in enumerate(images):
        r, c = divmod(i, nrow)
        grid[r * (h + 1) : r * (h + 1) + h, c * (w + 1) : c * (w + 1) + w] = image
    return grid


def image_grid(
    images: Any,
    nrow: int | None = None,
    ax: Axes | None = None,
    title: str | None = None,
    *,
    pad_value: float = 0.5,
) -> Axes:
    r"""Show (N, H, W) images with values in [0, 1] (or binary) as one grey-scale grid.

    ``nrow`` images go in each row, as in torchvision's ``make_grid`` (default
    :math:`\lceil\sqrt N\rceil`); images are separated by 1-pixel lines of grey level
    ``pad_value``, which also fills the empty cells of an incomplete last row. 0 is black, 1 is
    white.

    Returns:
      the Axes; its one AxesImage holds the tiled array.
    """
    where = "plot.image_grid"
    x = np.asarray(check_array(where, "images", images, shape=("N", "H", "W"), kind="number"))
    x = x.astype(np.float32)
    if x.size == 0:
        raise ValueError(f"{where}: argument 'images' holds no pixels; got shape {x.shape}")
    if x.min() < 0 or x.max() > 1:
        raise ValueError(
            f"{where}: argument 'images' must have values in [0, 1]; got range "
            f"[{x.min():g}, {x.max():g}] (divide 8-bit images by 255)"
        )
    nrow = check_positive_int(where, "nrow", math.ceil(math.sqrt(len(x))) if nrow is None else nrow)
    grid = _tile(x, min(nrow, len(x)), pad_value)
    scale = 5.0 / max(grid.shape)
    ax = _new_axes(ax, figsize=(grid.shape[1] * scale, grid.shape[0] * scale + 0.4))
    ax.imshow(grid, cmap="gray", vmin=0.0, vmax=1.0, interpolation="nearest")
    ax.set_axis_off()  # pixel indices say nothing; no ticks, spines or grid
    if title is not None:
        ax.set_title(title)
    return ax


def density_2d(
    log_prob_fn: Callable[[jax.Array], jax.Array],
    lim: tuple[float, float] = (-4.0, 4.0),
    n: int = 200,
    ax: Axes | None = None,
    title: str | None = None,
) -> Axes:
    """Heat map of the density ``exp(log_prob_fn(x))`` on an ``n`` x ``n`` grid over the square
    ``[lim[0], lim[1]]`` x ``[lim[0], lim[1]]``.

    ``log_prob_fn`` maps points of shape (M, 2) to log-densities of shape (M,), in nats; an
    unnormalised one (such as :math:`-U(z)`) is fine. The colour scale is viridis (colour-blind
    safe).

    Returns:
      the Axes, with :math:`x_1` and :math:`x_2` labelled.
    """
    where = "plot.density_2d"
    n = check_positive_int(where, "n", n)
    lo, hi = (float(v) for v in lim)
    if not lo < hi:
        raise ValueError(f"{where}: argument 'lim' must be (low, high) with low < high; got {lim}")
    ticks = np.linspace(lo, hi, n, dtype=np.float32)
    points = np.stack(np.meshgrid(ticks, ticks), axis=-1).reshape(-1, 2)
    lp = check_array(where, "log_prob_fn(x)", log_prob_fn(jnp.asarray(points)), shape=(n * n,))
    ax = _new_axes(ax)
    ax.imshow(
        np.exp(np.asarray(lp)).reshape(n, n),
        origin="lower",
        extent=(lo, hi, lo, hi),
        cmap="viridis",
        interpolation="nearest",
    )
    ax.grid(False)
    return _label_plane(ax, title)


def _label_plane(ax: Axes, title: str | None) -> Axes:
    ax.set_xlabel("$x_1$")
    ax.set_ylabel("$x_2$")
    ax.set_aspect("equal")
    if title is not None:
        ax.set_title(title)
    return ax


def scatter_2d(
    x: Any,
    ax: Axes | None = None,
    title: str | None = None,
    *,
    label: str | None = None,
    color: str | None = None,
    size: float = 2.0,
    alpha: float = 0.5,
    lim: tuple[float, float] | None = None,
) -> Axes:
    """Scatter plot of (N, 2) points; call it again on the same Axes to overlay a second set
    (pass ``label`` to each to get a legend). ``lim`` fixes both axes to [lim[0], lim[1]].

    Returns:
      the Axes, with :math:`x_1` and :math:`x_2` labelled.
    """
    x = np.asarray(check_array("plot.scatter_2d", "x", x, shape=("N", 2)))
    ax = _new_axes(ax)
    ax.scatter(x[:, 0], x[:, 1], s=size, alpha=alpha, color=color, label=label, linewidths=0)
    if lim is not None:
        ax.set_xlim(lim)
        ax.set_ylim(lim)
    if label is not None:
        ax.legend(markerscale=3.0)
    return _label_plane(ax, title)


def moving_average(values: Any, window: int) -> np.ndarray:
    """Mean of each run of ``window`` consecutive values: shape (T,) -> (T - window + 1,)."""
    where = "plot.moving_average"
    v = np.asarray(check_array(where, "values", values, shape=("T",)), dtype=np.float64)
    window = check_positive_int(where, "window", window)
    if window > len(v):
        raise ValueError(f"{where}: argument 'window' ({window}) exceeds the {len(v)} values")
    c = np.cumsum(np.concatenate([[0.0], v]))
    return (c[window:] - c[:-window]) / window


def loss_curve(
    losses: Any,
    ax: Axes | None = None,
    *,
    smooth: int | None = None,
    label: str | None = None,
    ylabel: str = "loss (nats)",
    xlabel: str = "step",
    reference: float | None = None,
    reference_label: str | None = None,
    title: str | None = None,
) -> Axes:
    """Plot a loss history of shape (steps,) against the step number.

    With ``smooth=w`` the raw curve is drawn faint and its w-step moving average (plotted at the
    last step of each window) drawn solid. ``reference`` adds a dashed horizontal line, e.g. the
    data entropy, the best NLL any model can reach, with ``reference_label`` in the legend.

    Returns:
      the Axes, with both axes labelled.
    """
    y = np.asarray(check_array("plot.loss_curve", "losses", losses, shape=("steps",)))
    ax = _new_axes(ax)
    steps = np.arange(len(y))
    if smooth is None:
        ax.plot(steps, y, label=label)
    else:
        avg = moving_average(y, smooth)
        (line,) = ax.plot(steps, y, alpha=0.3, linewidth=0.8)
        ax.plot(steps[smooth - 1 :], avg, color=line.get_color(), label=label)
    if reference is not None:
        ax.axhline(reference, color=PALETTE[6], linestyle="--", label=reference_label)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if title is not None:
        ax.set_title(title)
    if label is not None or reference_label is not None:
        ax.legend()
    return ax
