"""exp_losses: plots of hand-made results, gate, claims (one case per verdict), missing records,
the runs' configs and the config checks."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import matplotlib
import numpy as np
import pytest

from figures import claims
from figures.baselines import plan, resolved_config, untrained_twins
from figures.experiments import common, losses
from figures.experiments.common import ProbeRecord
from figures.inspect import gate_texts as _gate_texts
from figures.inspect import line_y as _line
from figures.inspect import noisy as _noisy

if str(Path(__file__).parent) not in sys.path:  # tests/figures/knn_fake.py (importlib mode)
    sys.path.insert(0, str(Path(__file__).parent))
from knn_fake import (
    assert_flatness_said,
    curve_ends_at_last_step,
    curves,
    points_per_run,
    write_curve,
)

matplotlib.use("Agg")

SEEDS = [0, 1, 2]
KNN_STEPS = [4 * (i + 1) for i in range(8)]  # the default config's kNN points: every 4 steps


def _results(
    gain: float = 0.1,
    offsets: dict[str, float] | None = None,
    sd: float = 0.001,
    late_rise: float = 0.0,
) -> Any:
    """Hand-made results of the default config: the untrained encoder of a depth and seed is
    shared by every loss (as the twins are); each loss is it + ``gain`` (+ 0.01 per loss index at
    depths below 2 when ``gain``; + ``offsets[loss]`` at depth >= 2) + noise of sd ``sd``; every
    run's kNN curve flat over its last quarter but for ``late_rise`` (NT-Xent's shape only)."""
    cfg = losses.losses_config()
    rng = np.random.default_rng(3)
    base = {"background": 0.6, "shape": 0.4}
    shared = {t: _noisy(rng, (len(losses.DEPTHS), 3), level) for t, level in base.items()}
    acc: dict[str, dict[str, np.ndarray]] = {}
    unt: dict[str, dict[str, np.ndarray]] = {}
    for i, (name, loss) in enumerate(cfg["losses"].items()):
        acc[name], unt[name] = {}, {}
        depths = np.asarray(loss["depths"])
        for task in base:
            u = shared[task][depths]
            shift = gain + (0.01 * i * (depths < 2)[:, None] if gain else 0.0)
            extra = (offsets or {}).get(name, 0.0) * (depths >= 2)[:, None]
            a = u + shift + extra + sd * rng.standard_normal(u.shape)
            acc[name][task], unt[name][task] = a, u
    return {
        "suite": cfg["suite"],
        "tasks": cfg["tasks"],
        "seeds": SEEDS,
        "losses": list(cfg["losses"]),
        "labels": {n: loss["label"] for n, loss in cfg["losses"].items()},
        "depths": {n: list(loss["depths"]) for n, loss in cfg["losses"].items()},
        "accuracy": _nested(cfg, acc),
        "untrained": _nested(cfg, unt),
        "pixels": {"background": 0.71, "shape": 0.43},
        "chance": {"background": 0.1, "shape": 1 / 3},
        "knn_steps": KNN_STEPS,
        "knn": {
            n: {
                losses.depth_key(d): {
                    t: curves(0.5, 3, 8, late_rise if (n, t) == ("ntxent", "shape") else 0.0)
                    for t in cfg["tasks"]
                }
                for d in loss["depths"]
            }
            for n, loss in cfg["losses"].items()
        },
        "run_s": [],
    }


def _nested(cfg: dict[str, Any], grid: dict[str, dict[str, np.ndarray]]) -> Any:
    """Loss -> task -> (depths, seeds) as the results hold it: loss -> "depth=D" -> task."""
    return {
        n: {
            losses.depth_key(d): {t: grid[n][t][k].tolist() for t in grid[n]}
            for k, d in enumerate(cfg["losses"][n]["depths"])
        }
        for n in grid
    }


def _grid(res: dict[str, Any], key: str, loss: str, task: str) -> np.ndarray:
    return np.asarray(losses.per_depth(res, key, loss, task))


def test_plot_losses_draws_each_loss_baselines_and_gains() -> None:
    cfg = losses.losses_config()
    res = _results()
    fig = losses.plot_losses(res, cfg)
    bg_ax, shape_ax, bg_gain_ax, shape_gain_ax = fig.axes[:4]
    for ax, gain_ax, task in (
        (bg_ax, bg_gain_ax, "background"),
        (shape_ax, shape_gain_ax, "shape"),
    ):
        assert ax.get_xlabel() == gain_ax.get_xlabel() == "projection head depth (linear layers)"
        assert ax.get_ylabel() == f"{task} linear probe accuracy"
        for n in res["losses"]:
            (line,) = [ln for ln in ax.lines if ln.get_gid() == f"acc:{n}:{task}"]
            np.testing.assert_allclose(line.get_ydata(), _grid(res, "accuracy", n, task).mean(1))
            np.testing.assert_array_equal(np.round(line.get_xdata()), res["depths"][n])
        # the untrained encoder at each depth (first loss run there: NT-Xent runs all four)
        np.testing.assert_allclose(
            _line(ax, f"untrained:{task}"), _grid(res, "untrained", "ntxent", task).mean(1)
        )
        np.testing.assert_allclose(_line(ax, f"pixels:{task}"), [res["pixels"][task]] * 2)
        for n in res["losses"]:
            diff = _grid(res, "accuracy", n, task) - _grid(res, "untrained", n, task)
            np.testing.assert_allclose(_line(gain_ax, f"gain:{n}:{task}"), diff.mean(1))
        assert gain_ax.get_ylabel().startswith("gain over untrained encoder")
    assert _gate_texts(fig) == []
    assert "spread of the mean accuracy over losses" in fig._suptitle.get_text().replace("\n", " ")


def test_plot_losses_says_when_nothing_beats_the_untrained_encoder() -> None:
    fig = losses.plot_losses(_results(gain=0.0), losses.losses_config())
    assert (
        _gate_texts(fig)
        == ["no task beats the untrained encoder:\nlosses and head depths not compared"] * 2
    )
    assert "losses not compared" in fig._suptitle.get_text().replace("\n", " ")


@pytest.mark.parametrize(
    ("offsets", "sd", "verdict"),
    [
        ({}, 0.001, claims.HOLDS),  # all alike at depth 2, tightly
        ({"swd-hypercube": -0.10}, 0.001, claims.CONTRADICTED),  # one loss 0.10 behind
        ({}, 0.03, claims.NOT_SEEN),  # alike on average, but too noisy to tell
    ],
)
def test_claims_losses_verdicts(offsets: dict[str, float], sd: float, verdict: str) -> None:
    cfg = losses.losses_config()
    found = losses.claims_losses(_results(offsets=offsets, sd=sd), cfg)
    assert [c.id for c in found] == [
        "chen2021.losses.alike-at-head-depth-2.background",
        "chen2021.losses.alike-at-head-depth-2.shape",
    ]
    for claim in found:
        assert claim.verdict == verdict
        if offsets:
            assert "minus align + SWD, hypercube" in claim.effect
            assert claim.measured.mean == pytest.approx(0.10 - 0.03, abs=0.01)


def test_claims_losses_gated_and_one_claim_per_shared_deep_depth() -> None:
    cfg = losses.losses_config()
    gated = losses.claims_losses(_results(gain=0.0), cfg)
    assert [c.verdict for c in gated] == [claims.NOT_A_RESULT] * 2
    for loss in cfg["losses"].values():
        loss["depths"] = [0, 1, 2, 3]
    ids = [c.id for c in losses.claims_losses(_results_for(cfg), cfg)]
    assert ids == [
        f"chen2021.losses.alike-at-head-depth-{d}.{t}" for t in cfg["tasks"] for d in (2, 3)
    ]


def _results_for(cfg: dict[str, Any]) -> dict[str, Any]:
    """Results of ``cfg``'s depths: every value 0.7, untrained 0.6 (with seed noise)."""
    rng = np.random.default_rng(0)
    shape = {n: (len(loss["depths"]), 3) for n, loss in cfg["losses"].items()}
    return {
        **_results(),
        "depths": {n: list(loss["depths"]) for n, loss in cfg["losses"].items()},
        "accuracy": _nested(
            cfg, {n: {t: _noisy(rng, s, 0.7) for t in cfg["tasks"]} for n, s in shape.items()}
        ),
        "untrained": _nested(
            cfg, {n: {t: _noisy(rng, s, 0.6) for t in cfg["tasks"]} for n, s in shape.items()}
        ),
        "knn": _nested(
            cfg,
            {
                n: {t: np.asarray([curves(0.5, 3, 8)] * s[0]) for t in cfg["tasks"]}
                for n, s in shape.items()
            },
        ),
    }


