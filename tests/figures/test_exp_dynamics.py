"""exp_dynamics: plots of hand-made results (axis labels, every plotted number from the
results), the gate and claims by their rule, and compute on hand-made run dirs (missing run dirs
and learning curves are errors naming them)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from figures import baselines, claims
from figures.experiments import dynamics

STEPS = [16, 32, 48]


def _theory() -> dict[str, Any]:
    return {
        "params": {
            "groups": [
                {"name": "overlay", "dim": 3, "strength": 1.2},
                {"name": "background", "dim": 8, "strength": 5.0},
            ],
            "noise": 1.7,
            "embed_dim": 64,
            "measure": "normalised group strength",
        },
        "ps": [0.0, 1.0],
        "curves": {
            "steps": [0, 24, 48],
            "overlay": [[0.0, 0.3, 0.8], [0.0, 0.0, 0.0]],
            "background": [[0.0, 0.7, 1.0], [0.0, 0.9, 1.0]],
        },
    }


def _baseline(gain: float) -> dict[str, Any]:
    """The gate's values: each task's probe at the budget ``gain`` (+0.002 for seed 1) above its
    untrained twin of the same seed."""
    unt = {"shape": [0.4, 0.42], "background": [0.5, 0.51]}
    acc = {t: [u + gain + 0.002 * s for s, u in enumerate(v)] for t, v in unt.items()}
    return {"measure": "probe", "accuracy": acc, "untrained": unt}


def _results(rise: float = 0.1, release: float = 0.05, gain: float = 0.1) -> dict[str, Any]:
    """Two seeds; the background's kNN rises by ``rise`` over training and lies ``release``
    higher at p = 1 than under expert views (seed 1 a little above seed 0); every task's probe
    at the budget lies ``gain`` above its untrained twin."""

    def curve(start: float, seed: int) -> list[float]:
        return [start + 0.01 * seed + rise * k / 2 for k in range(3)]

    conds = {
        "expert": {
            "p": 0.0,
            "runs": ["shapes-p0-s0", "shapes-p0-s1"],
            "steps": STEPS,
            "knn": {
                "shape": [curve(0.5, s) for s in (0, 1)],
                "background": [curve(0.6, s) for s in (0, 1)],
            },
            "baseline": _baseline(gain),
        },
        "oracle p=1": {
            "p": 1.0,
            "runs": ["shapes-p1-s0", "shapes-p1-s1"],
            "steps": STEPS,
            "knn": {
                "shape": [curve(0.3, s) for s in (0, 1)],
                "background": [[v + release + 0.002 * s for v in curve(0.6, s)] for s in (0, 1)],
            },
            "baseline": _baseline(gain),
        },
    }
    suite = {
        "suite": "overlay-shapes-on-fashion",
        "tasks": ["shape", "background"],
        "conditions": conds,
        "theory": _theory(),
    }
    return {"seeds": [0, 1], "steps": 48, "suites": {"shapes": suite}}


def _lines(fig: Any) -> dict[str, Any]:
    return {ln.get_gid(): ln for ax in fig.axes for ln in ax.lines if ln.get_gid()}


def test_plot_draws_every_number_from_the_results() -> None:
    res = _results()
    fig = dynamics.plot_dynamics(res, dynamics.dynamics_config())
    theory_ax, measured_ax = fig.axes[:2]
    assert theory_ax.get_xlabel() == measured_ax.get_xlabel() == "optimiser step"
    assert theory_ax.get_ylabel() == "normalised group strength (theory)"
    assert measured_ax.get_ylabel() == "kNN accuracy (measured)"
    lines = _lines(fig)
    th = res["suites"]["shapes"]["theory"]["curves"]
    for label, k in (("expert", 0), ("oracle p=1", 1)):
        for group in ("overlay", "background"):
            ln = lines[f"theory:shapes:{label}:{group}"]
            assert list(ln.get_xdata()) == th["steps"]
            assert list(ln.get_ydata()) == pytest.approx(th[group][k])
        for task in ("shape", "background"):
            ln = lines[f"knn:shapes:{label}:{task}"]
            knn = np.asarray(res["suites"]["shapes"]["conditions"][label]["knn"][task])
            assert list(ln.get_xdata()) == STEPS
            assert list(ln.get_ydata()) == pytest.approx(knn.mean(0).tolist())
    assert not any(t.get_gid() == "gate" for t in measured_ax.texts)


def test_a_closed_gate_is_said_in_words_and_fades_the_runs() -> None:
    fig = dynamics.plot_dynamics(_results(gain=0.0), dynamics.dynamics_config())
    measured_ax = fig.axes[1]
    assert any(t.get_gid() == "gate" for t in measured_ax.texts)
    assert _lines(fig)["knn:shapes:expert:shape"].get_alpha() == pytest.approx(0.3)
    assert "beats the untrained encoder, Welch over seeded init" in fig._suptitle.get_text()
    assert "probe accuracy at the budget" in fig._suptitle.get_text()
    # the note sits in headroom above the curves (it covers none of them)
    fig.canvas.draw()
    (note,) = [t for t in measured_ax.texts if t.get_gid() == "gate"]
    box = note.get_window_extent().transformed(measured_ax.transData.inverted())
    tops = [max(ln.get_ydata()) for ln in measured_ax.get_lines() if len(ln.get_ydata())]
    assert box.y0 > max(tops)


def test_the_gate_compares_with_the_untrained_twin_not_the_first_record() -> None:
    # every kNN curve rises by 0.1 from its first record, but no run beats its untrained twin
    res = _results(rise=0.1, gain=0.0)
    c = res["suites"]["shapes"]["conditions"]["expert"]
    assert all(seed[-1] > seed[0] + 0.05 for seed in c["knn"]["background"])
    g = dynamics.suite_gate(res, "shapes")
    assert not g.open and g.reason == "no task beats the untrained encoder" and g.checked == 4
    # flat kNN curves, but each run's probe beats its twin by 0.1: the gate is open
    res = _results(rise=0.0, gain=0.1)
    g = dynamics.suite_gate(res, "shapes")
    assert g.open and g.checked == 4 and "expert background" in g.beaten
    gains = dynamics.suite_gains(res, "shapes")
    assert gains["oracle p=1 shape"].mean == pytest.approx(0.101)  # (0.1 + 0.102) / 2


def test_the_release_claim_follows_its_rule() -> None:
    cfg = dynamics.dynamics_config()
    (held,) = dynamics.claims_dynamics(_results(release=0.05), cfg)
    assert held.verdict == claims.HOLDS
    assert held.measured.mean == pytest.approx(0.051)
    # theory: background at p = 1 minus at p = 0, mean over [0, 24, 48]: (0 + 0.2 + 0) / 3
    assert held.theory is not None and held.theory["value"] == pytest.approx(0.2 / 3)
    (against,) = dynamics.claims_dynamics(_results(release=-0.05), cfg)
    assert against.verdict == claims.CONTRADICTED
    (gated,) = dynamics.claims_dynamics(_results(gain=0.0), cfg)
    assert gated.verdict == claims.NOT_A_RESULT


def test_the_figure_is_registered_and_reads_the_source_figures_runs() -> None:
    from figures.experiments import oracle
    from figures.registry import FIGURES

    assert FIGURES.lookup("exp_dynamics") is dynamics.EXP_DYNAMICS
    theirs = {s.run_id for s in oracle.oracle_specs(oracle.oracle_config())}
    ours = dynamics.dynamics_specs(dynamics.dynamics_config())
    assert ours and all(s.figure == "exp_oracle_dropout" and s.run_id in theirs for s in ours)
    labels = dynamics.dynamics_runs(dynamics.dynamics_config())["digits"]
    assert list(labels) == ["expert", "oracle p=0.4", "oracle p=1"]  # p = 0 is the expert runs


def _cfg(tmp_path: Path) -> dict[str, Any]:
    return {**dynamics.dynamics_config(), "seeds": [0], "runs_root": str(tmp_path)}


def _write_runs(cfg: dict[str, Any]) -> dict[str, float]:
    """A metrics.jsonl in every run dir; each run's kNN is a number derived from its name."""
    values = {}
    for i, spec in enumerate(dynamics.dynamics_specs(cfg)):
        d = spec.run_dir(Path(cfg["runs_root"]))
        d.mkdir(parents=True)
        values[spec.name] = 0.1 + 0.01 * i
        task = "shape" if spec.name.startswith("shapes") else "digit"
        lines = [{"type": "step", "global_step": 1, "loss": 1.0}]
        lines += [
            {
                "type": "epoch",
                "global_step": s,
                "knn": {task: values[spec.name], "background": values[spec.name] + s / 1000},
            }
            for s in STEPS
        ]
        (d / "metrics.jsonl").write_text("".join(json.dumps(x) + "\n" for x in lines))
    return values


