"""figures.experiment_figures: plots of hand-made results (no training), the theory pieces, the
run lists of each figure, and one micro end-to-end compute of the cheapest figure (RandBits)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib
import numpy as np
import pytest

from figures import experiment_figures as ef
from figures.registry import FIGURES, make_figure

matplotlib.use("Agg")


def _errorbar_y(ax: Any) -> list[np.ndarray]:
    """The y data of every errorbar's data line on ``ax``."""
    return [np.asarray(c.lines[0].get_ydata()) for c in ax.containers if hasattr(c, "lines")]


def test_every_experiment_figure_is_registered() -> None:
    for name in ("exp_oracle_dropout", "exp_views_multitask", "exp_randbits", "exp_foster"):
        assert name in FIGURES
        cfg = FIGURES[name].default_config()
        assert any(o.startswith("optim.max_steps=") for o in cfg["overrides"])


def test_linear_probe_vs_p_end_points() -> None:
    """p = 0: the optimum keeps only the strong group (weak task at chance); p = 1: the strong
    group carries nothing shared (strong task at chance, weak task learned)."""
    acc = np.asarray(ef.linear_probe_vs_p(ef._theory_defaults(), [0.0, 1.0]))
    assert acc[0, 0] > 0.9 and acc[0, 1] == pytest.approx(0.5, abs=1e-6)
    assert acc[1, 0] == pytest.approx(0.5, abs=1e-6) and acc[1, 1] > 0.9


def test_temperature_trend_exact() -> None:
    acc = np.array([[[0.9], [0.9]], [[0.6], [0.4]], [[0.5], [0.1]]])  # (bits, taus, seeds)
    assert ef.temperature_trend(acc) == pytest.approx(((0.6 - 0.4) + (0.5 - 0.1)) / 2)
    assert ef.temperature_trend(acc[:, ::-1]) == pytest.approx(-0.3)


def test_run_lists() -> None:
    oracle = ef.oracle_specs(ef.oracle_config())
    assert len(oracle) == 5 * 2 and len({s.run_id for s in oracle}) == 10
    assert "views.p=0.75" in oracle[6].overrides and oracle[6].seed == 0
    multi = ef.multitask_specs(ef.multitask_config())
    assert len(multi) == 3 * 3 * 2
    with_rate = [s.name for s in multi if any(e.kind == "dropout-rate" for e in s.evaluations)]
    assert with_rate == ["viewmaker-digits-s0", "viewmaker-shapes-s0", "viewmaker-letters-s0"]
    assert len(ef.randbits_specs(ef.randbits_config())) == 5 * 3 * 2
    foster = ef.foster_specs(ef.foster_config())
    assert [s.preset for s in foster] == ["spirograph-cpu"] * 2 + ["spirograph-gp-cpu"] * 2


def test_plot_oracle_draws_seed_means() -> None:
    cfg = ef.oracle_config()
    ps = cfg["ps"]
    digit = [[0.9 - 0.1 * i, 0.8 - 0.1 * i] for i in range(len(ps))]
    back = [[0.3 + 0.05 * i, 0.35 + 0.05 * i] for i in range(len(ps))]
    res = {
        "ps": ps,
        "seeds": [0, 1],
        "accuracy": {"digit": digit, "background": back},
        "chance": 0.1,
        "run_s": [1.0] * 10,
        "theory_p": [0.0, 1.0],
        "theory_acc": [[0.9, 0.5], [0.5, 0.9]],
    }
    fig = ef.plot_oracle(res, cfg)
    theory_ax, deep_ax = fig.axes[:2]
    ys = _errorbar_y(deep_ax)
    np.testing.assert_allclose(ys[0], np.mean(digit, 1))
    np.testing.assert_allclose(ys[1], np.mean(back, 1))
    np.testing.assert_allclose(theory_ax.lines[0].get_ydata(), [0.9, 0.5])


