"""exp_foster: conditions and runs, what is read from the records, plots of hand-made results,
gate and claims."""

from __future__ import annotations

from typing import Any

import matplotlib
import numpy as np
import pytest

from figures import baselines, claims
from figures.experiments import foster
from figures.inspect import errorbar_y as _errorbar_y
from figures.inspect import gate_texts as _gate_texts
from figures.inspect import line_y as _line
from figures.inspect import noisy as _noisy

matplotlib.use("Agg")

SEEDS = [0, 1, 2]
KNN_STEPS = [20, 40, 60, 80, 100, 120, 140, 160, 180, 200]
SHIFTS = ["reference", "bg+0.2", "bg+0.4", "h+0.5", "h+1"]  # unshifted first, as drawn
PARAMS = ["h", "fg", "fb", "br", "bg", "bb"]


def _values(rng: np.random.Generator, r2: np.ndarray, cv: float, share_h: float) -> dict:
    """Per-seed values of one condition: r2 ``(len(copies), seeds)``."""
    rest = (1.0 - share_h) / 5
    return {
        "r2": r2.tolist(),
        "mse_per_target": (1.0 - r2[0] + 0.1 * np.arange(4)[:, None]).tolist(),
        "robust_r2": {s: (r2[0] - 0.05 * i).tolist() for i, s in enumerate(SHIFTS)},
        "cv": (0.01 * cv + 0.0001 * rng.standard_normal(3)).tolist(),
        "cv_ratio": (cv + 0.005 * rng.standard_normal(3)).tolist(),
        "penalty_share": {p: [share_h if p == "h" else rest] * 3 for p in PARAMS},
        "penalty_total": [1.0, 1.1, 0.9],
    }


def _results(learned: bool) -> dict[str, Any]:
    """Hand-made results: the faithful penalty raises the conditional variance and lowers R^2 with
    lambda, the no-h variant does the opposite; averaging raises R^2 with M."""
    cfg = foster.foster_config()
    rng = np.random.default_rng(3)
    u = _noisy(rng, (1, 3), 0.3) * np.ones((4, 1))  # one twin per seed
    runs = {}
    for c in foster.conditions(cfg):
        sign = {None: 0.0, "faithful": -1.0, "h not differentiated": 1.0}[c["variant"]]
        d = sign * 0.1 * (1 + np.log10(c["lambda"]) / 3) if c["lambda"] > 0 else 0.0
        r2 = u + (0.2 + d + 0.05 * np.arange(4)[:, None] if learned else 0.0)
        vals = _values(rng, r2, 0.3 - d, 0.97 if c["variant"] != "h not differentiated" else 0.5)
        runs[c["label"]] = {
            **vals,
            "untrained_r2": u.tolist(),
            "untrained_mse_per_target": (1.0 - u[0] + 0.0 * np.arange(4)[:, None]).tolist(),
            "contrastive_loss": (4.0 - d + 0.01 * rng.standard_normal(3)).tolist(),
            "penalty": [0.5, 0.6, 0.55],
            # kNN R^2 rising to r2[0] + d; the faithful runs keep rising (by 0.05 in the last
            # quarter), every other condition is flat
            "knn": (
                np.asarray(r2[0])[:, None]
                - 0.3 * np.exp(-np.asarray(KNN_STEPS) / 30.0)
                + 0.2 * np.asarray(KNN_STEPS) / 200 * (c["variant"] == "faithful")
            ).tolist(),
            "lambda": c["lambda"],
            "variant": c["variant"],
        }
    return {
        "copies": [1, 5, 10, 30],
        "seeds": SEEDS,
        "targets": list(foster.TARGETS),
        "runs": runs,
        "untrained": _values(rng, u, 0.6, 0.9),
        "pixels": {"r2": 0.45, "mse_per_target": [0.5, 0.6, 0.7, 0.8]},
        "knn_steps": KNN_STEPS,
        "run_s": {},
    }


