"""Optional TensorBoard logging of a training run (``run.tensorboard=true``) into ``RUN_DIR/tb/``.

The tracker is fed the very records the loop writes to ``metrics.jsonl``, so TensorBoard shows
the same numbers by construction (rounded to float32, TensorBoard's scalar type): every number
of a record becomes the scalar ``TYPE/KEY`` at step ``global_step``, nested dicts
``TYPE/KEY/SUBKEY`` (see :func:`record_scalars`), e.g. ``step/loss``, ``step/lr``,
``step/img_per_s``, ``epoch/loss``, ``epoch/knn/background``. Every few epochs the loop adds a
view gallery image (``views/gallery``: inputs, their views and, for learned views, the
perturbations; :mod:`empirical.diagnostics.gallery`), drawn from generators of its own so the
run's random streams and weights are untouched.

Resume (``--resume``) continues the same curves with one value per step, as ``metrics.jsonl`` is
truncated to its checkpointed offset: the event files already in ``tb/`` are cut to the events
at or before the checkpoint's ``global_step`` (what the killed run logged after it is dropped
from disk), and the new writer starts with ``purge_step = global_step + 1`` (TensorBoard's own
marker that events after the checkpoint are superseded). A fresh run removes old event files.
Needs the ``tensorboard`` package (``pip install -e '.[track]'``).
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

if TYPE_CHECKING:
    from empirical.config import Config
    from empirical.parts import Parts

TB_DIR = "tb"
EVENTS_PREFIX = "events.out.tfevents."
INDEX_KEYS = frozenset({"type", "epoch", "step", "global_step"})  # the x axis, not curves
GALLERY_TAG = "views/gallery"


def record_scalars(record: Mapping[str, Any]) -> dict[str, float]:
    """The TensorBoard scalars of one metrics.jsonl record: ``{"TYPE/KEY[/SUBKEY...]": value}``.

    Numbers (not bools) become scalars, nested dicts are flattened with ``/``; the index keys
    (``type``, ``epoch``, ``step``, ``global_step``) and non-numbers (strings, lists, None) are
    not curves and are left out.
    """
    out: dict[str, float] = {}

    def walk(prefix: str, value: Any) -> None:
        if isinstance(value, Mapping):
            for k, v in value.items():
                walk(f"{prefix}/{k}", v)
        elif isinstance(value, int | float) and not isinstance(value, bool):
            out[prefix] = float(value)

    kind = str(record["type"])
    for key, value in record.items():
        if key not in INDEX_KEYS:
            walk(f"{kind}/{key}", value)
    return out


def event_files(log_dir: Path) -> list[Path]:
    """The event files in ``log_dir``, in the order TensorBoard reads them (by name)."""
    if not log_dir.is_dir():
        return []
    return sorted(p for p in log_dir.iterdir() if p.name.startswith(EVENTS_PREFIX))


def truncate_events(log_dir: Path, last_step: int) -> int:
    """Rewrite every event file in ``log_dir`` without the events after ``last_step``
    (atomically, file by file; a record cut short by a kill is dropped too).

    Returns:
        The number of events removed.
    """
    from tensorboard.backend.event_processing.event_file_loader import RawEventFileLoader
    from tensorboard.compat.proto.event_pb2 import Event
    from tensorboard.summary.writer.record_writer import RecordWriter

    removed = 0
    for path in event_files(log_dir):
        raw = list(RawEventFileLoader(str(path)).Load())
        keep = [r for r in raw if Event.FromString(r).step <= last_step]
        removed += len(raw) - len(keep)
        if len(keep) == len(raw) and path.stat().st_size == sum(len(r) + 16 for r in raw):
            continue  # nothing after the checkpoint and no torn record
        tmp = path.with_name(path.name + ".tmp")
        with open(tmp, "wb") as f:
            writer = RecordWriter(f)
            for r in keep:
                writer.write(r)
            writer.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    return removed


def _after_existing_files(log_dir: Path) -> None:
    """Event file names start with the creation second: wait (under a second) until a new file
    sorts after every existing one, so the resumed run's events are read after the old ones."""
    stamps = []
    for p in event_files(log_dir):
        part = p.name[len(EVENTS_PREFIX) :].split(".", 1)[0]
        if part.isdigit():
            stamps.append(int(part))
    if stamps:
        wait = max(stamps) + 1 - time.time()
        if 0 < wait <= 2:
            time.sleep(wait)