def test_plot_multitask_with_and_without_rates() -> None:
    cfg = ef.multitask_config()
    acc = {
        s: {v: {"overlay": [0.8, 0.7], "background": [0.2, 0.3]} for v in cfg["views"]}
        for s in cfg["suites"]
    }
    rates = {
        s: {
            "identity": {"overlay": 0.0, "background": 0.0},
            "expert": {"overlay": 0.8, "background": 0.5},
            "viewmaker (trained)": {"overlay": 0.1, "background": 0.3},
            "oracle (p = 0.5, by construction)": {"overlay": 0.5, "background": 0.0},
        }
        for s in cfg["suites"]
    }
    res = {
        "seeds": [0, 1],
        "accuracy": acc,
        "dropout_rate": rates,
        "chance": {s: {"overlay": 0.1, "background": 0.1} for s in cfg["suites"]},
        "run_s": {},
        "theory_p": [0.0, 0.1, 0.5],
        "theory_acc": [[0.9, 0.5], [0.9, 0.5], [0.8, 0.6]],
    }
    fig = ef.plot_multitask(res, cfg)
    assert len(fig.axes) == 1 + 3 + 1
    bars = [p.get_height() for p in fig.axes[1].patches]
    np.testing.assert_allclose(sorted(bars), sorted([0.75] * 3 + [0.25] * 3))
    assert len(ef.plot_multitask({**res, "dropout_rate": {}}, cfg).axes) == 4


def test_plot_randbits_states_agreement() -> None:
    cfg = ef.randbits_config()
    nb, nt = len(cfg["bits"]), len(cfg["taus"])
    acc = np.linspace(0.9, 0.2, nb)[:, None, None] * np.ones((nb, nt, 2))
    res = {
        "bits": cfg["bits"],
        "taus": cfg["taus"],
        "seeds": [0, 1],
        "accuracy": acc.tolist(),
        "chance": 0.1,
        "run_s": [],
        "theory_probe": np.ones((nb, nt, 2)).tolist(),
        "theory_share": np.ones((nb, nt, 2)).tolist(),
        "deep_trend": 0.05,
        "linear_trend": -0.02,
        "agree": False,
    }
    fig = ef.plot_randbits(res, cfg)
    assert "disagree" in fig._suptitle.get_text()
    np.testing.assert_allclose(_errorbar_y(fig.axes[1])[0], np.linspace(0.9, 0.2, nb))


def test_plot_foster_draws_r2_means() -> None:
    cfg = ef.foster_config()
    runs = {
        label: {
            "r2": [[0.5 + 0.1 * i + d, 0.52 + 0.1 * i + d] for i in range(4)],
            "cv_ratio": [0.3 - d, 0.32 - d],
            "cv_ratio_alpha_only": [0.1, 0.12],
            "alpha_r2": [0.4, 0.5],
        }
        for label, d in zip(cfg["presets"], (0.0, 0.05), strict=True)
    }
    res = {"copies": [1, 2, 5, 10], "seeds": [0, 1], "runs": runs, "run_s": {}}
    fig = ef.plot_foster(res, cfg)
    ys = _errorbar_y(fig.axes[0])
    np.testing.assert_allclose(ys[0], [0.51, 0.61, 0.71, 0.81])
    np.testing.assert_allclose(ys[1], [0.56, 0.66, 0.76, 0.86])


def test_randbits_micro_end_to_end(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Two tiny RandBits runs (2 steps each) through sweep, evaluation, theory and plot; a
    second, forced call finds the runs evaluated and trains nothing."""
    monkeypatch.setenv("FEATUREDROP_JOBS", "1")  # no worker start-up in the test budget
    cfg = ef.randbits_config()
    cfg.update(
        bits=[0, 5],
        taus=[0.1],
        seeds=[0],
        runs_root=str(tmp_path / "runs"),
        overrides=[
            "data.train_size=0",
            "optim.epochs=1",
            "optim.max_steps=2",
            "optim.batch_size=32",
            "run.knn_every=0",
            "run.threads=1",
        ],
        probe={"n_train": 64, "n_test": 64, "max_iter": 20},
        theory={"steps": 20, "batch_size": 16, "lr": 0.01, "seeds": [0]},
    )
    kw = {"out_dir": tmp_path / "out", "results_dir": tmp_path / "res", "config": cfg}
    paths = make_figure("exp_randbits", **kw)  # type: ignore[arg-type]
    assert {p.suffix for p in paths} == {".png", ".pdf", ".json"}
    import json

    res = json.loads((tmp_path / "res" / "exp_randbits.json").read_text())["results"]
    acc = np.asarray(res["accuracy"])
    assert acc.shape == (2, 1, 1) and np.all((acc >= 0) & (acc <= 1))
    assert np.asarray(res["theory_probe"]).shape == (2, 1, 1)
    assert len(res["run_s"]) == 2 and min(res["run_s"]) > 0
    runs = sorted((tmp_path / "runs" / "exp_randbits").iterdir())
    stamps = [(r / "last.pt").stat().st_mtime_ns for r in runs]
    make_figure("exp_randbits", force=True, **kw)  # type: ignore[arg-type]
    assert [(r / "last.pt").stat().st_mtime_ns for r in runs] == stamps
