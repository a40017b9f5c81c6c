"""empirical.runs: loading a trained run (config, encoder, head, views, datasets) from last.pt."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch

from empirical.checkpoint import CheckpointError, save_checkpoint
from empirical.config import Config, apply_overrides
from empirical.records import state_sha256
from empirical.runs import build_encoder_head, load_run

sys.path.insert(0, str(Path(__file__).resolve().parent))
from test_checkpoint_files import DAMAGE

CFG = apply_overrides(
    Config(), ["model.width=4", "model.head_hidden=8", "model.out_dim=5", "model.head_depth=2"]
)


def _modules(in_channels: int) -> tuple[torch.nn.Module, torch.nn.Module]:
    torch.manual_seed(0)
    enc, head = build_encoder_head(CFG, in_channels)
    with torch.no_grad():  # non-trivial BatchNorm statistics
        for m in enc.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.uniform_(-0.2, 0.2)
                m.running_var.uniform_(0.5, 1.5)
    return enc, head


def test_load_run_rebuilds_the_saved_modules(tmp_path: Path) -> None:
    enc, head = _modules(in_channels=3 + 2)
    models = {"encoder": enc.state_dict(), "head": head.state_dict()}
    save_checkpoint(tmp_path / "last.pt", {"config": CFG.to_dict(), "models": models})
    run = load_run(tmp_path)
    assert run.in_channels == 5 and run.config == CFG and run.run_dir == tmp_path
    assert not run.encoder.training and not run.head.training
    assert run.weights_sha256 == state_sha256(models)
    assert set(run.modules()) == {"encoder", "head"}
    x = torch.rand(4, 5, 12, 12)
    enc.eval()
    head.eval()
    with torch.no_grad():
        torch.testing.assert_close(run.head(run.encoder(x)), head(enc(x)))
    with pytest.raises(ValueError, match="views must be one of"):
        run.views("viewmaker", 3)
    with pytest.raises(ValueError, match="no trained viewmaker"):
        load_run(_with(tmp_path / "vm", CFG.replace(views={"name": "viewmaker"}))).views("run", 3)


def _with(run_dir: Path, cfg: Config) -> Path:
    enc, head = _modules(3)
    save_checkpoint(
        run_dir / "last.pt",
        {
            "config": cfg.to_dict(),
            "models": {"encoder": enc.state_dict(), "head": head.state_dict()},
        },
    )
    return run_dir


def test_load_run_errors_name_the_checkpoint(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="no checkpoint"):
        load_run(tmp_path / "missing")
    save_checkpoint(tmp_path / "a" / "last.pt", {"config": CFG.to_dict(), "models": {}})
    with pytest.raises(CheckpointError, match=r"a/last\.pt: holds no config, encoder or head"):
        load_run(tmp_path / "a")
    enc, head = _modules(3)
    wider = CFG.replace(model={"width": 8})
    save_checkpoint(
        tmp_path / "b" / "last.pt",
        {
            "config": wider.to_dict(),
            "models": {"encoder": enc.state_dict(), "head": head.state_dict()},
        },
    )
    with pytest.raises(ValueError, match=r"b/last\.pt: weights do not fit the saved config"):
        load_run(tmp_path / "b")


@pytest.mark.parametrize("damage", [*DAMAGE, "missing"])
def test_load_run_falls_back_to_prev_when_last_is_damaged(
    tmp_path: Path, damage: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """As ``train --resume`` does: a damaged or missing last.pt is replaced by prev.pt, and a
    warning on stderr names both files; with a good last.pt nothing is said."""
    old, new = _with(tmp_path / "old", CFG), tmp_path / "run"
    new.mkdir()
    (old / "last.pt").rename(new / "prev.pt")
    with torch.no_grad():
        enc, head = _modules(3)
        next(enc.parameters()).add_(1.0)  # last.pt holds other weights than prev.pt
    models = {"encoder": enc.state_dict(), "head": head.state_dict()}
    save_checkpoint(new / "last.pt", {"config": CFG.to_dict(), "models": models})
    assert load_run(new).weights_sha256 == state_sha256(models)
    assert capsys.readouterr().err == ""
    if damage == "missing":
        (new / "last.pt").unlink()
    else:
        DAMAGE[damage](new / "last.pt")
    run = load_run(new)
    prev_enc, _ = _modules(3)
    assert torch.equal(next(run.encoder.parameters()), next(prev_enc.parameters()))
    err = capsys.readouterr().err
    assert "warning" in err and str(new / "last.pt") in err and str(new / "prev.pt") in err
