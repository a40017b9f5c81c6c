"""Run many training configs for the experiment figures: train, resume, evaluate, skip.

A :class:`RunSpec` is one training run (preset + ``section.key=value`` overrides + seed) and the
evaluations its figure needs. :func:`run_sweep` executes a list of them:

* each run lives in ``ROOT/<figure>/<run-id>`` (``run-id`` = readable name + 8 hex digits of a
  hash of preset, overrides and seed, so a changed config gets a fresh directory);
* a completed run (``summary.json`` says ``completed``) whose evaluation records are all current
  is skipped; one with a ``last.pt`` but no completed summary is continued with
  ``python -m empirical.train --resume`` (an interrupted ``make figures`` picks up where it
  stopped); otherwise it is trained from scratch with ``python -m empirical.train`` (the one
  training loop, through its public command line; its output goes to ``RUN_DIR/train.log``);
* evaluations go through the one evaluation path: :func:`empirical.evaluate.evaluate` (``probe``,
  ``averaging``, ``robustness``) and :func:`empirical.diagnostics.diagnose.diagnose`
  (``invariance``, ``dropout-rate``, ``local``), each writing ``RUN_DIR/eval/NAME.json`` with
  its key (``empirical.records``: a hash of the run's config, the evaluation's kind and options, the
  checkpoint's weights and the evaluation code). A record is reused only when its key is the key
  the evaluation would get now; a changed option, retrained or altered weights or changed
  evaluation code recompute it (a file's existence alone decides nothing);
* runs execute in ``jobs`` worker processes (default 2, or ``FEATUREDROP_JOBS``), each with
  one CPU thread, or as Slurm jobs with ``--cpus`` threads (``figures.executors``: one array job, a
  preempted or timed-out run requeued and resumed); a progress line is printed per finished
  run with its time; inside ``empirical.progress.reporting(job)`` (``python -m figures``) the
  sweep announces its runs to that job and its lines carry the whole job's counters and ETA;
* failures do not stop the other runs; at the end :class:`SweepError` names every failed run
  and its log file.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
import traceback
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from empirical.progress import active_job
from figures import executors

if TYPE_CHECKING:
    from empirical.options import Options
    from empirical.runs import LoadedRun

RUNS_DIR = Path("results") / "runs"
EVAL_KINDS = ("probe", "averaging", "robustness")
DIAGNOSTIC_KINDS = ("invariance", "dropout-rate", "local")
JOBS_ENV = "FEATUREDROP_JOBS"


class SweepError(RuntimeError):
    """One or more runs of a sweep failed; ``failures`` lists ``(run_dir, log, message)``."""

    def __init__(self, failures: Sequence[RunResult]) -> None:
        self.failures = list(failures)
        lines = [f"{len(self.failures)} run(s) failed:"]
        lines += [f"  {r.run_dir}: {r.error} (log: {r.log})" for r in self.failures]
        super().__init__("\n".join(lines))


@dataclass(frozen=True)
class Evaluation:
    """One evaluation of a trained run, written to ``RUN_DIR/eval/NAME.json``.

    Attributes:
        name: the result's file name (without ``.json``).
        kind: ``probe``, ``averaging`` or ``robustness`` (``empirical.evaluate.EvalOptions``) or
            ``invariance``, ``dropout-rate``, ``local``
            (``empirical.diagnostics.DiagnosticOptions``).
        options: keyword arguments of the options class (lists become tuples).
    """

    name: str
    kind: str
    options: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.kind not in EVAL_KINDS + DIAGNOSTIC_KINDS:
            allowed = ", ".join(EVAL_KINDS + DIAGNOSTIC_KINDS)
            raise ValueError(f"Evaluation.kind must be one of {allowed}; got {self.kind!r}")
        if not self.name or "/" in self.name or self.name.startswith("."):
            raise ValueError(f"Evaluation.name must be a plain file name; got {self.name!r}")

    def build_options(self) -> Options:
        """The validated options object of this evaluation (``EvalOptions`` or
        ``DiagnosticOptions``); an unknown or bad option is a ``ConfigError`` naming
        ``NAME.option``."""
        from empirical.options import from_mapping

        return from_mapping(options_class(self.kind), self.options, where=self.name)

    def run(self, run: LoadedRun) -> Path:
        """Evaluate ``run`` and write this evaluation's record; returns its path."""
        from empirical.diagnostics.diagnose import DiagnosticOptions, diagnose
        from empirical.evaluate import EvalOptions, evaluate

        opts = self.build_options()
        if isinstance(opts, EvalOptions):
            return evaluate(run.run_dir, self.kind, opts, self.name, run=run)[0]
        if not isinstance(opts, DiagnosticOptions):
            raise TypeError(f"no evaluation takes {type(opts).__name__}")
        return diagnose(run.run_dir, self.kind, opts, run=run, name=self.name)[0]

    def is_current(self, run: LoadedRun) -> bool:
        """Whether ``run``'s record of this evaluation exists and was made from exactly the inputs
        it would be made from now (``empirical.records.record_key``)."""
        from empirical.records import current_record, record_key

        key = record_key(run, self.kind, self.build_options())
        return current_record(eval_path(run.run_dir, self), key) is not None


