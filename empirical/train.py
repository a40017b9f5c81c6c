"""The one contrastive training loop shared by every experiment (issue 4).

``python -m empirical.train --preset NAME [section.key=value ...]`` pretrains an encoder; see
``--help``. The parts are built by ``empirical.parts``, one step is ``empirical.step`` (one
forward of both views, one backward for the encoder and the viewmaker), the data schedule is
``empirical.plan``, the checkpointed state ``empirical.run_state``, the records
``empirical.recorder``, the online kNN monitor ``empirical.knn``; this module holds the loop,
signals and the command line. With ``torchrun`` every rank reads its shard of the global batch.

Run directory: ``config.json`` (resolved config), ``metrics.jsonl`` (one line per step, one per
epoch, one where a resume begins; see ``empirical.recorder``), ``last.pt`` (atomic; every epoch,
on SIGINT/SIGTERM at a step boundary, and at the end) and ``prev.pt`` (the checkpoint before it,
kept so that a damaged ``last.pt`` still leaves one to resume from), ``summary.json``.

Logged losses: ``loss`` is the objective, ``contrastive_loss + regulariser.weight * penalty``;
``contrastive_loss`` is the contrastive loss alone and ``penalty`` the unweighted gradient
penalty (always present, 0.0 when ``regulariser.weight`` is 0), in every step and epoch record
and in the summary (``final_loss``, ``final_contrastive_loss``, ``final_penalty``); the progress
line shows the two parts for runs with a penalty. ``summary["precision"]`` is the dtype the
encoder computes in (float32, float64, bfloat16 or float16).

Resuming never changes what was recorded about a run: the config is the checkpoint's (a config
passed to ``train(..., resume=True)`` must equal it, else ``ConfigError`` names the
differences); another device (``--device`` / ``device=``) is used without touching the config,
and each stretch of the run (device, processes, precision, first global step) is listed in
``summary["segments"]`` and marked by a ``resume`` record in metrics.jsonl. A ``last.pt`` that
cannot be read falls back to ``prev.pt`` (a warning on stderr says so).

Exit status: 0 done, 2 bad config or unusable checkpoint, 3 non-finite loss, 128 + signal
number when interrupted (the checkpoint is written first).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import FrameType
from typing import Any

import numpy as np
import torch

from empirical.allocator import keep_freed_memory
from empirical.checkpoint import CheckpointError, CheckpointFiles, Loaded
from empirical.cli import prog
from empirical.compute import Compute, device_of, resolve_compute
from empirical.config import Config, ConfigError, apply_overrides, describe, from_dict
from empirical.data.base import Batch, MultiTaskDataset
from empirical.data.subsets import channel_counts
from empirical.distributed import DistInfo, init_from_env, shutdown
from empirical.knn import knn_monitor, knn_sets
from empirical.parts import Parts, build_dataset, build_parts, to_device
from empirical.plan import Plan
from empirical.recorder import Recorder
from empirical.run_state import Position, TrainState
from empirical.step import NonFiniteLoss, train_step
from empirical.tracking import log_gallery, open_tracker

EXIT_OK, EXIT_CONFIG, EXIT_NONFINITE = 0, 2, 3


class StopFlag:
    """Records SIGINT, SIGTERM and SIGUSR2 (the signal Slurm sends before preempting or timing
    out a job); the loop checks it at step boundaries, saves ``last.pt`` and stops."""

    signals = (signal.SIGINT, signal.SIGTERM, signal.SIGUSR2)

    def __init__(self) -> None:
        self.signum = 0

    def __call__(self, signum: int, frame: FrameType | None) -> None:
        self.signum = signum

    @contextmanager
    def installed(self) -> Iterator[StopFlag]:
        old = {s: signal.signal(s, self) for s in self.signals}
        try:
            yield self
        finally:
            for s, h in old.items():
                signal.signal(s, h)


def train(
    cfg: Config | None,
    run_dir: str | os.PathLike[str],
    *,
    resume: bool = False,
    device: str | None = None,
    quiet: bool = True,
    datasets: tuple[MultiTaskDataset, MultiTaskDataset | None] | None = None,
) -> dict[str, Any]:
    """Pretrain per ``cfg`` into ``run_dir``; returns the summary (also saved as summary.json).

    Args:
        cfg: the run's config; with ``resume`` None (the checkpoint's) or equal to it.
        resume: continue from ``run_dir/last.pt`` (``prev.pt`` if that cannot be read).
        device: compute on this device ("auto", "cpu", "cuda") instead of ``run.device``; a new
            run records it as its ``run.device``, a resume in ``summary["segments"]`` only.
        quiet: plain log lines instead of a progress bar.
        datasets: (train, held-out) datasets instead of building ``cfg.data`` (tests).

    Raises:
        ConfigError: a configuration that cannot run (e.g. batch not divisible by ranks), or a
            ``cfg`` that differs from the checkpoint's on a resume (the message lists how).
        FileNotFoundError: ``resume`` without a checkpoint.
        CheckpointError: ``resume`` with no readable checkpoint (``last.pt`` nor ``prev.pt``).
        NonFiniteLoss: never; a non-finite loss ends the run with status "nonfinite" and leaves
            ``last.pt`` as it was.
        KeyboardInterrupt: never; SIGINT/SIGTERM end the run with status "interrupted".
    """
    keep_freed_memory()  # fewer page faults a step on CPU (empirical.allocator)
    run_dir = Path(run_dir)
    files = CheckpointFiles(run_dir)
    loaded: Loaded | None = None
    if resume:
        loaded = files.load()
        cfg = _resumed_config(cfg, from_dict(loaded.state["config"]))
    elif cfg is None:
        raise ValueError("train: a new run needs a config (cfg=None only with resume=True)")
    elif device is not None:
        cfg = apply_overrides(cfg, [f"run.device={device}"])
    dev = device_of(cfg, device)
    info = init_from_env(dev.type)
    try:
        compute = resolve_compute(cfg, dev, info)
        if loaded is not None and loaded.note and info.is_main:
            print(loaded.note, file=sys.stderr, flush=True)
        # torch's global RNG (used by nothing of ours, but perhaps by a user's suite or module)
        # is seeded from the run inside a fork: deterministic runs, the caller's state left
        # untouched; a resume restores the saved global state
        cuda = [compute.device.index or 0] if compute.device.type == "cuda" else []
        with torch.random.fork_rng(devices=cuda):
            torch.manual_seed(cfg.run.seed)
            return _train(cfg, run_dir, files, loaded, compute, info, quiet, datasets)
    finally:
        shutdown(info)


def _train(
    cfg: Config,
    run_dir: Path,
    files: CheckpointFiles,
    loaded: Loaded | None,
    compute: Compute,
    info: DistInfo,
    quiet: bool,
    datasets: tuple[MultiTaskDataset, MultiTaskDataset | None] | None,
) -> dict[str, Any]:
    _threads_and_determinism(cfg)
    train_set, test_set = datasets if datasets is not None else _datasets(cfg)
    plan = Plan.of(cfg, len(train_set), info.world)
    parts = _build_parts(cfg, train_set, plan, compute, info)
    np_rng = np.random.default_rng([cfg.run.seed, 1, info.rank])
    monitor = _monitor_sets(cfg, train_set, test_set, plan, info)
    state = TrainState(files, cfg, parts, np_rng, info, plan, compute)
    pos = state.start() if loaded is None else state.restore(loaded.state, loaded.path)
    plan = state.plan
    if loaded is not None and (done := _completed_summary(run_dir, plan, pos)) is not None:
        return done
    tracker = open_tracker(cfg, run_dir, info.is_main, None if loaded is None else pos.global_step)
    rec = Recorder(run_dir, cfg, info, quiet, state.metrics_offset, tracker)
    if loaded is not None:
        rec.event({"type": "resume", "epoch": pos.epoch, "step": pos.step, **state.segments[-1]})
    flag, stop = StopFlag(), False
    for m in parts.modules().values():
        m.train()
    with flag.installed():
        while not plan.finished(pos.epoch, pos.global_step):
            rec.start_epoch(pos, plan.steps_per_epoch)
            while pos.step < plan.steps_per_epoch and pos.global_step < plan.steps_total:
                t0 = time.perf_counter()
                batch = train_set.batch(plan.indices(pos.permutation, pos.step, info.rank), np_rng)
                batch = to_device(batch, compute.device, compute.dtype)
                try:
                    loss, stop = train_step(parts, batch, cfg, info, compute, flag.signum != 0)
                except NonFiniteLoss as e:
                    rec.nonfinite(pos, e, files.last)
                    break
                dt = time.perf_counter() - t0
                pos.advance(dt)
                rec.step(pos, loss, float(parts.scheduler.get_last_lr()[0]), dt, _vm_lr(parts))
                every = cfg.run.knn_every_steps
                knn = _knn(cfg, parts, monitor, train_set, pos.global_step, every, compute)
                if knn is not None:
                    rec.knn_point(pos, knn)
                if stop:
                    break
            rec.end_steps()
            if rec.status == "nonfinite":
                break
            if stop or pos.step < plan.steps_per_epoch:  # a signal, or max_steps mid-epoch
                state.save(pos, rec.offset)
                if stop:
                    rec.interrupted(pos, flag.signum, files.last)
                break
            every = cfg.run.knn_every
            rec.epoch(pos, _knn(cfg, parts, monitor, train_set, pos.epoch + 1, every, compute))
            pos = state.next_epoch(pos)
            log_gallery(
                tracker,
                cfg,
                parts,
                train_set,
                pos.epoch,
                pos.global_step,
                compute.device,
                compute.dtype,
            )
            state.save(pos, rec.offset)
    summary = rec.summary(**_run_fields(pos, plan, compute, info, state.segments))
    return {**summary, "signum": flag.signum}


# --------------------------------------------------------------------------------------------
# the pieces the loop calls once
# --------------------------------------------------------------------------------------------


def _resumed_config(cfg: Config | None, saved: Config) -> Config:
    """The checkpoint's config ``saved``; a ``cfg`` passed in must equal it.

    Raises:
        ConfigError: naming the first differing key, listing every difference.
    """
    if cfg is None or cfg == saved:
        return saved
    new, old = _flat(cfg.to_dict()), _flat(saved.to_dict())
    keys = sorted(k for k in new.keys() | old.keys() if new.get(k) != old.get(k))
    diffs = "; ".join(f"{k} = {new.get(k)!r} here, {old.get(k)!r} in the checkpoint" for k in keys)
    raise ConfigError(
        keys[0],
        f"a resume continues the run's saved config, and this one differs ({diffs}); pass "
        f"cfg=None (or the saved config), a device with device=..., or start a new run",
    )


def _flat(d: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in d.items():
        if isinstance(v, dict) and prefix.count(".") < 1:
            out.update(_flat(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = v
    return out


def _threads_and_determinism(cfg: Config) -> None:
    if cfg.run.threads > 0:
        torch.set_num_threads(cfg.run.threads)
    if cfg.run.deterministic:
        torch.use_deterministic_algorithms(True, warn_only=True)


def _datasets(cfg: Config) -> tuple[MultiTaskDataset, MultiTaskDataset | None]:
    """The training split, and the held-out split when the kNN monitor runs."""
    monitored = cfg.data.knn_test > 0 and _monitored(cfg)
    return build_dataset(cfg, "train"), build_dataset(cfg, "test") if monitored else None


def _build_parts(
    cfg: Config, train_set: MultiTaskDataset, plan: Plan, compute: Compute, info: DistInfo
) -> Parts:
    """The parts, for the channel counts read off two training examples (the encoder's: views
    plus post-view channels; the views')."""
    channels = channel_counts(train_set)
    return build_parts(
        cfg,
        channels.total,
        channels.views,
        plan.steps_total,
        plan.steps_per_epoch,
        compute.device,
        info,
    )


def _monitor_sets(
    cfg: Config,
    train_set: MultiTaskDataset,
    test_set: MultiTaskDataset | None,
    plan: Plan,
    info: DistInfo,
) -> tuple[Batch, Batch] | None:
    """The kNN monitor's held-out sets (seeded random examples, fixed overlays), rank 0 only."""
    if test_set is None or not _monitored(cfg) or cfg.data.knn_test <= 0 or not info.is_main:
        return None
    d = cfg.data
    return knn_sets(train_set, test_set, plan.subset, d.knn_bank, d.knn_test, cfg.run.seed)


def _knn(
    cfg: Config,
    parts: Parts,
    monitor: tuple[Batch, Batch] | None,
    train_set: MultiTaskDataset,
    count: int,
    every: int,
    compute: Compute,
) -> dict[str, float] | None:
    """Per-task kNN accuracy (R^2 for regression) when ``count`` (epochs done, for
    ``run.knn_every``; optimiser steps done, for ``run.knn_every_steps``) is a multiple of
    ``every`` (0: never), else None."""
    if monitor is None or every <= 0 or count % every:
        return None
    bank, query = monitor
    return knn_monitor(parts.encoder, bank, query, train_set.tasks, cfg.run.knn_k, compute.device)


def _monitored(cfg: Config) -> bool:
    """Whether the kNN monitor runs at all (every N epochs or every N steps)."""
    return cfg.run.knn_every > 0 or cfg.run.knn_every_steps > 0


def _vm_lr(parts: Parts) -> float | None:
    """The viewmaker's learning rate (None without a viewmaker)."""
    opt = parts.vm_optimizer
    return None if opt is None else float(opt.param_groups[0]["lr"])


def _completed_summary(run_dir: Path, plan: Plan, pos: Position) -> dict[str, Any] | None:
    """The saved summary of a run already completed (a resume has nothing left to do)."""
    path = run_dir / "summary.json"
    if plan.finished(pos.epoch, pos.global_step) and path.exists():
        previous: dict[str, Any] = json.loads(path.read_text())
        if previous.get("status") == "completed":
            return {**previous, "signum": 0}
    return None


def _run_fields(
    pos: Position, plan: Plan, compute: Compute, info: DistInfo, segments: list[dict[str, Any]]
) -> dict[str, Any]:
    return {
        "epochs_done": pos.epoch,
        "global_step": pos.global_step,
        "steps_total": plan.steps_total,
        "train_time_s": pos.elapsed_s,
        "img_per_s": pos.global_step * plan.batch_size / max(pos.elapsed_s, 1e-9),
        "device": str(compute.device),
        "world_size": info.world,
        "precision": compute.precision,
        "allocator": keep_freed_memory(),
        "segments": segments,
    }


# --------------------------------------------------------------------------------------------
# command line
# --------------------------------------------------------------------------------------------


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog=prog("python -m empirical.train"),
        description="Contrastive pretraining (the one training loop). "
        "Overrides: section.key=value, e.g. optim.lr=0.1 views.name=oracle views.p=0.5.",
    )
    p.add_argument("overrides", nargs="*", metavar="KEY=VALUE")
    p.add_argument("--preset", help="named preset (see --list; default viewmaker-digits-cpu)")
    p.add_argument("--list", action="store_true", help="list presets and exit")
    p.add_argument("--keys", action="store_true", help="list config keys with ranges and exit")
    p.add_argument("--out", help="run directory (default runs/PRESET-seedSEED)")
    p.add_argument(
        "--resume",
        metavar="RUN_DIR",
        help="continue RUN_DIR from its last.pt (from prev.pt if last.pt is damaged)",
    )
    p.add_argument(
        "--device",
        choices=("auto", "cpu", "cuda"),
        help="override run.device (with --resume: recorded as a new segment, config unchanged)",
    )
    p.add_argument("--quiet", action="store_true", help="plain log lines, no progress bar")
    return p


