"""figures.experiments: plots of hand-made results (no training), their baselines, gains
and gate, the claims each figure contributes, the theory pieces, the run lists of each figure,
and one micro end-to-end compute of the cheapest figure (RandBits)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import matplotlib
import numpy as np
import pytest

from figures import claims
from figures.experiments import common, foster, multitask, oracle, randbits
from figures.registry import FIGURES, make_figure

matplotlib.use("Agg")

SEEDS = [0, 1, 2]


def _errorbar_y(ax: Any) -> list[np.ndarray]:
    """The y data of every errorbar's data line on ``ax``."""
    return [np.asarray(c.lines[0].get_ydata()) for c in ax.containers if hasattr(c, "lines")]


def _line(ax: Any, gid: str) -> np.ndarray:
    """The y data of the one line with ``gid`` on ``ax`` (NaN breaks dropped)."""
    found = [ln for ln in ax.lines if ln.get_gid() == gid]
    assert len(found) == 1, f"{len(found)} lines with gid {gid!r}"
    y = np.asarray(found[0].get_ydata(), dtype=float)
    return y[np.isfinite(y)]


def _gate_texts(fig: Any) -> list[str]:
    return [t.get_text() for ax in fig.axes for t in ax.texts if t.get_gid() == "gate"]


def _noisy(rng: np.random.Generator, shape: tuple[int, ...], level: float) -> np.ndarray:
    return level + 0.01 * rng.standard_normal(shape)


def test_every_experiment_figure_is_registered_with_claims() -> None:
    for name in ("exp_oracle_dropout", "exp_views_multitask", "exp_randbits", "exp_foster"):
        assert name in FIGURES and FIGURES[name].claims is not None
        cfg = FIGURES[name].default_config()
        assert any(o.startswith("optim.max_steps=") for o in cfg["overrides"])


def test_linear_probe_vs_p_end_points() -> None:
    """p = 0: the optimum keeps only the strong group (weak task at chance); p = 1: the strong
    group carries nothing shared (strong task at chance, weak task learned)."""
    acc = np.asarray(common.linear_probe_vs_p(common._theory_defaults(), [0.0, 1.0]))
    assert acc[0, 0] > 0.9 and acc[0, 1] == pytest.approx(0.5, abs=1e-6)
    assert acc[1, 0] == pytest.approx(0.5, abs=1e-6) and acc[1, 1] > 0.9


def test_temperature_trend_exact() -> None:
    acc = np.array([[[0.9], [0.9]], [[0.6], [0.4]], [[0.5], [0.1]]])  # (bits, taus, seeds)
    assert randbits.temperature_trend(acc) == pytest.approx(((0.6 - 0.4) + (0.5 - 0.1)) / 2)
    assert randbits.temperature_trend(acc[:, ::-1]) == pytest.approx(-0.3)


def test_gains_pair_seeds_by_position() -> None:
    trained = [[0.8, 0.9, 1.0], [0.5, 0.5, 0.5]]
    untrained = [[0.7, 0.7, 0.7], [0.6, 0.4, 0.5]]
    g = common.gains(trained, untrained)
    assert [x.mean for x in g] == [pytest.approx(0.2), pytest.approx(0.0)]
    assert g[0].sd == pytest.approx(0.1) and g[1].sd == pytest.approx(0.1)
    with pytest.raises(ValueError, match="shape"):
        common.gains(trained, untrained[:1])


def test_run_lists() -> None:
    oracle_runs = oracle.oracle_specs(oracle.oracle_config())
    assert len(oracle_runs) == 5 * 2 and len({s.run_id for s in oracle_runs}) == 10
    assert "views.p=0.75" in oracle_runs[6].overrides and oracle_runs[6].seed == 0
    multi = multitask.multitask_specs(multitask.multitask_config())
    assert len(multi) == 3 * 3 * 2
    with_rate = [s.name for s in multi if any(e.kind == "dropout-rate" for e in s.evaluations)]
    assert with_rate == ["viewmaker-digits-s0", "viewmaker-shapes-s0", "viewmaker-letters-s0"]
    assert len(randbits.randbits_specs(randbits.randbits_config())) == 5 * 3 * 2
    foster_runs = foster.foster_specs(foster.foster_config())
    assert [s.preset for s in foster_runs] == ["spirograph-cpu"] * 2 + ["spirograph-gp-cpu"] * 2