def options_class(kind: str) -> type[Options]:
    """The options class of an evaluation kind."""
    if kind in EVAL_KINDS:
        from empirical.evaluate import EvalOptions

        return EvalOptions
    from empirical.diagnostics.diagnose import DiagnosticOptions

    return DiagnosticOptions


@dataclass(frozen=True)
class RunSpec:
    """One training run of a figure.

    Attributes:
        figure: the figure it belongs to (its folder under the sweep root).
        name: a readable name (``[A-Za-z0-9._=-]``), unique within the figure.
        preset: a preset of ``empirical.presets``.
        overrides: ``section.key=value`` strings applied after the preset (not ``run.seed``).
        seed: ``run.seed``.
        evaluations: what to evaluate once it is trained.
    """

    figure: str
    name: str
    preset: str
    overrides: tuple[str, ...] = ()
    seed: int = 0
    evaluations: tuple[Evaluation, ...] = ()

    def __post_init__(self) -> None:
        allowed = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._=-")
        for fname in ("figure", "name"):
            value = getattr(self, fname)
            if not value or not set(value) <= allowed or value.startswith("."):
                raise ValueError(
                    f"RunSpec.{fname} must be a non-empty name of [A-Za-z0-9._=-]; got {value!r}"
                )
        if self.seed < 0:
            raise ValueError(f"RunSpec.seed must be >= 0; got {self.seed}")
        for o in self.overrides:
            if "=" not in o or o.startswith("run.seed="):
                raise ValueError(
                    f"RunSpec.overrides must be section.key=value strings other than run.seed "
                    f"(use seed); got {o!r}"
                )
        names = [e.name for e in self.evaluations]
        if len(set(names)) != len(names):
            raise ValueError(f"RunSpec.evaluations must have distinct names; got {names}")

    @property
    def config_hash(self) -> str:
        """8 hex digits of sha256 over preset, overrides and seed."""
        key = json.dumps([self.preset, list(self.overrides), self.seed])
        return hashlib.sha256(key.encode()).hexdigest()[:8]

    @property
    def run_id(self) -> str:
        return f"{self.name}-{self.config_hash}"

    def run_dir(self, root: Path) -> Path:
        return root / self.figure / self.run_id

    def train_args(self, run_dir: Path) -> list[str]:
        """Arguments of ``python -m empirical.train`` for a fresh run."""
        return [
            "--preset",
            self.preset,
            "--out",
            str(run_dir),
            "--quiet",
            *self.overrides,
            f"run.seed={self.seed}",
        ]


@dataclass(frozen=True)
class RunResult:
    """What happened to one run: ``action`` is ``skipped``, ``evaluated``, ``trained`` or
    ``resumed``; ``error`` is empty on success."""

    run_dir: str
    log: str
    action: str
    train_s: float
    eval_s: float
    error: str = ""


def eval_path(run_dir: Path, evaluation: Evaluation) -> Path:
    """``RUN_DIR/eval/NAME.json`` (``empirical.records.record_path``)."""
    from empirical.records import record_path

    return record_path(run_dir, evaluation.name)


