"""Shared look of every figure: theory is a line, experiment/simulation is a marker.

Colours are from the Okabe-Ito palette (safe for the common colour-vision deficiencies). The
baselines of every experiment panel have one look: the untrained encoder dashed, a linear probe
on raw pixels dotted, chance dash-dotted, in the colour of the task they belong to.
"""

from __future__ import annotations

from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

STRONG = "#D55E00"  # the strong / easy feature group (vermillion)
WEAK = "#0072B2"  # the weak / suppressed feature group (blue)
NEUTRAL = "#555555"
VIEWS = {"expert": "#999999", "viewmaker": "#CC79A7", "oracle": "#009E73"}
SEQUENCE = ("#0072B2", "#56B4E9", "#009E73", "#E69F00", "#CC79A7")  # e.g. one per temperature
THEORY: dict[str, Any] = {"linestyle": "-", "linewidth": 1.8}
SIMULATION: dict[str, Any] = {
    "linestyle": "none",
    "marker": "o",
    "markersize": 4.5,
    "markerfacecolor": "white",
}
UNTRAINED: dict[str, Any] = {"linestyle": "--", "linewidth": 1.1}
PIXELS: dict[str, Any] = {"linestyle": ":", "linewidth": 1.4}
CHANCE: dict[str, Any] = {"linestyle": "-.", "linewidth": 0.7, "color": NEUTRAL}
FADED = 0.3  # alpha of the trained runs' markers on a panel whose runs are not a result
RC: dict[str, Any] = {
    "font.size": 9,
    "axes.titlesize": 9.5,
    "axes.labelsize": 9,
    "legend.fontsize": 8,
    "axes.spines.top": False,
    "axes.spines.right": False,
}


# one style for every figure, also for titles and labels set after the axes are made
plt.rcParams.update(RC)  # type: ignore[arg-type]


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


def legend_below(ax: Any, ncol: int = 2, **kw: Any) -> Any:
    """A legend under the axes (outside the data area, so it covers no point)."""
    return ax.legend(
        frameon=False,
        loc="upper center",
        bbox_to_anchor=(0.5, -0.27),  # clears the tick labels and axis label of short panels
        ncol=ncol,
        fontsize=7,
        **kw,
    )


def gate_note(ax: Any, text: str, y: float = 0.97) -> Any:
    """The words a panel shows when its runs are not a result (they do not beat the untrained
    encoder), hanging from ``y`` (axes fraction; the top of the panel by default, lower where
    the data sit at the top); the artist's gid is ``gate``."""
    return ax.text(
        0.5,
        y,
        text,
        transform=ax.transAxes,
        ha="center",
        va="top",
        fontsize=8,
        color="#000000",
        gid="gate",
        zorder=10,
        bbox={"boxstyle": "round", "facecolor": "white", "edgecolor": NEUTRAL, "alpha": 0.95},
    )