# ---------------------------------------------------------------------------------------------
# oracle dropout


def _oracle_results(learned: bool) -> dict[str, Any]:
    """The digit falls and the background rises with p, above the untrained encoder when
    ``learned``; else the trained runs equal their untrained twins."""
    cfg = oracle.oracle_config()
    n = len(cfg["ps"])
    rng = np.random.default_rng(0)
    unt = {"digit": _noisy(rng, (n, 3), 0.7), "background": _noisy(rng, (n, 3), 0.6)}
    acc = {k: v.copy() for k, v in unt.items()}
    if learned:
        acc["digit"] += np.linspace(0.2, -0.1, n)[:, None] + 0.01 * rng.standard_normal((n, 3))
        acc["background"] += np.linspace(0.0, 0.2, n)[:, None]
    return {
        "ps": cfg["ps"],
        "seeds": SEEDS,
        "suite": "overlay-digits-on-natural",
        "accuracy": {k: v.tolist() for k, v in acc.items()},
        "untrained": {k: v.tolist() for k, v in unt.items()},
        "pixels": {"digit": [0.55] * n, "background": [0.35] * n},
        "chance": 0.1,
        "run_s": [1.0] * (n * 3),
        "theory_p": [0.0, 1.0],
        "theory_acc": [[0.9, 0.5], [0.5, 0.9]],
    }


def test_plot_oracle_draws_runs_baselines_and_gains() -> None:
    cfg = oracle.oracle_config()
    res = _oracle_results(learned=True)
    fig = oracle.plot_oracle(res, cfg)
    theory_ax, deep_ax, gain_ax = fig.axes[:3]
    ys = _errorbar_y(deep_ax)
    np.testing.assert_allclose(ys[0], np.mean(res["accuracy"]["digit"], 1))
    np.testing.assert_allclose(ys[1], np.mean(res["accuracy"]["background"], 1))
    np.testing.assert_allclose(theory_ax.lines[0].get_ydata(), [0.9, 0.5])
    for task in ("digit", "background"):
        np.testing.assert_allclose(
            _line(deep_ax, f"untrained:{task}"), np.mean(res["untrained"][task], 1)
        )
        np.testing.assert_allclose(_line(deep_ax, f"pixels:{task}"), res["pixels"][task])
        diff = np.subtract(res["accuracy"][task], res["untrained"][task]).mean(1)
        np.testing.assert_allclose(_line(gain_ax, f"gain:{task}"), diff)
    assert _gate_texts(fig) == []
    assert gain_ax.get_ylabel().startswith("gain over untrained encoder")


def test_plot_oracle_says_when_nothing_beats_the_untrained_encoder() -> None:
    fig = oracle.plot_oracle(_oracle_results(learned=False), oracle.oracle_config())
    (text,) = _gate_texts(fig)
    assert text == "no task beats the untrained encoder:\nvalues of p not compared"


def test_claims_oracle_verdicts() -> None:
    cfg = oracle.oracle_config()
    found = {c.id: c for c in oracle.claims_oracle(_oracle_results(learned=True), cfg)}
    rise = found["tamkin2023.oracle.background-rises-with-p"]
    fall = found["tamkin2023.oracle.digit-falls-with-p"]
    assert rise.verdict == claims.HOLDS and rise.measured.mean == pytest.approx(0.2, abs=0.02)
    assert fall.verdict == claims.HOLDS and fall.theory == {
        "value": pytest.approx(-0.4),
        "text": "linear model's optimal encoder, probe accuracy of the strong group (sign task)",
    }
    gated = oracle.claims_oracle(_oracle_results(learned=False), cfg)
    assert {c.verdict for c in gated} == {claims.NOT_A_RESULT}


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


# ---------------------------------------------------------------------------------------------
# RandBits


