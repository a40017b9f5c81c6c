"""Kill a training subprocess mid-epoch, resume it, and get bit-identical final weights.

SIGTERM: the loop saves ``last.pt`` at the next step boundary (mid-epoch: epoch, step, the
epoch's permutation and every RNG state) and exits with 128 + 15. SIGKILL: nothing is saved, the
resume starts from the last end-of-epoch checkpoint. Either way the resumed run must end with
exactly (``torch.equal``) the weights and per-step losses of an uninterrupted run.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from empirical import presets
from empirical.checkpoint import load_checkpoint
from empirical.config import Config, apply_overrides
from empirical.train import train

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]

ARGS = [
    "data.suite=test_train:tiny_suite",
    "data.options.n=160",
    "data.train_size=128",  # a random subset of 128 (saved with the checkpoint)
    "data.knn_bank=32",
    "data.knn_test=32",
    "model.width=4",
    "model.head_hidden=16",
    "model.out_dim=8",
    "views.vm_width=2",
    "views.vm_blocks=1",
    "optim.batch_size=16",  # 8 steps per epoch
    "optim.epochs=3",
    "optim.optimizer=sgd",
    "optim.lr=0.05",
    "optim.schedule=cosine",
    "optim.warmup_epochs=1",
    "loss.temperature=0.2",
    "run.device=cpu",
    "run.knn_k=5",
    # the reference trains in this process, the killed run in a subprocess: the same thread
    # count in both (with oneDNN's AVX2 kernels the float32 results depend on it)
    "run.threads=1",
]
KILL_AT = 12  # global step 12 = epoch 2, step 4


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(HERE), str(ROOT), env.get("PYTHONPATH", "")])
    env.setdefault("OMP_NUM_THREADS", "1")
    return env


def _cmd(*extra: str) -> list[str]:
    return [sys.executable, "-m", "empirical.train", "--quiet", *extra]


def _steps_logged(run: Path) -> int:
    try:
        text = (run / "metrics.jsonl").read_text()
    except FileNotFoundError:
        return 0
    return sum(1 for line in text.splitlines() if '"type": "step"' in line)


def _step_losses(run: Path) -> list[tuple[int, float]]:
    lines = (run / "metrics.jsonl").read_text().splitlines()
    recs = [json.loads(line) for line in lines]
    return [(r["global_step"], r["loss"]) for r in recs if r["type"] == "step"]


def _weights(run: Path) -> dict[str, dict[str, torch.Tensor]]:
    return load_checkpoint(run / "last.pt")["models"]


@pytest.mark.slow
@pytest.mark.parametrize(("sig", "views"), [("SIGTERM", "viewmaker"), ("SIGKILL", "expert")])
def test_resume_after_kill_matches_uninterrupted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, sig: str, views: str
) -> None:
    monkeypatch.syspath_prepend(str(HERE))
    args = [*ARGS, f"views.name={views}"]
    # uninterrupted reference, in this process (the command line starts from the default preset)
    ref = tmp_path / "ref"
    cfg: Config = apply_overrides(presets.get(presets.DEFAULT), args)
    assert train(cfg, ref)["status"] == "completed"

    run = tmp_path / "run"
    proc = subprocess.Popen(
        _cmd("--out", str(run), *args), env=_env(), cwd=ROOT, stderr=subprocess.PIPE, text=True
    )
    deadline = time.monotonic() + 120
    while _steps_logged(run) < KILL_AT:
        assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
        assert time.monotonic() < deadline, "training subprocess made no progress"
        time.sleep(0.002)
    proc.send_signal(getattr(signal, sig))
    _, err = proc.communicate(timeout=120)
    state = load_checkpoint(run / "last.pt")
    if sig == "SIGTERM":
        assert proc.returncode == 128 + signal.SIGTERM, err
        assert "interrupted by SIGTERM" in err
        # saved mid-epoch at a step boundary, with the epoch's permutation
        assert state["epoch"] == 1 and 0 < state["step"] < 8, (state["epoch"], state["step"])
        assert sorted(state["permutation"].tolist()) == list(range(128))
        assert len(state["subset"]) == 128 and state["subset"].max() >= 128  # not a prefix
        assert json.loads((run / "summary.json").read_text())["status"] == "interrupted"
    else:
        assert proc.returncode == -signal.SIGKILL
        assert (state["epoch"], state["step"]) == (1, 0)  # the end-of-epoch-1 checkpoint

    done = subprocess.run(
        _cmd("--resume", str(run)), env=_env(), cwd=ROOT, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    final = _weights(run)
    expected = _weights(ref)
    assert final.keys() == expected.keys()
    for name in expected:
        for key, tensor in expected[name].items():
            assert torch.equal(final[name][key], tensor), f"{name}.{key} differs"
    # the metrics log of the resumed run is that of the uninterrupted one (no duplicated steps)
    resumed, reference = _step_losses(run), _step_losses(ref)
    assert [s for s, _ in resumed] == list(range(1, 25))
    assert resumed == reference
    assert json.loads((run / "summary.json").read_text())["status"] == "completed"


def test_resume_without_checkpoint_exits_2(tmp_path: Path) -> None:
    from empirical.train import EXIT_CONFIG, main

    assert main(["--resume", str(tmp_path / "missing")]) == EXIT_CONFIG


def test_resume_rejects_overrides(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from empirical.train import EXIT_CONFIG, main

    assert main(["--resume", str(tmp_path), "optim.lr=0.1"]) == EXIT_CONFIG
    assert "--resume" in capsys.readouterr().err
