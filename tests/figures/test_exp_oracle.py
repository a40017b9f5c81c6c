"""exp_oracle_dropout: plots of hand-made results (two suites), the suppression test, p_half,
flatness, the gate per suite and per task, claims, and compute's wiring on fake run dirs."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import matplotlib
import numpy as np
import pytest

from figures import claims
from figures.calibration import half_max_p
from figures.experiments import common, oracle
from figures.inspect import errorbar_y as _errorbar_y
from figures.inspect import gate_texts as _gate_texts
from figures.inspect import line_y as _line
from figures.inspect import noisy as _noisy

matplotlib.use("Agg")

SEEDS = [0, 1, 2]
PS = [0.0, 0.2, 0.4, 0.6, 0.8, 1.0]
STEPS = [16 * (k + 1) for k in range(12)]
# background: 0.6 at p = 0, rising linearly to 0.7 at p = 0.6, then flat: p_half = 0.3
BG_RISE = np.array([0.0, 1 / 30, 2 / 30, 0.1, 0.1, 0.1])


def _theory(rise_to: float) -> dict[str, Any]:
    """A calibrated-theory stand-in (figures.calibration.oracle_theory's dict): the background
    rises linearly from 0.5 to 0.9 at p = ``rise_to`` and stays; the overlay falls."""
    grid = np.linspace(0, 1, 11)
    bg = 0.5 + 0.4 * np.minimum(grid / rise_to, 1.0)
    return {
        "params": {},
        "ps": grid.tolist(),
        "overlay": (0.9 - 0.4 * grid).tolist(),
        "background": bg.tolist(),
        "p_half": rise_to / 2,
        "steps": 192,
        "curves": {"steps": [0, 192], "overlay": [], "background": []},
    }


def _suite(
    rng: np.random.Generator, overlay: str, overlay_learns: bool, learned: bool, rise_to: float
) -> dict[str, Any]:
    n = len(PS)
    unt = {overlay: _noisy(rng, (1, 3), 0.5).repeat(n, 0), "background": _noisy(rng, (1, 3), 0.6)}
    unt["background"] = unt["background"].repeat(n, 0)
    acc = {k: v.copy() for k, v in unt.items()}
    if learned:
        acc["background"] += 0.05 + BG_RISE[:, None] + 0.002 * rng.standard_normal((n, 3))
        if overlay_learns:
            acc[overlay] += np.linspace(0.2, 0.05, n)[:, None] + 0.01 * rng.standard_normal((n, 3))
        else:
            acc[overlay] -= 0.05
    # kNN curves: rise over the first half, flat after (last-quarter move 0)
    shape = np.minimum(np.asarray(STEPS) / 96.0, 1.0)
    knn = {
        t: [[(0.3 + 0.3 * shape + 0.01 * s).tolist() for s in range(3)] for _ in PS]
        for t in (overlay, "background")
    }
    return {
        "suite": f"overlay-{overlay}s-on-fashion",
        "tasks": [overlay, "background"],
        "accuracy": {k: v.tolist() for k, v in acc.items()},
        "untrained": {k: v.tolist() for k, v in unt.items()},
        "pixels": {overlay: [0.55] * n, "background": [0.35] * n},
        "chance": {overlay: 1 / 3, "background": 0.1},
        "knn": {"steps": STEPS, **knn},
        "theory": _theory(rise_to),
    }


def _results(learned: bool = True) -> dict[str, Any]:
    """Shapes: both tasks learn; digits: only the background learns (the digit falls below the
    untrained encoder). Not ``learned``: every trained run equals its untrained twin."""
    rng = np.random.default_rng(0)
    return {
        "ps": PS,
        "seeds": SEEDS,
        "steps": 192,
        "suites": {
            "shapes": _suite(rng, "shape", True, learned, 0.6),
            "digits": _suite(rng, "digit", False, learned, 1.0),
        },
        "run_s": [1.0] * 36,
    }


def test_config_keeps_the_sweeps_runs() -> None:
    cfg = oracle.oracle_config()
    assert list(cfg["suites"]) == ["shapes", "digits"] and cfg["ps"] == PS
    assert cfg["seeds"] == SEEDS and "optim.max_steps=192" in cfg["overrides"]


def test_plot_oracle_draws_each_suite_from_the_results() -> None:
    cfg = oracle.oracle_config()
    res = _results()
    fig = oracle.plot_oracle(res, cfg)
    assert len(fig.axes) == 8
    for row, suite in enumerate(("shapes", "digits")):
        r = res["suites"][suite]
        theory_ax, deep_ax, gain_ax, curve_ax = fig.axes[4 * row : 4 * row + 4]
        np.testing.assert_allclose(_line(theory_ax, "theory:background"), r["theory"]["background"])
        np.testing.assert_allclose(_line(theory_ax, "theory:overlay"), r["theory"]["overlay"])
        ys = _errorbar_y(deep_ax)
        for k, task in enumerate(r["tasks"]):
            np.testing.assert_allclose(ys[k], np.mean(r["accuracy"][task], 1))
            np.testing.assert_allclose(
                _line(deep_ax, f"untrained:{task}"), np.mean(r["untrained"][task], 1)
            )
            np.testing.assert_allclose(_line(deep_ax, f"pixels:{task}"), r["pixels"][task])
            diff = np.subtract(r["accuracy"][task], r["untrained"][task]).mean(1)
            np.testing.assert_allclose(_line(gain_ax, f"gain:{task}"), diff)
            for i in (0, 5):
                np.testing.assert_allclose(
                    _line(curve_ax, f"knn:{task}:p{PS[i]:g}"), np.mean(r["knn"][task][i], 0)
                )
        assert gain_ax.get_ylabel().startswith("gain over untrained encoder")
        assert curve_ax.get_xlabel() == "optimiser step"
    # p_half in numbers: measured about 0.3 on both suites (of the seed-mean background
    # curve), predicted 0.3 (shapes) and 0.5 (digits)
    shapes_deep, digits_deep = fig.axes[1], fig.axes[5]
    for ax, suite, pred in ((shapes_deep, "shapes", 0.3), (digits_deep, "digits", 0.5)):
        bg = np.mean(res["suites"][suite]["accuracy"]["background"], 1)
        meas = half_max_p(PS, bg.tolist())
        assert meas == pytest.approx(0.3, abs=0.03)
        text = f"predicted {pred:.2f}, measured {meas:.2f}, |diff| {abs(meas - pred):.2f}"
        assert text in ax.get_title()
        vlines = {ln.get_gid(): ln.get_xdata()[0] for ln in ax.lines if ln.get_gid()}
        assert vlines["p_half:measured"] == pytest.approx(meas)
        assert vlines["p_half:predicted"] == pytest.approx(pred)
    assert _gate_texts(fig) == []
    # the digit never beats the untrained encoder: its panel says so in words
    notes = [t.get_text() for t in digits_deep.texts if t.get_gid() == "task-gate"]
    assert notes == ["digit: never beats the untrained encoder\n(not compared across p)"]
    assert not [t for t in shapes_deep.texts if t.get_gid() == "task-gate"]


def test_legends_lie_below_their_axes() -> None:
    fig = oracle.plot_oracle(_results(), oracle.oracle_config())
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()  # type: ignore[attr-defined]
    for ax in fig.axes:
        leg = ax.get_legend()
        assert leg is not None
        assert leg.get_window_extent(renderer).y1 <= ax.get_window_extent(renderer).y0 + 1e-6


def test_plot_oracle_says_when_nothing_beats_the_untrained_encoder() -> None:
    fig = oracle.plot_oracle(_results(learned=False), oracle.oracle_config())
    assert (
        _gate_texts(fig) == ["no task beats the untrained encoder:\nvalues of p not compared"] * 2
    )


def test_suppression_p_half_and_flatness_exact() -> None:
    res = _results()
    s = oracle.suppression(res, "shapes")
    r = res["suites"]["shapes"]
    expected = np.subtract(r["accuracy"]["background"][5], r["accuracy"]["background"][0])
    assert s.mean == pytest.approx(expected.mean()) and s.defined
    assert s.mean == pytest.approx(0.1, abs=0.005)
    meas, per_seed = oracle.measured_p_half(res, "shapes")
    assert meas == pytest.approx(0.3, abs=0.03) and len(per_seed) == 3
    assert oracle.predicted_p_half(res, "shapes") == pytest.approx(0.3)
    assert oracle.predicted_p_half(res, "digits") == pytest.approx(0.5)
    f = oracle.flatness(res, "shapes")
    assert f["flat"] and f["max_abs"] == pytest.approx(0.0, abs=1e-12)
    # a curve still rising in its last quarter is not flat
    rising = json.loads(json.dumps(res))
    rising["suites"]["shapes"]["knn"]["shape"][2] = [np.linspace(0.3, 0.6, 12).tolist()] * 3
    g = oracle.flatness(rising, "shapes")
    assert not g["flat"] and g["moves"]["shape"][2] == pytest.approx(
        0.6 - np.interp(144, STEPS, np.linspace(0.3, 0.6, 12))
    )
    assert common.last_quarter_move([0, 100], [0.0, 1.0]) == pytest.approx(0.25)


def test_gate_per_suite_and_per_task() -> None:
    res = _results()
    assert oracle.suite_gate(res, "digits").open  # the background learns
    digit = oracle.suite_gate(res, "digits", ["digit"])
    assert not digit.open and digit.reason == "the digit never beats the untrained encoder"
    assert oracle.suite_gate(res, "shapes", ["shape"]).open
    assert not oracle.suite_gate(_results(learned=False), "shapes").open


def test_claims_oracle_verdicts() -> None:
    cfg = oracle.oracle_config()
    found = {c.id: c for c in oracle.claims_oracle(_results(), cfg)}
    assert len(found) == 6
    sup = found["tamkin2023.oracle.shapes.overlay-suppresses-background"]
    assert sup.verdict == claims.HOLDS and sup.measured.mean == pytest.approx(0.1, abs=0.005)
    assert sup.theory is not None and sup.theory["value"] == pytest.approx(0.4)
    fall = found["tamkin2023.oracle.shapes.shape-falls-with-p"]
    assert fall.verdict == claims.HOLDS and fall.measured.mean == pytest.approx(-0.15, abs=0.02)
    digit = found["tamkin2023.oracle.digits.digit-falls-with-p"]
    assert digit.verdict == claims.NOT_A_RESULT
    assert digit.gate_reason == "the digit never beats the untrained encoder"
    agree = found["tamkin2023.oracle.shapes.background-half-max-p-matches-theory"]
    assert agree.verdict == claims.HOLDS and agree.theory["value"] == pytest.approx(0.3)
    far = found["tamkin2023.oracle.digits.background-half-max-p-matches-theory"]
    assert far.verdict == claims.CONTRADICTED  # 0.3 measured, 0.5 predicted: 0.2 > 0.1
    assert far.measured.mean == pytest.approx(0.1 - 0.2, abs=0.03)
    gated = oracle.claims_oracle(_results(learned=False), cfg)
    assert {c.verdict for c in gated} == {claims.NOT_A_RESULT}


def test_read_knn_curve(tmp_path: Path) -> None:
    recs = [
        {"type": "step", "global_step": 1, "loss": 1.0},
        {"type": "epoch", "global_step": 16, "knn": {"shape": 0.4, "background": 0.5}},
        {"type": "epoch", "global_step": 32, "knn": {"shape": 0.45, "background": 0.55}},
    ]
    (tmp_path / "metrics.jsonl").write_text("\n".join(json.dumps(r) for r in recs) + "\n")
    steps, knn = common.read_knn_curve(tmp_path)
    assert steps == [16, 32] and knn == {"shape": [0.4, 0.45], "background": [0.5, 0.55]}
    with pytest.raises(FileNotFoundError, match=r"missing.*metrics\.jsonl|metrics\.jsonl"):
        common.read_knn_curve(tmp_path / "missing")
    (tmp_path / "metrics.jsonl").write_text(json.dumps(recs[0]) + "\n")
    with pytest.raises(ValueError, match="no kNN monitor records"):
        common.read_knn_curve(tmp_path)


def test_compute_oracle_reads_runs_curves_and_the_theory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fake_baselines: Any
) -> None:
    """compute's wiring on fake run dirs: the probe record, twins, pixels, kNN curves and the
    calibrated theory (a stand-in with figures.calibration.oracle_theory's signature) land in
    the results where plot and claims read them."""
    cfg = oracle.oracle_config()
    cfg["suites"] = {"shapes": cfg["suites"]["shapes"]}
    cfg["ps"], cfg["seeds"], cfg["runs_root"] = [0.0, 1.0], [0, 1], str(tmp_path)
    specs = oracle.oracle_specs(cfg)
    for spec in specs:
        rd = spec.run_dir(tmp_path)
        rd.mkdir(parents=True)
        (rd / "summary.json").write_text(json.dumps({"train_time_s": 2.0}))
        alone = "-alone-" in spec.name  # the background-free control: p = 0, shape at 0.9
        p = 0.0 if alone else float(spec.name.split("-p")[1].split("-")[0])
        lines = [
            {"type": "epoch", "global_step": s, "knn": {"shape": 0.3 + p, "background": 0.2}}
            for s in (16, 32)
        ]
        (rd / "metrics.jsonl").write_text("\n".join(json.dumps(x) for x in lines))
        shape = (0.9 if alone else 0.7 - 0.1 * p) + 0.01 * spec.seed
        (rd / "acc.json").write_text(json.dumps({"shape": shape}))
    monkeypatch.setattr(oracle, "_sweep", lambda c, r: fake_baselines(tmp_path))

    def fake_eval(run_dir: Path, evaluation: Any) -> dict[str, Any]:
        shape = json.loads((run_dir / "acc.json").read_text())["shape"]
        return {
            "elapsed_s": 1.0,
            "metrics": {
                "shape": {"accuracy": shape, "chance": 1 / 3},
                "background": {"accuracy": 0.6, "chance": 0.1},
            },
        }

    calls: list[tuple[Any, ...]] = []

    def fake_theory(suite: str, ps: Any, steps: int, batch_size: int, seed: int) -> Any:
        calls.append((suite, len(ps), steps, batch_size, seed))
        return _theory(0.6)

    monkeypatch.setattr(oracle, "load_eval", fake_eval)
    monkeypatch.setattr(oracle, "_theory_call", fake_theory)
    res = oracle.compute_oracle(cfg)
    r = res["suites"]["shapes"]
    assert calls == [("overlay-shapes-on-fashion", 21, 192, 256, 0)]
    assert r["accuracy"]["shape"] == [[0.7, 0.71], [0.6, 0.61]]
    assert r["untrained"]["background"] == [[0.5, 0.5], [0.5, 0.5]]
    assert r["pixels"]["shape"] == [0.4, 0.4] and r["chance"]["shape"] == pytest.approx(1 / 3)
    assert r["knn"]["steps"] == [16, 32] and r["knn"]["shape"][1] == [[1.3, 1.3]] * 2
    assert res["run_s"] == [3.0] * 6  # 4 runs of the sweep, 2 background-free controls
    assert r["alone"]["accuracy"] == [0.9, 0.91] and r["alone"]["untrained"] == [0.5, 0.5]
    assert r["alone"]["knn"] == [[0.3, 0.3]] * 2
    # alone gains 0.4 and 0.41; at p = 0 with the background 0.2 and 0.21
    assert res["summary"]["shapes"]["alone"]["overlay_suppression"]["mean"] == pytest.approx(0.2)
    assert res["summary"]["shapes"]["suppression"]["mean"] == pytest.approx(0.0)
    assert math.isnan(res["summary"]["shapes"]["p_half"]["measured"])  # flat background
    json.dumps(res)  # JSON-ready


def _small_rise(res: dict[str, Any], rise: float) -> None:
    """Shapes' background rises by ``rise`` over p; seeds scatter by 0.01 about the mean."""
    r = res["suites"]["shapes"]
    steps = np.linspace(0.0, rise, len(PS))[:, None]
    r["accuracy"]["background"] = (0.6 + steps + np.array([[0.0, 0.01, -0.01]])).tolist()
    r["untrained"]["background"] = [[0.55] * 3 for _ in PS]


def test_a_measured_rise_within_noise_has_no_p_half() -> None:
    res = _results()
    _small_rise(res, 0.005)
    # gain at the max (p = 1): 0.055 + (0, 0.01, -0.01); 95% half-width t(0.975, 2) sd / sqrt(3)
    tol = oracle.measured_rise_tol(res, "shapes")
    assert tol == pytest.approx(4.302653 * 0.01 / math.sqrt(3), rel=1e-5)
    bg = np.mean(res["suites"]["shapes"]["accuracy"]["background"], 1)
    assert math.isfinite(half_max_p(PS, bg.tolist()))  # without the tolerance: a p_half
    meas, per_seed = oracle.measured_p_half(res, "shapes")
    assert math.isnan(meas) and all(math.isnan(m) for m in per_seed)
    fig = oracle.plot_oracle(res, oracle.oracle_config())
    assert f"measured no rise beyond noise (noise {tol:.3f})" in fig.axes[1].get_title()
    found = {c.id: c for c in oracle.claims_oracle(res, oracle.oracle_config())}
    agree = found["tamkin2023.oracle.shapes.background-half-max-p-matches-theory"]
    assert "seed mean: no rise beyond noise; seeds: no rise beyond noise" in agree.effect
    assert agree.verdict == claims.NOT_SEEN and not agree.measured.defined
    assert oracle.oracle_summary(res)["shapes"]["p_half"]["measured_min_rise"] == tol


def test_a_measured_rise_beyond_noise_keeps_its_p_half() -> None:
    res = _results()
    _small_rise(res, 0.1)  # a rise of 0.1, well above the 0.025 half-width
    r = res["suites"]["shapes"]
    bg = np.asarray(r["accuracy"]["background"])
    meas, per_seed = oracle.measured_p_half(res, "shapes")
    assert meas == half_max_p(PS, bg.mean(1).tolist()) and meas == pytest.approx(0.5)
    assert per_seed == [half_max_p(PS, bg[:, j].tolist()) for j in range(3)]
    title = oracle.plot_oracle(res, oracle.oracle_config()).axes[1].get_title()
    assert "measured 0.50" in title and "no rise beyond noise" not in title


def test_a_theory_whose_background_does_not_rise_predicts_no_p_half() -> None:
    res = _results()
    flat = res["suites"]["shapes"]["theory"]
    flat["background"] = [1.0] * len(flat["ps"])
    flat["p_half"] = float("nan")
    assert math.isnan(oracle.predicted_p_half(res, "shapes"))
    fig = oracle.plot_oracle(res, oracle.oracle_config())
    assert "predicted none, measured" in fig.axes[1].get_title()
    assert not [ln for ln in fig.axes[1].lines if ln.get_gid() == "p_half:predicted"]
    found = {c.id: c for c in oracle.claims_oracle(res, oracle.oracle_config())}
    agree = found["tamkin2023.oracle.shapes.background-half-max-p-matches-theory"]
    assert agree.verdict == claims.NOT_SEEN and not agree.measured.defined


def _with_alone(res: dict[str, Any], suite: str, gain: float) -> dict[str, Any]:
    """Add the background-free control to ``suite``: its overlay gains ``gain`` (+ seed
    scatter) over its own untrained twin (0.7: blank inputs are read better), flat kNN."""
    r = res["suites"][suite]
    unt = [0.7, 0.72, 0.68]
    r["alone"] = {
        "accuracy": [u + gain + d for u, d in zip(unt, (0.0, 0.01, -0.01), strict=True)],
        "untrained": unt,
        "knn": [[0.7] * len(STEPS) for _ in SEEDS],
    }
    return res


def test_the_background_free_control_is_one_run_per_suite_and_seed() -> None:
    cfg = oracle.oracle_config()
    specs = oracle.oracle_specs(cfg)
    alone = [s for s in specs if "-alone-" in s.name]
    names = [f"{n}-alone-s{k}" for n in ("shapes", "digits") for k in SEEDS]
    assert [s.name for s in alone] == names
    assert len(specs) == 2 * len(PS) * len(SEEDS) + len(alone)
    for s in alone:
        assert "data.options.bg_scale=0.0" in s.overrides and "views.p=0.0" in s.overrides
        twin = next(x for x in specs if x.name == s.name.replace("alone", "p0"))
        # the same run as p = 0 but for the blanked background
        assert set(s.overrides) - set(twin.overrides) == {"data.options.bg_scale=0.0"}
    cfg["overlay_alone"] = False
    assert not [s for s in oracle.oracle_specs(cfg) if "-alone-" in s.name]


def test_overlay_suppression_plot_and_claim() -> None:
    """The digit (which falls 0.05 below its untrained twin beside the background) gains
    +0.1 alone: the background suppresses it by 0.15; drawn as a star left of p = 0, a dotted
    kNN curve, in the title, and as a claim that holds; a control that gains as much as with
    the background is "not seen"."""
    cfg = oracle.oracle_config()
    res = _with_alone(_results(), "digits", 0.1)
    sup = oracle.overlay_suppression(res, "digits")
    assert sup is not None and sup.mean == pytest.approx(0.15) and sup.defined
    assert oracle.overlay_suppression(res, "shapes") is None
    fig = oracle.plot_oracle(res, cfg)
    gain_ax, curve_ax = fig.axes[6], fig.axes[7]
    star = next(ln for ln in gain_ax.lines if ln.get_gid() == "alone:digit")
    assert star.get_xdata()[0] == oracle.ALONE_X and star.get_ydata()[0] == pytest.approx(0.1)
    assert star.get_marker() == "*"
    assert f"digit alone $-$ beside background (p = 0):\n{sup.text(3)}" in gain_ax.get_title()
    assert oracle.alone_move(res, "digits") == pytest.approx(0.0)
    labels = curve_ax.get_legend_handles_labels()[1]
    assert "digit alone, p = 0 (last quarter +0.000)" in labels
    np.testing.assert_allclose(_line(curve_ax, "knn:digit:alone"), [0.7] * len(STEPS))
    assert not [ln for ln in fig.axes[2].lines if ln.get_gid() == "alone:shape"]
    found = {c.id: c for c in oracle.claims_oracle(res, cfg)}
    assert len(found) == 7
    c = found["chen2021.oracle.digits.background-suppresses-digit"]
    assert c.verdict == claims.HOLDS and c.measured.mean == pytest.approx(0.15)
    assert oracle.oracle_summary(res)["digits"]["alone"]["overlay_suppression"]["mean"] == (
        pytest.approx(0.15)
    )
    same = _with_alone(_results(), "digits", -0.05)  # as much as beside the background
    c = {c.id: c for c in oracle.claims_oracle(same, cfg)}[
        "chen2021.oracle.digits.background-suppresses-digit"
    ]
    assert c.verdict == claims.NOT_SEEN
    # nothing learns anywhere: not a result
    gated = _with_alone(_results(learned=False), "digits", 0.0)
    c = {c.id: c for c in oracle.claims_oracle(gated, cfg)}[
        "chen2021.oracle.digits.background-suppresses-digit"
    ]
    assert c.verdict == claims.NOT_A_RESULT


def test_rows_follow_the_config_order_whatever_the_results_order() -> None:
    """A results file read back may hold its suites sorted (digits before shapes)."""
    res = _results()
    res["suites"] = dict(reversed(list(res["suites"].items())))
    fig = oracle.plot_oracle(res, oracle.oracle_config())
    assert fig.axes[0].get_title().startswith("overlay-shapes-on-fashion")
    assert fig.axes[4].get_title().startswith("overlay-digits-on-fashion")
