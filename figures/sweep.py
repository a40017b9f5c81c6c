"""Run many training configs for the experiment figures: train, resume, evaluate, skip.

A :class:`RunSpec` is one training run (preset + ``section.key=value`` overrides + seed) and the
evaluations its figure needs. :func:`run_sweep` executes a list of them:

* each run lives in ``ROOT/<figure>/<run-id>`` (``run-id`` = readable name + 8 hex digits of a
  hash of preset, overrides and seed, so a changed config gets a fresh directory);
* a run whose evaluation JSONs all exist is skipped; one whose ``summary.json`` says
  ``completed`` is only evaluated; one with a ``last.pt`` but no completed summary is continued
  with ``python -m empirical.train --resume`` (an interrupted ``make figures`` picks up where it
  stopped); otherwise it is trained from scratch with ``python -m empirical.train`` (the one
  training loop, through its public command line; its output goes to ``RUN_DIR/train.log``);
* evaluations go through the one evaluation path: :func:`empirical.evaluate.evaluate` (``probe``,
  ``averaging``, ``robustness``) and :func:`empirical.diagnostics.diagnose.diagnose`
  (``invariance``, ``dropout-rate``), each writing ``RUN_DIR/eval/NAME.json``;
* runs execute in ``jobs`` worker processes (default 2, or ``FEATUREDROP_JOBS``), each with
  ``torch.set_num_threads(1)``; a progress line is printed per finished run with its time;
* failures do not stop the other runs; at the end :class:`SweepError` names every failed run
  and its log file.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import time
import traceback
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

RUNS_DIR = Path("results") / "runs"
EVAL_KINDS = ("probe", "averaging", "robustness")
DIAGNOSTIC_KINDS = ("invariance", "dropout-rate")
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
            ``invariance``, ``dropout-rate`` (``empirical.diagnostics.DiagnosticOptions``).
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
    return run_dir / "eval" / f"{evaluation.name}.json"


def load_eval(run_dir: Path, evaluation: Evaluation) -> dict[str, Any]:
    """The record written by ``evaluation`` for ``run_dir`` (FileNotFoundError if missing)."""
    return dict(json.loads(eval_path(run_dir, evaluation).read_text()))


def _completed(run_dir: Path) -> bool:
    try:
        return json.loads((run_dir / "summary.json").read_text()).get("status") == "completed"
    except (FileNotFoundError, json.JSONDecodeError):
        return False


def _train(spec: RunSpec, run_dir: Path, log: Path) -> str:
    """Train or resume ``spec`` in a subprocess; returns the action taken."""
    resume = (run_dir / "last.pt").exists()
    args = ["--resume", str(run_dir), "--quiet"] if resume else spec.train_args(run_dir)
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    run_dir.mkdir(parents=True, exist_ok=True)
    with log.open("a") as f:
        f.write(f"$ python -m empirical.train {' '.join(args)}\n")
        f.flush()
        proc = subprocess.run(
            [sys.executable, "-m", "empirical.train", *args],
            stdout=f,
            stderr=subprocess.STDOUT,
            env=env,
            check=False,
        )
    if proc.returncode != 0:
        raise RuntimeError(f"training exited with status {proc.returncode}")
    if not _completed(run_dir):
        raise RuntimeError("training ended without a completed summary.json")
    return "resumed" if resume else "trained"


def _evaluate(run_dir: Path, evaluations: Sequence[Evaluation]) -> None:
    """Write every missing evaluation of ``run_dir`` (one loaded run shared by all)."""
    from empirical.diagnostics.diagnose import DiagnosticOptions, diagnose
    from empirical.evaluate import EvalOptions, evaluate
    from empirical.features import load_run

    missing = [e for e in evaluations if not eval_path(run_dir, e).exists()]
    if not missing:
        return
    run = load_run(run_dir, "cpu")
    for e in missing:
        opts: dict[str, Any] = {
            k: tuple(v) if isinstance(v, list) else v for k, v in e.options.items()
        }
        if e.kind in EVAL_KINDS:
            evaluate(run_dir, e.kind, EvalOptions(**opts), e.name, run=run)
        else:
            diagnose(run_dir, e.kind, DiagnosticOptions(**opts), run=run, name=e.name)


def execute(spec: RunSpec, root: Path) -> RunResult:
    """Bring one run up to date (train/resume, evaluate); never raises: errors are returned
    in :attr:`RunResult.error`, with the traceback appended to the run's log."""
    import torch

    torch.set_num_threads(1)
    run_dir = spec.run_dir(root)
    log = run_dir / "train.log"
    if all(eval_path(run_dir, e).exists() for e in spec.evaluations) and _completed(run_dir):
        return RunResult(str(run_dir), str(log), "skipped", 0.0, 0.0)
    action, t0 = "evaluated", time.perf_counter()
    try:
        if not _completed(run_dir):
            action = _train(spec, run_dir, log)
        t1 = time.perf_counter()
        _evaluate(run_dir, spec.evaluations)
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
    import torch

    torch.set_num_threads(1)


def run_sweep(
    specs: Sequence[RunSpec],
    root: Path = RUNS_DIR,
    jobs: int | None = None,
    echo: Callable[[str], None] | None = None,
) -> list[RunResult]:
    """Bring every run of ``specs`` up to date, ``jobs`` at a time (1 = in this process).

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
    results: dict[int, RunResult] = {}
    t_start = time.perf_counter()

    def report(i: int, r: RunResult) -> None:
        results[i] = r
        status = "FAILED" if r.error else r.action
        took = f"train {r.train_s:.1f} s, eval {r.eval_s:.1f} s"
        line = f"[{len(results)}/{len(specs)}] {r.run_dir}: {status} ({took})"
        if r.error:
            line += f": {r.error}; log: {r.log}"
        say(line)

    if jobs == 1 or len(specs) <= 1:
        for i, s in enumerate(specs):
            report(i, execute(s, root))
    else:
        import multiprocessing as mp

        ctx = mp.get_context("spawn")
        with ProcessPoolExecutor(jobs, mp_context=ctx, initializer=_init_worker) as pool:
            futures = {pool.submit(execute, s, root): i for i, s in enumerate(specs)}
            for fut in as_completed(futures):
                report(futures[fut], fut.result())
    ordered = [results[i] for i in range(len(specs))]
    failed = [r for r in ordered if r.error]
    say(
        f"sweep: {len(specs)} run(s) in {time.perf_counter() - t_start:.1f} s, {len(failed)} failed"
    )
    if failed:
        raise SweepError(failed)
    return ordered