def test_most_different_pair_and_spread() -> None:
    per_loss = {"a": [0.5, 0.7], "b": [0.8, 0.8], "c": [0.55, 0.55]}
    assert losses.most_different_pair(per_loss) == ("b", "c")
    assert losses.spread(per_loss) == pytest.approx(0.25)
    with pytest.raises(ValueError, match="two or more losses"):
        losses.most_different_pair({"a": [0.5]})


def test_specs_move_every_preset_to_the_suite_and_set_the_head_depth() -> None:
    cfg = losses.losses_config()
    specs = losses.losses_specs(cfg)
    n = sum(len(loss["depths"]) for loss in cfg["losses"].values()) * len(cfg["seeds"])
    assert len(specs) == n == 36
    by_name = {s.name: s for s in specs}
    for name, depth, loss, prior in (
        ("ntxent-d3-s0", 3, "ntxent", None),
        ("lse-d0-s1", 0, "align_lse", None),
        ("swd-hypercube-d2-s2", 2, "align_swd", "hypercube"),
    ):
        r = resolved_config(by_name[name])
        assert r.data.suite == "overlay-shapes-on-fashion"
        assert r.model.head_depth == depth and r.loss.name == loss
        assert prior is None or r.loss.prior == prior
        assert r.optim.max_steps == losses.STEPS and r.optim.batch_size == losses.BATCH
        assert r.model.width == 16 and r.run.threads == 1
    # every loss of one seed and depth shares one untrained encoder
    twins = untrained_twins(specs, ())
    assert len({t.name for t in twins.values()}) == 4 * len(cfg["seeds"])


