"""The evaluation path (empirical.evaluate): the frozen-encoder check, options, and a tiny
end-to-end run: train a few steps with the training loop, then evaluate it from the command line
and through the API (probe, feature averaging, robustness) and check the JSON records.

``tiny_suite`` is imported by the training loop as ``data.suite=test_evaluate:tiny_suite`` with
this folder on ``sys.path``.
"""

from __future__ import annotations

import json
import math
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from empirical.data.base import Batch, TaskSpec

HERE = Path(__file__).resolve().parent


class TinySuite:
    """``n`` 3 x 16 x 16 images: background class = one of 4 fixed textures (plus noise); overlay
    class = which quadrant holds a bright square. Each read scales the images by a factor from
    ``rng`` (per-read randomness, as overlay suites have)."""

    name = "tiny-eval"
    input_shape = (3, 16, 16)

    def __init__(self, split: str = "train", n: int = 64) -> None:
        self.split = split
        self.tasks = (
            TaskSpec("background", "classification", num_classes=4),
            TaskSpec("overlay", "classification", num_classes=4),
        )
        rng = np.random.default_rng([0, split == "test"])
        textures = np.random.default_rng(99).uniform(0.0, 0.6, (4, 3, 16, 16))
        self.bg, self.ov = rng.integers(0, 4, n), rng.integers(0, 4, n)
        noise = rng.uniform(0.0, 0.2, (n, 3, 16, 16))
        self.clean = (textures[self.bg] + noise).astype(np.float32)
        self.masks = np.zeros((4, 1, 16, 16), dtype=bool)
        for q in range(4):
            r, c = divmod(q, 2)
            self.masks[q, :, 2 + 8 * r : 6 + 8 * r, 2 + 8 * c : 6 + 8 * c] = True

    def __len__(self) -> int:
        return len(self.bg)

    def batch(self, indices: np.ndarray, rng: np.random.Generator) -> Batch:
        idx = np.asarray(indices, dtype=np.int64)
        clean = torch.from_numpy(self.clean[idx])
        mask = torch.from_numpy(self.masks[self.ov[idx]])
        scale = torch.from_numpy(rng.uniform(0.8, 1.0, (len(idx), 1, 1, 1)).astype(np.float32))
        x = torch.where(mask, torch.ones_like(clean), clean) * scale
        return Batch(
            x=x,
            labels={
                "background": torch.from_numpy(self.bg[idx]),
                "overlay": torch.from_numpy(self.ov[idx]),
            },
            index=torch.from_numpy(idx),
            x_clean=clean * scale,
            overlay_mask=mask,
        )


def tiny_suite(split: str = "train", **options: object) -> TinySuite:
    return TinySuite(split=split, **options)  # type: ignore[arg-type]