def test_conditions_and_specs() -> None:
    cfg = foster.foster_config()
    conds = foster.conditions(cfg)
    assert len(cfg["lambdas"]) >= 4 and 0.0 in cfg["lambdas"]
    assert [c["label"] for c in conds][:2] == ["no penalty", "faithful, lambda=0.01"]
    assert len(conds) == 1 + 2 * 3
    specs = foster.foster_specs(cfg)
    assert len(specs) == len(conds) * 3 and len({s.name for s in specs}) == len(specs)
    by_name = {s.name: s for s in specs}
    noh = by_name["h-not-differentiated-lambda-0-1-s2"]
    assert (
        "regulariser.nuisance=no-h" in noh.overrides and "regulariser.weight=0.1" in noh.overrides
    )
    assert "regulariser.weight=0" in by_name["no-penalty-s0"].overrides
    assert {e.kind for e in specs[0].evaluations} == {"averaging", "robustness", "invariance"}
    # the configs are valid and every condition of a seed shares one untrained twin
    for s in specs[:: len(cfg["seeds"])]:
        assert baselines.resolved_config(s).regulariser.nuisance in ("all", "no-h")
    twins = baselines.untrained_twins(specs, specs[0].evaluations)
    assert len(baselines.unique(twins)) == len(cfg["seeds"])


def test_run_values_reads_the_records() -> None:
    avg = {f"M={m}": {"targets": {"r2": 0.1 * m, "mse_per_dim": [m, 2, 3, 4]}} for m in (1, 5)}
    rob = {"reference": {"targets": {"r2": 0.5}}, "h+1": {"targets": {"r2": 0.2}}}
    inv = {
        "conditional_variance": {"projected": 0.01, "ratio": 0.3},
        "penalty": {"share": {"h": 0.9, "fg": 0.1}, "total": 2.0},
    }
    v = foster.run_values(avg, rob, inv)
    assert v["r2"] == {"M=1": 0.1, "M=5": 0.5} and v["mse_per_target"] == [1, 2, 3, 4]
    assert v["robust_r2"] == {"reference": 0.5, "h+1": 0.2}
    assert (v["cv"], v["cv_ratio"], v["penalty_total"]) == (0.01, 0.3, 2.0)
    assert v["penalty_share"] == {"h": 0.9, "fg": 0.1}
    stacked = foster._stack([v, {**v, "cv": 0.02}], [1, 5])
    assert stacked["r2"] == [[0.1, 0.1], [0.5, 0.5]] and stacked["cv"] == [0.01, 0.02]
    assert stacked["mse_per_target"][0] == [1, 1]


