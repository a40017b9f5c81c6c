"""exp_viewmaker_budget: plots of hand-made results, gate, claims, missing records, the runs'
configs and the one-row-per-class gallery (on a tiny trained viewmaker run)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import matplotlib
import numpy as np
import pytest

from figures import claims, judges
from figures.baselines import resolved_config
from figures.experiments import budget, common
from figures.inspect import errorbar_y as _errorbar_y
from figures.inspect import gate_texts as _gate_texts
from figures.inspect import line_y as _line
from figures.inspect import noisy as _noisy
from figures.sweep import Evaluation, RunSpec

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

TASKS = ["shape", "background"]
KNN_STEPS = [2 * (i + 1) for i in range(10)]  # the default config's kNN points: every 2 steps
DIAG = Path(__file__).resolve().parents[1] / "empirical" / "diagnostics"


def _gallery(n_classes: int) -> dict[str, Any]:
    rng = np.random.default_rng(1)
    rows = ["input", "viewmaker 1", "perturbation 1"]
    return {
        "suite": "overlay-shapes-on-fashion",
        "task": "shape",
        "eps": 0.05,
        "image": True,
        "rows": rows,
        "columns": [
            {
                "class": c,
                "s": 0.1,
                "tiles": {r: budget.encode_image(rng.uniform(0, 1, (4, 4, 3))) for r in rows},
            }
            for c in range(n_classes)
        ],
    }


def _results(learned: bool, late_rise: float = 0.0) -> dict[str, Any]:
    """The dropout rate of both tasks rises with eps; the probe beats the untrained encoder when
    ``learned``, else the trained runs equal their twins. Every kNN curve is flat over its last
    quarter but for ``late_rise`` (the background at the largest eps)."""
    cfg = budget.budget_config()
    n = len(cfg["eps"])
    rng = np.random.default_rng(0)
    unt = {"shape": _noisy(rng, (n, 3), 0.5), "background": _noisy(rng, (n, 3), 0.6)}
    acc = {k: v + (0.1 if learned else 0.0) for k, v in unt.items()}
    rate = {t: np.linspace(0.0, 0.6, n)[:, None] + _noisy(rng, (n, 3), 0.0) for t in TASKS}
    return {
        "eps": cfg["eps"],
        "seeds": [0, 1, 2],
        "suite": "overlay-shapes-on-fashion",
        "tasks": TASKS,
        "accuracy": {k: v.tolist() for k, v in acc.items()},
        "untrained": {k: v.tolist() for k, v in unt.items()},
        "pixels": {"shape": [0.4] * n, "background": [0.3] * n},
        "rate": {k: v.tolist() for k, v in rate.items()},
        "rate_random": {t: np.full((n, 3), 0.05).tolist() for t in TASKS},
        "judge_accuracy": {"shape": 0.9, "background": 0.8},
        "chance": {"shape": 1 / 3, "background": 0.1},
        "galleries": {"shapes": _gallery(3), "digits": _gallery(4)},
        "knn_steps": KNN_STEPS,
        "knn": {
            t: [
                curves(0.5, 3, 10, late_rise if (t, i) == ("background", n - 1) else 0.0)
                for i in range(n)
            ]
            for t in TASKS
        },
        "run_s": [1.0] * (3 * n),
    }


def _axis(fig: Any, ylabel_start: str) -> Any:
    (ax,) = [a for a in fig.axes if a.get_ylabel().startswith(ylabel_start)]
    return ax


def test_plot_budget_draws_rates_probes_gains_and_galleries() -> None:
    res = _results(learned=True)
    fig = budget.plot_budget(res, budget.budget_config())
    rate_ax = _axis(fig, "feature-dropout rate")
    acc_ax = _axis(fig, "linear probe accuracy")
    gain_ax = _axis(fig, "gain over untrained encoder")
    for k, t in enumerate(TASKS):
        np.testing.assert_allclose(_errorbar_y(rate_ax)[k], np.mean(res["rate"][t], 1))
        np.testing.assert_allclose(_line(rate_ax, f"random:{t}"), 0.05)
        np.testing.assert_allclose(_errorbar_y(acc_ax)[k], np.mean(res["accuracy"][t], 1))
        np.testing.assert_allclose(_line(acc_ax, f"untrained:{t}"), np.mean(res["untrained"][t], 1))
        np.testing.assert_allclose(_line(acc_ax, f"pixels:{t}"), res["pixels"][t])
        diff = np.subtract(res["accuracy"][t], res["untrained"][t]).mean(1)
        np.testing.assert_allclose(_line(gain_ax, f"gain:{t}"), diff)
    for ax in (rate_ax, acc_ax, gain_ax):
        assert ax.get_xlabel().startswith("viewmaker budget")
    tiles = [a for a in fig.axes if a.images]
    assert len(tiles) == 3 * (3 + 4)  # 3 rows x one column per class, both suites
    first = np.asarray(tiles[0].images[0].get_array())
    expected = budget.decode_image(res["galleries"]["shapes"]["columns"][0]["tiles"]["input"])
    np.testing.assert_allclose(first, expected)
    assert tiles[0].get_title() == "shape 0\ns = 0.10" and tiles[0].get_ylabel() == "input"
    assert _gate_texts(fig) == []


def test_gallery_row_labels_fit_beside_a_tile() -> None:
    names = ["input", "viewmaker 1", "viewmaker 2", "perturbation 1", "expert 2"]
    labels = [budget.row_label(n) for n in names]
    assert labels == ["input", "vm 1", "vm 2", "delta 1", "expert 2"]
    assert max(map(len, labels)) <= 8


def test_plot_budget_says_when_nothing_beats_the_untrained_encoder() -> None:
    fig = budget.plot_budget(_results(learned=False), budget.budget_config())
    (text,) = _gate_texts(fig)
    assert text == "no task beats the untrained encoder:\nbudgets not compared"


def test_claims_budget_verdicts() -> None:
    cfg = budget.budget_config()
    found = {c.id: c for c in budget.claims_budget(_results(learned=True), cfg)}
    c = found["tamkin2023.budget.shape-dropout-rises-with-eps"]
    assert c.verdict == claims.HOLDS and c.measured.mean == pytest.approx(0.6, abs=0.05)
    assert found["tamkin2023.budget.background-dropout-rises-with-eps"].verdict == claims.HOLDS
    res = _results(learned=True)
    res["rate"] = {t: np.asarray(v)[::-1].tolist() for t, v in res["rate"].items()}
    falling = budget.claims_budget(res, cfg)
    assert {x.verdict for x in falling} == {claims.CONTRADICTED}
    gated = budget.claims_budget(_results(learned=False), cfg)
    assert {x.verdict for x in gated} == {claims.NOT_A_RESULT}


def test_budget_runs_set_the_viewmakers_eps_on_the_fashion_suite() -> None:
    cfg = budget.budget_config()
    specs = budget.budget_specs(cfg)
    assert len(cfg["eps"]) >= 4 and len(specs) == len(cfg["eps"]) * len(cfg["seeds"])
    for spec in specs[:: len(cfg["seeds"])]:
        c = resolved_config(spec)  # the typed config accepts the overrides
        assert c.views.name == "viewmaker" and c.data.suite == "overlay-shapes-on-fashion"
        assert f"eps{c.views.eps:g}-" in spec.name
    assert [resolved_config(s).views.eps for s in specs[:: len(cfg["seeds"])]] == cfg["eps"]
    gal = budget.gallery_specs(cfg)
    assert gal["shapes"] in specs  # drawn from the sweep's own run
    assert gal["digits"] not in specs and gal["digits"] in budget.all_specs(cfg)
    assert resolved_config(gal["digits"]).data.suite == "overlay-digits-on-fashion"


def test_a_missing_record_is_an_error_naming_it(tmp_path: Path) -> None:
    from figures.baselines import plan

    cfg = budget.budget_config()
    specs = budget.budget_specs(cfg)
    base = plan(specs, tmp_path, (budget._probe(cfg),))
    with pytest.raises(FileNotFoundError, match=r"eps0\.02-s0-[0-9a-f]{8}/eval/fig-probe\.json"):
        budget.read_budget(cfg, base)


def test_class_rows_picks_the_first_example_of_each_class() -> None:
    assert budget.class_rows([2, 0, 2, 1, 0], 4) == [1, 3, 0]
    assert budget.class_rows([], 3) == []


def test_images_are_strings_that_decode_to_the_array() -> None:
    a = np.linspace(0, 1, 24).reshape(2, 4, 3)
    text = budget.encode_image(a)
    assert isinstance(text, str)
    np.testing.assert_allclose(budget.decode_image(text), a, atol=1e-3)
    labels = np.array([[0, 2], [1, 0]])
    np.testing.assert_array_equal(budget.decode_image(budget.encode_image(labels)), labels)


@pytest.fixture(scope="module")
def tiny_viewmaker_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from empirical.config import Config, apply_overrides
    from empirical.train import train

    if str(DIAG) not in sys.path:  # the diagnostics tests' tiny overlay suite
        sys.path.insert(0, str(DIAG))
    from diag_tiny import TINY_RUN

    out = tmp_path_factory.mktemp("vm")
    assert train(apply_overrides(Config(), TINY_RUN), out)["status"] == "completed"
    return out


def test_class_gallery_has_one_column_per_class(tiny_viewmaker_run: Path) -> None:
    g = budget.class_gallery(tiny_viewmaker_run, "overlay", num_views=2, expert=True, candidates=64)
    assert [c["class"] for c in g["columns"]] == [0, 1, 2, 3]
    assert g["rows"] == [
        "input",
        "viewmaker 1",
        "viewmaker 2",
        "perturbation 1",
        "perturbation 2",
        "expert 1",
        "expert 2",
    ]
    for col in g["columns"]:
        tiles = {k: budget.decode_image(v) for k, v in col["tiles"].items()}
        assert set(tiles) == set(g["rows"])
        assert all(t.shape == (16, 16, 3) for t in tiles.values())
        # a view differs from its input by at most the column's largest |delta| (float16 here)
        delta = np.abs(tiles["viewmaker 1"] - tiles["input"]).max()
        assert 0 < delta <= col["s"] + 2e-3
    assert g["eps"] == pytest.approx(0.1) and g["image"]


def test_share_judges_trains_once_and_copies_into_the_other_runs(
    tiny_viewmaker_run: Path, tmp_path: Path
) -> None:
    import shutil

    other = tmp_path / "other"
    shutil.copytree(tiny_viewmaker_run, other)
    shutil.rmtree(other / "eval", ignore_errors=True)
    rate = Evaluation("r", "dropout-rate", {"num_inputs": 16, "num_copies": 2, "judge_steps": 3})
    assert judges.share_judges(rate, [tiny_viewmaker_run, other]) == 2  # both tasks
    src = sorted((tiny_viewmaker_run / "eval" / "judges").glob("*.pt"))
    dst = sorted((other / "eval" / "judges").glob("*.pt"))
    assert [p.name for p in src] == [p.name for p in dst] and len(src) == 2
    assert all(a.read_bytes() == b.read_bytes() for a, b in zip(src, dst, strict=True))
    assert judges.share_judges(rate, [tiny_viewmaker_run, other]) == 0  # already there


def test_shared_judges_give_the_rates_a_run_s_own_judges_give(
    tiny_viewmaker_run: Path, tmp_path: Path
) -> None:
    # the pool trains a figure's judges (JudgeShare.train, one thread) before the rates; a
    # run's own dropout-rate evaluation (in a one-thread sweep worker) trains them itself:
    # the two must give the same judges and the same record
    import shutil

    import torch

    from empirical.runs import load_run
    from figures.sweep import load_eval

    rate = Evaluation("r", "dropout-rate", {"num_inputs": 16, "num_copies": 2, "judge_steps": 3})
    from diag_tiny import TINY_RUN  # the fixture's run (on sys.path since the fixture ran)

    spec = RunSpec("fig", "pooled", "viewmaker-shapes-cpu", tuple(TINY_RUN), 0, (rate,))
    own, pooled = tmp_path / "own", spec.run_dir(tmp_path)
    for d in (own, pooled):
        shutil.copytree(tiny_viewmaker_run, d)
        shutil.rmtree(d / "eval", ignore_errors=True)
    before = torch.get_num_threads()
    judges.JudgeShare(rate, (spec,)).train(tmp_path)
    assert torch.get_num_threads() == before  # the run's threads, then the caller's again
    trained = sorted((pooled / "eval" / "judges").glob("*.pt"))
    assert len(trained) == 2
    # the key that the pool merges shares by names the judges' files
    key = judges.JudgeShare(rate, (spec,)).key()
    assert all(p.stem.endswith(f"-{key}") for p in trained)
    torch.set_num_threads(1)  # as in a sweep's worker
    try:
        for d in (own, pooled):
            rate.run(load_run(d, "cpu"))
    finally:
        torch.set_num_threads(before)
    mine = sorted((own / "eval" / "judges").glob("*.pt"))
    assert [p.name for p in mine] == [p.name for p in trained]
    for a, b in zip(mine, trained, strict=True):
        sa, sb = torch.load(a, weights_only=False), torch.load(b, weights_only=False)
        assert all(torch.equal(sa["net"][k], sb["net"][k]) for k in sa["net"])
    assert load_eval(own, rate)["metrics"] == load_eval(pooled, rate)["metrics"]


# ---------------------------------------------------------------------------------------------
# kNN learning curves (issue 10: 8 or more points a run, kept beside the figure)


def test_every_run_of_the_default_config_records_eight_knn_points() -> None:
    cfg = budget.budget_config()
    specs = budget.all_specs(cfg)
    for spec in specs:
        assert points_per_run(spec) >= common.MIN_CURVE_POINTS, spec.name
        assert curve_ends_at_last_step(spec), spec.name
    assert common.knn_points(cfg["overrides"]) == points_per_run(specs[0]) == 10


def _fake_records(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, steps: list[int]) -> Any:
    """Every run's records (probe, rate) as stand-ins, its kNN curve in its metrics file."""
    cfg = budget.budget_config()
    cfg.update(eps=[0.02, 0.2], seeds=[0, 1], runs_root=str(tmp_path))
    written = {}
    for k, spec in enumerate(budget.budget_specs(cfg)):
        n = len(steps)
        knn = {"shape": [0.3 + 0.01 * k] * n, "background": [0.5] * (n - 1) + [0.47]}
        write_curve(spec.run_dir(tmp_path), steps, knn)
        (spec.run_dir(tmp_path) / "summary.json").write_text('{"train_time_s": 1.0}')
        written[spec.name] = knn
    rate = {"rate": 0.1}
    views = {n: {t: rate for t in TASKS} for n in ("viewmaker-trained-x", "viewmaker-untrained-x")}
    judges = {t: {"clean_accuracy": 0.9} for t in TASKS}
    metrics = {t: {"accuracy": 0.5, "chance": 0.1} for t in TASKS}
    config = {"data": {"suite": "overlay-shapes-on-fashion"}}

    def fake_eval(run_dir: Path, evaluation: Any) -> dict[str, Any]:
        if evaluation.kind == "dropout-rate":
            return {"metrics": {"views": views, "judges": judges}}
        return {"metrics": metrics, "elapsed_s": 1.0, "config": config}

    monkeypatch.setattr(budget, "load_eval", fake_eval)
    monkeypatch.setattr(budget, "class_gallery", lambda *a, **k: {})
    return cfg, written


