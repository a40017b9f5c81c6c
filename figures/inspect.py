"""Read back what a figure drew: the data of its errorbars and lines (by gid) and its gate texts.
The figure tests use these to check that each plotted number comes from the results."""

from __future__ import annotations

from typing import Any

import numpy as np


def errorbar_y(ax: Any) -> list[np.ndarray]:
    """The y data of every errorbar's data line on ``ax``."""
    return [np.asarray(c.lines[0].get_ydata()) for c in ax.containers if hasattr(c, "lines")]


def line_y(ax: Any, gid: str) -> np.ndarray:
    """The y data of the one line with ``gid`` on ``ax`` (NaN breaks dropped)."""
    found = [ln for ln in ax.lines if ln.get_gid() == gid]
    assert len(found) == 1, f"{len(found)} lines with gid {gid!r}"
    y = np.asarray(found[0].get_ydata(), dtype=float)
    return y[np.isfinite(y)]


def gate_texts(fig: Any) -> list[str]:
    return [t.get_text() for ax in fig.axes for t in ax.texts if t.get_gid() == "gate"]


def noisy(rng: np.random.Generator, shape: tuple[int, ...], level: float) -> np.ndarray:
    """Hand-made per-seed values: ``level`` plus noise of sd 0.01."""
    return level + 0.01 * rng.standard_normal(shape)
