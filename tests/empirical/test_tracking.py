"""TensorBoard tracking (empirical.tracking): record -> scalar mapping, event-file truncation on
resume, and tiny training runs read back with TensorBoard's own event reader.

The round trip: every scalar in RUN_DIR/tb equals (to float32, TensorBoard's scalar type) the
value in metrics.jsonl; a run killed after its last checkpoint and resumed shows exactly one
value per step, the resumed one.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from tensorboard.backend.event_processing.event_file_loader import (
    RawEventFileLoader,
)
from tensorboard.compat.proto.event_pb2 import Event

from empirical.tracking import (
    GALLERY_TAG,
    TB_DIR,
    TensorBoardTracker,
    event_files,
    record_scalars,
    truncate_events,
)

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]


def accumulate(log_dir: Path) -> EventAccumulator:
    acc = EventAccumulator(str(log_dir), size_guidance={"scalars": 0, "images": 0})
    acc.Reload()
    return acc


def curves(log_dir: Path) -> dict[str, list[tuple[int, float]]]:
    """``{tag: [(step, value), ...]}`` as TensorBoard reads the directory."""
    acc = accumulate(log_dir)
    return {t: [(e.step, e.value) for e in acc.Scalars(t)] for t in acc.Tags()["scalars"]}


def raw_scalar_steps(log_dir: Path) -> dict[str, list[int]]:
    """Every scalar event on disk, per tag (duplicates included: no purging)."""
    out: dict[str, list[int]] = {}
    for path in event_files(log_dir):
        for raw in RawEventFileLoader(str(path)).Load():
            ev = Event.FromString(raw)
            for v in ev.summary.value:
                if v.HasField("simple_value") or v.HasField("tensor"):
                    out.setdefault(v.tag, []).append(ev.step)
    return out


def expected_curves(records: list[dict[str, Any]]) -> dict[str, list[tuple[int, float]]]:
    """What TensorBoard should show for metrics.jsonl ``records`` (float32 values)."""
    out: dict[str, list[tuple[int, float]]] = {}
    for r in records:
        for tag, value in record_scalars(r).items():
            out.setdefault(tag, []).append((r["global_step"], float(np.float32(value))))
    return out


def same_curves(got: dict[str, list[tuple[int, float]]], want: dict[str, Any]) -> None:
    assert sorted(got) == sorted(want)
    for tag in want:
        steps, values = zip(*got[tag], strict=True)
        want_steps, want_values = zip(*want[tag], strict=True)
        assert steps == want_steps, tag
        np.testing.assert_array_equal(values, want_values, err_msg=tag)  # NaN == NaN here


# ------------------------------------------------------------------------------------------
# the mapping and the event files, without training
# ------------------------------------------------------------------------------------------


def test_record_scalars_flattens_numbers_and_skips_index_keys() -> None:
    record = {
        "type": "epoch",
        "epoch": 3,
        "step": 2,
        "global_step": 40,
        "loss": 1.5,
        "time_s": 2,
        "knn": {"background": 0.25, "overlay": {"top1": 0.5}},
        "status": "ok",
        "done": True,
        "sizes": [1, 2],
        "missing": None,
    }
    assert record_scalars(record) == {
        "epoch/loss": 1.5,
        "epoch/time_s": 2.0,
        "epoch/knn/background": 0.25,
        "epoch/knn/overlay/top1": 0.5,
    }


def test_scalars_round_trip_through_the_event_reader(tmp_path: Path) -> None:
    records = [
        {"type": "step", "global_step": s, "loss": 1.0 / s, "lr": 0.1 * s, "img_per_s": 3.0 + s}
        for s in range(1, 6)
    ] + [{"type": "epoch", "epoch": 0, "global_step": 5, "loss": 0.3, "knn": {"a": 0.75}}]
    tracker = TensorBoardTracker(tmp_path)
    for r in records:
        tracker.log_record(r)
    tracker.close()
    got = curves(tmp_path / TB_DIR)
    same_curves(got, expected_curves(records))
    assert got["step/lr"][2] == (3, pytest.approx(0.3, rel=1e-7))


def test_records_are_on_disk_before_close(tmp_path: Path) -> None:
    """A SIGKILL leaves no chance to close: each record is flushed as it is logged."""
    tracker = TensorBoardTracker(tmp_path)
    tracker.log_record({"type": "step", "global_step": 1, "loss": 2.0})
    assert raw_scalar_steps(tmp_path / TB_DIR) == {"step/loss": [1]}
    tracker.close()


def _log_steps(run: Path, steps: range, scale: float, resume: int | None = None) -> None:
    tracker = TensorBoardTracker(run, resume_step=resume)
    for s in steps:
        tracker.log_record({"type": "step", "global_step": s, "loss": scale * s})
    tracker.close()


def test_resume_cuts_events_after_the_checkpoint(tmp_path: Path) -> None:
    _log_steps(tmp_path, range(1, 11), 1.0)  # the killed run got to step 10
    time.sleep(0.01)
    _log_steps(tmp_path, range(7, 13), 2.0, resume=6)  # its checkpoint was at step 6
    log_dir = tmp_path / TB_DIR
    assert len(event_files(log_dir)) == 2
    # on disk: steps 7..10 of the killed run are gone, one event per step
    assert raw_scalar_steps(log_dir) == {"step/loss": list(range(1, 13))}
    # as TensorBoard reads it: the old values up to the checkpoint, the resumed ones after
    got = curves(log_dir)["step/loss"]
    assert got == [(s, float(s)) for s in range(1, 7)] + [(s, 2.0 * s) for s in range(7, 13)]


def test_resumed_writer_marks_later_events_as_superseded(tmp_path: Path) -> None:
    """A reader holding the killed run's file as it was (e.g. a copy synced before the resume)
    still shows one value per step: the resumed file starts with TensorBoard's purge marker."""
    _log_steps(tmp_path, range(1, 11), 1.0)
    log_dir = tmp_path / TB_DIR
    (old,) = event_files(log_dir)
    untruncated = old.read_bytes()
    time.sleep(0.01)
    _log_steps(tmp_path, range(7, 13), 2.0, resume=6)
    old.write_bytes(untruncated)  # the old events after step 6 are back on disk
    assert raw_scalar_steps(log_dir)["step/loss"].count(8) == 2
    got = curves(log_dir)["step/loss"]
    assert got == [(s, float(s)) for s in range(1, 7)] + [(s, 2.0 * s) for s in range(7, 13)]


