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

The pool also evaluates the figures' baselines, which need no training
(:func:`shared_baselines`, from each figure's ``FigureSpec.baselines``): the untrained runs go
after every training run (:data:`UNTRAINED_COST`), where they fill the pool's tail, and the
raw-pixel probes follow in a pool of their own (:func:`pixel_probes`). Each figure's stage is
then left with its own work (judges, theory, drawing), instead of evaluating its baselines
with one core idle (the raw-pixel probes ran in the figure's process, one after another).

This is only a schedule. A figure's sweep still decides what it needs: a run or an evaluation
the pool missed is done there as before.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from figures.baselines import PixelProbe
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
# the order key of an untrained run (evaluated only, about 1-4 worker-seconds): below every
# training run's cost (at least FIXED_COST), so the untrained runs come last and fill the tail
UNTRAINED_COST = 0.0


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


@dataclass(frozen=True)
class SharedBaselines:
    """The baselines of several figures: sweep root -> their untrained runs (written, to
    evaluate; merged by run directory, :func:`merge`), and their raw-pixel probes (one per
    record) with the root each is cached under."""

    untrained: dict[Path, list[RunSpec]]
    pixels: list[tuple[Path, PixelProbe]]


def shared_baselines(figures: Sequence[tuple[str, FigureSpec]]) -> SharedBaselines:
    """The baselines that ``figures`` (name, spec) prepare (``FigureSpec.baselines``, from each
    figure's default config), with their untrained runs written (``Request.prepare``: cheap, no
    training). Figures without a request, or whose request cannot be listed, add nothing (their
    own sweep prepares and reports them)."""
    from figures.baselines import distinct_pixel_probes

    untrained: dict[Path, list[RunSpec]] = {}
    pixels: dict[Path, tuple[Path, PixelProbe]] = {}
    for _name, spec in figures:
        if spec.baselines is None:
            continue
        cfg = spec.default_config()
        root = Path(cfg.get("runs_root", RUNS_DIR))
        try:
            base, todo = spec.baselines(cfg).prepare(root)
        except Exception:  # its own sweep reports it, with the figure
            continue
        untrained.setdefault(root, []).extend(todo)
        for px in distinct_pixel_probes(base, root):
            pixels.setdefault(px.path(root), (root, px))
    merged = {root: merge(runs, root) for root, runs in untrained.items()}
    return SharedBaselines(merged, list(pixels.values()))


def with_untrained(
    runs: dict[Path, list[tuple[RunSpec, float]]], untrained: dict[Path, list[RunSpec]]
) -> dict[Path, list[tuple[RunSpec, float]]]:
    """``runs`` (:func:`shared_runs`) with the untrained runs appended at
    :data:`UNTRAINED_COST`, after every training run of their root."""
    out = {root: list(pairs) for root, pairs in runs.items()}
    for root, specs in untrained.items():
        out.setdefault(root, []).extend((s, UNTRAINED_COST) for s in specs)
    return out


@dataclass(frozen=True)
class PixelOutcome:
    """One raw-pixel probe of :func:`pixel_probes`: its record path, seconds and error (empty
    when it was written or found current)."""

    path: str
    seconds: float
    error: str = ""


def _pixel_task(root: Path, probe: PixelProbe) -> PixelOutcome:
    from figures.baselines import pixel_record

    t0 = time.perf_counter()
    path = probe.path(root)
    try:
        pixel_record(probe, root)
    except Exception as exc:  # reported with the record, never swallowed
        return PixelOutcome(str(path), time.perf_counter() - t0, f"{type(exc).__name__}: {exc}")
    return PixelOutcome(str(path), time.perf_counter() - t0)


def pixel_probes(probes: Sequence[tuple[Path, PixelProbe]], jobs: int) -> Iterator[PixelOutcome]:
    """Write the raw-pixel probe records ``probes`` (root, probe), ``jobs`` at a time in local
    worker processes of one thread each (1: in this process); yields each outcome as it
    finishes."""
    from figures import executors
    from figures.sweep import _init_worker

    runner = executors.ProcessExecutor(jobs, _init_worker)
    for out in runner.map(_pixel_task, list(probes)):
        if out.error:  # the worker died (the task reports its own errors)
            root, probe = probes[out.index]
            yield PixelOutcome(str(probe.path(root)), 0.0, out.error)
        else:
            yield out.value
