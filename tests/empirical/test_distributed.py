"""Data parallelism: torchrun with 2 gloo processes equals one process with the same global batch.

Each rank reads half of every global batch; embeddings are gathered with gradient so that the
NT-Xent loss sees all 2N views; BatchNorm uses global-batch statistics; gradients are averaged.
The data and views are deterministic here (no per-read jitter, identity views) so that both runs
see the same inputs. The runs are in float64: reductions are ordered differently across
processes, and over 8 SGD steps of a tiny BatchNorm network float32 rounding differences (1e-7)
grow to ~1e-2 (measured: 1e-5 after 2 steps, 1e-4 after 4), which would hide a real error; in
float64 the final weights must agree to a relative 1e-9 (max |a - b| / max |a| per tensor).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from empirical import presets
from empirical.checkpoint import load_checkpoint
from empirical.config import Config, apply_overrides
from empirical.distributed import DistInfo
from empirical.parts import build_parts
from empirical.train import train

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]

ARGS = [
    "data.suite=test_train:tiny_suite",
    "data.options.n=64",
    "data.options.jitter=false",
    "data.knn_bank=32",
    "data.knn_test=32",
    "model.width=4",
    "model.head_hidden=16",
    "model.out_dim=8",
    "views.name=identity",
    "optim.batch_size=16",
    "optim.epochs=2",
    "optim.optimizer=sgd",
    "optim.lr=0.1",
    "loss.temperature=0.2",
    "run.device=cpu",
    "run.knn_k=5",
    "run.precision=fp64",
]
RTOL = 1e-9


@pytest.mark.slow
@pytest.mark.distributed
def test_two_gloo_processes_match_single_process(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.syspath_prepend(str(HERE))
    single = tmp_path / "single"
    cfg: Config = apply_overrides(presets.get(presets.DEFAULT), ARGS)
    assert train(cfg, single)["status"] == "completed"

    multi = tmp_path / "multi"
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(HERE), str(ROOT), env.get("PYTHONPATH", "")])
    env["OMP_NUM_THREADS"] = "1"
    cmd = [
        sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
        "-m", "empirical.train", "--quiet", "--out", str(multi), *ARGS,
    ]  # fmt: skip
    done = subprocess.run(cmd, env=env, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]

    a = load_checkpoint(single / "last.pt")["models"]
    b = load_checkpoint(multi / "last.pt")["models"]
    summary = (multi / "summary.json").read_text()
    assert '"world_size": 2' in summary
    # the step-0 weights: build_parts is a pure function of the config (run.seed)
    init = build_parts(cfg, 3, 3, 8, 4, torch.device("cpu"), DistInfo()).modules()
    moved = 0.0
    for name in a:
        for key, ta in a[name].items():
            tb = b[name][key]
            if key.endswith("num_batches_tracked"):
                assert torch.equal(ta, tb)
                continue
            scale = ta.abs().max().clamp_min(1e-3)
            err = float((ta - tb).abs().max() / scale)
            assert err <= RTOL, f"{name}.{key}: relative difference {err:.2e}"
            if key in dict(init[name].named_parameters()):
                moved = max(moved, float((ta - init[name].state_dict()[key]).abs().max()))
    # training happened: the weights moved from their initial values (not trivially equal)
    assert moved > 1e-3, moved
    assert load_checkpoint(single / "last.pt")["global_step"] == 8
    # the checkpoint keeps each rank's own random state (for an exact distributed resume)
    ranks = load_checkpoint(multi / "last.pt")["rng_ranks"]
    assert len(ranks) == 2
    assert ranks[0]["numpy"] != ranks[1]["numpy"]
    assert not torch.equal(ranks[0]["generators"]["views"], ranks[1]["generators"]["views"])


@pytest.mark.slow
@pytest.mark.distributed
def test_distributed_sigterm_resume_matches_uninterrupted(tmp_path: Path) -> None:
    """SIGTERM to torchrun mid-epoch: both ranks stop at the same step boundary, rank 0 saves
    every rank's RNG state, and ``torchrun ... --resume`` ends bit-identical to an uninterrupted
    2-process run (random per-rank data jitter and expert views, float32)."""
    import signal
    import time

    args = [
        *[a for a in ARGS if not a.startswith(("data.options.jitter", "views.name", "run.prec"))],
        "data.options.n=128",  # 8 steps per epoch
        "optim.epochs=3",
        "views.name=expert",
        "views.crop_min=0.5",
    ]
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(HERE), str(ROOT), env.get("PYTHONPATH", "")])
    env["OMP_NUM_THREADS"] = "1"

    def torchrun(*extra: str) -> list[str]:
        return [
            sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node",
            "2", "-m", "empirical.train", "--quiet", *extra,
        ]  # fmt: skip

    ref, run = tmp_path / "ref", tmp_path / "run"
    done = subprocess.run(
        torchrun("--out", str(ref), *args), env=env, cwd=ROOT, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr[-3000:]

    proc = subprocess.Popen(
        torchrun("--out", str(run), *args), env=env, cwd=ROOT, stderr=subprocess.PIPE, text=True
    )
    deadline = time.monotonic() + 120
    while True:
        metrics = run / "metrics.jsonl"
        text = metrics.read_text() if metrics.exists() else ""
        if text.count('"type": "step"') >= 10:  # epoch 2, step 2
            break
        assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
        assert time.monotonic() < deadline
        time.sleep(0.002)
    proc.send_signal(signal.SIGTERM)
    proc.communicate(timeout=120)
    state = load_checkpoint(run / "last.pt")
    assert state["epoch"] == 1 and 0 < state["step"] < 8, (state["epoch"], state["step"])

    done = subprocess.run(
        torchrun("--resume", str(run)), env=env, cwd=ROOT, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr[-3000:]
    a = load_checkpoint(ref / "last.pt")["models"]
    b = load_checkpoint(run / "last.pt")["models"]
    for name in a:
        for key, tensor in a[name].items():
            assert torch.equal(tensor, b[name][key]), f"{name}.{key} differs"
