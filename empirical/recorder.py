"""What a training run records: metrics.jsonl, the progress display, messages, summary.json.

``metrics.jsonl`` holds one JSON record per line (rank 0 writes):

* ``{"type": "step", epoch, step, global_step, loss, contrastive_loss, penalty, lr, img_per_s}``
  after every optimisation step (``lr``: the encoder's; runs with a viewmaker add ``vm_lr``);
* ``{"type": "epoch", epoch, global_step, loss, contrastive_loss, penalty, time_s, img_per_s,
  knn}`` after every epoch (means over its steps; ``knn``: the online kNN accuracy, or R^2, per
  task, after this epoch when the monitor ran then, ``run.knn_every``, else ``{}``);
* ``{"type": "knn", epoch, global_step, knn}`` after every ``run.knn_every_steps``-th step (the
  same monitor; a learning curve for runs of an epoch or less);
* ``{"type": "resume", global_step, epoch, step, device, world_size, precision, checkpoint}``
  where a resumed segment of the run begins.

``loss`` is the objective ``contrastive_loss + regulariser.weight * penalty``; ``penalty`` is the
unweighted gradient penalty, 0.0 in runs without one. A resume truncates the file to the length
saved with its checkpoint, so the log of a resumed run holds each step exactly once.
"""

from __future__ import annotations

import json
import signal
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from empirical.config import Config
from empirical.distributed import DistInfo
from empirical.io import atomic_write_json
from empirical.progress import Progress, format_parts
from empirical.run_state import Position
from empirical.step import StepLoss
from empirical.tracking import TensorBoardTracker


class Metrics:
    """metrics.jsonl writer (rank 0); ``offset`` is saved in checkpoints for exact resumes."""

    def __init__(self, path: Path, enabled: bool, offset: int | None) -> None:
        self.path, self.enabled = path, enabled
        if enabled:
            if offset is not None and path.exists():
                with open(path, "r+b") as f:
                    f.truncate(offset)  # drop lines written after the checkpoint
            elif offset is None:
                path.write_bytes(b"")

    def write(self, record: dict[str, Any]) -> None:
        if self.enabled:
            with open(self.path, "a") as f:
                f.write(json.dumps(record) + "\n")

    @property
    def offset(self) -> int:
        return self.path.stat().st_size if self.enabled and self.path.exists() else 0


