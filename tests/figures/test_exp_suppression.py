"""exp_suppression: plots of hand-made results, the gate per suite, claims (one case per
verdict), missing records and results, the runs' configs and the config checks."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import matplotlib
import numpy as np
import pytest

from figures import claims
from figures.baselines import plan, resolved_config
from figures.experiments import common, suppression
from figures.experiments.common import ProbeRecord
from figures.inspect import errorbar_y as _errorbar_y
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
KNN_STEPS = [6 * (i + 1) for i in range(10)]  # the default config's kNN points: every 6 steps


def _panel(
    sc: dict[str, Any], gain: float, slope: float, rng: np.random.Generator, late_rise: float = 0.0
) -> Any:
    """One suite: untrained 0.5 / 0.4; trained = untrained + ``gain`` + ``slope`` times the
    position of the value (0 to 1) for the first (suppressed) task, minus it for the other;
    every run's kNN curve flat over its last quarter but for ``late_rise`` (the first task)."""
    n = len(sc["values"])
    t = np.linspace(0.0, 1.0, n)[:, None]
    first, second = sc["tasks"]
    unt = {first: _noisy(rng, (n, 3), 0.5), second: _noisy(rng, (n, 3), 0.4)}
    acc = {
        first: unt[first] + gain + slope * t + 0.002 * rng.standard_normal((n, 3)),
        second: unt[second] + gain - slope * t + 0.002 * rng.standard_normal((n, 3)),
    }
    keys = [suppression.value_key(sc["option"], v) for v in sc["values"]]
    pixels = {first: 0.3 + 0.01 * np.arange(n), second: 0.6 - 0.01 * np.arange(n)}
    return {
        "option": sc["option"],
        "values": list(sc["values"]),
        "tasks": list(sc["tasks"]),
        "accuracy": {k: dict(zip(keys, v.tolist(), strict=True)) for k, v in acc.items()},
        "untrained": {k: dict(zip(keys, v.tolist(), strict=True)) for k, v in unt.items()},
        "pixels": {k: dict(zip(keys, v.tolist(), strict=True)) for k, v in pixels.items()},
        "chance": {first: 0.1, second: 0.1},
        "knn": {
            first: {k: curves(0.5, 3, 10, late_rise) for k in keys},
            second: {k: curves(0.4, 3, 10) for k in keys},
        },
    }


def _results(
    gain: float = 0.1, slope: float = -0.2, gain_md: float | None = None, late_rise: float = 0.0
) -> Any:
    cfg = suppression.suppression_config()
    rng = np.random.default_rng(5)
    sc = cfg["suites"]
    return {
        "seeds": SEEDS,
        "suites": {
            "digit_on_image": _panel(sc["digit_on_image"], gain, slope, rng),
            "multidigits": _panel(
                sc["multidigits"], gain if gain_md is None else gain_md, slope, rng, late_rise
            ),
        },
        "knn_steps": KNN_STEPS,
        "run_s": [],
    }


def _grid(panel: dict[str, Any], key: str, task: str) -> np.ndarray:
    return np.asarray(suppression.grid(panel, key, task), dtype=float)


def test_plot_suppression_draws_runs_baselines_and_gains() -> None:
    cfg = suppression.suppression_config()
    res = _results()
    fig = suppression.plot_suppression(res, cfg)
    for row, name in enumerate(("digit_on_image", "multidigits")):
        acc_ax, gain_ax = fig.axes[2 * row : 2 * row + 2]
        panel = res["suites"][name]
        ys = _errorbar_y(acc_ax)
        for i, task in enumerate(panel["tasks"]):
            acc, unt = _grid(panel, "accuracy", task), _grid(panel, "untrained", task)
            np.testing.assert_allclose(ys[i], acc.mean(1))
            np.testing.assert_allclose(_line(acc_ax, f"untrained:{task}"), unt.mean(1))
            np.testing.assert_allclose(
                _line(acc_ax, f"pixels:{task}"), _grid(panel, "pixels", task)
            )
            diff = (acc - unt).mean(1)
            np.testing.assert_allclose(_line(gain_ax, f"gain:{name}:{task}"), diff)
        x = acc_ax.containers[0].lines[0].get_xdata()
        np.testing.assert_allclose(x, panel["values"])
        assert acc_ax.get_xlabel() == gain_ax.get_xlabel() == cfg["suites"][name]["xlabel"]
        assert acc_ax.get_ylabel() == "linear probe accuracy"
        assert gain_ax.get_ylabel().startswith("gain over untrained encoder")
    assert fig.axes[0].get_xscale() == "log" and fig.axes[2].get_xscale() == "linear"
    assert _gate_texts(fig) == []
    title = fig._suptitle.get_text().replace("\n", " ")
    panel = res["suites"]["digit_on_image"]
    gain = _grid(panel, "accuracy", "image") - _grid(panel, "untrained", "image")
    change = float(np.mean(gain[-1] - gain[0]))
    expected = f"DigitOnImage: image (item class) gain {change:+.3f} from pool_size = 10 to 1000"
    assert expected in title


