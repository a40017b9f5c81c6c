"""The dropout-rate judges that several runs of one suite share (``empirical.diagnostics``).

A ``dropout-rate`` evaluation trains one judge per classification task of the run's suite, on
the suite's data only, and caches it in the run's ``eval/judges`` under a name keyed by the
suite, its options and the judge's config (``empirical.diagnostics.diagnose.judge_path``). The
judges, not the rates, are most of the evaluation's cost (exp_viewmaker_budget: 51 s with its
judges, 5.1 s with shared ones). :func:`share_judges` trains them once, in the first run's
cache, and copies them into the others'; a :class:`JudgeShare` names the runs of one share.

A figure whose runs are rated lists its shares (``FigureSpec.judges``) and its compute trains
them through the same list, so ``python -m figures all`` can train every figure's judges in its
shared pool, after the training runs, and then evaluate the rates there
(``figures.prefetch``), instead of in each figure's stage with one core idle.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from figures.sweep import Evaluation, RunSpec


@dataclass(frozen=True)
class JudgeShare:
    """The runs ``specs`` of one suite whose ``dropout-rate`` evaluations (of the same judge
    config as ``rate``) use one set of judges, trained in the first run's cache.

    ``specs`` carry their evaluations: after :meth:`train`, a sweep of them evaluates the rates
    with the judges in place."""

    rate: Evaluation
    specs: tuple[RunSpec, ...]

    def __post_init__(self) -> None:
        if self.rate.kind != "dropout-rate":
            raise ValueError(
                f"JudgeShare.rate must be a dropout-rate evaluation; got {self.rate.kind!r}"
            )
        if not self.specs:
            raise ValueError("JudgeShare.specs must name at least one run")

    def key(self) -> str:
        """What the judges depend on (``empirical.diagnostics.diagnose.judge_digest``: the
        suite, its options, the judge's config), from the first run's resolved config: shares
        of equal keys train the same judges, whichever figure lists them."""
        from empirical.diagnostics.diagnose import judge_digest
        from figures.baselines import resolved_config

        data = resolved_config(self.specs[0]).data
        return judge_digest(data.suite, data.options, judge_config(self.rate))

    def label(self, root: Path) -> str:
        """Where the judges are trained (the first run's directory) and for how many runs."""
        return f"{self.specs[0].run_dir(root)}: judges for {len(self.specs)} run(s)"

    def train(self, root: Path) -> int:
        """Train the judges in the first run's cache (unless there) on a run's threads
        (``figures.baselines.evaluation_threads``: 1 locally, as in a sweep's worker, where a
        run's own dropout-rate evaluation would train them) and copy them into the other runs'
        caches; returns how many files were copied (:func:`share_judges`)."""
        from figures.baselines import evaluation_threads

        with evaluation_threads():
            return share_judges(self.rate, [s.run_dir(root) for s in self.specs])


def rated(specs: Sequence[RunSpec]) -> tuple[RunSpec, ...]:
    """The runs of ``specs`` that list a dropout-rate evaluation (those a share's judges
    serve)."""
    return tuple(s for s in specs if any(e.kind == "dropout-rate" for e in s.evaluations))


def judge_config(rate: Evaluation) -> Any:
    """The ``JudgeConfig`` of the dropout-rate evaluation ``rate`` (its judges' steps,
    augmentation and seed), as ``empirical.diagnostics.diagnose`` builds it.

    Raises:
        ValueError: ``rate`` is not a dropout-rate evaluation.
    """
    from empirical.diagnostics.diagnose import DiagnosticOptions
    from empirical.diagnostics.diagnose import judge_config as of_options

    opts = rate.build_options()
    if not isinstance(opts, DiagnosticOptions):
        raise ValueError(f"share_judges needs a dropout-rate evaluation; got {rate.kind!r}")
    return of_options(opts)


def share_judges(rate: Evaluation, run_dirs: Sequence[Path]) -> int:
    """Train the dropout-rate judges once, in the first run's judge cache, and copy them into
    the caches of the other runs (``empirical.diagnostics.diagnose.judge_path``: keyed by the
    suite, its options and the judge's config, the same for every run of one suite): the
    judges, not the rates, are most of a rate evaluation's cost. Returns how many judge files
    were copied; runs of another suite than the first are left alone."""
    from empirical.diagnostics.diagnose import cached_judge, judge_path
    from empirical.io import atomic_write_bytes
    from empirical.runs import load_run

    if not run_dirs:
        return 0
    judge = judge_config(rate)
    first = load_run(run_dirs[0], "cpu")
    train, test = first.dataset("train"), first.dataset("test")
    tasks = [t.name for t in train.tasks if t.kind == "classification"]
    sources = {t: judge_path(first, t, judge) for t in tasks}
    for t in tasks:
        cached_judge(first, t, judge, train, test)
    copied = 0
    for run_dir in run_dirs[1:]:
        run = load_run(run_dir, "cpu")
        for t in tasks:
            dst = judge_path(run, t, judge)
            if dst.name == sources[t].name and not dst.exists():
                dst.parent.mkdir(parents=True, exist_ok=True)
                atomic_write_bytes(dst, sources[t].read_bytes())  # never a partial judge
                copied += 1
    return copied


def train_shares(shares: Sequence[JudgeShare], root: Path, jobs: int | None = None) -> None:
    """Train the judges of ``shares`` (``JudgeShare.train``), ``jobs`` at a time (default
    ``figures.sweep.default_jobs``) in one-thread local workers (a single share: here).

    Raises:
        RuntimeError: a share failed (names each, with its error), after every share was tried.
    """
    from figures.prefetch import after_training
    from figures.sweep import default_jobs

    jobs = default_jobs() if jobs is None else jobs
    failed = [o for o in after_training([(root, s) for s in shares], jobs) if o.error]
    if failed:
        raise RuntimeError("judges failed: " + "; ".join(f"{o.what}: {o.error}" for o in failed))