TINY = [
    "data.suite=test_evaluate:tiny_suite",
    "model.encoder=small_resnet",
    "model.width=4",
    "model.head_hidden=16",
    "model.out_dim=8",
    "views.name=expert",
    "views.crop_min=0.5",
    "optim.batch_size=16",
    "optim.optimizer=adam",
    "optim.lr=0.003",
    "optim.epochs=1",
    "loss.temperature=0.2",
    "run.device=cpu",
    "run.knn_every=0",
]


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny run: 4 steps of the training loop (expert views)."""
    import sys

    from empirical.config import Config, apply_overrides
    from empirical.train import train

    sys.path.insert(0, str(HERE))
    out = tmp_path_factory.mktemp("run")
    summary = train(apply_overrides(Config(), TINY), out)
    assert summary["status"] == "completed" and summary["global_step"] == 4
    return out


@pytest.fixture(autouse=True)
def _suite_on_path(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.syspath_prepend(str(HERE))


SCHEMA = {
    "schema",
    "name",
    "kind",
    "run_dir",
    "config",
    "seed",
    "options",
    "weights_sha256",
    "encoder_sha256",
    "code_sha256",
    "code_version",
    "key",
    "created_utc",
    "elapsed_s",
    "metrics",
}


def test_cli_probe_writes_json_with_schema_and_sane_accuracies(run_dir: Path) -> None:
    from empirical.evaluate import main
    from empirical.records import code_sha256

    assert main([str(run_dir), "--layer", "pooled", "--max-iter", "100"]) == 0
    path = run_dir / "eval" / "probe-pooled.json"
    record = json.loads(path.read_text())
    assert set(record) == SCHEMA
    assert record["kind"] == "probe" and record["seed"] == 0
    assert record["config"]["data"]["suite"] == "test_evaluate:tiny_suite"
    assert record["options"]["layer"] == "pooled"
    assert record["options"]["max_iter"] == 100 and record["options"]["copies"] == [1, 2, 5, 10]
    head = subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=HERE, capture_output=True, text=True, check=True
    ).stdout.strip()  # the tests run from a git work tree: the record names its commit
    version = record["code_version"]
    assert version["commit"] == head
    assert version["describe"] in (head[:12], head[:12] + "-dirty")
    assert record["code_sha256"] == code_sha256() and re.fullmatch("[0-9a-f]{64}", record["key"])
    assert set(record["metrics"]) == {"background", "overlay"}
    for m in record["metrics"].values():
        assert 0.0 <= m["accuracy"] <= 1.0 and m["chance"] == 0.25
        assert m["n"] == 64 and m["n_train"] == 64
    # four fixed textures: far above chance even after 4 training steps
    assert record["metrics"]["background"]["accuracy"] > 0.6


def test_evaluate_reads_prev_pt_when_last_pt_is_damaged(
    run_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A damaged last.pt: the evaluation reads prev.pt (as ``train --resume`` does) and says so
    on stderr; the record carries prev.pt's weights hash."""
    import shutil

    from empirical.evaluate import main

    run = tmp_path / "run"
    shutil.copytree(run_dir, run, ignore=shutil.ignore_patterns("eval"))
    shutil.copy(run / "last.pt", run / "prev.pt")
    expected = _weights_hash(run / "prev.pt")
    (run / "last.pt").write_bytes(b"not a checkpoint")
    assert main([str(run), "--layer", "pooled", "--max-iter", "10"]) == 0
    err = capsys.readouterr().err
    assert "warning" in err and str(run / "last.pt") in err and str(run / "prev.pt") in err
    record = json.loads((run / "eval" / "probe-pooled.json").read_text())
    assert record["weights_sha256"] == expected


def _weights_hash(path: Path) -> str:
    from empirical.checkpoint import load_checkpoint
    from empirical.records import state_sha256

    return state_sha256(load_checkpoint(path)["models"])


def test_averaging_and_robustness_records(run_dir: Path) -> None:
    from empirical.evaluate import EvalOptions, evaluate
    from empirical.runs import load_run

    run = load_run(run_dir)
    opts = EvalOptions(layer="pooled", copies=(1, 3), jitter=(0.0, 0.5), max_iter=50)
    path, rec = evaluate(run_dir, "averaging", opts, run=run)
    assert path == run_dir / "eval" / "averaging-pooled-run.json"
    assert set(rec["metrics"]) == {"M=1", "M=3"}
    for per_task in rec["metrics"].values():
        assert all(0.0 <= m["accuracy"] <= 1.0 for m in per_task.values())
    # the run's expert views are random: averaging 3 of them gives other features, so the
    # probes (fitted and scored on them) reach a different test loss
    for task in ("background", "overlay"):
        loss1, loss3 = (rec["metrics"][k][task]["loss"] for k in ("M=1", "M=3"))
        assert loss1 != pytest.approx(loss3, rel=1e-6)
    _, rob = evaluate(run_dir, "robustness", opts, run=run)
    assert set(rob["metrics"]) == {"reference", "jitter=0.5"}
    # the same fitted probe everywhere: the same weight decay per task, but the jittered test
    # inputs give a different test loss
    for task in ("background", "overlay"):
        wd = {rob["metrics"][s][task]["weight_decay"] for s in rob["metrics"]}
        assert len(wd) == 1
        ref, jit = (rob["metrics"][k][task]["loss"] for k in ("reference", "jitter=0.5"))
        assert ref != pytest.approx(jit, rel=1e-6)
    assert rob["encoder_sha256"] == rec["encoder_sha256"]


def test_jitter_and_averaging_change_the_features(run_dir: Path) -> None:
    """Feature level: jitter 0 is the clean features, jitter 0.5 moves them; the M = 3 average of
    the run's views differs from M = 1 (the views are random)."""
    from empirical.evaluate import jitter_views
    from empirical.features import extract_averaged_features
    from empirical.runs import load_run

    run = load_run(run_dir)
    test_set = run.dataset("test")

    def feats(views: object, copies: tuple[int, ...] = (1,)) -> dict[int, torch.Tensor]:
        out = extract_averaged_features(
            run.encoder,
            run.head,
            test_set,
            "pooled",
            views,  # type: ignore[arg-type]
            copies,
            64,
            rng=np.random.default_rng(0),
            generator=torch.Generator().manual_seed(0),
        )
        return {m: f.x for m, f in out.items()}

    clean = feats(None)[1]
    scale = float(clean.abs().max())
    torch.testing.assert_close(feats(jitter_views(0.0))[1], clean, rtol=1e-4, atol=1e-4 * scale)
    assert float((feats(jitter_views(0.5))[1] - clean).abs().max()) > 1e-2 * scale
    views = run.views("run", 3)
    avg = feats(views, (1, 3))
    assert avg[1].shape == avg[3].shape == clean.shape
    assert float((avg[3] - avg[1]).abs().max()) > 1e-2 * scale


