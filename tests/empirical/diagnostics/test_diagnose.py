"""Tiny end-to-end runs of ``python -m empirical.diagnostics`` on a viewmaker run of the tiny
overlay suite: every diagnostic writes its record (and PNG) under RUN_DIR/eval/, the encoder is
unchanged, bad arguments exit with status 2."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from PIL import Image

from empirical.config import Config, apply_overrides
from empirical.diagnostics.diagnose import DiagnosticOptions, main
from empirical.diagnostics.png import grid_size
from empirical.runs import load_run

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from diag_tiny import TINY_RUN
from test_checkpoint_files import flip_bytes

HERE = Path(__file__).resolve().parent


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from empirical.train import train

    out = tmp_path_factory.mktemp("run")
    summary = train(apply_overrides(Config(), TINY_RUN), out)
    assert summary["status"] == "completed"
    return out


def _record(run_dir: Path, what: str) -> dict:
    return json.loads((run_dir / "eval" / f"diagnostics-{what}.json").read_text())


def test_invariance_cli(run_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    before = load_run(run_dir).models["encoder"]
    args = [str(run_dir), "--what", "invariance", "--num-inputs", "16", "--num-copies", "4"]
    assert main([*args, "--views", "foster", "--num-train", "32"]) == 0
    assert "wrote" in capsys.readouterr().out
    rec = _record(run_dir, "invariance")
    assert rec["kind"] == "invariance" and rec["seed"] == 0
    assert rec["config"]["views"]["name"] == "viewmaker"
    m = rec["metrics"]
    assert m["conditional_variance"]["projected"] > 0
    assert m["conditional_variance"]["num_inputs"] == 16
    assert len(m["alpha_r2"]["r2_per_dim"]) == 4
    assert m["alpha_r2"]["names"] == ["brightness", "contrast", "saturation", "hue"]
    assert main([*args, "--views", "identity"]) == 0
    m = _record(run_dir, "invariance")["metrics"]
    assert m["conditional_variance"]["projected"] == pytest.approx(0.0, abs=1e-12)
    assert "skipped" in m["alpha_r2"]
    after = load_run(run_dir).models["encoder"]
    assert all((before[k] == after[k]).all() for k in before)  # checkpoint untouched


def test_dropout_rate_cli(run_dir: Path) -> None:
    args = [str(run_dir), "--what", "dropout-rate", "--num-inputs", "64", "--num-copies", "2"]
    assert main([*args, "--judge-steps", "30", "--eps", "0.05,0.5"]) == 0
    m = _record(run_dir, "dropout-rate")["metrics"]
    assert set(m["judges"]) == {"background", "overlay"}
    assert set(m["views"]) == {
        "identity",
        "expert",
        "viewmaker-untrained-eps0.05",
        "viewmaker-untrained-eps0.5",
        "viewmaker-trained-eps0.1",
    }
    ident = m["views"]["identity"]
    assert ident["overlay"]["rate"] == 0.0 and ident["background"]["rate"] == 0.0
    assert len(list((run_dir / "eval" / "judges").glob("*.pt"))) == 2
    # judges from the cache; a second result under its own name
    assert main([*args, "--judge-steps", "30", "--eps", "0.05", "--name", "again"]) == 0
    again = json.loads((run_dir / "eval" / "again.json").read_text())["metrics"]
    assert again["judges"] == m["judges"]
    assert again["views"]["identity"] == ident


def test_local_and_gallery_cli(run_dir: Path) -> None:
    assert main([str(run_dir), "--what", "local", "--num-inputs", "8"]) == 0
    m = _record(run_dir, "local")["metrics"]
    assert m["k"] == 2
    assert m["order"] == ["pixels", "stage1", "stage2", "prepool"]  # JSON keys come sorted
    assert set(m["ari"]) == set(m["order"])
    assert m["ari"]["stage1"]["grid"] == [8, 8] and m["ari"]["prepool"]["grid"] == [2, 2]
    assert m["ari"]["pixels"]["ari"] > 0.5
    with Image.open(run_dir / "eval" / "diagnostics-local.png") as img:
        h, w = grid_size(8, 2 + 4, 16, 16, 3, 2, titled=True)  # input, truth, 4 maps
        assert img.size == (w, h)
    assert main([str(run_dir), "--what", "gallery", "--num-inputs", "3", "--num-copies", "2"]) == 0
    g = _record(run_dir, "gallery")["metrics"]
    assert g["viewmaker"] == "trained" and len(g["columns"]) == 1 + 3 * 2
    assert Path(g["path"]).exists()


def test_bad_arguments_exit_2(run_dir: Path, tmp_path: Path) -> None:
    assert main([str(run_dir), "--what", "local", "--k", "1"]) == 2
    assert main([str(tmp_path), "--what", "local"]) == 2  # no checkpoint
    assert main([str(run_dir), "--what", "local", "--name", "../x"]) == 2
    with pytest.raises(SystemExit) as e:
        main([str(run_dir), "--what", "nothing"])
    assert e.value.code == 2
    with pytest.raises(ValueError, match="eps"):
        DiagnosticOptions(eps=(0.0,))
    with pytest.raises(ValueError, match="layer"):
        DiagnosticOptions(layer="top")


def test_gallery_defaults_to_eight_rows(run_dir: Path) -> None:
    """The gallery has its own row count (default 8), not the 256 test inputs of the other
    diagnostics: a PNG a person can read."""
    assert main([str(run_dir), "--what", "gallery", "--name", "gallery-default"]) == 0
    g = json.loads((run_dir / "eval" / "gallery-default.json").read_text())
    assert g["options"]["gallery_rows"] == 8 and g["options"]["num_inputs"] == 256
    assert len(g["metrics"]["delta_scale"]) == 8  # one scale per row
    views = g["options"]["num_copies"]  # 8 viewmaker views, 8 perturbations, 8 expert views
    with Image.open(run_dir / "eval" / "gallery-default.png") as img:
        h, w = grid_size(8, 1 + 3 * views, 16, 16, 3, 2, titled=True)
        assert img.size == (w, h)
    assert main([str(run_dir), "--what", "gallery", "--gallery-rows", "3", "--name", "g3"]) == 0
    with Image.open(run_dir / "eval" / "g3.png") as img:
        assert img.size == grid_size(3, 1 + 3 * views, 16, 16, 3, 2, titled=True)[::-1]


def _damage(path: Path, how: str) -> None:
    if how == "truncated":
        path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    else:
        flip_bytes(path, 16)  # inside the weights


@pytest.mark.parametrize("how", ["truncated", "flipped"])
def test_damaged_checkpoint_is_a_one_line_error_with_status_2(
    run_dir: Path, tmp_path: Path, how: str, capsys: pytest.CaptureFixture[str]
) -> None:
    damaged = tmp_path / "run"
    damaged.mkdir()
    (damaged / "last.pt").write_bytes((run_dir / "last.pt").read_bytes())
    _damage(damaged / "last.pt", how)
    assert main([str(damaged), "--what", "gallery"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("error: ")
    assert str(damaged / "last.pt") in err and "start a new run" in err
    assert not (damaged / "eval").exists()


def test_damaged_checkpoint_from_the_command_line(run_dir: Path, tmp_path: Path) -> None:
    import subprocess
    import sys

    (tmp_path / "last.pt").write_bytes((run_dir / "last.pt").read_bytes()[:1000])
    done = subprocess.run(
        [sys.executable, "-m", "empirical.diagnostics", str(tmp_path), "--what", "local"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1 and str(tmp_path / "last.pt") in done.stderr
    assert "Traceback" not in done.stderr