def test_resumed_file_sorts_after_a_file_of_the_same_second(tmp_path: Path) -> None:
    """Event files are read in name order and names start with the creation second: a resume
    in the same second as the killed run's start (another process) must still be read last."""
    log_dir = tmp_path / TB_DIR
    log_dir.mkdir()
    other = log_dir / f"events.out.tfevents.{int(time.time()):010d}.zzzz.99999.0"
    other.write_bytes(b"")
    TensorBoardTracker(tmp_path, resume_step=0).close()
    files = event_files(log_dir)
    assert len(files) == 2 and files[0] == other


def test_truncate_events_reports_what_it_removed(tmp_path: Path) -> None:
    _log_steps(tmp_path, range(1, 6), 1.0)
    log_dir = tmp_path / TB_DIR
    assert truncate_events(log_dir, 5) == 0
    assert truncate_events(log_dir, 3) == 2
    assert raw_scalar_steps(log_dir) == {"step/loss": [1, 2, 3]}


def test_truncate_events_drops_a_torn_last_record(tmp_path: Path) -> None:
    _log_steps(tmp_path, range(1, 4), 1.0)
    (path,) = event_files(tmp_path / TB_DIR)
    data = path.read_bytes()
    path.write_bytes(data[:-7])  # killed in the middle of writing step 3
    truncate_events(tmp_path / TB_DIR, 10)
    assert raw_scalar_steps(tmp_path / TB_DIR) == {"step/loss": [1, 2]}
    _log_steps(tmp_path, range(3, 5), 1.0, resume=2)
    assert curves(tmp_path / TB_DIR)["step/loss"] == [(s, float(s)) for s in range(1, 5)]


def test_fresh_run_removes_old_event_files(tmp_path: Path) -> None:
    _log_steps(tmp_path, range(1, 6), 1.0)
    _log_steps(tmp_path, range(1, 3), 5.0)
    assert curves(tmp_path / TB_DIR)["step/loss"] == [(1, 5.0), (2, 10.0)]


def test_tracker_rejects_a_negative_resume_step(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="resume_step"):
        TensorBoardTracker(tmp_path, resume_step=-1)


def test_log_image_rejects_non_rgb(tmp_path: Path) -> None:
    tracker = TensorBoardTracker(tmp_path)
    with pytest.raises(ValueError, match="image"):
        tracker.log_image("x", np.zeros((4, 4), np.uint8), 1)
    tracker.close()


# ------------------------------------------------------------------------------------------
# tiny training runs
# ------------------------------------------------------------------------------------------


def _tiny(*extra: str) -> Any:
    from test_train import tiny_config

    return tiny_config(*extra)


def _metrics(run: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]