def load_eval(run_dir: Path, evaluation: Evaluation) -> dict[str, Any]:
    """The record written by ``evaluation`` for ``run_dir`` (FileNotFoundError if missing)."""
    from empirical.records import read_record

    return read_record(eval_path(run_dir, evaluation))


def _completed(run_dir: Path) -> bool:
    try:
        return json.loads((run_dir / "summary.json").read_text()).get("status") == "completed"
    except (FileNotFoundError, json.JSONDecodeError):
        return False


def _train(spec: RunSpec, run_dir: Path, log: Path) -> str:
    """Train or resume ``spec`` in a child process (:func:`figures.executors.run_training`: forked
    from a fork server by default, a fresh interpreter with ``FEATUREDROP_FORKSERVER=0``);
    returns the action taken."""
    resume = (run_dir / "last.pt").exists()
    args = ["--resume", str(run_dir), "--quiet"] if resume else spec.train_args(run_dir)
    threads = str(executors.run_threads())
    env = {**os.environ, "OMP_NUM_THREADS": threads, "MKL_NUM_THREADS": threads}
    run_dir.mkdir(parents=True, exist_ok=True)
    with log.open("a") as f:
        f.write(f"$ python -m empirical.train {' '.join(args)}\n")
    # stoppable: a preempted Slurm job stops it with SIGTERM (it checkpoints) before requeue
    returncode = executors.run_training(args, log, env)
    if returncode != 0:
        raise RuntimeError(f"training exited with status {returncode}")
    if not _completed(run_dir):
        raise RuntimeError("training ended without a completed summary.json")
    return "resumed" if resume else "trained"


def _evaluate(run_dir: Path, evaluations: Sequence[Evaluation]) -> int:
    """Write every evaluation of ``run_dir`` whose record is missing or not current (one loaded
    run shared by all); returns how many were written."""
    from empirical.runs import load_run

    if not evaluations:
        return 0
    run = load_run(run_dir, "cpu")
    stale = _stale(run, evaluations)
    for e in stale:
        e.run(run)
    return len(stale)


def _stale(run: LoadedRun, evaluations: Sequence[Evaluation]) -> list[Evaluation]:
    """The evaluations of ``run`` whose records are missing or not current."""
    return [e for e in evaluations if not e.is_current(run)]


def up_to_date(spec: RunSpec, root: Path) -> bool:
    """Whether ``spec``'s run is completed and every one of its evaluations is current (what
    :func:`execute` would skip); anything it cannot read counts as not up to date (then
    :func:`execute` reports it)."""
    from empirical.runs import load_run

    run_dir = spec.run_dir(root)
    if not _completed(run_dir):
        return False
    if not spec.evaluations:
        return True
    try:
        return not _stale(load_run(run_dir, "cpu"), spec.evaluations)
    except Exception:
        return False


def execute(spec: RunSpec, root: Path) -> RunResult:
    """Bring one run up to date (train/resume, evaluate); never raises: errors are returned
    in :attr:`RunResult.error`, with the traceback appended to the run's log."""
    import torch

    from empirical.allocator import keep_freed_memory

    torch.set_num_threads(executors.run_threads())
    run_dir = spec.run_dir(root)
    log = run_dir / "train.log"
    action, t0 = "evaluated", time.perf_counter()
    try:
        keep_freed_memory()  # this process's evaluations (the training subprocess does its own)
        if not _completed(run_dir):
            action = _train(spec, run_dir, log)
        t1 = time.perf_counter()
        written = _evaluate(run_dir, spec.evaluations)
        if action == "evaluated" and written == 0:
            return RunResult(str(run_dir), str(log), "skipped", 0.0, 0.0)
        return RunResult(str(run_dir), str(log), action, t1 - t0, time.perf_counter() - t1)
    except Exception as exc:  # reported with the run and its log, never swallowed
        run_dir.mkdir(parents=True, exist_ok=True)
        with log.open("a") as f:
            f.write(f"\n[figures.sweep] {action} failed:\n{traceback.format_exc()}")
        return RunResult(
            str(run_dir),
            str(log),
            action,
            time.perf_counter() - t0,
            0.0,
            f"{type(exc).__name__}: {exc}",
        )