def test_probe_on_views_with_identity_views_equals_clean_probe(run_dir: Path) -> None:
    """Identity views averaged over M copies are the clean inputs: same features, same probe."""
    from empirical.evaluate import EvalInputs, EvalOptions, evaluate_probes
    from empirical.runs import load_run

    run = load_run(run_dir)
    clean = evaluate_probes(EvalInputs.of(run, EvalOptions(layer="pooled", max_iter=50)))
    views = EvalOptions(
        layer="pooled", views="identity", probe_on_views=True, num_copies=3, max_iter=50
    )
    ident = evaluate_probes(EvalInputs.of(run, views))
    for task in clean:
        assert ident[task]["accuracy"] == pytest.approx(clean[task]["accuracy"], abs=1 / 64)


@pytest.mark.parametrize("what", ["weight", "bn_buffer", "head"])
def test_frozen_check_catches_a_modified_encoder(run_dir: Path, what: str) -> None:
    from empirical.evaluate import EvalInputs, EvalOptions, evaluate_probes
    from empirical.records import EncoderModified
    from empirical.runs import load_run

    run = load_run(run_dir)

    def tamper(task: str, probe: object) -> None:
        with torch.no_grad():
            if what == "weight":
                next(run.encoder.parameters()).view(-1)[0] += 1e-3
            elif what == "bn_buffer":
                bn = next(m for m in run.encoder.modules() if isinstance(m, torch.nn.BatchNorm2d))
                bn.running_mean[0] += 1e-3
            else:
                next(run.head.parameters()).view(-1)[0] += 1e-3

    with pytest.raises(EncoderModified, match="changed"):
        evaluate_probes(
            EvalInputs.of(run, EvalOptions(layer="pooled", max_iter=10), callback=tamper)
        )


def test_frozen_check_passes_and_hash_is_stable(run_dir: Path) -> None:
    from empirical.evaluate import EvalInputs, EvalOptions, evaluate_probes
    from empirical.records import weights_hash
    from empirical.runs import load_run

    run = load_run(run_dir)
    mods = {"encoder": run.encoder, "head": run.head}
    h0 = weights_hash(mods)
    calls: list[str] = []
    options = EvalOptions(layer="pooled", max_iter=10)
    evaluate_probes(EvalInputs.of(run, options, callback=lambda t, p: calls.append(t)))
    assert calls == ["background", "overlay"] and weights_hash(mods) == h0
    with torch.no_grad():
        next(run.encoder.parameters()).view(-1)[0] += 1.0
    assert weights_hash(mods) != h0


def test_options_reject_bad_values() -> None:
    from empirical.evaluate import EvalOptions

    for kw, field in [
        ({"layer": "logits"}, "layer"),
        ({"num_copies": 0}, "num_copies"),
        ({"copies": (0, 2)}, "copies"),
        ({"jitter": (1.0,)}, "jitter"),
        ({"n_train": -1}, "n_train"),
        ({"batch_size": 0}, "batch_size"),
        ({"device": "tpu"}, "device"),
    ]:
        with pytest.raises(ValueError, match=field):
            EvalOptions(**kw)  # type: ignore[arg-type]


def test_cli_bad_arguments_exit_2(tmp_path: Path, run_dir: Path) -> None:
    from empirical.evaluate import main

    assert main([str(tmp_path / "missing")]) == 2
    assert main([str(run_dir), "--copies", "0"]) == 2
    assert main([str(run_dir), "--kind", "probe", "--name", "../x"]) == 2


def test_spirograph_shift_exact() -> None:
    from empirical.evaluate import spirograph_shift

    assert spirograph_shift({}, "bg", 0.2) == {"bg_range": [0.2, pytest.approx(0.8)]}
    assert spirograph_shift({}, "bg", 0.6) == {"bg_range": [0.6, 1.0]}  # capped at 1
    assert spirograph_shift({"h_range": [1.0, 2.0]}, "h", 0.5) == {"h_range": [1.5, 2.5]}


