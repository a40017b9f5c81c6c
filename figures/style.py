"""Shared look of every figure: theory is a line, experiment/simulation is a marker."""

from __future__ import annotations

from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

STRONG = "#c0392b"  # the strong / easy feature group
WEAK = "#2471a3"  # the weak / suppressed feature group
NEUTRAL = "#555555"
THEORY = {"linestyle": "-", "linewidth": 1.8}
SIMULATION = {"linestyle": "none", "marker": "o", "markersize": 4.5, "markerfacecolor": "white"}
RC: dict[str, Any] = {
    "font.size": 9,
    "axes.titlesize": 9.5,
    "axes.labelsize": 9,
    "legend.fontsize": 8,
    "axes.spines.top": False,
    "axes.spines.right": False,
}


def subplots(nrows: int, ncols: int, width: float = 3.2, height: float = 2.8, **kw: Any) -> Any:
    """``plt.subplots`` with the project's size per panel and rc style."""
    with plt.rc_context(RC):  # type: ignore[arg-type]
        fig, axes = plt.subplots(
            nrows, ncols, figsize=(width * ncols, height * nrows), squeeze=False, **kw
        )
    fig.set_layout_engine("constrained")
    for ax in axes.flat:
        ax.spines["top"].set_visible(False)
        ax.spines["right"].set_visible(False)
    return fig, axes
