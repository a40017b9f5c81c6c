"""exp_views_multitask: plots of hand-made results, gate and claims."""

from __future__ import annotations

from typing import Any

import matplotlib
import numpy as np
import pytest

from figures import claims
from figures.experiments import multitask
from figures.inspect import gate_texts as _gate_texts
from figures.inspect import line_y as _line
from figures.inspect import noisy as _noisy

matplotlib.use("Agg")

SEEDS = [0, 1, 2]

# ---------------------------------------------------------------------------------------------
# views on the overlay suites


def _multitask_results() -> dict[str, Any]:
    """Digits and shapes learn (gain 0.05 per view rank + 0.05); letters do not."""
    cfg = multitask.multitask_config()
    rng = np.random.default_rng(1)
    acc: dict[str, Any] = {}
    unt: dict[str, Any] = {}
    pix: dict[str, Any] = {}
    for s in cfg["suites"]:
        acc[s], unt[s], pix[s] = {}, {}, {}
        for j, v in enumerate(cfg["views"]):
            u = {t: _noisy(rng, (3,), 0.6) for t in ("overlay", "background")}
            gain = 0.0 if s == "letters" else 0.05 * j + 0.05
            acc[s][v] = {t: (u[t] + gain + 0.005 * rng.standard_normal(3)).tolist() for t in u}
            unt[s][v] = {t: u[t].tolist() for t in u}
            pix[s][v] = {"overlay": 0.5 - 0.01 * j, "background": 0.3}
    rates = {
        s: {
            "identity": {"overlay": 0.0, "background": 0.0},
            "expert": {"overlay": 0.8, "background": 0.5},
            "viewmaker (trained)": {"overlay": 0.1, "background": 0.3},
            "oracle (p = 0.5, by construction)": {"overlay": 0.5, "background": 0.0},
        }
        for s in cfg["suites"]
    }
    return {
        "seeds": SEEDS,
        "suite_names": {s: f"overlay-{s}-on-natural" for s in cfg["suites"]},
        "accuracy": acc,
        "untrained": unt,
        "pixels": pix,
        "dropout_rate": rates,
        "chance": {s: {"overlay": 0.1, "background": 0.1} for s in cfg["suites"]},
        "run_s": {},
        "theory_p": [0.0, 0.1, 0.5],
        "theory_acc": [[0.9, 0.5], [0.9, 0.5], [0.8, 0.6]],
    }


def test_plot_multitask_baselines_gains_and_gate_per_suite() -> None:
    cfg = multitask.multitask_config()
    res = _multitask_results()
    fig = multitask.plot_multitask(res, cfg)
    assert len(fig.axes) == 2 * (1 + 3 + 1)
    top = fig.axes[1]  # digits
    bars = [p.get_height() for p in top.patches]
    expected = [
        np.mean(res["accuracy"]["digits"][v][t])
        for t in multitask.MULTI_TASKS
        for v in cfg["views"]
    ]
    np.testing.assert_allclose(bars, expected)
    for task in multitask.MULTI_TASKS:
        unt = [np.mean(res["untrained"]["digits"][v][task]) for v in cfg["views"]]
        np.testing.assert_allclose(_line(top, f"untrained:{task}"), np.repeat(unt, 2))
        px = [res["pixels"]["digits"][v][task] for v in cfg["views"]]
        np.testing.assert_allclose(_line(top, f"pixels:{task}"), np.repeat(px, 2))
    gain_ax = fig.axes[5 + 1]  # second row, under digits
    diff = [
        np.mean(
            np.subtract(
                res["accuracy"]["digits"][v]["overlay"], res["untrained"]["digits"][v]["overlay"]
            )
        )
        for v in cfg["views"]
    ]
    np.testing.assert_allclose(_line(gain_ax, "gain:overlay"), diff)
    # only letters (no gain) says so, on its own panel
    assert [t.get_text() for t in fig.axes[3].texts if t.get_gid() == "gate"] == [
        "no task beats the untrained encoder:\nview types not compared"
    ]
    assert len(_gate_texts(fig)) == 1
    without_rates = multitask.plot_multitask({**res, "dropout_rate": {}}, cfg)
    assert len(without_rates.axes) == 2 * 4


def test_view_ps_skip_unmeasured_rates() -> None:
    def rate(v: float) -> dict[str, dict[str, float]]:
        return {"viewmaker (trained)": {"overlay": v, "background": 0.1}}

    rates = {"digits": rate(0.2), "shapes": rate(float("nan")), "letters": rate(0.4)}
    assert multitask.view_ps(rates) == {
        "expert": 0.0,
        "oracle": 0.5,
        "viewmaker": pytest.approx(0.3),
    }
    assert multitask.view_ps({"digits": rate(float("nan"))})["viewmaker"] == 0.0
    assert multitask.view_ps({"digits": rate(1.7)})["viewmaker"] == 1.0


def test_claims_multitask_per_suite() -> None:
    found = {
        c.id: c
        for c in multitask.claims_multitask(_multitask_results(), multitask.multitask_config())
    }
    assert len(found) == 6
    assert found["tamkin2023.views.digits.viewmaker-beats-expert"].verdict == claims.HOLDS
    assert found["tamkin2023.views.shapes.oracle-beats-expert"].verdict == claims.HOLDS
    assert found["tamkin2023.views.letters.oracle-beats-expert"].verdict == claims.NOT_A_RESULT
    theory = found["tamkin2023.views.digits.oracle-beats-expert"].theory
    assert theory is not None and theory["value"] == pytest.approx(0.7 - 0.7)
