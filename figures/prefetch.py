"""One pool for the training runs of many figures (``python -m figures all``).

Drawing figure after figure runs each figure's sweep on its own, so every sweep ends with
a tail: the last runs finish while the other workers wait. In a sweep of viewmaker runs that
tail lasts minutes. :func:`shared_runs` collects the training runs that the figures list
(``FigureSpec.specs``). It drops duplicates: a run that two figures share, such as the oracle
runs that exp_views_multitask reuses, appears once, with the evaluations of both. It orders the
runs longest first (:func:`cost`, the longest-processing-time rule), so one pool trains and
evaluates them all before any figure is drawn. Each figure's own sweep then finds its runs up to
date: it evaluates its untrained twins and what the pool left to it (:data:`LEFT_TO_FIGURE`)
and draws.

This is only a schedule. A figure's sweep still decides what it needs: a run or an evaluation
the pool missed is done there as before.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import replace
from pathlib import Path

from figures.spec import FigureSpec
from figures.sweep import RUNS_DIR, RunSpec

# relative cost of a viewmaker run's step against an encoder-only one at the same batch
# (docs/cpu_scale_search.md: the multitask viewmaker step 2.81 s against the oracle step's
# 0.65 s at batch 256, AVX2), and of a step with Foster's gradient penalty (its double backward:
# 1.2-1.3 s against 0.48 s, docs/foster_penalty.md)
VIEWMAKER_FACTOR = 4.3
PENALTY_FACTOR = 2.6
# a run's cost before and around its steps (the training subprocess, data, kNN monitor,
# checkpoints), in the units of cost(): about 20 s at the oracle runs' 192 x 256 for 80 s
FIXED_COST = 12000.0
# evaluations the pool leaves to each figure's sweep: exp_audio and exp_viewmaker_budget train
# one set of dropout-rate judges and share it among their runs before these evaluations
LEFT_TO_FIGURE = ("dropout-rate",)


def merge(specs: Iterable[RunSpec], root: Path = RUNS_DIR) -> list[RunSpec]:
    """``specs`` with one entry per run directory, in first-seen order, carrying the evaluations
    of every spec that names the directory, except those of kind :data:`LEFT_TO_FIGURE`.

    When two specs evaluate the same name with other options, the first is kept and the
    other figure's own sweep computes its version (records are keyed by their options)."""
    out: dict[Path, RunSpec] = {}
    for s in specs:
        d = s.run_dir(root)
        kept = list(out[d].evaluations) if d in out else []
        for e in s.evaluations:
            if e.kind not in LEFT_TO_FIGURE and all(e.name != k.name for k in kept):
                kept.append(e)
        out[d] = replace(out.get(d, s), evaluations=tuple(kept))
    return list(out.values())


def cost(spec: RunSpec) -> float:
    """Relative training cost of ``spec``, used only to order runs: :data:`FIXED_COST` plus
    optimiser steps times batch size, the latter times :data:`VIEWMAKER_FACTOR` for viewmaker
    views and :data:`PENALTY_FACTOR` with Foster's penalty on. A run without a step limit
    counts its epochs at 100 steps each. It ignores the data's size: spectrogram runs cost
    more than it says."""
    from figures.baselines import resolved_config

    cfg = resolved_config(spec)
    steps = cfg.optim.max_steps or 100 * cfg.optim.epochs
    c = float(steps * cfg.optim.batch_size)
    if cfg.views.name == "viewmaker":
        c *= VIEWMAKER_FACTOR
    if cfg.regulariser.weight > 0:
        c *= PENALTY_FACTOR
    return FIXED_COST + c


def longest_first(specs: Sequence[RunSpec]) -> list[tuple[RunSpec, float]]:
    """``(spec, cost(spec))`` for ``specs``, highest :func:`cost` first (the costs are kept: the
    pool's ETA weighs the runs by them). The sort is stable, so runs of equal cost keep their
    figure's order."""
    return sorted(((s, cost(s)) for s in specs), key=lambda sc: -sc[1])


def shared_runs(
    figures: Sequence[tuple[str, FigureSpec]],
) -> dict[Path, list[tuple[RunSpec, float]]]:
    """Sweep root -> the training runs of ``figures`` (name, spec) that list them, merged
    (:func:`merge`), with their costs and longest first (:func:`longest_first`), from each
    figure's default
    config. Figures without listed runs add nothing; the caller passes only the figures it
    will compute (not those whose cached results are current)."""
    by_root: dict[Path, list[RunSpec]] = {}
    for _name, spec in figures:
        if spec.specs is None:
            continue
        cfg = spec.default_config()
        try:
            listed = list(spec.specs(cfg))
        except Exception:  # its own sweep reports it, with the figure
            continue
        root = Path(cfg.get("runs_root", RUNS_DIR))
        by_root.setdefault(root, []).extend(listed)
    return {root: longest_first(merge(s, root)) for root, s in by_root.items()}
