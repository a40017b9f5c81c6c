"""examples/notebooks/03_reading_a_run.py trains a tiny run and reads it back."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest


@pytest.mark.slow
def test_trains_reads_probes_and_draws_a_run(run_notebook: Any, tmp_path: Path) -> None:
    report = (
        "{'status': summary['status'], 'global_step': summary['global_step'], "
        "'epochs': len(epochs), 'steps': len(steps), 'tasks': tasks, 'probes': probes}"
    )
    _, out = run_notebook("03_reading_a_run.py", report)
    assert out["status"] == "completed"
    assert (out["global_step"], out["steps"], out["epochs"]) == (64, 64, 8)  # 512 / 64 x 8
    run_dir = tmp_path / "runs" / "notebook-oracle"  # written under the kernel's working dir
    untrained = tmp_path / "runs" / "notebook-untrained"
    assert json.loads((untrained / "summary.json").read_text())["global_step"] == 1
    for label, directory in (("trained", run_dir), ("untrained", untrained)):
        record = json.loads((directory / "eval" / "probe-prepool.json").read_text())
        assert record["metrics"] == out["probes"][label]
        for task in out["tasks"]:
            assert 0.0 <= record["metrics"][task]["accuracy"] <= 1.0
    png = run_dir / "eval" / "diagnostics-gallery.png"
    assert png.read_bytes()[:4] == b"\x89PNG"