def test_plot_foster_draws_every_panel_from_the_results() -> None:
    cfg = foster.foster_config()
    res = _results(learned=True)
    fig = foster.plot_foster(res, cfg)
    ax = {k: fig.axes[k] for k in range(12)}
    runs = res["runs"]
    for variant in cfg["variants"]:
        labels = foster._variant_labels(res, cfg, variant)
        assert labels[0] == "no penalty" and len(labels) == 4
        want = [np.mean(runs[lab]["r2"][0]) for lab in labels]
        np.testing.assert_allclose(_line(ax[0], f"r2_m1:{variant}"), want)
        gain = [
            np.mean(np.subtract(runs[lab]["r2"][0], runs[lab]["untrained_r2"][0])) for lab in labels
        ]
        np.testing.assert_allclose(_line(ax[1], f"gain:{variant}"), gain)
        want_cv = [np.mean(runs[lab]["cv_ratio"]) for lab in labels]
        np.testing.assert_allclose(_line(ax[2], f"cv_ratio:{variant}"), want_cv)
        np.testing.assert_allclose(
            _line(ax[3], f"cv:{variant}"), [np.mean(runs[lab]["cv"]) for lab in labels]
        )
        np.testing.assert_allclose(
            _line(ax[7], f"contrastive_loss:{variant}"),
            [np.mean(runs[lab]["contrastive_loss"]) for lab in labels],
        )
    np.testing.assert_allclose(
        _line(ax[0], "untrained:r2_m1"), [np.mean(res["untrained"]["r2"][0])] * 2
    )
    np.testing.assert_allclose(_line(ax[0], "pixels:r2_m1"), [0.45] * 2)
    np.testing.assert_allclose(
        _line(ax[2], "untrained:cv_ratio"), [np.mean(res["untrained"]["cv_ratio"])] * 2
    )
    chosen = foster.compared(res, cfg)
    assert chosen == ["no penalty", "faithful, lambda=0.1", "h not differentiated, lambda=0.1"]
    for label in chosen:
        np.testing.assert_allclose(
            _line(ax[4], f"averaging:{label}"), np.mean(runs[label]["r2"], 1)
        )
        robust = [np.mean(runs[label]["robust_r2"][s]) for s in SHIFTS]
        np.testing.assert_allclose(_line(ax[6], f"robust:{label}"), robust)
        heights = [p.get_height() for p in ax[5].patches if p.get_gid() == f"mse:{label}"]
        np.testing.assert_allclose(heights, np.mean(runs[label]["mse_per_target"], 1))
    np.testing.assert_allclose(
        _line(ax[4], "untrained:averaging"), np.mean(res["untrained"]["r2"], 1)
    )
    share_h = [p.get_height() for p in ax[8].patches if p.get_gid() == "share:h"]
    np.testing.assert_allclose(share_h, [0.9, 0.97, 0.97, 0.5])  # untrained, then `chosen`
    assert len(_errorbar_y(ax[0])) == 2
    # the learning curves, the penalty, and the flatness panel
    for label in chosen:
        np.testing.assert_allclose(_line(ax[9], f"curve:{label}"), np.mean(runs[label]["knn"], 0))
    for variant in cfg["variants"]:
        labels = [lab for lab in foster._variant_labels(res, cfg, variant) if runs[lab]["lambda"]]
        assert labels and all(runs[lab]["lambda"] > 0 for lab in labels)  # log axis: no 0
        np.testing.assert_allclose(
            _line(ax[10], f"penalty:{variant}"), [np.mean(runs[lab]["penalty"]) for lab in labels]
        )
    f = foster.foster_flatness(res)
    assert f["moves"]["faithful, lambda=0.1"] == pytest.approx(0.05, abs=0.01)
    assert abs(f["moves"]["no penalty"]) < 0.01 and not f["flat"] and f["points"] == 10
    np.testing.assert_allclose(
        _line(ax[11], "move:faithful"),
        [f["moves"][lab] for lab in foster._variant_labels(res, cfg, "faithful")],
    )
    assert "not flat" in fig._suptitle.get_text()
    flat = {**res, "runs": {k: v for k, v in runs.items() if v["variant"] != "faithful"}}
    assert foster.foster_flatness(flat)["flat"]
    assert _gate_texts(fig) == []
    gated = foster.plot_foster(_results(learned=False), cfg)
    assert _gate_texts(gated) == ["no task beats the untrained encoder:\npenalties not compared"]


def test_claims_foster() -> None:
    cfg = foster.foster_config()
    found = {c.id: c for c in foster.claims_foster(_results(learned=True), cfg)}
    slugs = ("faithful", "h-not-differentiated")
    assert set(found) == {
        *(f"foster2021.{s}.{w}" for s in slugs for w in (
            "lowers-conditional-variance", "raises-r2", "robust-h-1", "robust-bg-0-4"
        )),
        *(f"foster2021.{s}.averaging-raises-r2" for s in ("no-penalty", *slugs)),
    }  # fmt: skip
    # hand-made: the faithful penalty raises the conditional variance, the variant lowers it
    assert found["foster2021.faithful.lowers-conditional-variance"].verdict == claims.CONTRADICTED
    assert found["foster2021.h-not-differentiated.lowers-conditional-variance"].verdict == (
        claims.HOLDS
    )
    assert found["foster2021.faithful.raises-r2"].verdict == claims.CONTRADICTED
    assert found["foster2021.h-not-differentiated.raises-r2"].verdict == claims.HOLDS
    assert found["foster2021.h-not-differentiated.robust-h-1"].verdict == claims.HOLDS
    avg = found["foster2021.no-penalty.averaging-raises-r2"]
    assert avg.verdict == claims.HOLDS and avg.measured.mean == pytest.approx(0.15)
    gated = foster.claims_foster(_results(learned=False), cfg)
    assert {c.verdict for c in gated} == {claims.NOT_A_RESULT}