def test_read_budget_keeps_each_runs_curve_from_its_metrics_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fake_baselines: Any
) -> None:
    cfg, written = _fake_records(tmp_path, monkeypatch, KNN_STEPS)
    res = budget.read_budget(cfg, fake_baselines(tmp_path, tuple(TASKS)))
    assert res["knn_steps"] == KNN_STEPS
    for t in TASKS:
        expected = [[written[f"eps{e:g}-s{s}"][t] for s in (0, 1)] for e in (0.02, 0.2)]
        assert res["knn"][t] == expected
    f = budget.budget_flatness(res)  # the background falls by 0.03 at the last point
    assert f == {"max_abs": pytest.approx(0.03), "flat": False, "points": 10}


def test_a_run_with_one_knn_point_is_an_error_naming_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fake_baselines: Any
) -> None:
    cfg, _ = _fake_records(tmp_path, monkeypatch, [20])
    with pytest.raises(ValueError, match=r"eps0\.02-s0-[0-9a-f]{8}: the kNN learning curve has 1"):
        budget.read_budget(cfg, fake_baselines(tmp_path, tuple(TASKS)))


@pytest.mark.parametrize(("late_rise", "verdict"), [(0.0, "flat"), (0.05, "not flat")])
def test_figure_and_claims_say_whether_the_curves_are_flat(late_rise: float, verdict: str) -> None:
    cfg = budget.budget_config()
    res = _results(learned=True, late_rise=late_rise)
    title = budget.plot_budget(res, cfg)._suptitle.get_text()
    notes = [c.notes for c in budget.claims_budget(res, cfg)]
    assert_flatness_said(budget.budget_flatness(res), late_rise, verdict, 10, title, notes)
