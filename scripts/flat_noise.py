"""The flatness rule against the kNN monitor's noise (docs/cpu_scale_search.md).

Reads the exp_oracle_dropout runs' ``metrics.jsonl`` under ``ROOT/results/runs`` and prints the
per-point scatter of a kNN curve, the seed-mean last-quarter moves the figures' flatness rule
uses, and what noise alone would give.
Usage, from the repository root: ``.venv/bin/python scripts/flat_noise.py ROOT``.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import numpy as np

from figures.experiments.common import last_quarter_move, read_knn_curve

POINTS = 12  # kNN points of a complete run
SEEDS = 3


def read_runs(root: str) -> dict[tuple[str, float, int], tuple[list[int], dict[str, list[float]]]]:
    """(suite, p, seed) -> the kNN curve of each complete oracle run (``read_knn_curve``)."""
    runs = {}
    for run_dir in sorted(Path(root, "results", "runs", "exp_oracle_dropout").glob("*")):
        m = re.match(r"(shapes|digits)-p([\d.]+)-s(\d)-", run_dir.name)
        if not m or not (run_dir / "metrics.jsonl").exists():
            continue
        steps, knn = read_knn_curve(run_dir)
        if len(steps) == POINTS:
            runs[(m.group(1), float(m.group(2)), int(m.group(3)))] = (steps, knn)
    return runs


def main(root: str) -> None:
    runs = read_runs(root)
    print(len(runs), "complete runs")
    residuals, groups = [], {}
    for (suite, p, _seed), (steps, knn) in runs.items():
        s = np.array(steps, float)
        for t, values in knn.items():
            v = np.array(values, float)
            a = np.c_[np.ones(8), np.log(s[-8:])]  # a + b log(step) over the last 8 points
            coef, *_ = np.linalg.lstsq(a, v[-8:], rcond=None)
            residuals.append((v[-8:] - a @ coef).std(ddof=2))
            groups.setdefault((suite, p, t), []).append(v)
    sig = float(np.sqrt(np.mean(np.square(residuals))))
    steps = next(iter(runs.values()))[0]
    moves = np.array(
        [last_quarter_move(steps, np.mean(vs, 0)) for vs in groups.values() if len(vs) == SEEDS]
    )
    print(f"per-point residual sd around a log fit (last 8 points): {sig:.4f}")
    print(
        f"seed-mean curves: {len(moves)}; last-quarter moves mean {moves.mean():+.4f}, "
        f"sd {moves.std():.4f}, largest |move| {np.abs(moves).max():.4f}"
    )
    sd_move = sig * np.sqrt(2 / SEEDS)  # two points, each a mean of SEEDS runs
    sim = np.abs(np.random.default_rng(0).normal(0, sd_move, (20000, len(moves)))).max(1)
    print(
        f"noise alone: a seed-mean move has sd {sd_move:.4f}; the largest of {len(moves)} has "
        f"median {np.median(sim):.4f}, 95th percentile {np.quantile(sim, 0.95):.4f}; "
        f"P(all below 0.02) = {(sim < 0.02).mean():.3f}"
    )


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else ".")