def test_a_missing_record_is_an_error_naming_it(tmp_path: Path) -> None:
    cfg = losses.losses_config()
    specs = losses.losses_specs(cfg)
    base = plan(specs, tmp_path, (losses._probe(cfg),))
    with pytest.raises(FileNotFoundError, match=r"ntxent-d0-s0-[0-9a-f]{8}/eval/fig-probe\.json"):
        losses.read_losses(cfg, base)


def test_a_missing_results_file_is_named_by_the_claims(tmp_path: Path) -> None:
    found, skipped = claims.collect(tmp_path, ["exp_losses"])
    assert found == [] and skipped == {"exp_losses": f"no results file {tmp_path}/exp_losses.json"}


@pytest.mark.parametrize(
    ("key", "value", "match"),
    [
        ("depths", [0, 4], r"losses\.ntxent\.depths must be distinct values in \[0, 1, 2, 3\]"),
        ("depths", [2, 2], r"losses\.ntxent\.depths"),
        ("tolerance", 0.0, r"alike\.tolerance must lie in \(0, 1\)"),
    ],
)
def test_bad_configs_are_rejected_naming_the_field(key: str, value: Any, match: str) -> None:
    cfg = losses.losses_config()
    if key == "depths":
        cfg["losses"]["ntxent"]["depths"] = value
    else:
        cfg["alike"][key] = value
    with pytest.raises(ValueError, match=match):
        losses.losses_specs(cfg)