def _randbits_results(gain: float) -> dict[str, Any]:
    """Digit accuracy falls with k from untrained + ``gain``; a lower temperature loses less."""
    cfg = randbits.randbits_config()
    nb, nt = len(cfg["bits"]), len(cfg["taus"])
    rng = np.random.default_rng(2)
    unt = _noisy(rng, (nb, 1, 3), 0.5) * np.ones((nb, nt, 3))
    fall = np.linspace(0.0, -0.3, nb)[:, None, None] * np.linspace(0.5, 1.0, nt)[None, :, None]
    acc = unt + gain + (fall if gain else 0.0) + 0.003 * rng.standard_normal((nb, nt, 3))
    return {
        "bits": cfg["bits"],
        "taus": cfg["taus"],
        "seeds": SEEDS,
        "accuracy": acc.tolist(),
        "untrained": unt.tolist(),
        "pixels": (0.8 + 0.01 * np.arange(nb)[:, None] * np.ones((nb, nt))).tolist(),
        "chance": 0.1,
        "run_s": [],
        "theory_probe": np.ones((nb, nt, 2)).tolist(),
        "theory_share": np.ones((nb, nt, 2)).tolist(),
        "deep_trend": 0.05,
        "linear_trend": -0.02,
        "agree": False,
    }


def test_plot_randbits_baselines_gains_and_agreement() -> None:
    cfg = randbits.randbits_config()
    res = _randbits_results(0.3)
    fig = randbits.plot_randbits(res, cfg)
    deep_ax, gain_ax = fig.axes[1], fig.axes[2]
    acc, unt = np.asarray(res["accuracy"]), np.asarray(res["untrained"])
    np.testing.assert_allclose(_errorbar_y(deep_ax)[0], acc[:, 0].mean(1))
    np.testing.assert_allclose(_line(deep_ax, "untrained:digit"), unt.mean((1, 2)))
    np.testing.assert_allclose(_line(deep_ax, "pixels:digit"), np.mean(res["pixels"], 1))
    np.testing.assert_allclose(_line(gain_ax, "gain:tau=0.05"), (acc - unt)[:, 0].mean(1))
    assert "disagree" in fig._suptitle.get_text() and _gate_texts(fig) == []


def test_plot_randbits_gated() -> None:
    fig = randbits.plot_randbits(_randbits_results(0.0), randbits.randbits_config())
    assert _gate_texts(fig) == [
        "no task beats the untrained encoder:\nbit counts and temperatures not compared"
    ]
    title = fig._suptitle.get_text()
    assert "agree" not in title and "temperatures not compared" in title


def test_claims_randbits() -> None:
    cfg = randbits.randbits_config()
    found = {c.id: c for c in randbits.claims_randbits(_randbits_results(0.3), cfg)}
    suppress = found["chen2021.randbits.bits-suppress-digit"]
    assert suppress.verdict == claims.HOLDS
    assert suppress.measured.mean == pytest.approx(-0.3 * np.mean(np.linspace(0.5, 1, 3)), abs=0.01)
    trend = found["chen2021.randbits.low-temperature-suppresses-less"]
    assert trend.verdict == claims.HOLDS and trend.theory == {
        "value": -0.02,
        "text": "linear InfoNCE, the same difference of weak-group probe R^2",
    }
    gated = randbits.claims_randbits(_randbits_results(0.0), cfg)
    assert {c.verdict for c in gated} == {claims.NOT_A_RESULT}


# ---------------------------------------------------------------------------------------------
# Foster et al.


def _foster_results(learned: bool) -> dict[str, Any]:
    cfg = foster.foster_config()
    rng = np.random.default_rng(3)
    runs = {}
    u = _noisy(rng, (1, 3), 0.3) * np.ones((4, 1))  # one twin per seed, shared by both runs
    for label, d in zip(cfg["presets"], (0.0, 0.05), strict=True):
        r2 = u + (0.2 + d + 0.05 * np.arange(4)[:, None] if learned else 0.0)
        runs[label] = {
            "r2": r2.tolist(),
            "untrained_r2": u.tolist(),
            "pixels_r2": 0.45 + d,
            "cv_ratio": (0.3 + d + 0.005 * rng.standard_normal(3)).tolist(),
            "cv_ratio_alpha_only": [0.1, 0.12, 0.11],
            "alpha_r2": [0.4, 0.5, 0.45],
        }
    return {"copies": [1, 2, 5, 10], "seeds": SEEDS, "runs": runs, "run_s": {}}