class TensorBoardTracker:
    """Scalars of metrics.jsonl records and view galleries, written to ``run_dir/tb``.

    Args:
        run_dir: the run directory.
        resume_step: ``global_step`` of the checkpoint a resumed run starts from; ``None`` for a
            fresh run (old event files are removed, as metrics.jsonl is emptied).
    """

    def __init__(self, run_dir: str | os.PathLike[str], resume_step: int | None = None) -> None:
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError as e:  # the optional dependency is missing
            raise ImportError(
                "run.tensorboard=true needs the tensorboard package: pip install -e '.[track]'"
            ) from e
        if resume_step is not None and resume_step < 0:
            raise ValueError(f"resume_step must be >= 0 or None; got {resume_step}")
        self.log_dir = Path(run_dir) / TB_DIR
        self.log_dir.mkdir(parents=True, exist_ok=True)
        if resume_step is None:
            for p in event_files(self.log_dir):
                p.unlink()
            purge = None
        else:
            truncate_events(self.log_dir, resume_step)
            _after_existing_files(self.log_dir)
            purge = resume_step + 1
        self.writer = SummaryWriter(log_dir=str(self.log_dir), purge_step=purge)

    def log_record(self, record: Mapping[str, Any]) -> None:
        """Write the scalars of one metrics.jsonl record (:func:`record_scalars`) at its
        ``global_step``, then flush (what metrics.jsonl holds is on disk here too)."""
        step = int(record["global_step"])
        for tag, value in record_scalars(record).items():
            self.writer.add_scalar(tag, value, global_step=step)
        self.writer.flush()

    def log_image(self, tag: str, image: np.ndarray, step: int) -> None:
        """An ``(H, W, 3)`` uint8 image at ``step``."""
        if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
            raise ValueError(f"image must be (H, W, 3) uint8; got {image.shape} {image.dtype}")
        self.writer.add_image(tag, image, global_step=step, dataformats="HWC")
        self.writer.flush()

    def close(self) -> None:
        self.writer.close()


def gallery_image(
    dataset: Any,
    views: Any,
    learned: bool,
    seed: int,
    device: torch.device,
    dtype: torch.dtype = torch.float32,
    num_inputs: int = 4,
    num_views: int = 3,
) -> np.ndarray:
    """A view gallery ``(H, W, 3)`` uint8: ``num_inputs`` inputs of ``dataset`` (chosen from
    ``seed``: the same ones every call), each with ``num_views`` views and, when the views are
    ``learned``, their perturbations (columns of :func:`empirical.diagnostics.gallery.
    gallery_columns`). Draws from fresh generators seeded by ``seed`` (the caller's random state
    is not touched) with every module of ``views`` in eval mode, inputs in ``dtype``."""
    from empirical.data.subsets import random_subset
    from empirical.diagnostics.gallery import Gallery, draw_views, gallery_tiles
    from empirical.diagnostics.png import compose
    from empirical.parts import to_device

    rng = np.random.default_rng([seed, 7])
    batch = dataset.batch(random_subset(len(dataset), num_inputs, rng), rng)
    x = batch.x.float()
    gen = torch.Generator(device=device).manual_seed(seed)
    drawn = draw_views(x, views, num_views, to_device(batch, device, dtype), gen).float()
    g = Gallery(x, drawn if learned else None, None if learned else drawn)
    rows, _ = gallery_tiles(g)
    return compose(rows, scale=2)


def open_tracker(
    cfg: Config, run_dir: Path, is_main: bool, resume_step: int | None
) -> TensorBoardTracker | None:
    """The run's tracker when ``run.tensorboard`` is on (rank 0 only), else None; see
    :class:`TensorBoardTracker` for ``resume_step``."""
    if not cfg.run.tensorboard or not is_main:
        return None
    return TensorBoardTracker(run_dir, resume_step)


def log_gallery(
    tracker: TensorBoardTracker | None,
    cfg: Config,
    parts: Parts,
    dataset: Any,
    epochs_done: int,
    global_step: int,
    device: torch.device,
    dtype: torch.dtype,
) -> None:
    """After every ``run.gallery_every``-th epoch: the views of the training set's gallery
    inputs (:func:`gallery_image`; learned views when the run has a viewmaker) at
    ``global_step``."""
    every = cfg.run.gallery_every
    if tracker is None or every <= 0 or epochs_done % every:
        return
    learned = parts.viewmaker is not None
    image = gallery_image(dataset, parts.views, learned, cfg.run.seed, device, dtype)
    tracker.log_image(GALLERY_TAG, image, global_step)