def test_summary_tables_label_rows_by_loss_depth_and_task() -> None:
    from figures import summary

    tables = {t.title: [r.label for r in t.rows] for t in summary.figure_tables(_results())}
    gain_rows = tables["gain over the untrained encoder: accuracy"]
    assert "ntxent / depth=3 / background" in gain_rows
    assert "swd-hypercube / depth=2 / shape" in gain_rows
    assert len(gain_rows) == 2 * sum(
        len(x["depths"]) for x in losses.losses_config()["losses"].values()
    )


@pytest.mark.slow
def test_losses_micro_end_to_end(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, micro_overrides: list[str]
) -> None:
    """Two tiny runs (NT-Xent and SWD at depth 0, 2 steps) share one untrained population (two
    initialisations) and one raw-pixel probe; sweep, evaluation, results and plot."""
    import json

    monkeypatch.setattr("figures.baselines.UNTRAINED_INITS", 2)

    from figures.registry import make_figure

    monkeypatch.setenv("FEATUREDROP_JOBS", "1")  # no worker start-up in the test budget
    cfg = losses.losses_config()
    cfg.update(
        losses={n: {**cfg["losses"][n], "depths": [0]} for n in ("ntxent", "swd-normal")},
        seeds=[0],
        runs_root=str(tmp_path / "runs"),
        overrides=micro_overrides,
        probe={"n_train": 64, "n_test": 64, "max_iter": 20, "layer": "pooled"},
    )
    # one step an epoch for two epochs: a kNN curve of 2 points (the fewest the figure reads)
    cfg["overrides"] = [*cfg["overrides"], "data.train_size=32", "optim.epochs=2"]
    cfg["overrides"] += ["run.knn_every=1", "data.knn_bank=32", "data.knn_test=64"]
    kw = {"out_dir": tmp_path / "out", "results_dir": tmp_path / "res", "config": cfg}
    paths = make_figure("exp_losses", **kw)  # type: ignore[arg-type]
    assert {p.suffix for p in paths} == {".png", ".pdf", ".json"}
    res = json.loads((tmp_path / "res" / "exp_losses.json").read_text())["results"]
    for n in ("ntxent", "swd-normal"):
        for t in ("background", "shape"):
            (acc,) = losses.per_depth(res, "accuracy", n, t)
            (unt,) = losses.per_depth(res, "untrained", n, t)
            assert len(acc) == 1 and len(unt) == 2 and 0 <= acc[0] <= 1
            assert all(0 <= u <= 1 for u in unt) and res["inits"] == [1, 2]
    assert res["chance"] == {"background": pytest.approx(0.1), "shape": pytest.approx(1 / 3)}
    assert res["knn_steps"] == [1, 2] and len(res["knn"]["ntxent"]["depth=0"]["shape"][0]) == 2
    names = sorted(r.name.rsplit("-", 1)[0] for r in (tmp_path / "runs" / "exp_losses").iterdir())
    assert names == [
        "ntxent-d0-s0",
        "pixels",
        "swd-normal-d0-s0",
        "untrained-init1-ntxent-d0-s0",  # the shared population: seeds after the trained 0
        "untrained-init2-ntxent-d0-s0",
    ]


def test_a_task_no_loss_learns_is_not_judged_alike() -> None:
    """The shape learns, the background equals the untrained encoder for every loss: alike only
    because nothing was learned, so the background claim is not a result."""
    cfg = losses.losses_config()
    res = _results()
    for n in res["losses"]:
        for key, row in res["untrained"][n].items():
            res["accuracy"][n][key]["background"] = list(row["background"])
    found = {c.id: c.verdict for c in losses.claims_losses(res, cfg)}
    assert found == {
        "chen2021.losses.alike-at-head-depth-2.background": claims.NOT_A_RESULT,
        "chen2021.losses.alike-at-head-depth-2.shape": claims.HOLDS,
    }
    assert losses.losses_gate(res).open  # the figure's own gate: the shape learns
    fig = losses.plot_losses(res, cfg)
    texts = [t.replace("\n", " ") for t in _gate_texts(fig)]
    assert texts == ["no loss beats the untrained encoder on background: not compared"]
    assert fig.axes[0].texts[0].get_gid() == "gate"  # on the background panel


