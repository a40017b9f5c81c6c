"""One pool for the training runs of many figures (``python -m figures all``).

Drawing figure after figure runs each figure's sweep on its own, so every sweep ends with
a tail: the last runs finish while the other workers wait. In a sweep of viewmaker runs that
tail lasts minutes. :func:`shared_runs` collects the training runs that the figures list
(``FigureSpec.specs``). It drops duplicates: a run that two figures share, such as the oracle
runs that exp_views_multitask reuses, appears once, with the evaluations of both. It orders the
runs longest first (:func:`cost`, the longest-processing-time rule), so one pool trains and
evaluates them all before any figure is drawn. Each figure's own sweep then finds its runs up to
date and draws.

The pool also evaluates the figures' baselines, which need no training
(:func:`shared_baselines`, from each figure's ``FigureSpec.baselines``): the untrained runs go
after every training run (:data:`UNTRAINED_COST`), where they fill the pool's tail. Then come
the tasks that need trained runs but no training, in a pool of their own
(:func:`after_training`): the dropout-rate judges that each figure shares among its runs
(:func:`shared_judges`, from ``FigureSpec.judges``; the longest, so first) and the raw-pixel
probes. Last, one sweep evaluates the dropout rates that the training pool left out
(:data:`LEFT_TO_FIGURE`, :func:`rated_runs`), with the judges in place. Each figure's stage is
then left with its own work (theory, drawing), instead of training judges and evaluating its
baselines with one core idle.

This is only a schedule. A figure's sweep still decides what it needs: a run or an evaluation
the pool missed is done there as before.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TypeVar

from figures.baselines import PixelProbe
from figures.judges import JudgeShare
from figures.spec import Config, FigureSpec
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
# evaluations the training pool leaves out: a dropout-rate evaluation waits for the judges that
# its figure shares among its runs (FigureSpec.judges), which :func:`after_training` trains once
# every run is trained; :func:`rated_runs` then evaluates them
LEFT_TO_FIGURE = ("dropout-rate",)
# the order key of an untrained run (evaluated only, about 1-4 worker-seconds): below every
# training run's cost (at least FIXED_COST), so the untrained runs come last and fill the tail
UNTRAINED_COST = 0.0

L = TypeVar("L")
T = TypeVar("T")


def merge(
    specs: Iterable[RunSpec], root: Path = RUNS_DIR, leave: tuple[str, ...] = LEFT_TO_FIGURE
) -> list[RunSpec]:
    """``specs`` with one entry per run directory, in first-seen order, carrying the evaluations
    of every spec that names the directory, except those of a kind in ``leave`` (default
    :data:`LEFT_TO_FIGURE`).

    When two specs evaluate the same name with other options, the first is kept and the
    other figure's own sweep computes its version (records are keyed by their options)."""
    out: dict[Path, RunSpec] = {}
    for s in specs:
        d = s.run_dir(root)
        kept = list(out[d].evaluations) if d in out else []
        for e in s.evaluations:
            if e.kind not in leave and all(e.name != k.name for k in kept):
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


def _listed(
    figures: Sequence[tuple[str, FigureSpec]],
    listing: Callable[[FigureSpec], Callable[[Config], L] | None],
    use: Callable[[L, Path], T],
) -> Iterator[tuple[Path, T]]:
    """For each figure of ``figures`` (name, spec) with a listing (``listing(spec)``: one of its
    ``FigureSpec`` fields, None where it has none), ``(root, use(listed, root))`` from the
    figure's default config and its sweep root. A figure whose listing or ``use`` fails adds
    nothing: its own sweep or compute reports it, with the figure."""
    for _name, spec in figures:
        fn = listing(spec)
        if fn is None:
            continue
        cfg = spec.default_config()
        root = Path(cfg.get("runs_root", RUNS_DIR))
        try:
            value = use(fn(cfg), root)
        except Exception:  # reported by the figure itself
            continue
        yield root, value


def shared_runs(
    figures: Sequence[tuple[str, FigureSpec]],
) -> dict[Path, list[tuple[RunSpec, float]]]:
    """Sweep root -> the training runs of ``figures`` (name, spec) that list them, merged
    (:func:`merge`), with their costs and longest first (:func:`longest_first`), from each
    figure's default
    config. Figures without listed runs add nothing; the caller passes only the figures it
    will compute (not those whose cached results are current)."""
    by_root: dict[Path, list[RunSpec]] = {}
    for root, listed in _listed(figures, lambda f: f.specs, lambda specs, root: list(specs)):
        by_root.setdefault(root, []).extend(listed)
    return {root: longest_first(merge(s, root)) for root, s in by_root.items()}


@dataclass(frozen=True)
class SharedBaselines:
    """The baselines of several figures: sweep root -> their untrained runs (written, to
    evaluate; merged by run directory, :func:`merge`), and their raw-pixel probes (one per
    record, whichever figures ask for it) with the root each is cached under."""

    untrained: dict[Path, list[RunSpec]]
    pixels: list[tuple[Path, PixelProbe]]


