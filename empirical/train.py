"""The one contrastive training loop shared by every experiment (issue 4).

``python -m empirical.train --preset NAME [section.key=value ...]`` pretrains an encoder; see
``--help``. The parts are built by ``empirical.parts``, one step is ``empirical.step`` (one
forward of both views, one backward for the encoder and the viewmaker), the online kNN monitor is
``empirical.knn``; this module holds the loop, checkpoints, signals and the command line. With
``torchrun`` every rank reads its shard of the global batch.

Run directory: ``config.json`` (resolved config), ``metrics.jsonl`` (one line per step and one
per epoch), ``last.pt`` (atomic; every epoch, on SIGINT/SIGTERM at a step boundary, and at the
end), ``summary.json``. Exit status: 0 done, 2 bad config, 3 non-finite loss,
128 + signal number when interrupted (the checkpoint is written first).
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

from empirical.checkpoint import load_checkpoint, restore_rng_state, rng_state, save_checkpoint
from empirical.config import Config, ConfigError, apply_overrides, describe, from_dict
from empirical.data.base import Batch, MultiTaskDataset
from empirical.distributed import (
    DistInfo,
    init_from_env,
    shutdown,
)
from empirical.io import atomic_write_json
from empirical.knn import encode, knn_monitor, knn_sets  # noqa: F401  (encode: re-export)
from empirical.parts import (  # noqa: F401  (re-exported: empirical.train stays the harness's API)
    Parts,
    build_dataset,
    build_parts,
    build_views,
    config_errors,
    encoder_kwargs,
    lr_factor,
    resolve_device,
    resolve_precision,
    to_device,
)
from empirical.progress import Progress
from empirical.step import NonFiniteLoss, contrastive_loss, train_step  # noqa: F401

EXIT_OK, EXIT_CONFIG, EXIT_NONFINITE = 0, 2, 3


# --------------------------------------------------------------------------------------------
# signals and the loop
# --------------------------------------------------------------------------------------------


class StopFlag:
    """Records SIGINT/SIGTERM; the loop checks it at step boundaries."""

    def __init__(self) -> None:
        self.signum = 0

    def __call__(self, signum: int, frame: FrameType | None) -> None:
        self.signum = signum

    @contextmanager
    def installed(self) -> Iterator[StopFlag]:
        old = {s: signal.signal(s, self) for s in (signal.SIGINT, signal.SIGTERM)}
        try:
            yield self
        finally:
            for s, h in old.items():
                signal.signal(s, h)


def training_subset(seed: int, n_total: int, size: int) -> np.ndarray:
    """Sorted indices of the training examples a run uses, shape ``(min(size, n_total),)``.

    ``size`` 0 (or >= ``n_total``) means all examples. Otherwise a uniformly random subset drawn
    once from ``seed`` (suites may be stored sorted by class, so a prefix would hold only a few
    classes); each epoch then visits it in the order of :func:`epoch_permutation`.
    """
    if size == 0 or size >= n_total:
        return np.arange(n_total)
    return np.sort(np.random.default_rng([seed, 6]).choice(n_total, size, replace=False))


def epoch_permutation(seed: int, epoch: int, n: int) -> np.ndarray:
    """The order of the ``n`` training examples in ``epoch`` (a pure function of seed, epoch)."""
    return np.random.default_rng([seed, 2, epoch]).permutation(n)


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


def _checkpoint_state(
    cfg: Config,
    parts: Parts,
    rng_ranks: list[Any],
    epoch: int,
    step: int,
    perm: np.ndarray,
    subset: np.ndarray,
    metrics_offset: int,
    global_step: int,
    elapsed: float,
) -> dict[str, Any]:
    return {
        "config": cfg.to_dict(),
        "models": {k: m.state_dict() for k, m in parts.modules().items()},
        "optimizer": parts.optimizer.state_dict(),
        "vm_optimizer": None if parts.vm_optimizer is None else parts.vm_optimizer.state_dict(),
        "scheduler": parts.scheduler.state_dict(),
        "scaler": parts.scaler.state_dict(),
        "rng_ranks": rng_ranks,  # rng_state(...) of every rank, in rank order
        "epoch": epoch,
        "step": step,
        "permutation": perm,  # order of positions in ``subset`` this epoch
        "subset": subset,  # training example indices (training_subset)
        "global_step": global_step,
        "metrics_offset": metrics_offset,
        "elapsed_s": elapsed,
    }


def train(
    cfg: Config,
    run_dir: str | os.PathLike[str],
    *,
    resume: bool = False,
    quiet: bool = True,
    datasets: tuple[MultiTaskDataset, MultiTaskDataset | None] | None = None,
) -> dict[str, Any]:
    """Pretrain per ``cfg`` into ``run_dir``; returns the summary (also saved as summary.json).

    Args:
        resume: continue from ``run_dir/last.pt`` (config taken from the checkpoint).
        quiet: plain log lines instead of a progress bar.
        datasets: (train, held-out) datasets instead of building ``cfg.data`` (tests).

    Raises:
        ConfigError: a configuration that cannot run (e.g. batch not divisible by ranks).
        NonFiniteLoss: the loss became non-finite; ``last.pt`` is left as it was.
        KeyboardInterrupt: never; SIGINT/SIGTERM end the run with status "interrupted".
    """
    run_dir = Path(run_dir)
    ckpt_path = run_dir / "last.pt"
    state: dict[str, Any] | None = None
    if resume:
        state = load_checkpoint(ckpt_path)
        cfg = from_dict(state["config"])
    device = resolve_device(cfg.run.device)
    amp = resolve_precision(cfg.run.precision, device)
    info = init_from_env(device.type)
    if info.active and device.type == "cuda":
        device = torch.device("cuda", info.local_rank)
        torch.cuda.set_device(device)
    # torch's global RNG (used by nothing of ours, but perhaps by a user's suite or module) is
    # seeded from the run inside a fork: deterministic runs, the caller's state left untouched;
    # a resume restores the saved global state
    cuda = [device.index or 0] if device.type == "cuda" else []
    try:
        with torch.random.fork_rng(devices=cuda):
            torch.manual_seed(cfg.run.seed)
            return _train(cfg, run_dir, state, device, amp, info, quiet, datasets)
    finally:
        shutdown(info)


def _train(
    cfg: Config,
    run_dir: Path,
    state: dict[str, Any] | None,
    device: torch.device,
    amp: torch.dtype | None,
    info: DistInfo,
    quiet: bool,
    datasets: tuple[MultiTaskDataset, MultiTaskDataset | None] | None,
) -> dict[str, Any]:
    if cfg.run.threads > 0:
        torch.set_num_threads(cfg.run.threads)
    if cfg.run.deterministic:
        torch.use_deterministic_algorithms(True, warn_only=True)
    o = cfg.optim
    ckpt_path = run_dir / "last.pt"
    dtype = torch.float64 if cfg.run.precision == "fp64" else torch.float32
    if o.batch_size % info.world:
        raise ConfigError(
            "optim.batch_size", f"{o.batch_size} is not divisible by {info.world} processes"
        )
    local_batch = o.batch_size // info.world
    train_set, test_set = datasets if datasets is not None else (build_dataset(cfg, "train"), None)
    if datasets is None and cfg.data.knn_test > 0 and cfg.run.knn_every > 0:
        test_set = build_dataset(cfg, "test")
    subset = training_subset(cfg.run.seed, len(train_set), cfg.data.train_size)
    n_train = len(subset)
    steps_per_epoch = n_train // o.batch_size
    if steps_per_epoch < 1:
        raise ConfigError(
            "optim.batch_size", f"{o.batch_size} exceeds the {n_train} training examples"
        )
    steps_total = steps_per_epoch * o.epochs
    if o.max_steps:
        steps_total = min(steps_total, o.max_steps)

    probe = train_set.batch(np.arange(min(2, len(train_set))), np.random.default_rng(0))
    view_channels = probe.x.shape[1]
    extra = 0 if probe.post_view_channels is None else probe.post_view_channels.shape[1]
    parts = build_parts(
        cfg, view_channels + extra, view_channels, steps_total, steps_per_epoch, device, info
    )
    np_rng = np.random.default_rng([cfg.run.seed, 1, info.rank])

    # held-out kNN monitor sets: seeded random examples, fixed overlays
    monitor: tuple[Batch, Batch] | None = None
    if test_set is not None and cfg.run.knn_every > 0 and cfg.data.knn_test > 0 and info.is_main:
        monitor = knn_sets(
            train_set, test_set, subset, cfg.data.knn_bank, cfg.data.knn_test, cfg.run.seed
        )

    epoch, step, global_step, elapsed = 0, 0, 0, 0.0
    perm = epoch_permutation(cfg.run.seed, 0, n_train)
    if state is not None:
        for k, m in parts.modules().items():
            m.load_state_dict(state["models"][k])
        parts.optimizer.load_state_dict(state["optimizer"])
        if parts.vm_optimizer is not None:
            parts.vm_optimizer.load_state_dict(state["vm_optimizer"])
        parts.scheduler.load_state_dict(state["scheduler"])
        parts.scaler.load_state_dict(state["scaler"])
        ranks = state["rng_ranks"]
        if len(ranks) != info.world:
            raise ConfigError(
                "--resume",
                f"the checkpoint was written by {len(ranks)} process(es); resume with as many "
                f"(here {info.world}) for an exact continuation",
            )
        restore_rng_state(ranks[info.rank], np_rng, parts.generators)
        epoch, step, global_step = state["epoch"], state["step"], state["global_step"]
        elapsed = state["elapsed_s"]
        perm = np.asarray(state["permutation"])
        subset = np.asarray(state["subset"]) if "subset" in state else subset
        if len(subset) != n_train or (n_train and int(subset.max()) >= len(train_set)):
            raise ValueError("checkpoint training subset does not fit the config's data")
        if not np.array_equal(perm, epoch_permutation(cfg.run.seed, epoch, n_train)):
            raise ValueError("checkpoint permutation does not match the config's seed and data")
        done_path = run_dir / "summary.json"
        if (epoch >= o.epochs or global_step >= steps_total) and done_path.exists():
            previous: dict[str, Any] = json.loads(done_path.read_text())
            if previous.get("status") == "completed":
                return {**previous, "signum": 0}  # nothing left to do
    if info.is_main:
        run_dir.mkdir(parents=True, exist_ok=True)
        atomic_write_json(run_dir / "config.json", cfg.to_dict())
    metrics = Metrics(
        run_dir / "metrics.jsonl", info.is_main, None if state is None else state["metrics_offset"]
    )

    def save(at_epoch: int, at_step: int, at_perm: np.ndarray) -> None:
        # every rank's random state (each rank draws its own data and views)
        rng_ranks: list[Any] = [rng_state(np_rng, parts.generators)]
        if info.active:
            import torch.distributed as dist

            rng_ranks = [None] * info.world
            dist.all_gather_object(rng_ranks, rng_state(np_rng, parts.generators))
        if info.is_main:
            save_checkpoint(
                run_dir / "last.pt",
                _checkpoint_state(
                    cfg,
                    parts,
                    rng_ranks,
                    at_epoch,
                    at_step,
                    at_perm,
                    subset,
                    metrics.offset,
                    global_step,
                    elapsed,
                ),
            )

    status, message, knn = "completed", "", {}
    last_loss = float("nan")
    flag = StopFlag()
    for m in parts.modules().values():
        m.train()
    with flag.installed():
        while epoch < o.epochs and global_step < steps_total:
            bar = Progress(
                epoch,
                o.epochs,
                step,
                steps_per_epoch,
                quiet=quiet,
                log_every=cfg.run.log_every,
                enabled=info.is_main,
            )
            epoch_losses: list[float] = []
            t_epoch = time.perf_counter()
            stop = False
            while step < steps_per_epoch and global_step < steps_total:
                t0 = time.perf_counter()
                lo = step * o.batch_size + info.rank * local_batch
                batch = train_set.batch(subset[perm[lo : lo + local_batch]], np_rng)
                batch = to_device(batch, device, dtype)
                try:
                    last_loss, stop = train_step(
                        parts, batch, cfg, info, amp, device, flag.signum != 0
                    )
                except NonFiniteLoss as e:
                    bar.close()
                    status = "nonfinite"
                    message = (
                        f"non-finite loss at epoch {epoch + 1} step {step + 1} ({e}); "
                        f"stopped; {ckpt_path} holds the last good checkpoint"
                    )
                    break
                dt = time.perf_counter() - t0
                elapsed += dt
                step += 1
                global_step += 1
                rate = o.batch_size / dt
                epoch_losses.append(last_loss)
                metrics.write(
                    {
                        "type": "step",
                        "epoch": epoch,
                        "step": step,
                        "global_step": global_step,
                        "loss": last_loss,
                        "lr": parts.scheduler.get_last_lr()[0],
                        "img_per_s": rate,
                    }
                )
                bar.update(last_loss, rate)
                if stop:
                    break
            bar.close()
            if status == "nonfinite":
                break
            if stop:
                save(epoch, step, perm)
                status = "interrupted"
                sig = flag.signum or signal.SIGTERM
                message = (
                    f"interrupted by {signal.Signals(sig).name} at epoch {epoch + 1} step {step}; "
                    f"checkpoint saved to {ckpt_path}; continue with --resume {run_dir}"
                )
                break
            if step < steps_per_epoch:  # max_steps reached mid-epoch
                save(epoch, step, perm)
                break
            epoch_time = time.perf_counter() - t_epoch
            if monitor is not None and (epoch + 1) % cfg.run.knn_every == 0:
                knn = knn_monitor(
                    parts.encoder, monitor[0], monitor[1], train_set.tasks, cfg.run.knn_k, device
                )
            record = {
                "type": "epoch",
                "epoch": epoch,
                "global_step": global_step,
                "loss": float(np.mean(epoch_losses)) if epoch_losses else float("nan"),
                "time_s": epoch_time,
                "img_per_s": len(epoch_losses) * o.batch_size / max(epoch_time, 1e-9),
                "knn": knn,
            }
            metrics.write(record)
            if info.is_main:
                bar.log(
                    f"epoch {epoch + 1}/{o.epochs} loss {record['loss']:.4f} "
                    f"{record['img_per_s']:.0f} img/s knn {knn}"
                )
            epoch, step = epoch + 1, 0
            perm = epoch_permutation(cfg.run.seed, epoch, n_train)
            save(epoch, step, perm)

    summary = {
        "status": status,
        "message": message,
        "epochs_done": epoch,
        "global_step": global_step,
        "steps_total": steps_total,
        "final_loss": last_loss,
        "train_time_s": elapsed,
        "img_per_s": global_step * o.batch_size / max(elapsed, 1e-9),
        "knn": knn,
        "device": str(device),
        "world_size": info.world,
        "precision": str(amp or torch.float32),
    }
    if info.is_main:
        atomic_write_json(run_dir / "summary.json", summary)
        if message:
            print(message, file=sys.stderr, flush=True)
    summary["signum"] = flag.signum
    return summary


# --------------------------------------------------------------------------------------------
# command line
# --------------------------------------------------------------------------------------------


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m empirical.train",
        description="Contrastive pretraining (the one training loop). "
        "Overrides: section.key=value, e.g. optim.lr=0.1 views.name=oracle views.p=0.5.",
    )
    p.add_argument("overrides", nargs="*", metavar="KEY=VALUE")
    p.add_argument("--preset", help="named preset (see --list; default viewmaker-digits-cpu)")
    p.add_argument("--list", action="store_true", help="list presets and exit")
    p.add_argument("--keys", action="store_true", help="list config keys with ranges and exit")
    p.add_argument("--out", help="run directory (default runs/PRESET-seedSEED)")
    p.add_argument("--resume", metavar="RUN_DIR", help="continue RUN_DIR from its last.pt")
    p.add_argument("--device", choices=("auto", "cpu", "cuda"), help="override run.device")
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
        if args.resume:
            if args.preset or args.overrides:
                raise ConfigError("--resume", "takes no --preset or overrides (config is saved)")
            run_dir = Path(args.resume)
            cfg = from_dict(load_checkpoint(run_dir / "last.pt")["config"])
            if args.device:
                cfg = apply_overrides(cfg, [f"run.device={args.device}"])
        else:
            name = args.preset or presets.DEFAULT
            cfg = apply_overrides(presets.get(name), args.overrides)
            if args.device:
                cfg = apply_overrides(cfg, [f"run.device={args.device}"])
            run_dir = Path(args.out or f"runs/{name}-seed{cfg.run.seed}")
            if (run_dir / "last.pt").exists():
                raise ConfigError(
                    "--out", f"{run_dir} already holds a run; use --resume {run_dir} or --out"
                )
        if args.resume and args.device:
            summary = _resume_with(cfg, run_dir, args.quiet)
        else:
            summary = train(cfg, run_dir, resume=bool(args.resume), quiet=args.quiet)
    except (ConfigError, FileNotFoundError) as e:
        print(f"error: {e}", file=sys.stderr)
        return EXIT_CONFIG
    if summary["status"] == "nonfinite":
        return EXIT_NONFINITE
    if summary["status"] == "interrupted":
        return 128 + int(summary["signum"] or signal.SIGTERM)
    return EXIT_OK


def _resume_with(cfg: Config, run_dir: Path, quiet: bool) -> dict[str, Any]:
    """Resume on another device: the checkpoint's config with run.device replaced."""
    state = load_checkpoint(run_dir / "last.pt")
    state["config"] = cfg.to_dict()
    save_checkpoint(run_dir / "last.pt", {k: v for k, v in state.items() if k != "format_version"})
    return train(cfg, run_dir, resume=True, quiet=quiet)


if __name__ == "__main__":
    raise SystemExit(main())