def _fake_eval(run_dir: Path, evaluation: Any) -> dict[str, Any]:
    """A probe record: 0.2 for every task of an untrained twin, 0.3 for a trained run."""
    assert evaluation.name == "fig-probe"
    acc = 0.2 if run_dir.name.startswith("untrained-") else 0.3
    tasks = ("shape", "digit", "background")
    return {"metrics": {t: {"accuracy": acc, "chance": 0.1} for t in tasks}}


def test_compute_reads_the_run_dirs_and_calls_the_theory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cfg = _cfg(tmp_path)
    values = _write_runs(cfg)
    monkeypatch.setattr(dynamics, "load_eval", _fake_eval)
    calls = []

    def fake_theory(suite: str, ps: list[float], steps: int, batch: int, seed: int) -> Any:
        calls.append((suite, ps, steps, batch, seed))
        return {"ps": ps}

    monkeypatch.setattr(dynamics, "_theory_call", fake_theory)
    res = dynamics.compute_dynamics(cfg)
    assert [c[0] for c in calls] == ["overlay-shapes-on-fashion", "overlay-digits-on-fashion"]
    assert all(c[1:] == ([0.0, 0.4, 1.0], 192, 256, 0) for c in calls)
    c = res["suites"]["digits"]["conditions"]["oracle p=0.4"]
    assert c["steps"] == STEPS and c["runs"] == ["digits-p0.4-s0"]
    assert c["knn"]["digit"] == [[values["digits-p0.4-s0"]] * 3]
    assert c["knn"]["background"][0] == pytest.approx(
        [values["digits-p0.4-s0"] + s / 1000 for s in STEPS]
    )
    # the twins record no kNN (never trained): the gate reads the probe of the run and of
    # each initialisation in its untrained population
    inits = baselines.UNTRAINED_INITS
    assert c["baseline"] == {
        "measure": "probe",
        "accuracy": {"digit": [0.3], "background": [0.3]},
        "untrained": {"digit": [0.2] * inits, "background": [0.2] * inits},
    }
    # the oracle figure's population: the seeds after its trained seeds 0-2
    assert res["inits"] == list(range(3, 3 + inits))


