"""``python -m figures list | plan | all | claims [--readme] [--readme-file README.md] | summary``
``| docs | NAME [NAME ...] [--force] [--dry-run]``
``[--executor slurm --partition P --time MIN --gpus N --cpus N]``.

Drawing figures (``all`` or names) shows one progress display for the whole job
(``empirical.progress.JobProgress``): the figure, runs done / total over every figure's sweep
(counted up front from each figure's ``FigureSpec.specs`` and corrected when its sweep starts),
elapsed time, rate and ETA; on a terminal a bar, in a log one line per finished run.
When more than one figure is drawn, the training runs of all of them go first through one
pool, longest first (``figures.prefetch``; its stage is "training runs"), so that no sweep
waits on another's tail; each figure then evaluates its untrained initialisations (and what the
pool leaves to it) and draws.
``--per-figure`` gives each figure's sweep its own runs again.
``--dry-run`` (or ``plan``) only prints, per figure, whether its results are cached and how many
runs its sweep has: trained already, to resume, to train, untrained initialisations (every
encoder's population, ``figures.baselines.population``), and the training time
left, estimated from its completed runs or from ``make bench``'s step times.

After drawing figures, ``results/claims.json`` and ``results/claims.md`` are rewritten from the
cached results of every figure that tests claims (``figures.claims``) and ``results/summary.md``
(``figures.summary``) from every cached figure; ``claims`` only rewrites the claims, ``claims
--readme`` prints the README's "What these runs show" section from them and ``--readme-file F``
splices it into ``F`` between its markers; ``summary`` only rewrites the summary; ``docs``
copies the drawn PNGs, downscaled, to ``docs/figures/`` (``figures.docs``) and ``docs --readme``
prints the README's placeholder list of figures.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from empirical.allocator import keep_freed_memory
from empirical.cli import prog
from empirical.progress import JobProgress, reporting
from figures import executors
from figures.registry import FIGURES, RESULTS_DIR, cached_results, in_order, make_figure
from figures.spec import Config, FigureSpec
from figures.sweep import RUNS_DIR, RunSpec, default_jobs

if TYPE_CHECKING:
    from figures.prefetch import AfterTraining


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog=prog("python -m figures"), description=__doc__)
    parser.add_argument(
        "what",
        nargs="+",
        help="'list', 'plan', 'all', 'claims', 'summary', 'docs', or figure names",
    )
    parser.add_argument("--force", action="store_true", help="recompute cached results")
    parser.add_argument(
        "--dry-run",
        action="store_true",
        help="print each figure's runs (cached, to train) instead of drawing",
    )
    parser.add_argument(
        "--readme",
        action="store_true",
        help="claims: print the README section from them; docs: print the README's figure list",
    )
    parser.add_argument(
        "--readme-file",
        type=Path,
        metavar="FILE",
        help="claims: splice the README section into FILE between its claims markers",
    )
    parser.add_argument(
        "--per-figure",
        action="store_true",
        help="train each figure's runs in its own sweep (default with several figures: one "
        "pool for all their training runs first, longest first)",
    )
    _cluster_arguments(parser)
    args = parser.parse_args(argv)
    try:
        keep_freed_memory()  # the figures' own training (judges, linear InfoNCE)
        executor = _executor(args)
    except (ValueError, RuntimeError, ImportError) as e:  # bad options, no Slurm, no submitit
        print(f"error: {e}", file=sys.stderr)
        return 2
    if args.what == ["claims"]:
        return _claims(readme=args.readme, readme_file=args.readme_file)
    if args.what == ["summary"]:
        return _summary()
    if args.what == ["docs"]:
        return _docs(readme=args.readme)
    if args.what == ["list"]:
        for name, spec in sorted(FIGURES.items()):
            print(f"{name:32s} {spec.description}")
        return 0
    dry_run = args.dry_run or args.what == ["plan"]
    names = sorted(FIGURES) if args.what in (["all"], ["plan"]) else args.what
    unknown = [n for n in names if n not in FIGURES]
    if unknown:
        print(
            f"error: unknown figure(s) {', '.join(unknown)}; known: {', '.join(sorted(FIGURES))}",
            file=sys.stderr,
        )
        return 2
    names = in_order(names, FIGURES)  # a figure after those whose runs it reads
    if dry_run:
        plans, steps = [], bench_step_seconds()
        for name in names:
            try:
                plans.append(plan_figure(name, FIGURES[name], args.force, step_seconds=steps))
            except Exception as exc:  # one broken figure does not hide the others' plans
                print(f"error: cannot plan {name}: {type(exc).__name__}: {exc}", file=sys.stderr)
        print(render_plan(plans, default_jobs()), end="")
        return 0 if len(plans) == len(names) else 1
    pooled = [] if args.per_figure else _to_compute(names, args.force)
    if len(pooled) < 2:
        pooled = []
    shared = _shared(pooled)
    job = JobProgress(_stages(names, args.force, shared, pooled))
    with (
        executors.using(executor) if executor is not None else contextlib.nullcontext(),
        reporting(job),
    ):
        if shared:
            _train_shared(shared, job)
        for name in names:
            job.begin(name)
            t0 = time.perf_counter()
            paths = make_figure(name, force=args.force)
            took = time.perf_counter() - t0
            job.log(f"{name}: {', '.join(str(p) for p in paths)} ({took:.1f} s)")
    if any(FIGURES[n].claims is not None for n in names):
        _claims(readme=False)
    _summary()
    return 0


# ---------------------------------------------------------------------------------------------
# the job's plan: each figure's runs, counted without running anything


@dataclass(frozen=True)
class FigurePlan:
    """What drawing one figure would run.

    Attributes:
        name: the figure.
        results_current: its cached results were made with its current config by the current
            code (then nothing runs: the figure is only redrawn).
        listed: the figure lists its training runs (``FigureSpec.specs``).
        runs: its training runs.
        trained: of those, completed already (only their evaluations are brought up to date).
        resume: of those, interrupted with a checkpoint (continued, not restarted).
        twins: the initialisations of its untrained populations (evaluated only;
            ``figures.baselines.population``).
        mean_train_s: mean training seconds of its completed runs (None: none completed).
        bench_train_s: training seconds of its runs to train from ``make bench``'s step times
            (:func:`bench_step_seconds`) times each run's optimiser steps (steps only: no kNN
            monitor, no evaluation; runs whose configuration was not measured count as the
            mean of the others); None where none was measured.
    """

    name: str
    results_current: bool
    listed: bool
    runs: int = 0
    trained: int = 0
    resume: int = 0
    twins: int = 0
    mean_train_s: float | None = None
    bench_train_s: float | None = None

    @property
    def to_train(self) -> int:
        """Runs that train (from scratch or resumed) when the figure is computed."""
        return self.runs - self.trained

    @property
    def sweep_runs(self) -> int:
        """Runs its sweep reports (0 when the cached results are current)."""
        return 0 if self.results_current else self.runs + self.twins

    @property
    def sweep_train(self) -> int:
        return 0 if self.results_current else self.to_train

    def estimate(self) -> tuple[float, str] | None:
        """Training seconds its sweep would take in one worker, and the source (``runs``: the
        mean of its completed runs, preferred; ``bench``: ``make bench``); None: unknown."""
        if self.sweep_train == 0:
            return 0.0, "-"
        if self.mean_train_s is not None:
            return self.sweep_train * self.mean_train_s, "runs"
        if self.bench_train_s is not None:
            return self.bench_train_s, "bench"
        return None


BENCH_JSON = Path("results") / "bench.json"


def bench_step_seconds(path: Path = BENCH_JSON) -> dict[str, float]:
    """``FIGURE.PRESET`` -> seconds of one training step, from ``benchmarks.throughput``'s
    ``throughput_FIGURE.PRESET_step_s`` in ``make bench``'s results ({} without them)."""
    try:
        bench = json.loads(path.read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return {}
    prefix, suffix = "throughput_", "_step_s"
    return {
        k[len(prefix) : -len(suffix)]: float(v)
        for k, v in bench.items()
        if k.startswith(prefix) and k.endswith(suffix) and isinstance(v, (int, float))
    }


def results_current(name: str, config: Config, results_dir: Path = RESULTS_DIR) -> bool:
    """Whether ``results_dir/NAME.json`` holds results of ``config`` computed by the current
    code (what ``figures.registry.load_or_compute`` reuses)."""
    return cached_results(name, config, results_dir) is not None


def plan_figure(
    name: str,
    spec: FigureSpec,
    force: bool = False,
    results_dir: Path = RESULTS_DIR,
    step_seconds: Mapping[str, float] | None = None,
) -> FigurePlan:
    """The runs drawing figure ``name`` would bring up to date (its default config; ``force``:
    recompute cached results; ``step_seconds``: :func:`bench_step_seconds`). Reads run
    directories only; trains and writes nothing."""
    from figures import baselines
    from figures.sweep import _completed

    cfg = spec.default_config()
    current = not force and results_current(name, cfg, results_dir)
    if spec.specs is None:
        return FigurePlan(name, current, listed=False)
    specs = list(spec.specs(cfg))
    root = Path(cfg.get("runs_root", RUNS_DIR))
    dirs = [s.run_dir(root) for s in specs]
    done = [d for d in dirs if _completed(d)]
    resume = sum(1 for d in dirs if d not in done and (d / "last.pt").exists())
    twins = len(baselines.plan(specs, root, ()).untrained_runs())  # what the sweep evaluates
    times = [_train_seconds(d) for d in done]
    known = [t for t in times if t is not None]
    mean = sum(known) / len(known) if known else None
    todo = [s for s, d in zip(specs, dirs, strict=True) if d not in done]
    bench = _bench_seconds(name, todo, step_seconds or {})
    return FigurePlan(name, current, True, len(specs), len(done), resume, twins, mean, bench)


def _bench_seconds(
    name: str, specs: Sequence[RunSpec], step_seconds: Mapping[str, float]
) -> float | None:
    """Sum over ``specs`` of optimiser steps times ``make bench``'s step seconds of their
    configuration (``NAME.PRESET``, else the same preset measured for another figure); runs
    without a measurement count as the mean of those with one; None when none has one."""
    from figures.baselines import resolved_config

    by_preset = {label.split(".", 1)[-1]: v for label, v in step_seconds.items()}
    known: list[float] = []
    for s in specs:
        step_s = step_seconds.get(f"{name}.{s.preset}", by_preset.get(s.preset))
        steps = resolved_config(s).optim.max_steps
        if step_s is not None and steps > 0:
            known.append(steps * step_s)
    if not known:
        return None
    return sum(known) * len(specs) / len(known)


def _train_seconds(run_dir: Path) -> float | None:
    try:
        return float(json.loads((run_dir / "summary.json").read_text())["train_time_s"])
    except (FileNotFoundError, json.JSONDecodeError, KeyError, TypeError, ValueError):
        return None


def render_plan(plans: Sequence[FigurePlan], jobs: int) -> str:
    """The dry run's table: per figure its results and runs, then the totals and, where completed
    runs or ``make bench`` give one (:meth:`FigurePlan.estimate`), an estimate of the training
    time left with ``jobs`` parallel runs."""
    head = (
        f"{'figure':28s} {'results':8s} {'runs':>5s} {'trained':>8s} {'resume':>7s} "
        f"{'to train':>9s} {'inits':>6s} {'train min (from)':>17s}"
    )
    lines = [head]
    est_s, unknown = 0.0, []
    for p in plans:
        state = "cached" if p.results_current else "stale"
        if not p.listed:
            lines.append(f"{p.name:28s} {state:8s} {'-':>5s}")
            continue
        est = p.estimate()
        if est is None:
            unknown.append(p.name)
            shown = "?"
        else:
            est_s += est[0]
            shown = "-" if est[1] == "-" else f"{est[0] / 60:.1f} ({est[1]})"
        lines.append(
            f"{p.name:28s} {state:8s} {p.runs:5d} {p.trained:8d} {p.resume:7d} "
            f"{p.to_train:9d} {p.twins:6d} {shown:>17s}"
        )
    listed = [p for p in plans if p.listed and not p.results_current]
    lines.append(
        f"total: {sum(p.sweep_runs for p in plans)} run(s) to bring up to date, "
        f"{sum(p.sweep_train for p in listed)} of them to train "
        f"({sum(p.results_current for p in plans)} figure(s) only redrawn from cached results)"
    )
    if est_s:
        lines.append(
            f"training time left: about {est_s / 60 / max(jobs, 1):.1f} min with {jobs} "
            f"parallel run(s) (train min: one worker's minutes; runs: mean of completed runs, "
            f"bench: make bench's step time x steps)"
            + (f"; no estimate for {', '.join(unknown)}" if unknown else "")
        )
    unlisted = [p.name for p in plans if not p.listed]
    if unlisted:
        lines.append(
            "-: runs not listed (FigureSpec.specs unset; a theory figure trains nothing): "
            + ", ".join(unlisted)
        )
    return "\n".join(lines) + "\n"


SHARED_STAGE = "training runs"


def _to_compute(names: Sequence[str], force: bool) -> list[str]:
    """The figures of ``names`` whose results will be computed (not only redrawn)."""
    return [n for n in names if force or not results_current(n, FIGURES[n].default_config())]


@dataclass(frozen=True)
class Shared:
    """What ``python -m figures all`` does in its shared pool before any figure is drawn
    (``figures.prefetch``): per sweep root the training runs, merged, with their costs and
    longest first, then the untrained runs (written up front, to evaluate); the tasks that need
    trained runs but no training (judge shares first: they are the longest; then raw-pixel
    probes); and per root the rated runs, whose dropout rates wait for those judges."""

    runs: dict[Path, list[tuple[RunSpec, float]]]
    after: list[tuple[Path, AfterTraining]]
    rated: dict[Path, list[RunSpec]]

    def __bool__(self) -> bool:
        return bool(self.runs or self.after or self.rated)

    @property
    def count(self) -> int:
        """Every run and task of the pool, as its progress stage counts them."""
        runs = sum(len(p) for p in self.runs.values())
        return runs + len(self.after) + sum(len(r) for r in self.rated.values())


def _shared(pooled: Sequence[str]) -> Shared:
    """The pool of the figures ``pooled`` (:class:`Shared`; the untrained runs are written now)."""
    from figures.prefetch import (
        rated_runs,
        shared_baselines,
        shared_judges,
        shared_runs,
        with_untrained,
    )

    if not pooled:
        return Shared({}, [], {})
    figures = [(n, FIGURES[n]) for n in pooled]
    base = shared_baselines(figures)
    judges = shared_judges(figures)
    after: list[tuple[Path, AfterTraining]] = [*judges, *base.pixels]
    return Shared(with_untrained(shared_runs(figures), base.untrained), after, rated_runs(judges))


def _train_shared(shared: Shared, job: JobProgress) -> None:
    """Train and evaluate the runs of ``shared`` (:func:`_shared`) in one pool per sweep root;
    then, in a pool of their own, train the judge shares and write the raw-pixel probes; then
    evaluate the rated runs' dropout rates (one sweep per root). A failed run or task is logged
    and left to its figure, which tries it again and reports it with the figure."""
    from figures.prefetch import after_training
    from figures.sweep import SweepError, run_sweep

    def sweep(specs: Sequence[RunSpec], root: Path, weights: Sequence[float] | None) -> None:
        try:
            run_sweep(specs, root, weights=weights)
        except SweepError as e:
            job.log(f"{SHARED_STAGE}: {e}; their figures try them again")

    job.begin(SHARED_STAGE)
    for root, runs in shared.runs.items():
        sweep([s for s, _ in runs], root, [c for _, c in runs])
    if shared.after:
        job.sweep(len(shared.after), 0)
        for out in after_training(shared.after, default_jobs()):
            what = f"{out.what} ({out.seconds:.1f} s)"
            if out.error:
                what += f": FAILED: {out.error}; its figure tries it again"
            job.finished(what, False, out.seconds, out.seconds)
    for root, rated in shared.rated.items():
        sweep(rated, root, None)
    job.end()


def _stages(
    names: Sequence[str],
    force: bool,
    shared: Shared | None = None,
    pooled: Sequence[str] = (),
) -> list[tuple[str, int, int]]:
    """The job's stages for :class:`JobProgress`: per figure its runs and runs to train (0 for a
    figure whose runs cannot be listed: it is counted when its sweep starts). With the runs
    ``shared`` by the figures ``pooled`` (:func:`_train_shared`) a first stage counts those runs
    once, with the untrained runs of the pooled figures that list their baselines, the judge
    shares and raw-pixel probes, and the rated runs (:attr:`Shared.count`); each pooled figure
    counts only the untrained runs the pool does not evaluate (those of a figure without
    ``FigureSpec.baselines``) up front: its sweep adds its runs when it starts, found up to
    date by then (so the pool's ETA does not count them as work left)."""
    from figures.sweep import _completed

    out: list[tuple[str, int, int]] = []
    if shared:
        runs = [(root, s) for root, pairs in shared.runs.items() for s, _cost in pairs]
        todo = sum(not _completed(s.run_dir(root)) for root, s in runs)
        out.append((SHARED_STAGE, shared.count, todo))
    for name in names:
        try:
            p = plan_figure(name, FIGURES[name], force)
        except Exception as exc:  # a figure that cannot list its runs is counted when it runs
            print(f"figures: cannot count the runs of {name} up front: {exc}", file=sys.stderr)
            out.append((name, 0, 0))
            continue
        if name in pooled:
            left = 0 if p.results_current or FIGURES[name].baselines is not None else p.twins
            out.append((name, left, 0))
        else:
            out.append((name, p.sweep_runs, p.sweep_train))
    return out


SLURM_FLAGS = {
    "partition": "--partition",
    "time": "--time",
    "gpus": "--gpus",
    "cpus": "--cpus",
    "max_parallel": "--max-parallel",
    "jobs_dir": "--jobs-dir",
}


def _cluster_arguments(parser: argparse.ArgumentParser) -> None:
    g = parser.add_argument_group(
        "sweeps on a cluster",
        "the experiment figures' training runs as Slurm jobs (submitit): one array job per "
        "sweep; a preempted or timed-out run is requeued and resumes from its checkpoint",
    )
    g.add_argument(
        "--executor",
        choices=executors.EXECUTORS,
        default="local",
        help="local: worker processes (FEATUREDROP_JOBS); slurm: one job per run",
    )
    g.add_argument("--partition", help="Slurm partition (default: the cluster's default)")
    g.add_argument("--time", type=int, metavar="MIN", help="time limit per job in minutes (60)")
    g.add_argument("--gpus", type=int, metavar="N", help="GPUs per job (1)")
    g.add_argument("--cpus", type=int, metavar="N", help="CPUs per job (4)")
    g.add_argument("--max-parallel", type=int, metavar="N", help="jobs running at once (all)")
    g.add_argument("--jobs-dir", type=Path, help="submitit logs (results/submitit)")


def _executor(args: argparse.Namespace) -> executors.Executor | None:
    """The Slurm executor of ``--executor slurm`` and its options, None for local.

    Raises:
        ValueError: a Slurm option without ``--executor slurm``, or out of range.
        RuntimeError: submitit finds no Slurm here.
    """
    given = [flag for key, flag in SLURM_FLAGS.items() if getattr(args, key) is not None]
    if args.executor != "slurm":
        if given:
            raise ValueError(f"{', '.join(given)} need(s) --executor slurm")
        return None
    defaults = executors.SlurmOptions()
    options = executors.SlurmOptions(
        partition=args.partition or "",
        time_min=defaults.time_min if args.time is None else args.time,
        gpus=defaults.gpus if args.gpus is None else args.gpus,
        cpus=defaults.cpus if args.cpus is None else args.cpus,
        max_parallel=defaults.max_parallel if args.max_parallel is None else args.max_parallel,
    )
    folder = args.jobs_dir or Path("results") / executors.SUBMITIT_DIR
    return executors.slurm_executor(options, folder)


def _claims(readme: bool, readme_file: Path | None = None) -> int:
    """Rewrite results/claims.json and .md from the cached results (and print the README
    section with ``readme``, or splice it into ``readme_file``)."""
    from empirical.io import atomic_write_bytes
    from figures import claims

    entries, skipped = claims.collect(RESULTS_DIR)
    json_path, md_path = claims.write(entries, skipped)
    counts = claims.document(entries, skipped)["counts"]
    shown = ", ".join(f"{n} {v}" for v, n in counts.items())
    print(f"claims: {json_path}, {md_path} ({len(entries)} claims: {shown})", file=sys.stderr)
    for name, why in sorted(skipped.items()):
        print(f"claims: {name} left out: {why}", file=sys.stderr)
    if readme:
        print(claims.readme_section(claims.load(json_path)), end="")
    if readme_file is not None:
        try:
            text = claims.splice_readme(
                readme_file.read_text(), claims.readme_section(claims.load(json_path))
            )
        except (FileNotFoundError, ValueError) as e:
            print(f"error: {readme_file}: {e}", file=sys.stderr)
            return 2
        atomic_write_bytes(readme_file, text.encode())
        print(f"claims: spliced into {readme_file}", file=sys.stderr)
    return 0


def _summary() -> int:
    """Rewrite results/summary.md from the cached results and claims."""
    from figures import summary

    path = summary.write(RESULTS_DIR)
    print(f"summary: {path}", file=sys.stderr)
    return 0


def _docs(readme: bool) -> int:
    """Copy the drawn PNGs, downscaled, to docs/figures/ (with ``readme``: only print the
    README's placeholder list of figures instead)."""
    from figures import docs
    from figures.registry import OUT_DIR

    if readme:
        entries = [(name, spec.description) for name, spec in sorted(FIGURES.items())]
        print(docs.figures_section(entries), end="")
        return 0
    written = docs.copy_figures(OUT_DIR, docs.DOCS_DIR)
    for path, size in written:
        print(f"docs: {path} ({size / 1024:.0f} KB)", file=sys.stderr)
    if not written:
        print(f"docs: no PNGs in {OUT_DIR} (run python -m figures all first)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
