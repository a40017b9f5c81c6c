"""Hand-made kNN learning curves for the figure tests: ``metrics.jsonl`` epoch records as the
training loop writes them (``empirical.recorder``: one ``{"type": "epoch", "global_step": S,
"knn": {task: accuracy}}`` line per epoch, step records between), curves for hand-made results,
and the number of kNN points a figure's runs record."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from figures.baselines import resolved_config
from figures.sweep import RunSpec


def write_curve(run_dir: Path, steps: Sequence[int], knn: Mapping[str, Sequence[float]]) -> None:
    """A ``metrics.jsonl`` in ``run_dir`` with a step record before each epoch record holding
    ``knn[task][i]`` at ``steps[i]``."""
    run_dir.mkdir(parents=True, exist_ok=True)
    lines: list[dict[str, Any]] = []
    for i, s in enumerate(steps):
        lines.append({"type": "step", "global_step": s, "loss": 1.0})
        knn_i = {t: float(v[i]) for t, v in knn.items()}
        lines.append({"type": "epoch", "epoch": i, "global_step": s, "knn": knn_i})
    (run_dir / "metrics.jsonl").write_text("".join(json.dumps(x) + "\n" for x in lines))


def curve(level: float, points: int, late_rise: float = 0.0) -> list[float]:
    """A learning curve of ``points`` (>= 4) values: ``level`` - 0.1 rising to ``level`` by the
    middle, then flat, plus ``late_rise`` at the last point only (at evenly spaced steps the
    curve then moves by exactly ``late_rise`` over the last quarter)."""
    x = np.linspace(0.0, 1.0, points)
    early = level - 0.1 * np.clip(1.0 - 2.0 * x, 0.0, None)
    early[-1] += late_rise
    return early.tolist()


def curves(level: float, seeds: int, points: int, late_rise: float = 0.0) -> list[list[float]]:
    """``(seeds, points)``: :func:`curve` per seed, seed j shifted by 0.001 j."""
    return [[v + 0.001 * j for v in curve(level, points, late_rise)] for j in range(seeds)]


def points_per_run(spec: RunSpec) -> int:
    """kNN points a run of ``spec`` records, from its resolved config (preset + overrides): the
    monitor runs after every ``run.knn_every``-th whole epoch of ``train_size // batch_size``
    steps, and not after a partial epoch cut by ``optim.max_steps``."""
    c = resolved_config(spec)
    assert c.data.train_size > 0, f"{spec.name}: data.train_size 0 (all) has no fixed epoch"
    per_epoch = c.data.train_size // c.optim.batch_size
    assert per_epoch >= 1, f"{spec.name}: batch {c.optim.batch_size} > {c.data.train_size}"
    steps = min(c.optim.max_steps, per_epoch * c.optim.epochs)
    return (steps // per_epoch) // max(c.run.knn_every, 1) if c.run.knn_every > 0 else 0


def curve_ends_at_last_step(spec: RunSpec) -> bool:
    """Whether the run's last kNN point is at its last optimiser step (``optim.max_steps`` a
    whole number of epochs)."""
    c = resolved_config(spec)
    return c.optim.max_steps % (c.data.train_size // c.optim.batch_size) == 0


def assert_flatness_said(
    flatness: Mapping[str, Any],
    late_rise: float,
    verdict: str,
    points: int,
    title: str,
    claim_notes: Sequence[Sequence[str]],
) -> None:
    """The figure's flatness (``*_flatness(res)`` of hand-made curves whose last quarter rises
    by ``late_rise``) and its words: ``verdict`` with ``points`` a run in ``title`` and in the
    notes of every claim (at least one)."""
    assert flatness["flat"] == (late_rise == 0.0)
    assert flatness["max_abs"] == pytest.approx(abs(late_rise), abs=1e-9)
    text = (
        f"kNN learning curves ({points} points a run): {verdict}, largest last-quarter move of a "
        f"seed-mean curve {abs(late_rise):.3f} (flat: < 0.02)"
    )
    assert text in title
    assert claim_notes and all(text in notes for notes in claim_notes)