def shared_baselines(figures: Sequence[tuple[str, FigureSpec]]) -> SharedBaselines:
    """The baselines that ``figures`` (name, spec) prepare (``FigureSpec.baselines``, from each
    figure's default config), with their untrained runs written (``Request.prepare``: cheap, no
    training). Figures without a request, or whose request cannot be listed, add nothing (their
    own sweep prepares and reports them)."""
    from figures.baselines import distinct_pixel_probes

    untrained: dict[Path, list[RunSpec]] = {}
    # one probe per root and record name: the same data and options under another figure is
    # the same record, which that figure's stage copies (figures.baselines.pixel_record)
    pixels: dict[tuple[Path, Path], tuple[Path, PixelProbe]] = {}
    prepared = _listed(figures, lambda f: f.baselines, lambda request, root: request.prepare(root))
    for root, (base, todo) in prepared:
        untrained.setdefault(root, []).extend(todo)
        for px in distinct_pixel_probes(base, root):
            pixels.setdefault((root, px.record()), (root, px))
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


def shared_judges(figures: Sequence[tuple[str, FigureSpec]]) -> list[tuple[Path, JudgeShare]]:
    """The judge shares (root, share) that ``figures`` (name, spec) list
    (``FigureSpec.judges``, from each figure's default config), in figure order, those of
    equal judges merged (:meth:`JudgeShare.key`: one training for every run that rates with
    them, whichever figure lists it; exp_viewmaker_budget and exp_views_multitask judge the
    same suite). Figures without shares, or whose shares cannot be listed, add nothing (their
    own compute trains and reports them)."""
    merged: dict[tuple[Path, str], JudgeShare] = {}

    def keyed(shares: Sequence[JudgeShare], root: Path) -> list[tuple[str, JudgeShare]]:
        return [(share.key(), share) for share in shares]

    for root, pairs in _listed(figures, lambda f: f.judges, keyed):
        for key, share in pairs:
            k = (root, key)
            if k in merged:
                have = merged[k]
                dirs = {s.run_dir(root) for s in have.specs}
                more = tuple(s for s in share.specs if s.run_dir(root) not in dirs)
                merged[k] = replace(have, specs=(*have.specs, *more))
            else:
                merged[k] = share
    return [(root, share) for (root, _key), share in merged.items()]


def rated_runs(shares: Sequence[tuple[Path, JudgeShare]]) -> dict[Path, list[RunSpec]]:
    """Sweep root -> the runs of ``shares`` with every evaluation they list, the dropout rates
    included, merged by run directory (:func:`merge`): a sweep of them after the shares'
    judges are trained evaluates the rates (the rest is current by then)."""
    by_root: dict[Path, list[RunSpec]] = {}
    for root, share in shares:
        by_root.setdefault(root, []).extend(share.specs)
    return {root: merge(specs, root, leave=()) for root, specs in by_root.items()}


@dataclass(frozen=True)
class TaskOutcome:
    """One task of :func:`after_training`: what it wrote (a raw-pixel probe's record path, or
    where a :class:`figures.judges.JudgeShare` trains its judges), its seconds and its error
    (empty when it was written or found current)."""

    what: str
    seconds: float
    error: str = ""


# a task of after_training: a raw-pixel probe, or the judges of a JudgeShare
AfterTraining = PixelProbe | JudgeShare


def _what(root: Path, task: AfterTraining) -> str:
    return task.label(root) if isinstance(task, JudgeShare) else str(task.path(root))


def _after_training_task(root: Path, task: AfterTraining) -> TaskOutcome:
    from figures.baselines import pixel_record

    t0 = time.perf_counter()
    try:
        if isinstance(task, JudgeShare):
            task.train(root)
        else:
            pixel_record(task, root)
    except Exception as exc:  # reported with the task, never swallowed
        error = f"{type(exc).__name__}: {exc}"
        return TaskOutcome(_what(root, task), time.perf_counter() - t0, error)
    return TaskOutcome(_what(root, task), time.perf_counter() - t0)


def after_training(tasks: Sequence[tuple[Path, AfterTraining]], jobs: int) -> Iterator[TaskOutcome]:
    """Run the ``tasks`` (root, raw-pixel probe or judge share) that need trained runs but no
    training: write each probe's record, train each share's judges (``JudgeShare.train``),
    ``jobs`` at a time in local worker processes of one thread each (1, or a single task: in
    this process), in the order given; yields each outcome as it finishes."""
    from figures import executors
    from figures.sweep import _init_worker

    runner = executors.ProcessExecutor(jobs, _init_worker)
    for out in runner.map(_after_training_task, list(tasks)):
        if out.error:  # the worker died (the task reports its own errors)
            root, task = tasks[out.index]
            yield TaskOutcome(_what(root, task), 0.0, out.error)
        else:
            yield out.value
