"""Where a sweep's runs execute: local worker processes (default) or Slurm jobs via submitit.

An executor maps a function over argument tuples and yields each call's :class:`Outcome` as it
finishes, in any order:

* :class:`ProcessExecutor` (``--executor local``): ``jobs`` spawned worker processes, or the
  calling process when ``jobs`` is 1 (as ``figures.sweep`` always did);
* :class:`SubmititExecutor` (``--executor slurm``; :func:`slurm_executor`): one submitit job per
  call, all submitted together as one Slurm array job (``executor.batch()``). Each call is wrapped
  in :class:`Resubmittable`, a ``submitit.helpers.Checkpointable``: when Slurm preempts the job
  or its time limit nears (submitit's ``USR2`` signal), its ``checkpoint`` stops the training
  subprocess with ``SIGTERM`` (the loop saves ``last.pt`` at the next step boundary), waits for
  it to exit and resubmits the same call; the requeued job calls ``figures.sweep.execute`` again,
  which continues a run that has a ``last.pt`` with ``python -m empirical.train --resume``. A run
  is requeued at most ``max_requeues`` times for timeouts (preemptions do not count).

Submitit's logs and pickles go to ``folder`` (``python -m figures``: ``results/submitit``); Slurm
jobs start in the submitting directory with the submitting Python (``sys.executable``), and each
run trains with ``--cpus`` CPU threads (:func:`run_threads`; local workers use one).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

EXECUTORS = ("local", "slurm")
SUBMITIT_DIR = "submitit"
THREADS_ENV = "FEATUREDROP_RUN_THREADS"  # CPU threads of a run (set in Slurm jobs: --cpus)


def run_threads() -> int:
    """CPU threads for one run: ``FEATUREDROP_RUN_THREADS`` (a Slurm job's ``--cpus``), else 1
    (local workers share the machine)."""
    value = os.environ.get(THREADS_ENV, "1")
    if not value.isdigit() or int(value) < 1:
        raise ValueError(f"{THREADS_ENV} must be an integer >= 1; got {value!r}")
    return int(value)


@dataclass(frozen=True)
class Outcome:
    """One finished call: ``index`` into the submitted arguments, the function's ``value`` (None
    when it failed) and ``error`` (empty on success; names the job and its log otherwise)."""

    index: int
    value: Any
    error: str = ""


class Executor(Protocol):
    def map(
        self, fn: Callable[..., Any], calls: Sequence[tuple[Any, ...]]
    ) -> Iterator[Outcome]: ...


_ACTIVE: list[Executor] = []


@contextmanager
def using(executor: Executor) -> Iterator[Executor]:
    """Sweeps started inside run on ``executor`` (``python -m figures --executor slurm``: the
    figures' compute functions call ``run_sweep`` without one)."""
    _ACTIVE.append(executor)
    try:
        yield executor
    finally:
        _ACTIVE.pop()


def active() -> Executor | None:
    """The executor of the innermost :func:`using`, or None."""
    return _ACTIVE[-1] if _ACTIVE else None


class ProcessExecutor:
    """``jobs`` spawned worker processes (``initializer`` runs in each), or this process for
    ``jobs`` = 1 or a single call. Exceptions of ``fn`` become :attr:`Outcome.error`."""

    def __init__(self, jobs: int, initializer: Callable[[], None] | None = None) -> None:
        if jobs < 1:
            raise ValueError(f"jobs must be >= 1; got {jobs}")
        self.jobs, self.initializer = jobs, initializer

    def map(self, fn: Callable[..., Any], calls: Sequence[tuple[Any, ...]]) -> Iterator[Outcome]:
        if self.jobs == 1 or len(calls) <= 1:
            for i, args in enumerate(calls):
                try:
                    yield Outcome(i, fn(*args))
                except Exception as exc:
                    yield Outcome(i, None, f"{type(exc).__name__}: {exc}")
            return
        import multiprocessing as mp

        ctx = mp.get_context("spawn")
        with ProcessPoolExecutor(self.jobs, mp_context=ctx, initializer=self.initializer) as pool:
            futures = {pool.submit(fn, *args): i for i, args in enumerate(calls)}
            for fut in as_completed(futures):
                try:
                    yield Outcome(futures[fut], fut.result())
                except Exception as exc:
                    yield Outcome(futures[fut], None, f"{type(exc).__name__}: {exc}")


WORKER_STOP_TIMEOUT_S = 120.0  # how long a stopped worker waits for its runs to checkpoint
PR_SET_PDEATHSIG = 1  # linux/prctl.h


def stop_with_parent(timeout_s: float = WORKER_STOP_TIMEOUT_S) -> None:
    """In a local worker process: on SIGTERM, or when the process that started it dies (by any
    signal, SIGKILL included: Linux's ``PR_SET_PDEATHSIG`` turns the death into a SIGTERM
    here), stop the runs this worker started (:func:`stop_children`: each saves its checkpoint
    at its next step boundary), wait up to ``timeout_s`` for them and exit with 128 + 15.

    Without it, killing ``python -m figures`` left its workers and their training runs going,
    and a second job could resume the same run directory beside them."""

    def handler(signum: int, frame: Any) -> None:
        stop_children(timeout_s)
        os._exit(128 + signum)

    signal.signal(signal.SIGTERM, handler)
    if not sys.platform.startswith("linux"):
        return
    import ctypes

    parent = os.getppid()
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_PDEATHSIG, int(signal.SIGTERM), 0, 0, 0) != 0:
        return  # not available: SIGTERM still stops the worker's runs
    if os.getppid() != parent:  # the parent died before the request took effect
        handler(signal.SIGTERM, None)


