"""The book's plots: one style, image grids, 2-D densities and loss curves."""

from __future__ import annotations

import matplotlib as mpl

# Okabe and Ito's colour-blind-safe palette (black first for single-series plots).
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