def test_plot_suppression_gates_each_suite_on_its_own() -> None:
    fig = suppression.plot_suppression(
        _results(gain_md=0.0, slope=0.0), suppression.suppression_config()
    )
    assert _gate_texts(fig) == [
        "no task beats the untrained encoder:\nvalues of size_b not compared"
    ]
    assert "MultiDigits: not a result" in fig._suptitle.get_text().replace("\n", " ")


@pytest.mark.parametrize(
    ("slope", "verdict"),
    [(-0.2, claims.HOLDS), (0.2, claims.CONTRADICTED), (0.0, claims.NOT_SEEN)],
)
def test_claims_suppression_verdicts(slope: float, verdict: str) -> None:
    cfg = suppression.suppression_config()
    found = {c.id: c for c in suppression.claims_suppression(_results(slope=slope), cfg)}
    image = found["chen2021.suppression.more-unique-digits-suppress-image"]
    small = found["chen2021.suppression.larger-digit-suppresses-small-digit"]
    assert image.verdict == small.verdict == verdict
    assert image.measured.mean == pytest.approx(slope, abs=0.01)
    assert image.effect == "image gain over the untrained encoder at pool_size = 1000 minus at 10"
    assert small.effect == "digit_a gain over the untrained encoder at size_b = 22 minus at 10"


def test_claims_suppression_not_a_result_per_suite() -> None:
    """Each claim rests on its own suite's gate: MultiDigits learning nothing does not gate the
    DigitOnImage claim."""
    cfg = suppression.suppression_config()
    found = suppression.claims_suppression(_results(gain_md=0.0, slope=0.0), cfg)
    assert {c.id: c.verdict for c in found} == {
        "chen2021.suppression.more-unique-digits-suppress-image": claims.NOT_SEEN,
        "chen2021.suppression.larger-digit-suppresses-small-digit": claims.NOT_A_RESULT,
    }


def test_specs_set_the_swept_option_and_the_fixed_ones() -> None:
    cfg = suppression.suppression_config()
    specs = {s.name: s for s in suppression.suppression_specs(cfg)}
    assert len(specs) == 2 * 4 * 3
    doi = resolved_config(specs["digit_on_image-pool_size300-s1"])
    assert doi.data.suite == "digit-on-fashion" and doi.data.options["pool_size"] == 300
    md = resolved_config(specs["multidigits-size_b22-s2"])
    assert md.data.suite == "multidigits"
    assert md.data.options["size_a"] == 10 and md.data.options["size_b"] == 22
    assert md.optim.batch_size == suppression.BATCH and md.optim.max_steps == suppression.STEPS


def test_a_missing_record_is_an_error_naming_it(tmp_path: Path) -> None:
    cfg = suppression.suppression_config()
    specs = suppression.suppression_specs(cfg)
    base = plan(specs, tmp_path, (suppression._probe(cfg),))
    with pytest.raises(
        FileNotFoundError, match=r"digit_on_image-pool_size10-s0-[0-9a-f]{8}/eval/fig-probe\.json"
    ):
        suppression.read_suppression(cfg, base)


def test_a_missing_results_file_is_named_by_the_claims(tmp_path: Path) -> None:
    found, skipped = claims.collect(tmp_path, ["exp_suppression"])
    assert found == []
    assert skipped == {"exp_suppression": f"no results file {tmp_path}/exp_suppression.json"}


@pytest.mark.parametrize(
    ("change", "match"),
    [
        ({"values": [10]}, r"suites\.digit_on_image\.values must hold two or more distinct"),
        ({"values": [10, 10, 100]}, r"suites\.digit_on_image\.values"),
        ({"tasks": []}, r"suites\.digit_on_image\.tasks must name a task"),
    ],
)
def test_bad_configs_are_rejected_naming_the_field(change: dict[str, Any], match: str) -> None:
    cfg = suppression.suppression_config()
    cfg["suites"]["digit_on_image"].update(change)
    with pytest.raises(ValueError, match=match):
        suppression.suppression_specs(cfg)
    cfg = suppression.suppression_config()
    cfg["suites"]["other"] = cfg["suites"]["multidigits"]
    with pytest.raises(ValueError, match=r"suites must be among"):
        suppression.suppression_specs(cfg)


