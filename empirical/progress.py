"""Progress displays: one training run's epochs (:class:`Progress`: a tqdm bar with loss, img/s and
ETA, or plain log lines) and a job of many runs in stages (:class:`JobProgress`: e.g. every
figure's training runs of ``python -m figures all``; a tqdm bar on a terminal, one line per
finished run in a log)."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TextIO

from tqdm import tqdm


def format_seconds(s: float) -> str:
    s = max(0, round(s))
    return f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}"


def format_parts(parts: Mapping[str, float]) -> str:
    """`` (contrastive 1.2345 penalty 0.0100)`` for ``parts``; "" when empty."""
    if not parts:
        return ""
    return " (" + " ".join(f"{k} {v:.4f}" for k, v in parts.items()) + ")"


class Progress:
    """One epoch's progress: ``update(loss, img_per_s, parts)`` after every step.

    ``parts``: named components of the loss shown after it (e.g. ``contrastive`` and
    ``penalty`` of a gradient-penalty run), ``{}`` for none.

    With ``quiet`` (or when ``enabled`` is False, e.g. on ranks other than 0) there is no bar;
    ``quiet`` prints a plain line every ``log_every`` steps and at the end of the epoch.
    """

    def __init__(
        self,
        epoch: int,
        epochs: int,
        start_step: int,
        total_steps: int,
        *,
        quiet: bool,
        log_every: int,
        enabled: bool = True,
        stream: TextIO | None = None,
    ) -> None:
        self.epoch, self.epochs = epoch, epochs
        self.step, self.total = start_step, total_steps
        self.quiet, self.log_every, self.enabled = quiet, log_every, enabled
        self.stream = stream or sys.stderr
        self.start_time, self.start_step = time.perf_counter(), start_step
        self.bar: tqdm | None = None
        if enabled and not quiet:
            self.bar = tqdm(
                total=total_steps,
                initial=start_step,
                desc=f"epoch {epoch + 1}/{epochs}",
                unit="step",
                file=self.stream,
                dynamic_ncols=True,
                leave=True,
            )

    def update(
        self, loss: float, img_per_s: float, parts: Mapping[str, float] | None = None
    ) -> None:
        self.step += 1
        if not self.enabled:
            return
        parts = parts or {}
        if self.bar is not None:
            shown = {"loss": f"{loss:.4f}", **{k: f"{v:.4f}" for k, v in parts.items()}}
            self.bar.set_postfix(shown, img_s=f"{img_per_s:.0f}", refresh=False)
            self.bar.update(1)
        elif self.step % self.log_every == 0 or self.step == self.total:
            done = self.step - self.start_step
            elapsed = time.perf_counter() - self.start_time
            eta = elapsed / max(done, 1) * (self.total - self.step)
            print(
                f"epoch {self.epoch + 1}/{self.epochs} step {self.step}/{self.total} "
                f"loss {loss:.4f}{format_parts(parts)} {img_per_s:.0f} img/s "
                f"eta {format_seconds(eta)}",
                file=self.stream,
                flush=True,
            )

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()

    def log(self, message: str) -> None:
        if self.enabled:
            if self.bar is not None:
                self.bar.write(message, file=self.stream)
            else:
                print(message, file=self.stream, flush=True)


# ---------------------------------------------------------------------------------------------
# a job of many runs in stages


def job_eta(
    elapsed_s: float,
    busy: Mapping[str, float],
    done: Mapping[str, int],
    left: Mapping[str, float],
    prior: Mapping[str, float] | None = None,
) -> float | None:
    """Seconds left of a job whose runs come in kinds (e.g. ``train``: runs that train, ``other``:
    runs that are only evaluated or skipped).

    Each kind's remaining work is its ``left`` count times the mean busy seconds of its ``done``
    runs (``busy``: summed worker seconds of the finished runs of that kind); the work is done at
    the job's speed so far, summed busy seconds per elapsed second (about the number of parallel
    workers). A kind other than ``train`` none of whose runs has finished yet (the untrained
    twins, evaluated after the trained runs) is estimated at its ``prior`` seconds where given
    (:class:`JobProgress`: the mean evaluation time of the trained runs), else at the mean of
    the dearest finished kind, an upper bound. 0 when nothing is left; None when it cannot be
    estimated yet (no training run has finished while some are left, or no busy time has been
    measured).
    """
    if sum(left.values()) == 0:
        return 0.0
    total_busy = sum(busy.values())
    if elapsed_s <= 0.0 or total_busy <= 0.0:
        return None
    means = {k: busy.get(k, 0.0) / n for k, n in done.items() if n > 0}
    work = 0.0
    for kind, n in left.items():
        if n <= 0:
            continue
        if done.get(kind, 0) == 0:
            if kind != "train" and prior and kind in prior:
                work += n * prior[kind]
                continue
            if kind == "train" or not means:
                return None
            work += n * max(means.values())  # bounded by the dearest finished kind
            continue
        work += n * means[kind]
    return work / (total_busy / elapsed_s)


@dataclass
class Stage:
    """One stage of a job (a figure): runs counted up front (``planned``, of which ``planned_train``
    train), runs its sweeps announced when they started (``announced``, ``announced_train``), and
    runs finished. Until it ends, its total is the larger of the planned and announced counts;
    once ended, the runs it finished."""

    name: str
    planned: int = 0
    planned_train: int = 0
    announced: int = 0
    announced_train: int = 0
    done: int = 0
    done_train: int = 0
    ended: bool = False

    @property
    def total(self) -> int:
        return self.done if self.ended else max(self.planned, self.announced, self.done)

    @property
    def total_train(self) -> int:
        if self.ended:
            return self.done_train
        return max(self.planned_train, self.announced_train, self.done_train)


class JobProgress:
    """Progress of a job of runs in named stages: runs done / total over the whole job, elapsed,
    rate and ETA (:func:`job_eta`).

    ``stages``: ``(name, runs, runs that train)`` counted up front, in order. :meth:`begin` starts a
    stage, :meth:`sweep` announces the runs of a sweep that starts in it (it corrects the up-front
    count), :meth:`finished` reports one finished run and prints its line with the job's counters.
    On a terminal (``bar`` None: the stream is a tty) a tqdm bar shows the counters and the lines
    are printed above it; otherwise each finished run prints one plain line.
    """

    def __init__(
        self,
        stages: Sequence[tuple[str, int, int]],
        *,
        stream: TextIO | None = None,
        bar: bool | None = None,
        clock: Callable[[], float] = time.perf_counter,
    ) -> None:
        self.stages = {name: Stage(name, runs, train) for name, runs, train in stages}
        self.stream = stream or sys.stderr
        self.clock = clock
        self.start_time = clock()
        self.current: Stage | None = None
        self.busy = {"train": 0.0, "other": 0.0}
        self.trained_eval_s, self.trained_evals = 0.0, 0  # evaluations of trained runs
        # cost weights of runs that train, from sweeps that give them (:meth:`weigh`)
        self.units_left, self.runs_weighed_left = 0.0, 0
        self.units_done, self.runs_weighed_done = 0.0, 0
        use_bar = bool(getattr(self.stream, "isatty", lambda: False)()) if bar is None else bar
        self.bar: tqdm | None = None
        if use_bar:
            self.bar = tqdm(
                total=self.total,
                file=self.stream,
                dynamic_ncols=True,
                leave=True,
                bar_format="{desc}{n}/{total} runs |{bar}| {elapsed} elapsed{postfix}",
            )

    # counters

    @property
    def total(self) -> int:
        return sum(s.total for s in self.stages.values())

    @property
    def done(self) -> int:
        return sum(s.done for s in self.stages.values())

    @property
    def total_train(self) -> int:
        return sum(s.total_train for s in self.stages.values())

    @property
    def done_train(self) -> int:
        return sum(s.done_train for s in self.stages.values())

    @property
    def elapsed_s(self) -> float:
        return self.clock() - self.start_time

    def eta_s(self) -> float | None:
        """Seconds left (:func:`job_eta`), None while unknown. Runs left to train that a sweep
        weighed (:meth:`weigh`) count as their weight over the mean weight of the weighed runs
        finished so far, so that a sweep ordered longest first does not price every run left
        at the cost of the first, longest ones."""
        left_train = self.total_train - self.done_train
        left_other = self.total - self.done - left_train
        left_eff = float(left_train)
        if self.runs_weighed_done and self.units_done > 0 and self.runs_weighed_left:
            mean_units = self.units_done / self.runs_weighed_done
            left_eff += self.units_left / mean_units - self.runs_weighed_left
        n = self.trained_evals
        return job_eta(
            self.elapsed_s,
            self.busy,
            {"train": self.done_train, "other": self.done - self.done_train},
            {"train": max(left_eff, 0.0), "other": max(left_other, 0)},
            {"other": self.trained_eval_s / n} if n else None,
        )

    def status(self) -> str:
        """``runs 12/40 (trained 5/30), 0:03:10 elapsed, 3.8 runs/min, eta 0:08:00``."""
        elapsed = self.elapsed_s
        rate = 60.0 * self.done / elapsed if elapsed > 0 else 0.0
        eta = self.eta_s()
        return (
            f"runs {self.done}/{self.total} (trained {self.done_train}/{self.total_train}), "
            f"{format_seconds(elapsed)} elapsed, {rate:.1f} runs/min, "
            f"eta {'?' if eta is None else format_seconds(eta)}"
        )

    # events

    def begin(self, name: str) -> None:
        """Start stage ``name`` (ending the current one); an unplanned name is added."""
        self.end()
        self.current = self.stages.setdefault(name, Stage(name))
        self._refresh()

    def end(self) -> None:
        """End the current stage: its total becomes the runs it finished."""
        if self.current is not None:
            self.current.ended = True
            self.current = None
            self._refresh()

    def sweep(self, runs: int, train: int) -> None:
        """A sweep of ``runs`` runs (``train`` of them to train) starts in the current stage."""
        stage = self._stage()
        stage.announced += runs
        stage.announced_train += train
        self._refresh()

    def weigh(self, units: Sequence[float]) -> None:
        """A sweep that starts gives the relative costs of its runs that train (any unit; e.g.
        ``figures.prefetch.cost``); :meth:`finished` with ``units`` retires them."""
        self.units_left += float(sum(units))
        self.runs_weighed_left += len(units)

    def finished(
        self,
        message: str,
        trained: bool,
        busy_s: float,
        eval_s: float | None = None,
        units: float | None = None,
    ) -> None:
        """One run finished (``trained``: it trained; ``busy_s``: its worker seconds, of which
        ``eval_s`` evaluating it: a trained run's evaluation time estimates the runs only
        evaluated, before any of them finished; ``units``: its weight, if its sweep gave them
        to :meth:`weigh`); prints ``[stage] runs i/n (...): message``."""
        stage = self._stage()
        stage.done += 1
        stage.done_train += int(trained)
        if trained and eval_s is not None and eval_s > 0:
            self.trained_eval_s += eval_s
            self.trained_evals += 1
        if trained and units is not None and self.runs_weighed_left > 0:
            self.units_left -= units
            self.runs_weighed_left -= 1
            self.units_done += units
            self.runs_weighed_done += 1
        self.busy["train" if trained else "other"] += max(busy_s, 0.0)
        self.log(f"[{stage.name}] {self.status()}: {message}")
        self._refresh()

    def log(self, message: str) -> None:
        """Print ``message`` (above the bar on a terminal)."""
        if self.bar is not None:
            self.bar.write(message, file=self.stream)
        else:
            print(message, file=self.stream, flush=True)

    def close(self) -> None:
        self.end()
        if self.bar is not None:
            self.bar.close()

    def _stage(self) -> Stage:
        if self.current is None:
            self.begin("runs")
        assert self.current is not None
        return self.current

    def _refresh(self) -> None:
        if self.bar is None:
            return
        self.bar.total = self.total
        self.bar.n = self.done
        eta = self.eta_s()
        self.bar.set_description(self.current.name if self.current else "job", refresh=False)
        self.bar.set_postfix_str(
            f"trained {self.done_train}/{self.total_train}, "
            f"eta {'?' if eta is None else format_seconds(eta)}",
            refresh=False,
        )
        self.bar.refresh()


_JOBS: list[JobProgress] = []


@contextmanager
def reporting(job: JobProgress) -> Iterator[JobProgress]:
    """Runs finished inside report into ``job`` (``figures.sweep.run_sweep`` looks it up with
    :func:`active_job`); the job is closed at the end."""
    _JOBS.append(job)
    try:
        yield job
    finally:
        _JOBS.pop()
        job.close()


def active_job() -> JobProgress | None:
    """The job of the innermost :func:`reporting`, or None."""
    return _JOBS[-1] if _JOBS else None