def default_jobs() -> int:
    """``FEATUREDROP_JOBS`` if set, else ``min(2, cpu_count)``."""
    env = os.environ.get(JOBS_ENV)
    if env:
        jobs = int(env)
        if jobs < 1:
            raise ValueError(f"{JOBS_ENV} must be an integer >= 1; got {env!r}")
        return jobs
    return max(1, min(2, os.cpu_count() or 1))


def _print(line: str) -> None:
    print(line, flush=True)


def _init_worker() -> None:
    """A local worker: one torch thread, and its runs stop (checkpointed) when it gets SIGTERM or
    the process that started it dies (:func:`figures.executors.stop_with_parent`)."""
    import torch

    torch.set_num_threads(1)
    executors.stop_with_parent()


def run_sweep(
    specs: Sequence[RunSpec],
    root: Path = RUNS_DIR,
    jobs: int | None = None,
    echo: Callable[[str], None] | None = None,
    executor: executors.Executor | None = None,
    weights: Sequence[float] | None = None,
) -> list[RunResult]:
    """Bring every run of ``specs`` up to date, ``jobs`` at a time (1 = in this process), or
    on ``executor`` (default: the one of ``figures.executors.using``, else local processes).
    ``weights``: each run's relative cost, for the job's ETA (``JobProgress.weigh``).

    Returns:
        One :class:`RunResult` per spec, in the order of ``specs``.

    Raises:
        ValueError: two specs share a run directory, or ``jobs`` < 1.
        SweepError: after every run was tried, if any failed (names each run and its log).
    """
    jobs = default_jobs() if jobs is None else jobs
    say = echo or _print
    if jobs < 1:
        raise ValueError(f"jobs must be >= 1; got {jobs}")
    dirs = [s.run_dir(root) for s in specs]
    if len(set(dirs)) != len(dirs):
        raise ValueError("two RunSpecs share a run directory (same figure and name)")
    for s in specs:  # a bad evaluation option fails now, not after the training
        for e in s.evaluations:
            e.build_options()
    results: dict[int, RunResult] = {}
    t_start = time.perf_counter()
    job = active_job()  # the whole job's progress display (python -m figures), if any
    to_train = [not _completed(d) for d in dirs]
    if weights is not None and len(weights) != len(specs):
        raise ValueError(
            f"weights must have one entry per spec; got {len(weights)} for {len(specs)}"
        )
    if job is not None:
        job.sweep(len(specs), sum(to_train))
        if weights is not None:
            job.weigh([w for w, t in zip(weights, to_train, strict=True) if t])

    def report(i: int, r: RunResult) -> None:
        results[i] = r
        status = "FAILED" if r.error else r.action
        took = f"train {r.train_s:.1f} s, eval {r.eval_s:.1f} s"
        what = f"{r.run_dir}: {status} ({took})"
        if r.error:
            what += f": {r.error}; log: {r.log}"
        if job is None:
            say(f"[{len(results)}/{len(specs)}] {what}")
        else:
            units = weights[i] if weights is not None and to_train[i] else None
            job.finished(what, to_train[i], r.train_s + r.eval_s, r.eval_s, units)

    # runs with nothing to do are reported here, without starting a worker (or a Slurm job)
    pending = []
    for i, s in enumerate(specs):
        if up_to_date(s, root):
            d = str(dirs[i])
            report(i, RunResult(d, str(dirs[i] / "train.log"), "skipped", 0.0, 0.0))
        else:
            pending.append(i)
    runner = executor or executors.active() or executors.ProcessExecutor(jobs, _init_worker)
    for out in runner.map(execute, [(specs[i], root) for i in pending]):
        index = pending[out.index]
        if out.error:  # the worker or job died (execute itself reports a run's errors)
            run_dir = dirs[index]
            log = str(run_dir / "train.log")
            report(index, RunResult(str(run_dir), log, "submitted", 0.0, 0.0, out.error))
        else:
            report(index, out.value)
    ordered = [results[i] for i in range(len(specs))]
    failed = [r for r in ordered if r.error]
    (say if job is None else job.log)(
        f"sweep: {len(specs)} run(s) in {time.perf_counter() - t_start:.1f} s, {len(failed)} failed"
    )
    if failed:
        raise SweepError(failed)
    return ordered