def test_summary_tables_label_rows_by_suite_task_and_value() -> None:
    from figures import summary

    tables = {t.title: [r.label for r in t.rows] for t in summary.figure_tables(_results())}
    gain_rows = tables["gain over the untrained encoder: suites"]
    assert "digit_on_image / accuracy / image / pool_size=1000" in gain_rows
    assert "multidigits / accuracy / digit_a / size_b=22" in gain_rows
    assert len(gain_rows) == 2 * 2 * 4


@pytest.mark.slow
def test_suppression_micro_end_to_end(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, micro_overrides: list[str]
) -> None:
    """DigitOnImage at two pool sizes (2 steps each): one untrained population (two
    initialisations) and one raw-pixel probe per pool size (the data differ); sweep,
    evaluation, results and plot."""
    import json

    monkeypatch.setattr("figures.baselines.UNTRAINED_INITS", 2)

    from figures.registry import make_figure

    monkeypatch.setenv("FEATUREDROP_JOBS", "1")  # no worker start-up in the test budget
    cfg = suppression.suppression_config()
    cfg["suites"] = {"digit_on_image": {**cfg["suites"]["digit_on_image"], "values": [10, 20]}}
    cfg.update(
        seeds=[0],
        runs_root=str(tmp_path / "runs"),
        overrides=micro_overrides,
        probe={"n_train": 64, "n_test": 64, "max_iter": 20, "layer": "pooled"},
    )
    # one step an epoch for two epochs: a kNN curve of 2 points (the fewest the figure reads)
    cfg["overrides"] = [*cfg["overrides"], "data.train_size=32", "optim.epochs=2"]
    cfg["overrides"] += ["run.knn_every=1", "data.knn_bank=32", "data.knn_test=64"]
    kw = {"out_dir": tmp_path / "out", "results_dir": tmp_path / "res", "config": cfg}
    paths = make_figure("exp_suppression", **kw)  # type: ignore[arg-type]
    assert {p.suffix for p in paths} == {".png", ".pdf", ".json"}
    res = json.loads((tmp_path / "res" / "exp_suppression.json").read_text())["results"]
    panel = res["suites"]["digit_on_image"]
    for t in ("image", "digit"):
        acc, unt = _grid(panel, "accuracy", t), _grid(panel, "untrained", t)
        assert acc.shape == (2, 1) and unt.shape == (2, 2) and np.all((acc >= 0) & (acc <= 1))
        assert _grid(panel, "pixels", t).shape == (2,)
        assert np.asarray([panel["knn"][t][k] for k in panel["knn"][t]]).shape == (2, 1, 2)
    assert res["knn_steps"] == [1, 2]
    names = sorted(
        r.name.rsplit("-", 1)[0] for r in (tmp_path / "runs" / "exp_suppression").iterdir()
    )
    assert names == [
        "digit_on_image-pool_size10-s0",
        "digit_on_image-pool_size20-s0",
        "pixels",
        "pixels",
        "untrained-init1-digit_on_image-pool_size10-s0",  # a population per pool size, at
        "untrained-init1-digit_on_image-pool_size20-s0",  # the seeds after the trained 0
        "untrained-init2-digit_on_image-pool_size10-s0",
        "untrained-init2-digit_on_image-pool_size20-s0",
    ]


def test_claims_compare_gains_not_accuracies() -> None:
    """A small digit that every encoder, untrained too, reads worse beside a larger digit is not
    suppression: the accuracies fall by 0.2, the gains stay."""
    cfg = suppression.suppression_config()
    res = _results(slope=0.0)
    panel = res["suites"]["multidigits"]
    for key in ("accuracy", "untrained"):
        for k, (v, seeds) in enumerate(
            zip(panel["values"], _grid(panel, key, "digit_a"), strict=True)
        ):
            drop = 0.2 * k / (len(panel["values"]) - 1)
            panel[key]["digit_a"][suppression.value_key("size_b", v)] = list(seeds - drop)
    small = suppression.claims_suppression(res, cfg)[1]
    assert small.id == "chen2021.suppression.larger-digit-suppresses-small-digit"
    assert small.measured.mean == pytest.approx(0.0, abs=0.01)
    assert small.verdict == claims.NOT_SEEN


