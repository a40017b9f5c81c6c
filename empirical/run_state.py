"""Everything a training checkpoint holds, saved and restored (and checked) as one object.

A checkpoint (``last.pt``, the one before it kept as ``prev.pt``: :class:`CheckpointFiles`)
holds the resolved config, the state of every module, optimiser, scheduler and grad scaler, the
random state of every rank (torch's global generator, the numpy generator of the data path, the
torch generators of views, regulariser and loss), the training subset, the position in the run
(epoch, step in the epoch, the epoch's permutation, global step, training time), the length of
``metrics.jsonl`` at that point, and ``segments``: the device, process count and precision of
each stretch of the run (the first, then one per resume), so that a resume on other hardware is
recorded without touching the config.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from empirical.checkpoint import CheckpointFiles, restore_rng_state, rng_state
from empirical.compute import Compute
from empirical.config import Config, ConfigError
from empirical.distributed import DistInfo
from empirical.parts import Parts
from empirical.plan import Plan


@dataclass
class Position:
    """Where the loop is: ``epoch`` epochs done, ``step`` steps into the next, ``global_step``
    steps in all, ``elapsed_s`` seconds of training so far, and the epoch's ``permutation`` of
    the training subset."""

    epoch: int
    step: int
    global_step: int
    elapsed_s: float
    permutation: np.ndarray

    def advance(self, seconds: float) -> None:
        """One step of ``seconds`` done."""
        self.step += 1
        self.global_step += 1
        self.elapsed_s += seconds


class TrainState:
    """The checkpointed state of a run: :meth:`start` or :meth:`restore` it, :meth:`save` it.

    ``metrics_offset`` is the metrics.jsonl length a restored checkpoint recorded (None for a
    new run); ``segments`` the stretches of the run so far, this one (computing on ``compute``)
    last.
    """

    def __init__(
        self,
        files: CheckpointFiles,
        cfg: Config,
        parts: Parts,
        np_rng: np.random.Generator,
        info: DistInfo,
        plan: Plan,
        compute: Compute,
    ) -> None:
        self.files, self.cfg, self.parts, self.np_rng = files, cfg, parts, np_rng
        self.info, self.plan = info, plan
        self.segment = {
            "device": str(compute.device),
            "world_size": info.world,
            "precision": compute.precision,
        }
        self.segments: list[dict[str, Any]] = []
        self.metrics_offset: int | None = None

    def start(self) -> Position:
        """A new run: position 0, and the checkpoints of any earlier run here removed."""
        if self.info.is_main:
            self.files.start_fresh()
        self.segments = [{**self.segment, "global_step": 0, "checkpoint": None}]
        return Position(0, 0, 0, 0.0, self.plan.permutation(0))

    def restore(self, state: dict[str, Any], source: Path) -> Position:
        """Load ``state`` (read from ``source``) into the parts and random generators.

        Raises:
            ConfigError: the checkpoint was written by another number of processes, or its
                training subset or epoch order do not fit the config's data and seed.
        """
        ranks = state["rng_ranks"]
        if len(ranks) != self.info.world:
            raise ConfigError(
                "--resume",
                f"the checkpoint was written by {len(ranks)} process(es); resume with as many "
                f"(here {self.info.world}) for an exact continuation",
            )
        p = self.parts
        for k, m in p.modules().items():
            m.load_state_dict(state["models"][k])
        p.optimizer.load_state_dict(state["optimizer"])
        if p.vm_optimizer is not None:
            p.vm_optimizer.load_state_dict(state["vm_optimizer"])
        p.scheduler.load_state_dict(state["scheduler"])
        p.scaler.load_state_dict(state["scaler"])
        restore_rng_state(ranks[self.info.rank], self.np_rng, p.generators)
        plan = self.plan
        subset = np.asarray(state.get("subset", plan.subset))
        if len(subset) != len(plan.subset) or (len(subset) and int(subset.max()) >= plan.n_total):
            raise ConfigError("--resume", f"the training subset of {source} does not fit the data")
        self.plan = dataclasses.replace(plan, subset=subset)
        pos = Position(
            state["epoch"],
            state["step"],
            state["global_step"],
            state["elapsed_s"],
            np.asarray(state["permutation"]),
        )
        if not np.array_equal(pos.permutation, self.plan.permutation(pos.epoch)):
            raise ConfigError("--resume", f"the epoch order in {source} does not match the seed")
        segment = {**self.segment, "global_step": pos.global_step, "checkpoint": source.name}
        self.segments = [*state.get("segments", []), segment]
        self.metrics_offset = state["metrics_offset"]
        return pos

    def next_epoch(self, pos: Position) -> Position:
        return Position(
            pos.epoch + 1, 0, pos.global_step, pos.elapsed_s, self.plan.permutation(pos.epoch + 1)
        )

    def save(self, pos: Position, metrics_offset: int) -> None:
        """Checkpoint ``pos`` (every rank takes part: rank 0 gathers every rank's random state
        and writes ``last.pt``, keeping the previous good one as ``prev.pt``)."""
        rng_ranks: list[Any] = [rng_state(self.np_rng, self.parts.generators)]
        if self.info.active:
            import torch.distributed as dist

            rng_ranks = [None] * self.info.world
            dist.all_gather_object(rng_ranks, rng_state(self.np_rng, self.parts.generators))
        if self.info.is_main:
            self.files.save(self._state(pos, rng_ranks, metrics_offset))

    def _state(self, pos: Position, rng_ranks: list[Any], metrics_offset: int) -> dict[str, Any]:
        p = self.parts
        return {
            "config": self.cfg.to_dict(),
            "models": {k: m.state_dict() for k, m in p.modules().items()},
            "optimizer": p.optimizer.state_dict(),
            "vm_optimizer": None if p.vm_optimizer is None else p.vm_optimizer.state_dict(),
            "scheduler": p.scheduler.state_dict(),
            "scaler": p.scaler.state_dict(),
            "rng_ranks": rng_ranks,  # rng_state(...) of every rank, in rank order
            "epoch": pos.epoch,
            "step": pos.step,
            "permutation": pos.permutation,  # order of positions in ``subset`` this epoch
            "subset": self.plan.subset,  # training example indices (training_subset)
            "global_step": pos.global_step,
            "metrics_offset": metrics_offset,
            "elapsed_s": pos.elapsed_s,
            "segments": self.segments,
        }