# --------------------------------------------------------------------------------------------
# submitit
# --------------------------------------------------------------------------------------------


_STOPPABLE: set[Any] = set()  # subprocess.Popen or multiprocessing Process: each has .pid

FORKSERVER_ENV = "FEATUREDROP_FORKSERVER"  # "0": train each run in a fresh interpreter
TRAIN_MODULE = "empirical.train"
# what the fork server imports once: torch itself, torch._dynamo (torch.optim's constructors
# import it on first use) and torch._inductor.config (torch.use_deterministic_algorithms
# imports it): together about 4 s of every run's start
TRAIN_PRELOAD = (TRAIN_MODULE, "torch._dynamo", "torch._inductor.config")


STOP_GRACE_S = 60.0  # an interrupted run's time to checkpoint at its next step before SIGKILL


@contextmanager
def _stoppable(
    child: Any, wait: Callable[[float | None], Any], kill: Callable[[], Any]
) -> Iterator[None]:
    """While the block runs, :func:`stop_children` can stop ``child`` (anything with a
    ``.pid``). If the block is interrupted (Ctrl-C), ``child`` gets SIGTERM and up to
    :data:`STOP_GRACE_S` to save its checkpoint at its next step boundary (a second interrupt
    cuts that short), then is killed and ``wait``-ed for (``wait(timeout)``)."""
    _STOPPABLE.add(child)
    try:
        yield
    except BaseException:
        try:
            os.kill(child.pid, signal.SIGTERM)
            wait(STOP_GRACE_S)
        except BaseException:  # gone already, still running at the deadline, or interrupted
            pass
        kill()
        wait(None)
        raise
    finally:
        _STOPPABLE.discard(child)


def run_stoppable(args: Sequence[str], **popen: Any) -> int:
    """Run ``args`` (``subprocess.Popen`` keywords) to the end and return its exit status;
    while it runs, :func:`stop_children` (a preempted job's checkpoint) can stop it. Killed if
    this process is interrupted (as ``subprocess.run`` does)."""
    proc = subprocess.Popen(args, **popen)
    with _stoppable(proc, proc.wait, proc.kill):
        return proc.wait()


def forkserver_enabled() -> bool:
    """Whether :func:`run_training` forks its runs from a fork server: where the platform has
    one (Linux, macOS) and ``FEATUREDROP_FORKSERVER`` is not ``0``."""
    import multiprocessing as mp

    value = os.environ.get(FORKSERVER_ENV, "1")
    if value not in ("0", "1"):
        raise ValueError(f"{FORKSERVER_ENV} must be 0 or 1; got {value!r}")
    return value == "1" and "forkserver" in mp.get_all_start_methods()


