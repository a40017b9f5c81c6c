"""The teaching walk-through runs end to end and shows suppression and recovery."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_walkthrough_shows_suppression_then_recovery(tmp_path: Path) -> None:
    out = tmp_path / "walk.png"
    proc = subprocess.run(
        [
            sys.executable,
            str(ROOT / "examples" / "feature_dropout_walkthrough.py"),
            "--out",
            str(out),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
        cwd=ROOT,
    )
    rows = [
        [float(v) for v in line.split()]
        for line in proc.stdout.splitlines()
        if re.match(r"^\s*\d+\.\d+(\s+-?\d+\.\d+){6}\s*$", line)
    ]
    assert len(rows) == 5
    p_star = float(re.search(r"p\* = ([0-9.]+)", proc.stdout).group(1))
    for p, _ls, _lw, acc_s, acc_w, sim_s, sim_w in rows:
        if p < p_star:  # suppression: the weak task at chance, at the optimum and after SGD
            assert acc_s == 1.0 and acc_w == 0.5
            assert sim_s > 0.95 and abs(sim_w - 0.5) < 0.05
        else:  # recovery above p*
            assert acc_s == 0.5 and acc_w == 1.0
            assert abs(sim_s - 0.5) < 0.05 and sim_w > 0.95
    assert out.exists() and out.stat().st_size > 1000
