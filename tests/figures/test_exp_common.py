"""The shared pieces of the experiment figures (``figures.experiments.common``)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import matplotlib
import pytest

from figures.baselines import plan
from figures.experiments import common
from figures.stats import Gate, Interval
from figures.sweep import Evaluation, RunSpec, eval_path

matplotlib.use("Agg")

PROBE = Evaluation("fig-probe", "probe", {})


def _record(path: Path, accuracy: dict[str, float], elapsed: float) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    metrics = {t: {"accuracy": a, "chance": 0.1} for t, a in accuracy.items()}
    rec: dict[str, Any] = {"schema": 1, "name": "fig-probe", "kind": "probe", "config": {}}
    rec |= {"seed": 0, "options": {}, "metrics": metrics, "elapsed_s": elapsed}
    path.write_text(json.dumps(rec))


def test_read_probe_reads_the_run_beside_its_untrained_population(tmp_path: Path) -> None:
    spec = RunSpec("exp_x", "a-s0", "expert-shapes-cpu", ("optim.max_steps=1",), 0, (PROBE,))
    base = plan([spec], tmp_path, (PROBE,), inits=3)
    run_dir = spec.run_dir(tmp_path)
    _record(eval_path(run_dir, PROBE), {"shape": 0.8, "background": 0.6}, 2.0)
    (run_dir / "summary.json").write_text(json.dumps({"train_time_s": 5.0}))
    pop = base.populations[spec.name]
    assert [t.seed for t in pop] == [1, 2, 3]  # after the trained seed 0
    for t, acc in zip(pop, (0.3, 0.35, 0.4), strict=True):
        _record(eval_path(t.run_dir(tmp_path), PROBE), {"shape": acc}, 1.0)
    r = common.read_probe(base, spec, PROBE, ["shape"])
    assert r.accuracy == {"shape": 0.8} and r.untrained == {"shape": [0.3, 0.35, 0.4]}
    assert common.init_seeds(base, [spec]) == [1, 2, 3]
    other = RunSpec("exp_x", "b-s0", "expert-shapes-cpu", ("optim.max_steps=2",), 0, (PROBE,))
    two = plan([spec, other], tmp_path, (PROBE,), inits=3)
    assert common.init_seeds(two, [spec, other]) == [1, 2, 3]
    four = plan([other], tmp_path, (PROBE,), inits=4)
    mixed = type(base)(tmp_path, {}, {}, {**base.populations, **four.populations})
    with pytest.raises(ValueError, match=r"a-s0 and b-s0 differ in their seeds"):
        common.init_seeds(mixed, [spec, other])
    with pytest.raises(ValueError, match="at least one trained run"):
        common.init_seeds(base, [])
    assert r.chance == {"shape": 0.1} and r.seconds == pytest.approx(7.0)


def test_gated_claim_carries_a_closed_gate_only() -> None:
    kw: dict[str, Any] = {"id": "x.y", "figure": "f", "paper": "p", "claim": "c", "effect": "e"}
    kw |= {"measured": Interval(0.1, 0.0, 0.2, 3, 0.1), "predicted_sign": 1}
    closed = common.gated_claim(Gate(False, (), 2, "no task beats it"), **kw)
    opened = common.gated_claim(Gate(True, ("a",), 2, "1 of 2 beat it"), **kw)
    assert closed.gated and closed.gate_reason == "no task beats it"
    assert not opened.gated and opened.gate_reason == ""


def test_gate_notes_box_only_when_open_with_notes() -> None:
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2)
    common._gate_notes(axes[0], Gate(True, ("a",), 2, "1 of 2"), ["b: no gain"], "x", "p")
    common._gate_notes(axes[1], Gate(True, ("a",), 2, "1 of 2"), [], "x", "p")
    boxed = [t.get_text() for t in axes[0].texts if t.get_gid() == "task-gate"]
    assert boxed == ["b: no gain\n(not compared across p)"]
    assert not [t for t in axes[1].texts if t.get_gid() == "task-gate"]
    plt.close(fig)
