"""exp_views_multitask: the runs it trains and reuses, plots of hand-made results, the gate per
suite and per task, claims, and compute's wiring on fake run dirs."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import matplotlib
import numpy as np
import pytest

from figures import claims
from figures.experiments import multitask, oracle
from figures.inspect import gate_texts as _gate_texts
from figures.inspect import line_y as _line
from figures.inspect import noisy as _noisy

matplotlib.use("Agg")

SEEDS = [0, 1, 2]
VIEWS = ["expert", "viewmaker", "oracle"]


def _multitask_results(shapes_learn: bool = True) -> dict[str, Any]:
    """Shapes: both tasks gain 0.05 per view rank + 0.05 (none when not ``shapes_learn``);
    digits: only the background gains, the digit falls below the untrained encoder."""
    rng = np.random.default_rng(1)
    acc: dict[str, Any] = {}
    unt: dict[str, Any] = {}
    pix: dict[str, Any] = {}
    for s in ("shapes", "digits"):
        acc[s], unt[s], pix[s] = {}, {}, {}
        for j, v in enumerate(VIEWS):
            u = {t: _noisy(rng, (3,), 0.6) for t in multitask.MULTI_TASKS}
            gain = {t: (0.05 * j + 0.05) if shapes_learn else 0.0 for t in u}
            if s == "digits":
                gain = {"overlay": -0.05, "background": 0.1}
            acc[s][v] = {t: (u[t] + gain[t] + 0.005 * rng.standard_normal(3)).tolist() for t in u}
            unt[s][v] = {t: u[t].tolist() for t in u}
            pix[s][v] = {"overlay": 0.5 - 0.01 * j, "background": 0.3}
    rates = {
        s: {
            "identity": {"overlay": 0.0, "background": 0.0},
            "expert": {"overlay": 0.8, "background": 0.5},
            "viewmaker-untrained-eps0.05": {"overlay": 0.05, "background": 0.02},
            "viewmaker (trained)": {"overlay": 0.1, "background": 0.3},
            "oracle (p = 0.4, by construction)": {"overlay": 0.4, "background": 0.0},
        }
        for s in ("shapes",)
    }
    theory = {
        s: {
            "ps": [0.0, 0.1, 0.4, 1.0],
            "overlay": [0.9, 0.85, 0.7, 0.0],
            "background": [0.5, 0.6, 0.8, 0.9],
            "views": VIEWS,
            "view_ps": [0.0, 0.1, 0.4],
            "view_overlay": [0.9, 0.85, 0.7],
            "view_background": [0.5, 0.6, 0.8],
        }
        for s in ("shapes", "digits")
    }
    return {
        "seeds": SEEDS,
        "suite_names": {
            "shapes": "overlay-shapes-on-fashion",
            "digits": "overlay-digits-on-fashion",
        },
        "overlay_names": {"shapes": "shape", "digits": "digit"},
        "accuracy": acc,
        "untrained": unt,
        "pixels": pix,
        "dropout_rate": rates,
        "chance": {s: {"overlay": 0.1, "background": 0.1} for s in ("shapes", "digits")},
        "run_s": {},
        "theory": theory,
    }


def test_runs_trained_here_and_reused_from_the_oracle_figure() -> None:
    cfg = multitask.multitask_config()
    trained = multitask.multitask_specs(cfg)
    assert [s.name for s in trained] == [
        f"viewmaker-{s}-s{k}" for s in ("shapes", "digits") for k in SEEDS
    ]
    assert all(s.overrides[:-1] == tuple(cfg["overrides"]) for s in trained)
    assert trained[3].overrides[-1] == "data.suite=overlay-digits-on-fashion"
    with_rate = [s.name for s in trained if any(e.kind == "dropout-rate" for e in s.evaluations)]
    assert with_rate == ["viewmaker-shapes-s0", "viewmaker-digits-s0"]
    reused = multitask.multitask_reused_specs(cfg)
    ours = {s.run_id for s in oracle.oracle_specs(oracle.oracle_config())}
    assert {s.run_id for d in reused.values() for s in d.values()} <= ours
    assert reused["expert"]["digits-s2"].name == "digits-p0-s2"
    assert reused["oracle"]["shapes-s1"].name == "shapes-p0.4-s1"
    with pytest.raises(ValueError, match=r"reuse\.oracle must be one of"):
        multitask.multitask_reused_specs({**cfg, "reuse": {"oracle": 0.5}})
    with pytest.raises(ValueError, match="probe must equal"):
        multitask.multitask_reused_specs({**cfg, "probe": {**cfg["probe"], "layer": "prepool"}})
    with pytest.raises(ValueError, match="seeds must be in"):
        multitask.multitask_reused_specs({**cfg, "seeds": [7]})


def test_plot_multitask_baselines_gains_rates_and_gate_per_suite() -> None:
    cfg = multitask.multitask_config()
    res = _multitask_results()
    fig = multitask.plot_multitask(res, cfg)
    assert len(fig.axes) == 2 * 4
    theory_ax, top, gain_ax, rate_ax = fig.axes[:4]
    bars = [p.get_height() for p in top.patches]
    expected = [
        np.mean(res["accuracy"]["shapes"][v][t]) for t in multitask.MULTI_TASKS for v in VIEWS
    ]
    np.testing.assert_allclose(bars, expected)
    th_bars = [p.get_height() for p in theory_ax.patches]
    np.testing.assert_allclose(th_bars, [0.9, 0.85, 0.7, 0.5, 0.6, 0.8])
    assert [t.get_text() for t in theory_ax.get_xticklabels()][1] == "viewmaker\np = 0.10"
    for task in multitask.MULTI_TASKS:
        unt = [np.mean(res["untrained"]["shapes"][v][task]) for v in VIEWS]
        np.testing.assert_allclose(_line(top, f"untrained:{task}"), np.repeat(unt, 2))
        px = [res["pixels"]["shapes"][v][task] for v in VIEWS]
        np.testing.assert_allclose(_line(top, f"pixels:{task}"), np.repeat(px, 2))
        rates = res["dropout_rate"]["shapes"]
        np.testing.assert_allclose(
            _line(rate_ax, f"rate:{task}"), [r[task] for r in rates.values()]
        )
    diff = [
        np.mean(
            np.subtract(
                res["accuracy"]["shapes"][v]["overlay"], res["untrained"]["shapes"][v]["overlay"]
            )
        )
        for v in VIEWS
    ]
    np.testing.assert_allclose(_line(gain_ax, "gain:overlay"), diff)
    assert _gate_texts(fig) == []
    digits_bars = fig.axes[5]
    notes = [t.get_text() for t in digits_bars.texts if t.get_gid() == "task-gate"]
    assert notes == [
        "the digit never beats the untrained encoder\n(not compared across view types)"
    ]
    no_rates = [t.get_text() for t in fig.axes[7].texts if t.get_gid() == "no-rates"]
    assert no_rates == ["dropout rate not measured"]


def test_plot_multitask_says_when_a_suite_is_not_a_result() -> None:
    fig = multitask.plot_multitask(
        _multitask_results(shapes_learn=False), multitask.multitask_config()
    )
    assert [t.get_text() for t in fig.axes[1].texts if t.get_gid() == "gate"] == [
        "no task beats the untrained encoder:\nview types not compared"
    ]
    assert len(_gate_texts(fig)) == 1  # the digits suite's background still learns


def test_legends_lie_below_their_axes() -> None:
    fig = multitask.plot_multitask(_multitask_results(), multitask.multitask_config())
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()  # type: ignore[attr-defined]
    for ax in fig.axes:
        leg = ax.get_legend()
        if leg is not None:
            assert leg.get_window_extent(renderer).y1 <= ax.get_window_extent(renderer).y0 + 1e-6


def test_view_ps_per_suite() -> None:
    reuse = {"expert": 0.0, "oracle": 0.4}
    rate = {"viewmaker (trained)": {"overlay": 0.2, "background": 0.1}}
    assert multitask.view_ps(rate, reuse) == {"expert": 0.0, "oracle": 0.4, "viewmaker": 0.2}
    nan = {"viewmaker (trained)": {"overlay": float("nan"), "background": 0.1}}
    assert multitask.view_ps(nan, reuse)["viewmaker"] == 0.0
    assert multitask.view_ps({}, reuse)["viewmaker"] == 0.0
    big = {"viewmaker (trained)": {"overlay": 1.7, "background": 0.1}}
    assert multitask.view_ps(big, reuse)["viewmaker"] == 1.0


def test_claims_multitask_per_suite() -> None:
    cfg = multitask.multitask_config()
    found = {c.id: c for c in multitask.claims_multitask(_multitask_results(), cfg)}
    assert len(found) == 4
    assert found["tamkin2023.views.shapes.viewmaker-beats-expert"].verdict == claims.HOLDS
    oracle_claim = found["tamkin2023.views.shapes.oracle-beats-expert"]
    assert oracle_claim.verdict == claims.HOLDS
    assert oracle_claim.measured.mean == pytest.approx(0.1, abs=0.01)
    assert oracle_claim.theory is not None
    assert oracle_claim.theory["value"] == pytest.approx((0.7 + 0.8) / 2 - (0.9 + 0.5) / 2)
    # digits: same gains under every view type: the interval holds 0
    assert found["tamkin2023.views.digits.oracle-beats-expert"].verdict == claims.NOT_SEEN
    gated = multitask.claims_multitask(_multitask_results(shapes_learn=False), cfg)
    verdicts = {c.id: c.verdict for c in gated}
    assert verdicts["tamkin2023.views.shapes.viewmaker-beats-expert"] == claims.NOT_A_RESULT


def test_compute_multitask_reads_trained_and_reused_runs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fake_baselines: Any
) -> None:
    """compute's wiring on fake run dirs: each view type's probe records (expert and oracle from
    the oracle figure's run dirs), the dropout-rate record, the kNN curves and the calibrated
    theory at the views' p (a stand-in with figures.calibration.oracle_theory's signature)."""
    cfg = multitask.multitask_config()
    cfg["suites"] = {"shapes": cfg["suites"]["shapes"]}
    cfg["seeds"], cfg["runs_root"] = [0, 1], str(tmp_path)
    reused = multitask.multitask_reused_specs(cfg)
    specs = {
        "expert": list(reused["expert"].values()),
        "oracle": list(reused["oracle"].values()),
        "viewmaker": multitask.multitask_specs(cfg),
    }
    for k, ss in enumerate(specs.values()):
        for spec in ss:
            rd = spec.run_dir(tmp_path)
            rd.mkdir(parents=True)
            (rd / "summary.json").write_text(json.dumps({"train_time_s": 2.0}))
            knn = [
                {"type": "epoch", "global_step": s, "knn": {"shape": 0.1 * k, "background": 0.2}}
                for s in (16, 32)
            ]
            (rd / "metrics.jsonl").write_text("\n".join(json.dumps(x) for x in knn) + "\n")
            (rd / "acc.json").write_text(json.dumps(0.6 + 0.1 * k + 0.01 * spec.seed))
    assert specs["oracle"][0].run_dir(tmp_path).parent.name == "exp_oracle_dropout"
    monkeypatch.setattr(multitask, "_sweep", lambda c, r: fake_baselines(tmp_path))

    def fake_eval(run_dir: Path, evaluation: Any) -> dict[str, Any]:
        if evaluation.kind == "dropout-rate":
            rate = {"shape": {"rate": 0.25}, "background": {"rate": 0.05}}
            return {"metrics": {"views": {"identity": rate, "viewmaker-trained-eps0.05": rate}}}
        a = json.loads((run_dir / "acc.json").read_text())
        return {
            "elapsed_s": 1.0,
            "metrics": {
                "shape": {"accuracy": a, "chance": 1 / 3},
                "background": {"accuracy": 0.6, "chance": 0.1},
            },
        }

    calls: list[tuple[Any, ...]] = []

    def fake_theory(suite: str, ps: Any, steps: int, batch_size: int, seed: int) -> Any:
        calls.append((suite, list(ps), steps, batch_size, seed))
        return {"ps": list(ps), "overlay": [0.9, 0.8, 0.7, 0.0], "background": [0.5, 0.6, 0.7, 1]}

    monkeypatch.setattr(multitask, "load_eval", fake_eval)
    monkeypatch.setattr(multitask, "_theory_call", fake_theory)
    # after the first sweep (its baselines, probed only): the judges, then the rates' sweep
    order: list[Any] = []
    monkeypatch.setattr(multitask, "train_shares", lambda shares, root: order.append(shares))
    monkeypatch.setattr(multitask, "run_sweep", lambda specs, root: order.append(specs))
    res = multitask.compute_multitask(cfg)
    (rated,) = [s for s in specs["viewmaker"] if len(s.evaluations) == 2]  # its first seed
    assert order == [multitask.multitask_judges(cfg), [rated]]
    assert [share.specs for share in order[0]] == [(rated,)]
    assert res["accuracy"]["shapes"]["expert"]["overlay"] == [0.6, 0.61]
    assert res["accuracy"]["shapes"]["oracle"]["overlay"] == pytest.approx([0.7, 0.71])
    assert res["accuracy"]["shapes"]["viewmaker"]["overlay"] == pytest.approx([0.8, 0.81])
    assert res["runs"]["shapes"]["oracle"][0].startswith("exp_oracle_dropout/shapes-p0.4-s0-")
    assert res["dropout_rate"]["shapes"]["viewmaker (trained)"] == {
        "overlay": 0.25,
        "background": 0.05,
    }
    assert res["dropout_rate"]["shapes"]["oracle (p = 0.4, by construction)"]["overlay"] == 0.4
    assert calls == [("overlay-shapes-on-fashion", [0.0, 0.25, 0.4, 1.0], 192, 256, 0)]
    th = res["theory"]["shapes"]
    assert th["view_ps"] == [0.0, 0.25, 0.4]  # expert, viewmaker (its measured rate), oracle
    assert th["view_overlay"] == [0.9, 0.8, 0.7] and th["view_background"] == [0.5, 0.6, 0.7]
    assert res["knn"]["shapes"]["viewmaker"]["overlay"] == [[pytest.approx(0.2)] * 2] * 2
    assert res["summary"]["shapes"]["flatness"]["flat"]
    assert res["summary"]["shapes"]["gate"]["open"]  # the overlay gains 0.1-0.3 over 0.5
    json.dumps(res)


def test_multitask_flatness_per_view_type() -> None:
    res = _multitask_results()
    steps = [16, 32, 48, 64]
    flat = {t: [[0.5, 0.6, 0.6, 0.6]] * 3 for t in multitask.MULTI_TASKS}
    rising = {"overlay": [[0.3, 0.4, 0.5, 0.6]] * 3, "background": flat["background"]}
    res["knn"] = {
        "shapes": {v: {"steps": steps, **flat} for v in VIEWS},
        "digits": {"expert": {"steps": steps, **flat}, "viewmaker": {"steps": steps, **rising}},
    }
    assert multitask.multitask_flatness(res, "shapes") == {
        "moves": {v: {"overlay": 0.0, "background": 0.0} for v in VIEWS},
        "max_abs": 0.0,
        "flat": True,
    }
    f = multitask.multitask_flatness(res, "digits")
    assert not f["flat"] and f["moves"]["viewmaker"]["overlay"] == pytest.approx(0.1)
    fig = multitask.plot_multitask(res, multitask.multitask_config())
    assert "max |move| 0.100 (not flat)" in fig.axes[5].get_title()
    assert multitask.multitask_flatness(_multitask_results(), "shapes") == {}