def _train_child(args: list[str], log: str, env: dict[str, str], cwd: str) -> None:
    """A forked run: what it would have had as a subprocess (the environment, the working
    directory first on ``sys.path`` as ``python -m`` puts it, then ``PYTHONPATH``), stdout and
    stderr appended to ``log``, and ``python -m empirical.train ARGS``'s exit status."""
    os.environ.clear()
    os.environ.update(env)
    os.chdir(cwd)
    extra = [cwd, *filter(None, env.get("PYTHONPATH", "").split(os.pathsep))]
    sys.path[:0] = [p for p in extra if p not in sys.path]
    fd = os.open(log, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    os.close(fd)
    import importlib

    import torch

    if env.get("OMP_NUM_THREADS", "").isdigit():  # the fork server's OpenMP read it already
        torch.set_num_threads(int(env["OMP_NUM_THREADS"]))
    raise SystemExit(importlib.import_module(TRAIN_MODULE).main(args))


@contextmanager
def _main_hidden() -> Iterator[None]:
    """A bare ``__main__`` while a process starts: multiprocessing's children (and its fork
    server) import the parent's main module again, which would rerun a script that lacks a main
    guard and costs every run the import; the forked run needs nothing from it."""
    import types

    main = sys.modules["__main__"]
    sys.modules["__main__"] = types.ModuleType("__main__")
    try:
        yield
    finally:
        sys.modules["__main__"] = main


def run_training(args: Sequence[str], log: Path, env: Mapping[str, str]) -> int:
    """``python -m empirical.train ARGS`` with environment ``env`` and its output appended to
    ``log``, to the end; returns its exit status (negative: killed by that signal). Stoppable
    by :func:`stop_children` like :func:`run_stoppable`, and killed if this process is
    interrupted.

    Each run is a new process, forked from a fork server that has imported torch and the
    training module once (:data:`TRAIN_PRELOAD`), so a run skips about 4 s of imports and
    starts with fresh state as a subprocess would (the same losses, bit for bit). Without a
    fork server (:func:`forkserver_enabled`) it is a plain subprocess."""
    if not forkserver_enabled():
        with open(log, "a") as f:
            return run_stoppable(
                [sys.executable, "-m", TRAIN_MODULE, *args],
                stdout=f,
                stderr=subprocess.STDOUT,
                env=dict(env),
            )
    import multiprocessing as mp

    ctx = mp.get_context("forkserver")
    ctx.set_forkserver_preload(list(TRAIN_PRELOAD))  # read when the server starts (once)
    proc = ctx.Process(target=_train_child, args=(list(args), str(log), dict(env), os.getcwd()))
    with _main_hidden():
        proc.start()
    with _stoppable(proc, proc.join, proc.kill):
        proc.join()
    assert proc.exitcode is not None
    return proc.exitcode


def _exited(pid: int) -> bool:
    """Whether ``pid`` has exited: gone, or a zombie waiting for its parent (``/proc``, Linux as
    on Slurm nodes; elsewhere only a reaped process counts)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            stat = f.read()
    except FileNotFoundError:
        return True
    except OSError:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        return False
    return stat[stat.rindex(")") + 2 :].split()[0] in ("Z", "X")  # after "pid (comm) "


def stop_children(timeout_s: float, sig: int = signal.SIGTERM) -> list[int]:
    """Send ``sig`` to every child running under :func:`run_stoppable` and wait up to
    ``timeout_s`` for them to exit; returns their pids. Safe inside a signal handler that
    interrupted ``run_stoppable``'s wait (the children are not reaped here)."""
    pids = [p.pid for p in list(_STOPPABLE)]
    for pid in pids:
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            pass
    deadline = time.monotonic() + timeout_s
    while not all(_exited(p) for p in pids) and time.monotonic() < deadline:
        time.sleep(0.05)
    return pids


class Resubmittable:
    """``fn(*args)`` as a submitit Checkpointable callable.

    On preemption or timeout, submitit calls :meth:`checkpoint` in the job's main process: it
    stops the training subprocess (:func:`stop_children`; on ``SIGTERM`` the loop saves
    ``last.pt`` and exits), waits up to ``stop_timeout_s`` for it, and returns the same call to
    be requeued. ``fn`` must pick up
    where it stopped (``figures.sweep.execute`` resumes from ``last.pt``).
    """

    def __init__(
        self,
        fn: Callable[..., Any],
        stop_timeout_s: float = 60.0,
        env: Mapping[str, str] | None = None,
    ) -> None:
        if stop_timeout_s < 0:
            raise ValueError(f"stop_timeout_s must be >= 0; got {stop_timeout_s}")
        self.fn, self.stop_timeout_s, self.env = fn, stop_timeout_s, dict(env or {})

    def __call__(self, *args: Any) -> Any:
        os.environ.update(self.env)  # the job's own process: e.g. its run's CPU threads
        return self.fn(*args)

    def checkpoint(self, *args: Any) -> Any:
        from submitit.helpers import DelayedSubmission

        stop_children(self.stop_timeout_s)
        return DelayedSubmission(self, *args)


def _summary(message: str) -> str:
    """The line that says why a submitit job failed: the last line of the traceback between
    its ``-----`` rules, else the message's first line."""
    sections = [p.strip() for p in message.split("-" * 22) if p.strip()]
    text = sections[1] if len(sections) > 1 else (sections[0] if sections else "")
    lines = text.splitlines()
    return (lines[-1] if len(sections) > 1 else lines[0]).strip() if lines else ""


class SubmititExecutor:
    """Each call one submitit job, submitted together as one array (``executor.batch()``).

    Args:
        executor: a submitit executor (``AutoExecutor`` for Slurm, ``LocalExecutor`` in tests)
            with its parameters set.
        poll_s: seconds between checks for finished jobs.
        stop_timeout_s: see :class:`Resubmittable`.
        env: environment variables set in each job before ``fn`` runs.
    """

    def __init__(
        self,
        executor: Any,
        poll_s: float = 10.0,
        stop_timeout_s: float = 60.0,
        env: Mapping[str, str] | None = None,
    ) -> None:
        if poll_s <= 0:
            raise ValueError(f"poll_s must be > 0; got {poll_s}")
        self.executor, self.poll_s, self.stop_timeout_s = executor, poll_s, stop_timeout_s
        self.env = dict(env or {})

    def submit(self, fn: Callable[..., Any], calls: Sequence[tuple[Any, ...]]) -> list[Any]:
        """Submit every call (one array job); returns the submitit jobs, in the order of calls."""
        wrapped = Resubmittable(fn, self.stop_timeout_s, self.env)
        with self.executor.batch():
            jobs = [self.executor.submit(wrapped, *args) for args in calls]
        return jobs

    def collect(self, jobs: Sequence[Any]) -> Iterator[Outcome]:
        """Outcomes of ``jobs`` as they finish; a failed job's error names it and its log."""
        from submitit.helpers import as_completed as jobs_completed

        index = {id(j): i for i, j in enumerate(jobs)}
        for job in jobs_completed(list(jobs), poll_frequency=self.poll_s):
            i = index[id(job)]
            try:
                yield Outcome(i, job.result())
            except Exception as exc:
                why = _summary(str(exc)) or type(exc).__name__
                yield Outcome(i, None, f"job {job.job_id} failed: {why}; log: {job.paths.stderr}")

    def map(self, fn: Callable[..., Any], calls: Sequence[tuple[Any, ...]]) -> Iterator[Outcome]:
        if not calls:
            return iter(())
        return self.collect(self.submit(fn, calls))


@dataclass(frozen=True)
class SlurmOptions:
    """Resources of each run's Slurm job.

    Attributes:
        partition: Slurm partition (``--partition``); empty = the cluster's default.
        time_min: time limit per job in minutes; a run that needs longer is checkpointed and
            requeued (at most ``max_requeues`` times).
        gpus: GPUs per job (one run trains on one GPU; more are only allocated).
        cpus: CPUs per job.
        max_parallel: how many jobs of the array run at once (0 = no limit).
        max_requeues: timeouts after which a run is given up.
        mem_gb: memory per job in GB (0 = the partition's default).
    """

    partition: str = ""
    time_min: int = 60
    gpus: int = 1
    cpus: int = 4
    max_parallel: int = 0
    max_requeues: int = 3
    mem_gb: float = 0.0

    def __post_init__(self) -> None:
        checks = {
            "time_min": (self.time_min, 1, 60 * 24 * 365),
            "gpus": (self.gpus, 0, 64),
            "cpus": (self.cpus, 1, 1024),
            "max_parallel": (self.max_parallel, 0, 10**6),
            "max_requeues": (self.max_requeues, 0, 1000),
        }
        for name, (value, lo, hi) in checks.items():
            if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
                raise ValueError(
                    f"SlurmOptions.{name} must be an integer in [{lo}, {hi}]; got {value!r}"
                )
        if not 0.0 <= self.mem_gb <= 1e5:
            raise ValueError(f"SlurmOptions.mem_gb must be in [0, 100000]; got {self.mem_gb!r}")
        if any(c.isspace() for c in self.partition):
            raise ValueError(
                f"SlurmOptions.partition must not contain spaces; got {self.partition!r}"
            )

    def parameters(self, name: str) -> dict[str, Any]:
        """submitit ``update_parameters`` keywords (AutoExecutor names)."""
        params: dict[str, Any] = {
            "name": name,
            "timeout_min": self.time_min,
            "gpus_per_node": self.gpus,
            "cpus_per_task": self.cpus,
            "tasks_per_node": 1,
            "nodes": 1,
        }
        if self.partition:
            params["slurm_partition"] = self.partition
        if self.max_parallel:
            params["slurm_array_parallelism"] = self.max_parallel
        if self.mem_gb:
            params["mem_gb"] = self.mem_gb
        return params


def slurm_executor(
    options: SlurmOptions,
    folder: Path,
    name: str = "featuredrop",
    cluster: str = "slurm",
    poll_s: float = 30.0,
) -> SubmititExecutor:
    """A :class:`SubmititExecutor` submitting to Slurm with ``options`` (``cluster="local"``
    runs the same jobs as local processes: the tests)."""
    try:
        import submitit
    except ImportError as e:
        raise ImportError(
            "--executor slurm needs the submitit package: pip install -e '.[track]'"
        ) from e
    ex = submitit.AutoExecutor(
        folder=str(folder), cluster=cluster, slurm_max_num_timeout=options.max_requeues
    )
    ex.update_parameters(**options.parameters(name))
    return SubmititExecutor(ex, poll_s=poll_s, env={THREADS_ENV: str(options.cpus)})