def test_a_claim_whose_task_never_learns_is_not_a_result() -> None:
    """The digit learns, the image equals the untrained encoder at every N: the suite is a
    result (its panel compares the values) but the image cannot be seen suppressed."""
    cfg = suppression.suppression_config()
    res = _results(slope=0.0)
    panel = res["suites"]["digit_on_image"]
    panel["accuracy"]["image"] = {k: list(v) for k, v in panel["untrained"]["image"].items()}
    assert suppression.suite_gate(panel).open
    image = suppression.claims_suppression(res, cfg)[0]
    assert image.id == "chen2021.suppression.more-unique-digits-suppress-image"
    assert image.verdict == claims.NOT_A_RESULT


# ---------------------------------------------------------------------------------------------
# kNN learning curves (issue 10: 8 or more points a run, kept beside the figure)


def test_every_run_of_the_default_config_records_eight_knn_points() -> None:
    cfg = suppression.suppression_config()
    specs = suppression.suppression_specs(cfg)
    for spec in specs:
        assert points_per_run(spec) >= common.MIN_CURVE_POINTS, spec.name
        assert curve_ends_at_last_step(spec), spec.name
    assert common.knn_points(cfg["overrides"]) == points_per_run(specs[0]) == 10


def _fake_probe(base: Any, spec: Any, probe: Any, tasks: Any) -> ProbeRecord:
    return ProbeRecord(
        {t: 0.6 for t in tasks}, {t: 0.5 for t in tasks}, {t: 0.1 for t in tasks}, 1.0
    )


def _small_config(tmp_path: Path) -> dict[str, Any]:
    cfg = suppression.suppression_config()
    cfg["suites"] = {"multidigits": {**cfg["suites"]["multidigits"], "values": [10, 22]}}
    cfg.update(seeds=[0, 1], runs_root=str(tmp_path))
    return cfg


def test_read_suppression_keeps_each_runs_curve_from_its_metrics_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fake_baselines: Any
) -> None:
    cfg = _small_config(tmp_path)
    written = {}
    for k, spec in enumerate(suppression.suppression_specs(cfg)):
        knn = {"digit_a": [0.2 + 0.01 * k] * 10, "digit_b": [0.5] * 8 + [0.5, 0.56]}
        write_curve(spec.run_dir(tmp_path), KNN_STEPS, knn)
        written[spec.name] = knn
    monkeypatch.setattr(suppression, "read_probe", _fake_probe)
    res = suppression.read_suppression(cfg, fake_baselines(tmp_path, ("digit_a", "digit_b")))
    assert res["knn_steps"] == KNN_STEPS
    knn = res["suites"]["multidigits"]["knn"]
    for v in (10, 22):
        for t in ("digit_a", "digit_b"):
            got = knn[t][suppression.value_key("size_b", v)]
            assert got == [written[f"multidigits-size_b{v}-s{s}"][t] for s in (0, 1)]
    # digit_b: 0.5 at 45 of 60 steps (between steps 42 and 48), 0.56 at the end
    f = suppression.suppression_flatness(res)
    assert f == {"max_abs": pytest.approx(0.06), "flat": False, "points": 10}


def test_a_run_with_one_knn_point_is_an_error_naming_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fake_baselines: Any
) -> None:
    cfg = _small_config(tmp_path)
    for spec in suppression.suppression_specs(cfg):
        write_curve(spec.run_dir(tmp_path), [60], {"digit_a": [0.3], "digit_b": [0.4]})
    monkeypatch.setattr(suppression, "read_probe", _fake_probe)
    with pytest.raises(
        ValueError, match=r"multidigits-size_b10-s0-[0-9a-f]{8}: the kNN learning curve has 1"
    ):
        suppression.read_suppression(cfg, fake_baselines(tmp_path, ("digit_a", "digit_b")))


@pytest.mark.parametrize(("late_rise", "verdict"), [(0.0, "flat"), (-0.04, "not flat")])
def test_figure_and_claims_say_whether_the_curves_are_flat(late_rise: float, verdict: str) -> None:
    cfg = suppression.suppression_config()
    res = _results(late_rise=late_rise)
    title = suppression.plot_suppression(res, cfg)._suptitle.get_text().replace("\n", " ")
    notes = [c.notes for c in suppression.claims_suppression(res, cfg)]
    flatness = suppression.suppression_flatness(res)
    assert_flatness_said(flatness, late_rise, verdict, 10, title, notes)