@pytest.fixture
def _tiny_on_path(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.syspath_prepend(str(HERE))


@pytest.mark.slow
@pytest.mark.usefixtures("_tiny_on_path")
@pytest.mark.parametrize("views", ["viewmaker", "expert"])
def test_training_run_logs_metrics_and_galleries(tmp_path: Path, views: str) -> None:
    from empirical.checkpoint import load_checkpoint
    from empirical.train import train

    cfg = _tiny(f"views.name={views}", "run.tensorboard=true", "run.gallery_every=1")
    assert train(cfg, tmp_path / "tb")["status"] == "completed"
    run = tmp_path / "tb"
    got = curves(run / TB_DIR)
    same_curves(got, expected_curves(_metrics(run)))
    assert len(got["step/loss"]) == 8 and len(got["epoch/knn/background"]) == 2
    # learning rates of the encoder (scheduled) and of the viewmaker (constant)
    assert len(got["step/lr"]) == 8
    if views == "viewmaker":
        assert {v for _, v in got["step/vm_lr"]} == {float(np.float32(cfg.optim.vm_lr))}
    else:
        assert "step/vm_lr" not in got
    # one gallery per epoch, at the epoch's last step: 4 rows of 16 x 16 tiles at scale 2;
    # columns: input + 3 views (+ 3 perturbations for learned views)
    images = accumulate(run / TB_DIR).Images(GALLERY_TAG)
    assert [im.step for im in images] == [4, 8]
    cols = 7 if views == "viewmaker" else 4
    assert (images[0].height, images[0].width) == (4 * 34 + 2, cols * 34 + 2)

    # the tracker draws from its own generators: the run's weights are those of an untracked run
    plain = tmp_path / "plain"
    assert train(_tiny(f"views.name={views}"), plain)["status"] == "completed"
    assert not (plain / TB_DIR).exists()
    a, b = load_checkpoint(run / "last.pt")["models"], load_checkpoint(plain / "last.pt")["models"]
    for name in b:
        for key, tensor in b[name].items():
            assert torch.equal(a[name][key], tensor), f"{name}.{key}"


ARGS = [
    "data.suite=test_train:tiny_suite",
    "data.options.n=128",
    "data.knn_bank=32",
    "data.knn_test=32",
    "model.width=4",
    "model.head_hidden=16",
    "model.out_dim=8",
    "views.name=expert",
    "optim.batch_size=16",  # 8 steps per epoch
    "optim.epochs=3",
    "optim.optimizer=sgd",
    "optim.lr=0.05",
    "loss.temperature=0.2",
    "run.device=cpu",
    "run.knn_k=5",
    "run.tensorboard=true",
    "run.gallery_every=1",
]
KILL_AT = 12  # epoch 2, step 4: four steps after the end-of-epoch-1 checkpoint


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(HERE), str(ROOT), env.get("PYTHONPATH", "")])
    env.setdefault("OMP_NUM_THREADS", "1")
    return env


def _tb_steps_logged(run: Path) -> int:
    try:
        return max(raw_scalar_steps(run / TB_DIR).get("step/loss", [0]))
    except Exception:  # an event file being written, or none yet
        return 0


def _steps_logged(run: Path) -> int:
    try:
        text = (run / "metrics.jsonl").read_text()
    except FileNotFoundError:
        return 0
    return sum(1 for line in text.splitlines() if '"type": "step"' in line)


@pytest.mark.slow
def test_killed_and_resumed_run_has_one_value_per_step(tmp_path: Path) -> None:
    run = tmp_path / "run"
    cmd = [sys.executable, "-m", "empirical.train", "--quiet"]
    proc = subprocess.Popen(
        [*cmd, "--out", str(run), *ARGS], env=_env(), cwd=ROOT, stderr=subprocess.PIPE, text=True
    )
    deadline = time.monotonic() + 120
    # metrics.jsonl is written before the tracker sees the record: wait for both
    while _steps_logged(run) < KILL_AT or _tb_steps_logged(run) < KILL_AT:
        assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
        assert time.monotonic() < deadline, "training subprocess made no progress"
        time.sleep(0.002)
    proc.send_signal(signal.SIGKILL)  # no chance to save: the resume starts at global step 8
    proc.communicate(timeout=60)
    logged = raw_scalar_steps(run / TB_DIR)["step/loss"]
    assert max(logged) >= KILL_AT  # the killed run logged steps after its checkpoint

    done = subprocess.run(
        [*cmd, "--resume", str(run)], env=_env(), cwd=ROOT, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    got = curves(run / TB_DIR)
    assert [s for s, _ in got["step/loss"]] == list(range(1, 25))
    assert [s for s, _ in got["epoch/loss"]] == [8, 16, 24]
    same_curves(got, expected_curves(_metrics(run)))  # metrics.jsonl was truncated alike
    assert raw_scalar_steps(run / TB_DIR)["step/loss"] == list(range(1, 25))
    images = accumulate(run / TB_DIR).Images(GALLERY_TAG)
    assert [im.step for im in images] == [8, 16, 24]