def main(argv: list[str] | None = None) -> int:
    from empirical import presets

    args = _parser().parse_args(argv)
    if args.list:
        for line in presets.listing():
            print(line)
        return EXIT_OK
    if args.keys:
        print("\n".join(describe()))
        return EXIT_OK
    try:
        cfg: Config | None = None
        if args.resume:
            if args.preset or args.overrides:
                raise ConfigError("--resume", "takes no --preset or overrides (config is saved)")
            run_dir = Path(args.resume)
        else:
            name = args.preset or presets.DEFAULT
            cfg = apply_overrides(presets.get(name), args.overrides)
            run_dir = Path(args.out or f"runs/{name}-seed{cfg.run.seed}")
            files = CheckpointFiles(run_dir)
            if files.last.exists() or files.previous.exists():
                raise ConfigError(
                    "--out", f"{run_dir} already holds a run; use --resume {run_dir} or --out"
                )
        summary = train(
            cfg, run_dir, resume=bool(args.resume), device=args.device, quiet=args.quiet
        )
    except (ConfigError, FileNotFoundError, CheckpointError) as e:
        print(f"error: {e}", file=sys.stderr)
        return EXIT_CONFIG
    if summary["status"] == "nonfinite":
        return EXIT_NONFINITE
    if summary["status"] == "interrupted":
        return 128 + int(summary["signum"] or signal.SIGTERM)
    return EXIT_OK


if __name__ == "__main__":
    raise SystemExit(main())