class Recorder:
    """The run's records (written by rank 0): config.json, a line of metrics.jsonl per step and
    per epoch, the progress display, and the final summary.

    ``offset``: the metrics.jsonl length to continue from (a resume), None for a new log.
    ``status`` is "completed" until :meth:`nonfinite` or :meth:`interrupted` says otherwise.
    """

    def __init__(
        self,
        run_dir: Path,
        cfg: Config,
        info: DistInfo,
        quiet: bool,
        offset: int | None,
        tracker: TensorBoardTracker | None = None,
    ) -> None:
        self.run_dir, self.cfg, self.info, self.quiet = run_dir, cfg, info, quiet
        self.tracker = tracker  # TensorBoard (run.tensorboard): fed every metrics.jsonl record
        if info.is_main:
            run_dir.mkdir(parents=True, exist_ok=True)
            atomic_write_json(run_dir / "config.json", cfg.to_dict())
        self.metrics = Metrics(run_dir / "metrics.jsonl", info.is_main, offset)
        self.status, self.message = "completed", ""
        self.knn: dict[str, float] = {}
        self.last = StepLoss(float("nan"), float("nan"), float("nan"))
        self.steps: list[StepLoss] = []
        self.bar: Progress | None = None
        self.t_epoch = time.perf_counter()
        self.epoch_time = 0.0

    @property
    def offset(self) -> int:
        return self.metrics.offset

    def _write(self, record: dict[str, Any]) -> None:
        self.metrics.write(record)
        if self.tracker is not None:
            self.tracker.log_record(record)

    def event(self, record: dict[str, Any]) -> None:
        self._write(record)

    def _parts(self, loss: StepLoss) -> dict[str, float]:
        """The loss parts shown in the progress display: only for runs with a penalty."""
        if self.cfg.regulariser.weight <= 0:
            return {}
        return {"contrastive": loss.contrastive, "penalty": loss.penalty}

    def start_epoch(self, pos: Position, steps_per_epoch: int) -> None:
        self.bar = Progress(
            pos.epoch,
            self.cfg.optim.epochs,
            pos.step,
            steps_per_epoch,
            quiet=self.quiet,
            log_every=self.cfg.run.log_every,
            enabled=self.info.is_main,
        )
        self.steps, self.t_epoch = [], time.perf_counter()

    def step(
        self, pos: Position, loss: StepLoss, lr: float, dt: float, vm_lr: float | None = None
    ) -> None:
        """After a step of ``dt`` seconds (``pos`` already advanced past it); ``vm_lr`` the
        viewmaker's learning rate (None: no viewmaker)."""
        rate = self.cfg.optim.batch_size / dt
        self.last = loss
        self.steps.append(loss)
        self._write(
            {
                "type": "step",
                "epoch": pos.epoch,
                "step": pos.step,
                "global_step": pos.global_step,
                **_loss_fields(loss),
                "lr": lr,
                **({} if vm_lr is None else {"vm_lr": vm_lr}),
                "img_per_s": rate,
            }
        )
        if self.bar is not None:
            self.bar.update(loss.loss, rate, self._parts(loss))

    def end_steps(self) -> None:
        """The epoch's steps are over (its time is measured up to here, before the kNN)."""
        self.epoch_time = time.perf_counter() - self.t_epoch
        if self.bar is not None:
            self.bar.close()

    def epoch(self, pos: Position, knn: dict[str, float] | None) -> None:
        """The record of epoch ``pos.epoch``; ``knn`` from the monitor (None: not run)."""
        epoch, global_step, epoch_time = pos.epoch, pos.global_step, self.epoch_time
        self.knn = self.knn if knn is None else knn
        fresh = {} if knn is None else knn  # an epoch the monitor skipped records no kNN
        mean = _mean(self.steps)
        record = {
            "type": "epoch",
            "epoch": epoch,
            "global_step": global_step,
            **_loss_fields(mean),
            "time_s": epoch_time,
            "img_per_s": len(self.steps) * self.cfg.optim.batch_size / max(epoch_time, 1e-9),
            "knn": fresh,
        }
        self._write(record)
        if self.info.is_main and self.bar is not None:
            self.bar.log(
                f"epoch {epoch + 1}/{self.cfg.optim.epochs} loss {mean.loss:.4f}"
                f"{format_parts(self._parts(mean))} {record['img_per_s']:.0f} img/s "
                f"knn {self.knn}"
            )

    def knn_point(self, pos: Position, knn: dict[str, float]) -> None:
        """A kNN monitor point after step ``pos.global_step`` (``run.knn_every_steps``)."""
        self.knn = knn
        record = {"type": "knn", "epoch": pos.epoch, "global_step": pos.global_step, "knn": knn}
        self._write(record)
        if self.info.is_main and self.bar is not None:
            self.bar.log(f"step {pos.global_step} knn {knn}")

    def nonfinite(self, pos: Position, error: Exception, checkpoint: Path) -> None:
        self.end_steps()
        self.status = "nonfinite"
        self.message = (
            f"non-finite loss at epoch {pos.epoch + 1} step {pos.step + 1} ({error}); "
            f"stopped; {checkpoint} holds the last good checkpoint"
        )

    def interrupted(self, pos: Position, signum: int, checkpoint: Path) -> None:
        self.status = "interrupted"
        sig = signum or signal.SIGTERM
        self.message = (
            f"interrupted by {signal.Signals(sig).name} at epoch {pos.epoch + 1} "
            f"step {pos.step}; "
            f"checkpoint saved to {checkpoint}; continue with --resume {self.run_dir}"
        )

    def summary(self, **fields: Any) -> dict[str, Any]:
        """summary.json: status, message, the final step's loss and parts, the last kNN, plus
        ``fields`` (counts, times, device and precision); written by rank 0, returned by all."""
        out = {
            "status": self.status,
            "message": self.message,
            "final_loss": self.last.loss,
            "final_contrastive_loss": self.last.contrastive,
            "final_penalty": self.last.penalty,
            "knn": self.knn,
            **fields,
        }
        if self.tracker is not None:
            self.tracker.close()
        if self.info.is_main:
            atomic_write_json(self.run_dir / "summary.json", out)
            if self.message:
                print(self.message, file=sys.stderr, flush=True)
        return out


def _loss_fields(loss: StepLoss) -> dict[str, float]:
    return {"loss": loss.loss, "contrastive_loss": loss.contrastive, "penalty": loss.penalty}


def _mean(steps: list[StepLoss]) -> StepLoss:
    if not steps:
        return StepLoss(float("nan"), float("nan"), float("nan"))
    columns = zip(*((s.loss, s.contrastive, s.penalty) for s in steps), strict=True)
    return StepLoss(*(float(np.mean(c)) for c in columns))