def test_plot_foster_draws_r2_baselines_and_gains() -> None:
    cfg = foster.foster_config()
    res = _foster_results(learned=True)
    fig = foster.plot_foster(res, cfg)
    r2_ax, gain_ax = fig.axes[0], fig.axes[2]
    ys = _errorbar_y(r2_ax)
    for i, label in enumerate(cfg["presets"]):
        run = res["runs"][label]
        np.testing.assert_allclose(ys[i], np.mean(run["r2"], 1))
        np.testing.assert_allclose(
            _line(r2_ax, f"untrained:{label}"), np.mean(run["untrained_r2"], 1)
        )
        np.testing.assert_allclose(_line(r2_ax, f"pixels:{label}"), [run["pixels_r2"]] * 4)
        diff = np.subtract(run["r2"], run["untrained_r2"]).mean(1)
        np.testing.assert_allclose(_line(gain_ax, f"gain:{label}"), diff)
    assert _gate_texts(fig) == []
    gated = foster.plot_foster(_foster_results(learned=False), cfg)
    assert (
        _gate_texts(gated) == ["no task beats the untrained encoder:\npenalties not compared"] * 2
    )


def test_claims_foster() -> None:
    cfg = foster.foster_config()
    found = {c.id: c for c in foster.claims_foster(_foster_results(learned=True), cfg)}
    assert set(found) == {
        "foster2021.gradient-penalty.lowers-conditional-variance",
        "foster2021.gradient-penalty.raises-r2",
        "foster2021.no-penalty.averaging-raises-r2",
        "foster2021.gradient-penalty.averaging-raises-r2",
    }
    # the hand-made penalty raises the conditional variance: contradicted
    cv = found["foster2021.gradient-penalty.lowers-conditional-variance"]
    assert cv.verdict == claims.CONTRADICTED and cv.theory is None
    assert found["foster2021.gradient-penalty.raises-r2"].verdict == claims.HOLDS
    assert found["foster2021.no-penalty.averaging-raises-r2"].measured.mean == pytest.approx(0.15)
    gated = foster.claims_foster(_foster_results(learned=False), cfg)
    assert {c.verdict for c in gated} == {claims.NOT_A_RESULT}


# ---------------------------------------------------------------------------------------------
# end to end


def test_randbits_micro_end_to_end(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Two tiny RandBits runs (2 steps each) with their untrained twins and raw-pixel probes
    through sweep, evaluation, theory and plot; a second, forced call finds everything done and
    trains nothing."""
    monkeypatch.setenv("FEATUREDROP_JOBS", "1")  # no worker start-up in the test budget
    cfg = randbits.randbits_config()
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
    res = json.loads((tmp_path / "res" / "exp_randbits.json").read_text())["results"]
    acc, unt = np.asarray(res["accuracy"]), np.asarray(res["untrained"])
    assert acc.shape == unt.shape == (2, 1, 1) and np.all((unt >= 0) & (unt <= 1))
    assert np.asarray(res["pixels"]).shape == (2, 1) and np.asarray(res["theory_probe"]).shape == (
        2,
        1,
        1,
    )
    assert len(res["run_s"]) == 2 and min(res["run_s"]) > 0
    runs = sorted((tmp_path / "runs" / "exp_randbits").iterdir())
    names = sorted(r.name.rsplit("-", 1)[0] for r in runs)
    assert names[:2] == ["k0-t0.1-s0", "k5-t0.1-s0"]
    assert names.count("pixels") == 2  # one raw-pixel probe per k: the input differs with k
    assert sorted(n for n in names if n.startswith("untrained-")) == [
        "untrained-k0-t0.1-s0",
        "untrained-k5-t0.1-s0",
    ]
    stamps = [(r / "last.pt").stat().st_mtime_ns for r in runs if (r / "last.pt").exists()]
    make_figure("exp_randbits", force=True, **kw)  # type: ignore[arg-type]
    again = [(r / "last.pt").stat().st_mtime_ns for r in runs if (r / "last.pt").exists()]
    assert again == stamps and len(stamps) == 4