def test_the_populations_are_the_oracle_figures() -> None:
    from figures import baselines
    from figures.experiments import common, oracle

    ocfg = oracle.oracle_config()
    pops, probe = dynamics.dynamics_populations()
    assert probe == common._probe(ocfg)
    twins = baselines.untrained_twins(oracle.oracle_specs(ocfg), (probe,))
    assert pops == baselines.population(oracle.oracle_specs(ocfg), twins)
    assert twins["shapes-p1-s0"] == twins["shapes-p0-s0"]  # one twin per suite and seed
    assert pops["shapes-p1-s0"] == pops["shapes-p0-s2"]  # one population per suite
    assert len(pops["shapes-p0-s0"]) == baselines.UNTRAINED_INITS


def test_a_missing_run_dir_is_an_error_naming_it(tmp_path: Path) -> None:
    with pytest.raises(
        FileNotFoundError, match=r"missing run dir .*exp_oracle_dropout/shapes-p0-s0-[0-9a-f]{8}"
    ):
        dynamics.compute_dynamics(_cfg(tmp_path))


def test_a_missing_learning_curve_is_an_error_naming_it(tmp_path: Path) -> None:
    cfg = _cfg(tmp_path)
    _write_runs(cfg)
    first = dynamics.dynamics_specs(cfg)[0].run_dir(tmp_path)
    (first / "metrics.jsonl").unlink()
    with pytest.raises(FileNotFoundError, match=rf"{first.name}/metrics\.jsonl"):
        dynamics.compute_dynamics(cfg)


def test_a_missing_probe_record_is_an_error_naming_the_source_figure(tmp_path: Path) -> None:
    cfg = _cfg(tmp_path)
    _write_runs(cfg)  # learning curves, but no probe records and no twins
    with pytest.raises(FileNotFoundError, match=r"run python -m figures exp_oracle_dropout first"):
        dynamics.compute_dynamics(cfg)