# ---------------------------------------------------------------------------------------------
# kNN learning curves (issue 10: 8 or more points a run, kept beside the figure)


def test_every_run_of_the_default_config_records_eight_knn_points() -> None:
    cfg = losses.losses_config()
    for spec in losses.losses_specs(cfg):
        assert points_per_run(spec) >= common.MIN_CURVE_POINTS, spec.name
        assert curve_ends_at_last_step(spec), spec.name
    assert common.knn_points(cfg["overrides"]) == points_per_run(losses.losses_specs(cfg)[0]) == 8


def _fake_probe(base: Any, spec: Any, probe: Any, tasks: Any) -> ProbeRecord:
    return ProbeRecord(
        {t: 0.6 for t in tasks}, {t: 0.5 for t in tasks}, {t: 0.1 for t in tasks}, 1.0
    )


def _small_config(tmp_path: Path) -> dict[str, Any]:
    cfg = losses.losses_config()
    cfg["losses"] = {"ntxent": {**cfg["losses"]["ntxent"], "depths": [0, 2]}}
    cfg.update(seeds=[0, 1], runs_root=str(tmp_path))
    return cfg


def test_read_losses_keeps_each_runs_curve_from_its_metrics_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fake_baselines: Any
) -> None:
    cfg = _small_config(tmp_path)
    written = {}
    for k, spec in enumerate(losses.losses_specs(cfg)):
        knn = {
            "background": [0.3 + 0.01 * k] * 8,
            "shape": [0.2, 0.3, 0.4, 0.45, 0.5, 0.5, 0.5, 0.53],
        }
        write_curve(spec.run_dir(tmp_path), KNN_STEPS, knn)
        written[spec.name] = knn
    monkeypatch.setattr(losses, "read_probe", _fake_probe)
    res = losses.read_losses(cfg, fake_baselines(tmp_path, ("background", "shape")))
    assert res["knn_steps"] == KNN_STEPS
    for d in (0, 2):
        row = res["knn"]["ntxent"][losses.depth_key(d)]
        for t in ("background", "shape"):
            assert row[t] == [written[f"ntxent-d{d}-s{s}"][t] for s in (0, 1)]
    f = losses.losses_flatness(res)
    # the shape moves from 0.5 (at 24 of 32 steps) to 0.53; the background not at all
    assert f == {"max_abs": pytest.approx(0.03), "flat": False, "points": 8}


def test_a_run_with_one_knn_point_is_an_error_naming_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fake_baselines: Any
) -> None:
    cfg = _small_config(tmp_path)
    for spec in losses.losses_specs(cfg):
        write_curve(spec.run_dir(tmp_path), [32], {"background": [0.3], "shape": [0.4]})
    monkeypatch.setattr(losses, "read_probe", _fake_probe)
    with pytest.raises(ValueError, match=r"ntxent-d0-s0-[0-9a-f]{8}: the kNN learning curve has 1"):
        losses.read_losses(cfg, fake_baselines(tmp_path, ("background", "shape")))


@pytest.mark.parametrize(("late_rise", "verdict"), [(0.0, "flat"), (0.05, "not flat")])
def test_figure_and_claims_say_whether_the_curves_are_flat(late_rise: float, verdict: str) -> None:
    cfg = losses.losses_config()
    res = _results(late_rise=late_rise)
    title = losses.plot_losses(res, cfg)._suptitle.get_text().replace("\n", " ")
    notes = [c.notes for c in losses.claims_losses(res, cfg)]
    assert_flatness_said(losses.losses_flatness(res), late_rise, verdict, 8, title, notes)
