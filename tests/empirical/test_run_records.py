"""What a run records, and what a resume may (not) change: the loss and its parts, the compute
precision, the fallback to ``prev.pt``, resuming on another device, file permissions, and the
shape of the loop itself.

The runs here are in-process and compared bit for bit with each other; ``run.channels_last`` is
off so that the comparison does not depend on the CPU's oneDNN kernels (issue 8, section 1).
"""

from __future__ import annotations

import ast
import inspect
import json
import os
import shutil
import signal
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from empirical.checkpoint import load_checkpoint
from empirical.config import ConfigError, apply_overrides

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

from test_checkpoint_files import DAMAGE, flip_bytes, truncate  # noqa: E402
from test_train import TinySuite, read_metrics, tiny_config  # noqa: E402

EXACT = ["run.channels_last=false", "run.knn_every=0"]


@pytest.fixture(autouse=True)
def _tiny_on_path(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.syspath_prepend(str(HERE))


def _weights(run: Path) -> dict[str, dict[str, torch.Tensor]]:
    return load_checkpoint(run / "last.pt")["models"]


def assert_same_weights(a: Path, b: Path) -> None:
    wa, wb = _weights(a), _weights(b)
    assert wa.keys() == wb.keys()
    for name in wa:
        for key, tensor in wa[name].items():
            assert torch.equal(tensor, wb[name][key]), f"{name}.{key} differs"


def _steps(run: Path) -> list[tuple[int, float]]:
    return [(m["global_step"], m["loss"]) for m in read_metrics(run) if m["type"] == "step"]


@pytest.fixture(scope="module")
def finished(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A completed 3-epoch run (4 steps an epoch), trained under umask 027."""
    from empirical.train import train

    run = tmp_path_factory.mktemp("finished") / "run"
    old = os.umask(0o027)
    try:
        assert train(tiny_config(*EXACT, "optim.epochs=3"), run)["status"] == "completed"
    finally:
        os.umask(old)
    yield run


def test_run_files_follow_the_umask(finished: Path) -> None:
    modes = {p.name: p.stat().st_mode & 0o777 for p in finished.iterdir()}
    assert set(modes) == {"config.json", "metrics.jsonl", "last.pt", "prev.pt", "summary.json"}
    assert set(modes.values()) == {0o640}, modes


@pytest.mark.parametrize("damage", sorted(DAMAGE))
def test_resume_falls_back_to_prev_and_continues_exactly(
    tmp_path: Path, finished: Path, damage: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """last.pt (end of epoch 3) damaged: --resume says so, continues from prev.pt (end of epoch
    2, with its metrics.jsonl offset) and ends where the undamaged run ended."""
    from empirical.train import EXIT_OK, main

    run = tmp_path / "run"
    shutil.copytree(finished, run)
    DAMAGE[damage](run / "last.pt")
    capsys.readouterr()
    assert main(["--resume", str(run), "--quiet"]) == EXIT_OK
    err = capsys.readouterr().err
    warnings = [line for line in err.splitlines() if line.startswith("warning:")]
    assert len(warnings) == 1 and str(run / "last.pt") in warnings[0]
    assert str(run / "prev.pt") in warnings[0]
    assert_same_weights(run, finished)
    assert _steps(run) == _steps(finished) and [s for s, _ in _steps(run)] == list(range(1, 13))
    resumes = [m for m in read_metrics(run) if m["type"] == "resume"]
    assert [(r["global_step"], r["checkpoint"]) for r in resumes] == [(8, "prev.pt")]
    summary = json.loads((run / "summary.json").read_text())
    assert [s["global_step"] for s in summary["segments"]] == [0, 8]
    # the resumed run rotated as usual: prev.pt is the end-of-epoch-2 checkpoint again
    assert load_checkpoint(run / "prev.pt")["global_step"] == 8


@pytest.mark.parametrize("with_prev", [True, False], ids=["both-damaged", "no-prev"])
def test_resume_without_a_usable_checkpoint_exits_2_with_one_line(
    tmp_path: Path, finished: Path, with_prev: bool, capsys: pytest.CaptureFixture[str]
) -> None:
    from empirical.train import EXIT_CONFIG, main

    run = tmp_path / "run"
    shutil.copytree(finished, run)
    truncate(run / "last.pt")
    if with_prev:
        flip_bytes(run / "prev.pt")
    else:
        (run / "prev.pt").unlink()
    before = {p.name: p.read_bytes() for p in run.iterdir()}
    capsys.readouterr()
    assert main(["--resume", str(run), "--quiet"]) == EXIT_CONFIG
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and err.startswith("error: ")
    assert str(run / "last.pt") in err and ("prev.pt" in err) == with_prev
    assert {p.name: p.read_bytes() for p in run.iterdir()} == before  # nothing touched


class SigtermAt(TinySuite):
    """The tiny suite, sending this process SIGTERM at read ``at`` (a kill mid-epoch)."""

    def __init__(self, at: int) -> None:
        super().__init__()
        self.at = at

    def batch(self, indices: np.ndarray, rng: np.random.Generator) -> Any:
        out = super().batch(indices, rng)
        if self.reads == self.at:
            os.kill(os.getpid(), signal.SIGTERM)
        return out


def test_resume_on_another_device_keeps_the_recorded_config(tmp_path: Path) -> None:
    """``--resume --device cpu`` of a run configured with run.device=auto: the checkpoint and
    config.json keep "auto", the segments record where each stretch ran, and the run ends
    exactly as an uninterrupted one."""
    from empirical.train import EXIT_OK, main, train

    cfg = tiny_config(*EXACT, "run.device=auto")
    ref, run = tmp_path / "ref", tmp_path / "run"
    train(cfg, ref)
    # read 1 is the channel probe; read 7 is epoch 2, step 2 (global step 6)
    stopped = train(cfg, run, datasets=(SigtermAt(7), None))
    assert stopped["status"] == "interrupted" and stopped["global_step"] == 6
    config_json = (run / "config.json").read_bytes()
    assert main(["--resume", str(run), "--device", "cpu", "--quiet"]) == EXIT_OK
    assert load_checkpoint(run / "last.pt")["config"] == cfg.to_dict()
    assert (run / "config.json").read_bytes() == config_json
    summary = json.loads((run / "summary.json").read_text())
    segments = [(s["device"], s["global_step"], s["checkpoint"]) for s in summary["segments"]]
    assert segments == [("cpu", 0, None), ("cpu", 6, "last.pt")]
    resumes = [m for m in read_metrics(run) if m["type"] == "resume"]
    assert [(r["epoch"], r["step"], r["device"]) for r in resumes] == [(1, 2, "cpu")]
    assert_same_weights(run, ref)
    assert _steps(run) == _steps(ref)


def test_resume_with_a_different_config_is_an_error_naming_it(tmp_path: Path) -> None:
    from empirical.train import train

    cfg = tiny_config(*EXACT, "optim.epochs=1", "optim.max_steps=2")
    train(cfg, tmp_path)
    before = (tmp_path / "last.pt").read_bytes()
    changed = apply_overrides(cfg, ["optim.lr=0.5", "optim.max_steps=4"])
    with pytest.raises(ConfigError, match=r"optim\.lr.*optim\.max_steps|optim\.max_steps.*optim"):
        train(changed, tmp_path, resume=True)
    assert (tmp_path / "last.pt").read_bytes() == before
    again = train(None, tmp_path, resume=True)  # the saved config: nothing left to do
    assert again["status"] == "completed" and (tmp_path / "last.pt").read_bytes() == before


def test_gradient_penalty_runs_log_the_contrastive_loss_and_penalty_apart(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """loss = contrastive_loss + weight * penalty in every record; the first step's contrastive
    loss is the loss of the same run without the penalty (same weights, same views)."""
    from empirical.train import train

    base = [*EXACT, "views.name=foster", "regulariser.num_samples=4", "optim.epochs=1"]
    plain = train(tiny_config(*base), tmp_path / "plain")
    capsys.readouterr()
    gp = train(tiny_config(*base, "regulariser.weight=0.5", "run.log_every=1"), tmp_path / "gp")
    err = capsys.readouterr().err
    for run, weight in ((tmp_path / "plain", 0.0), (tmp_path / "gp", 0.5)):
        records = [m for m in read_metrics(run) if m["type"] in ("step", "epoch")]
        assert len(records) == 5
        for m in records:
            assert m["loss"] == pytest.approx(m["contrastive_loss"] + weight * m["penalty"], 1e-5)
            assert (m["penalty"] > 0) == (weight > 0), m
    steps = {
        w: [m for m in read_metrics(tmp_path / w) if m["type"] == "step"] for w in ("plain", "gp")
    }
    assert all(m["contrastive_loss"] == m["loss"] for m in steps["plain"])
    assert steps["gp"][0]["contrastive_loss"] == pytest.approx(steps["plain"][0]["loss"], 1e-6)
    assert steps["gp"][0]["loss"] > steps["gp"][0]["contrastive_loss"]
    last = steps["gp"][-1]
    assert (gp["final_loss"], gp["final_contrastive_loss"], gp["final_penalty"]) == (
        last["loss"],
        last["contrastive_loss"],
        last["penalty"],
    )
    assert plain["final_penalty"] == 0.0
    lines = [line for line in err.splitlines() if " step " in line]
    assert lines and all("contrastive" in line and "penalty" in line for line in lines)


@pytest.mark.parametrize(("precision", "name"), [("fp64", "float64"), ("fp32", "float32")])
def test_summary_reports_the_compute_dtype(tmp_path: Path, precision: str, name: str) -> None:
    from empirical.train import train

    cfg = tiny_config(*EXACT, f"run.precision={precision}", "optim.epochs=1", "optim.max_steps=1")
    summary = train(cfg, tmp_path)
    assert summary["precision"] == name
    assert summary["allocator"] in ("glibc tuned", "default (not glibc)")
    w = _weights(tmp_path)["encoder"]
    assert {v.dtype for v in w.values() if v.is_floating_point()} == {getattr(torch, name)}


def test_compute_precision_names_the_autocast_dtype() -> None:
    from empirical.compute import resolve_compute
    from empirical.distributed import DistInfo

    cpu = torch.device("cpu")
    for precision, name in (("bf16", "bfloat16"), ("fp64", "float64"), ("auto", "float32")):
        compute = resolve_compute(tiny_config(f"run.precision={precision}"), cpu, DistInfo())
        assert compute.precision == name


def test_rank_slices_partition_each_global_batch() -> None:
    from empirical.plan import Plan

    plan = Plan.of(tiny_config("data.train_size=48"), 64, world=2)
    assert (plan.local_batch, plan.steps_per_epoch) == (8, 3)
    perm = plan.permutation(1)
    for step in range(plan.steps_per_epoch):
        both = np.concatenate([plan.indices(perm, step, rank) for rank in (0, 1)])
        assert np.array_equal(both, plan.subset[perm[step * 16 : (step + 1) * 16]])
    with pytest.raises(ConfigError, match=r"optim\.batch_size"):
        Plan.of(tiny_config(), 64, world=3)


def test_the_loop_function_is_at_most_80_lines() -> None:
    from empirical.train import _train

    assert len(inspect.getsource(_train).splitlines()) <= 80


def _defined_at_top_level(tree: ast.Module) -> set[str]:
    """Names a module defines itself (functions, classes, assignments), not the ones it imports."""
    names: set[str] = set()
    for node in tree.body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            names.add(node.name)
        elif isinstance(node, ast.Assign | ast.AnnAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for target in targets:
                names.update(n.id for n in ast.walk(target) if isinstance(n, ast.Name))
    return names


def test_names_imported_from_empirical_train_are_defined_there() -> None:
    """Issue 9: the training module re-exports nothing; builders are imported from where they
    live (empirical.parts, .plan, .knn, .step, .recorder)."""
    root = HERE.parents[1]
    own = _defined_at_top_level(ast.parse((root / "empirical" / "train.py").read_text()))
    borrowed = []
    for folder in ("benchmarks", "empirical", "examples", "figures", "scripts", "tests"):
        for path in sorted((root / folder).rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text(), str(path))):
                if isinstance(node, ast.ImportFrom) and node.module == "empirical.train":
                    rel = path.relative_to(root)
                    borrowed += [f"{rel}: {a.name}" for a in node.names if a.name not in own]
    assert borrowed == []
    silenced = [p for p in (root / "empirical").rglob("*.py") if "noqa: F401" in p.read_text()]
    assert silenced == []
