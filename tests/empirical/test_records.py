"""empirical.records: the one writer of evaluation records, their key (config, kind, options,
checkpoint weights, evaluation code), the frozen check, reading records back."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch

from empirical import records
from empirical.checkpoint import save_checkpoint
from empirical.config import Config, apply_overrides
from empirical.evaluate import EvalOptions
from empirical.records import (
    EncoderModified,
    check_name,
    current_record,
    read_record,
    read_records,
    record_key,
    write_record,
)
from empirical.runs import LoadedRun, build_encoder_head, load_run

CFG = apply_overrides(
    Config(), ["model.width=4", "model.head_hidden=8", "model.out_dim=5", "model.head_depth=2"]
)


def _save(run_dir: Path, cfg: Config = CFG, bump: float = 0.0, seed: int = 0) -> LoadedRun:
    torch.manual_seed(seed)
    enc, head = build_encoder_head(cfg, 3)
    models = {"encoder": enc.state_dict(), "head": head.state_dict()}
    if bump:
        name = next(iter(models["encoder"]))
        models["encoder"][name] = models["encoder"][name] + bump
    save_checkpoint(run_dir / "last.pt", {"config": cfg.to_dict(), "models": models})
    return load_run(run_dir)


def test_key_changes_with_everything_that_determines_a_record(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    run = _save(tmp_path / "a")
    opts = EvalOptions(max_iter=20)
    key = record_key(run, "probe", opts)
    # the same inputs: the same key (also from a fresh load, and for a copy of the run directory)
    assert record_key(load_run(tmp_path / "a"), "probe", EvalOptions(max_iter=20)) == key
    shutil.copytree(tmp_path / "a", tmp_path / "copy")
    assert record_key(load_run(tmp_path / "copy"), "probe", opts) == key
    assert record_key(run, "probe", EvalOptions(max_iter=21)) != key  # an option
    assert record_key(run, "averaging", opts) != key  # the kind
    assert record_key(_save(tmp_path / "b", bump=1e-6), "probe", opts) != key  # the weights
    other = CFG.replace(views={"p": 0.25})
    assert record_key(_save(tmp_path / "c", cfg=other), "probe", opts) != key  # the config
    monkeypatch.setattr(records, "code_sha256", lambda: "0" * 64)
    assert record_key(run, "probe", opts) != key  # the evaluation code


def test_weights_hash_covers_every_module_of_the_checkpoint(tmp_path: Path) -> None:
    run = _save(tmp_path)
    with_vm = {**run.models, "viewmaker": {"w": torch.zeros(2)}}
    assert records.state_sha256(with_vm) != run.weights_sha256
    changed = {**run.models, "viewmaker": {"w": torch.ones(2)}}
    assert records.state_sha256(changed) != records.state_sha256(with_vm)
    assert records.state_sha256(dict(reversed(run.models.items()))) == run.weights_sha256


def _copy_sources(dst: Path) -> None:
    src = records.PACKAGE_ROOT
    for rel in records.CODE_PATHS:
        if (src / rel).is_dir():
            shutil.copytree(src / rel, dst / rel)
        elif (src / rel).exists():
            shutil.copy(src / rel, dst / rel)
    (dst / "training_only.py").write_text("x = 1\n")  # outside CODE_PATHS


def test_code_hash_follows_the_evaluation_sources_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _copy_sources(tmp_path)
    monkeypatch.setattr(records, "PACKAGE_ROOT", tmp_path)

    def digest() -> str:
        records.code_sha256.cache_clear()
        return records.code_sha256()

    try:
        base = digest()
        files = {f.relative_to(tmp_path).as_posix() for f in records._code_files()}
        assert {"evaluate.py", "features.py", "probe.py", "diagnostics/gallery.py"} <= files
        assert "training_only.py" not in files
        with (tmp_path / "training_only.py").open("a") as f:  # code outside: the same hash
            f.write("\n# edited\n")
        assert digest() == base
        view = next((tmp_path / "views").glob("*.py"))
        with view.open("a") as f:  # the views an evaluation draws: a new hash
            f.write("\n# edited\n")
        assert digest() != base
    finally:
        records.code_sha256.cache_clear()


def test_write_record_stores_its_key_and_is_current_until_an_input_changes(tmp_path: Path) -> None:
    run = _save(tmp_path)
    opts = EvalOptions(layer="pooled")
    path, rec = write_record(run, "probe", "p", opts, lambda: {"t": {"accuracy": 0.5}})
    assert path == tmp_path / "eval" / "p.json"
    on_disk = json.loads(path.read_text())
    assert on_disk["key"] == rec["key"] == record_key(run, "probe", opts)
    assert on_disk["weights_sha256"] == run.weights_sha256
    assert on_disk["encoder_sha256"] == records.weights_hash(run.modules())
    assert on_disk["options"]["layer"] == "pooled" and on_disk["metrics"]["t"]["accuracy"] == 0.5
    assert current_record(path, rec["key"]) == on_disk
    assert current_record(path, record_key(run, "probe", EvalOptions())) is None
    assert current_record(tmp_path / "eval" / "missing.json", rec["key"]) is None
    path.write_text("{not json")
    assert current_record(path, rec["key"]) is None  # damaged: recompute


def test_write_record_refuses_a_modified_encoder(tmp_path: Path) -> None:
    run = _save(tmp_path)

    def tamper() -> dict:
        with torch.no_grad():
            next(run.head.parameters()).view(-1)[0] += 1.0
        return {}

    with pytest.raises(EncoderModified, match="head"):
        write_record(run, "probe", "p", EvalOptions(), tamper)
    assert not (tmp_path / "eval" / "p.json").exists()


def test_names_and_reading(tmp_path: Path) -> None:
    for bad in ("", "a/b", ".hidden", "..", "a\\b"):
        with pytest.raises(ValueError, match="plain file name"):
            check_name(bad)
    (tmp_path / "eval").mkdir()
    (tmp_path / "eval" / "x.json").write_text("[1, 2]")
    with pytest.raises(ValueError, match=r"x\.json: not an evaluation record"):
        read_record(tmp_path / "eval" / "x.json")
    (tmp_path / "eval" / "x.json").write_text(json.dumps({"schema": 2, "name": "x"}))
    with pytest.raises(ValueError, match="without kind, config, seed, options, metrics"):
        read_records([tmp_path])
    with pytest.raises(FileNotFoundError, match=r"no evaluation results y\.json"):
        read_records([tmp_path], "y")