def test_jitter_views_zero_strength_is_identity() -> None:
    from empirical.evaluate import jitter_views

    x = torch.rand(3, 3, 8, 8)
    batch = Batch(x=x, labels={}, index=torch.arange(3))
    pair = jitter_views(0.0)(batch, torch.Generator().manual_seed(0))
    torch.testing.assert_close(pair.v1, x, rtol=1e-5, atol=1e-5)
    strong = jitter_views(0.8)(batch, torch.Generator().manual_seed(0))
    assert not math.isclose(float((strong.v1 - x).abs().max()), 0.0)


def test_viewmaker_run_averages_over_its_trained_viewmaker(tmp_path: Path) -> None:
    from empirical.config import Config, apply_overrides
    from empirical.evaluate import EvalInputs, EvalOptions, feature_averaging_sweep
    from empirical.runs import load_run
    from empirical.train import train

    cfg = apply_overrides(
        Config(), [*TINY, "views.name=viewmaker", "views.vm_width=2", "views.vm_blocks=1"]
    )
    train(cfg, tmp_path)
    run = load_run(tmp_path)
    views = run.views("run", 3)
    trained = run.models["viewmaker"]
    for k, v in views.state_dict().items():  # type: ignore[attr-defined]
        assert torch.equal(v, trained[k]), k
    options = EvalOptions(layer="pooled", copies=(1, 2), max_iter=20)
    out = feature_averaging_sweep(EvalInputs.of(run, options))
    assert set(out) == {"M=1", "M=2"}
    assert all(0.0 <= m["accuracy"] <= 1.0 for r in out.values() for m in r.values())


def _damaged_copy(run_dir: Path, out: Path, how: str) -> Path:
    """``out/last.pt``: ``run_dir``'s checkpoint cut in half, or with 16 bytes in its middle (the
    weights) inverted."""
    data = bytearray((run_dir / "last.pt").read_bytes())
    if how == "truncated":
        data = data[: len(data) // 2]
    else:
        for i in range(len(data) // 2, len(data) // 2 + 16):
            data[i] ^= 0xFF
    out.mkdir(parents=True, exist_ok=True)
    (out / "last.pt").write_bytes(bytes(data))
    return out / "last.pt"


@pytest.mark.parametrize("how", ["truncated", "flipped"])
def test_damaged_checkpoint_is_a_one_line_error_with_status_2(
    run_dir: Path, tmp_path: Path, how: str, capsys: pytest.CaptureFixture[str]
) -> None:
    from empirical.evaluate import main

    path = _damaged_copy(run_dir, tmp_path / "run", how)
    assert main([str(path.parent), "--layer", "pooled"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("error: ")
    assert str(path) in err and "start a new run" in err  # names the file and what to do
    assert not (path.parent / "eval").exists()


def test_damaged_checkpoint_from_the_command_line(run_dir: Path, tmp_path: Path) -> None:
    path = _damaged_copy(run_dir, tmp_path / "run", "truncated")
    done = subprocess.run(
        [sys.executable, "-m", "empirical.evaluate", str(path.parent)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1 and str(path) in done.stderr
    assert "Traceback" not in done.stderr


def test_record_key_follows_the_options_and_the_weights(run_dir: Path, tmp_path: Path) -> None:
    """The key stored in a record changes with an evaluation option and with the weights, and
    only with what determines the record (a second identical evaluation has the same key)."""
    from empirical.checkpoint import load_checkpoint, save_checkpoint
    from empirical.evaluate import EvalOptions, evaluate
    from empirical.runs import load_run

    opts = EvalOptions(layer="pooled", max_iter=5, n_test=16)
    _, a = evaluate(run_dir, "probe", opts, "keyed")
    _, b = evaluate(run_dir, "probe", opts, "keyed")
    assert a["key"] == b["key"] and a["metrics"] == b["metrics"]
    _, c = evaluate(run_dir, "probe", EvalOptions(layer="pooled", max_iter=6, n_test=16), "keyed")
    assert c["key"] != a["key"]
    state = load_checkpoint(run_dir / "last.pt")
    name = next(iter(state["models"]["encoder"]))
    state["models"]["encoder"][name] = state["models"]["encoder"][name] + 1e-3
    save_checkpoint(tmp_path / "last.pt", state)
    moved = load_run(tmp_path)
    _, d = evaluate(moved.run_dir, "probe", opts, "keyed", run=moved)
    assert d["weights_sha256"] != a["weights_sha256"] and d["key"] != a["key"]
    assert d["config"] == a["config"] and d["options"] == a["options"]
