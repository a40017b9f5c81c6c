"""exp_randbits: run specs, plots of hand-made results, gate, flatness, claims, and a micro
end-to-end compute."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import matplotlib
import numpy as np
import pytest

from empirical.config import apply_overrides
from empirical.presets import get as preset
from figures import claims
from figures.experiments import randbits
from figures.inspect import errorbar_y as _errorbar_y
from figures.inspect import gate_texts as _gate_texts
from figures.inspect import line_y as _line
from figures.inspect import noisy as _noisy
from figures.registry import make_figure

matplotlib.use("Agg")

SEEDS = [0, 1, 2]
STEPS = [8, 16, 24, 32, 40, 48, 56, 64]


def _curves(shape: tuple[int, ...], end: float, late_move: float) -> np.ndarray:
    """kNN curves rising to ``end``; the last quarter (steps 48 to 64) moves by ``late_move``."""
    s = np.asarray(STEPS, dtype=float)
    rise = np.clip(s / 40.0, 0.0, 1.0) * (end - late_move - 0.5) + 0.5
    rise = rise + np.clip((s - 48.0) / 16.0, 0.0, 1.0) * late_move
    return np.broadcast_to(rise, (*shape, len(STEPS))).copy()


def _randbits_results(gain: float, restore: float = 0.2, late_move: float = 0.0) -> dict[str, Any]:
    """Digit accuracy falls with k from untrained + ``gain``; a lower temperature loses less;
    bit dropout at the largest k raises it linearly in p by ``restore`` at p = 0.75."""
    cfg = randbits.randbits_config()
    nb, nt, ps = len(cfg["bits"]), len(cfg["taus"]), cfg["dropouts"]
    rng = np.random.default_rng(2)
    unt = _noisy(rng, (nb, 1, 3), 0.5) * np.ones((nb, nt, 3))
    fall = np.linspace(0.0, -0.3, nb)[:, None, None] * np.linspace(0.5, 1.0, nt)[None, :, None]
    acc = unt + gain + (fall if gain else 0.0) + 0.003 * rng.standard_normal((nb, nt, 3))
    j = cfg["taus"].index(cfg["dropout_tau"])
    rise = restore / max(ps) * np.asarray(ps)[:, None] if gain else 0.0
    acc_p = acc[-1, j][None, :] + rise + 0.003 * rng.standard_normal((len(ps), 3))
    acc_p[0] = acc[-1, j]  # p = 0 is the k sweep's run
    return {
        "bits": cfg["bits"],
        "taus": cfg["taus"],
        "seeds": SEEDS,
        "accuracy": acc.tolist(),
        "untrained": unt.tolist(),
        "pixels": (0.8 + 0.01 * np.arange(nb)[:, None] * np.ones((nb, nt))).tolist(),
        "knn": _curves((nb, nt, 3), 0.9, late_move).tolist(),
        "dropouts": ps,
        "dropout_bits": max(cfg["bits"]),
        "dropout_tau": cfg["dropout_tau"],
        "dropout_accuracy": acc_p.tolist(),
        "dropout_untrained": np.repeat(unt[-1, j][None, :], len(ps), 0).tolist(),
        "dropout_pixels": [0.84] * len(ps),
        "dropout_knn": _curves((len(ps), 3), 0.8, 0.0).tolist(),
        "knn_steps": STEPS,
        "chance": 0.1,
        "run_s": [],
        "theory_probe": np.ones((nb, nt, 2)).tolist(),
        "theory_share": np.ones((nb, nt, 2)).tolist(),
        "theory_dropout_probe": (0.2 + 0.8 * np.asarray(ps)[:, None] * np.ones((1, 2))).tolist(),
        "deep_trend": 0.05,
        "linear_trend": -0.02,
        "agree": False,
    }


# ---------------------------------------------------------------------------------------------
# specs


def test_specs_k_sweep_then_bit_dropout_at_the_largest_k() -> None:
    cfg = randbits.randbits_config()
    specs = randbits.randbits_specs(cfg)
    nk = len(cfg["bits"]) * len(cfg["taus"]) * len(cfg["seeds"])
    assert len(specs) == nk + (len(cfg["dropouts"]) - 1) * len(cfg["seeds"])  # p = 0 reused
    assert len({s.run_id for s in specs}) == len(specs)
    assert all(s.preset == "randbits-cpu" for s in specs)
    k_run = next(s for s in specs if s.name == "k5-t0.05-s1")
    c = apply_overrides(preset("randbits-cpu"), k_run.overrides)
    assert (c.data.options["k"], c.loss.temperature, c.views.name) == (5, 0.05, "expert")
    drop = next(s for s in specs if s.name == "k20-t0.2-p0.5-s2")
    c = apply_overrides(preset("randbits-cpu"), drop.overrides)
    assert (c.data.options["k"], c.loss.temperature) == (20, 0.2)
    assert (c.views.name, c.views.bit_p, c.views.base, c.views.crop_min) == (
        "bitdrop",
        0.5,
        "expert",
        0.5,
    )
    assert (c.optim.max_steps, c.run.knn_every, c.run.threads) == (32, 1, 1)


@pytest.mark.parametrize(
    ("change", "match"),
    [({"dropout_tau": 0.3}, "dropout_tau"), ({"dropouts": [0.5, 0.75]}, "dropouts")],
)
def test_specs_reject_a_dropout_sweep_off_the_grid(change: dict[str, Any], match: str) -> None:
    cfg = {**randbits.randbits_config(), **change}
    with pytest.raises(ValueError, match=match):
        randbits.randbits_specs(cfg)


# ---------------------------------------------------------------------------------------------
# plot, gate, flatness


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
    title = fig._suptitle.get_text()
    assert "disagree" in title and _gate_texts(fig) == []
    acc_p = np.asarray(res["dropout_accuracy"])
    deep = f"{(acc_p[-1] - acc_p[0]).mean():+.3f}"
    assert f"bit dropout p = 0.75 minus p = 0: deep {deep}, linear +0.600" in title


def test_plot_randbits_dropout_row() -> None:
    res = _randbits_results(0.3)
    fig = randbits.plot_randbits(res, randbits.randbits_config())
    theory_ax, deep_ax, gain_ax = fig.axes[4], fig.axes[5], fig.axes[6]
    acc_p, unt_p = np.asarray(res["dropout_accuracy"]), np.asarray(res["dropout_untrained"])
    np.testing.assert_allclose(_errorbar_y(deep_ax)[0], acc_p.mean(1))
    np.testing.assert_allclose(_line(deep_ax, "untrained:digit"), unt_p.mean(1))
    np.testing.assert_allclose(_line(deep_ax, "pixels:digit"), res["dropout_pixels"])
    np.testing.assert_allclose(_line(gain_ax, "gain:dropout"), (acc_p - unt_p).mean(1))
    np.testing.assert_allclose(
        theory_ax.lines[0].get_ydata(), np.mean(res["theory_dropout_probe"], 1)
    )
    curves_ax = fig.axes[7]
    assert len(curves_ax.lines) == len(res["dropouts"])
    np.testing.assert_allclose(curves_ax.lines[0].get_ydata(), np.mean(res["dropout_knn"][0], 0))


def test_plot_randbits_gated() -> None:
    fig = randbits.plot_randbits(_randbits_results(0.0), randbits.randbits_config())
    assert _gate_texts(fig) == [
        "no task beats the untrained encoder:\nbit counts, temperatures and p not compared",
        "no task beats the untrained encoder:\nvalues of p not compared",
    ]
    title = fig._suptitle.get_text()
    assert "agree" not in title and "not compared" in title


def test_gate_opens_on_the_dropout_runs_alone() -> None:
    """Every k-sweep run at its untrained level, bit dropout at p > 0 above it: a result."""
    res = _randbits_results(0.0, restore=0.2)
    unt = np.asarray(res["dropout_untrained"])
    res["dropout_accuracy"] = (unt + np.array([0.0, 0.1, 0.2, 0.3])[:, None]).tolist()
    g = randbits.randbits_gate(res)
    assert g.open and all("p=" in name for name in g.beaten)
    assert not randbits.randbits_gate(_randbits_results(0.0)).open


def test_flatness_from_the_last_quarter_of_the_curves() -> None:
    flat = randbits.flatness(_randbits_results(0.3, late_move=0.01))
    assert flat["flat"] and flat["max_abs"] == pytest.approx(0.01)
    moving = randbits.flatness(_randbits_results(0.3, late_move=0.05))
    assert not moving["flat"] and moving["max_abs"] == pytest.approx(0.05)
    short = _randbits_results(0.3)
    short["knn_steps"] = [8]
    assert randbits.flatness(short)["flat"] is False


# ---------------------------------------------------------------------------------------------
# claims


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
    restore = found["tamkin2023.randbits.bit-dropout-restores-digit"]
    assert restore.verdict == claims.HOLDS
    assert restore.measured.mean == pytest.approx(0.2, abs=0.01)
    assert restore.theory is not None and restore.theory["value"] == pytest.approx(0.6)
    gated = randbits.claims_randbits(_randbits_results(0.0), cfg)
    assert len(gated) == 3 and {c.verdict for c in gated} == {claims.NOT_A_RESULT}


@pytest.mark.parametrize(("restore", "verdict"), [(-0.2, claims.CONTRADICTED), (0.0, "not seen")])
def test_bit_dropout_claim_other_verdicts(restore: float, verdict: str) -> None:
    res = _randbits_results(0.3, restore=restore)
    found = {c.id: c for c in randbits.claims_randbits(res, randbits.randbits_config())}
    assert found["tamkin2023.randbits.bit-dropout-restores-digit"].verdict == verdict


# ---------------------------------------------------------------------------------------------
# end to end


def test_randbits_micro_end_to_end(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Three tiny RandBits runs (2 steps each: k = 0 and 5, and bit dropout p = 0.5 at k = 5)
    with their untrained twins and raw-pixel probes through sweep, evaluation, theory and plot;
    a second, forced call finds everything done and trains nothing."""
    monkeypatch.setenv("FEATUREDROP_JOBS", "1")  # no worker start-up in the test budget
    monkeypatch.setattr("figures.baselines.UNTRAINED_INITS", 2)
    cfg = randbits.randbits_config()
    cfg.update(
        bits=[0, 5],
        taus=[0.1],
        seeds=[0],
        dropouts=[0.0, 0.5],
        dropout_tau=0.1,
        runs_root=str(tmp_path / "runs"),
        overrides=[
            "data.train_size=32",
            "optim.epochs=2",
            "optim.max_steps=4",  # 2 epochs of 2 steps: a kNN curve of 2 points
            "optim.batch_size=16",
            "run.knn_every=1",
            "data.knn_bank=32",
            "data.knn_test=32",
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
    assert acc.shape == (2, 1, 1) and unt.shape == (2, 1, 2) and np.all((unt >= 0) & (unt <= 1))
    assert np.asarray(res["pixels"]).shape == (2, 1) and np.asarray(res["theory_probe"]).shape == (
        2,
        1,
        1,
    )
    assert np.asarray(res["dropout_accuracy"]).shape == (2, 1)
    assert res["dropout_accuracy"][0] == res["accuracy"][1][0]  # p = 0 is the k = 5 run
    assert np.asarray(res["theory_dropout_probe"]).shape == (2, 1)
    assert res["knn_steps"] == [2, 4] and np.asarray(res["dropout_knn"]).shape == (2, 1, 2)
    assert len(res["run_s"]) == 3 and min(res["run_s"]) > 0
    runs = sorted((tmp_path / "runs" / "exp_randbits").iterdir())
    names = sorted(r.name.rsplit("-", 1)[0] for r in runs)
    assert [n for n in names if n.startswith("k")] == [
        "k0-t0.1-s0",
        "k5-t0.1-p0.5-s0",
        "k5-t0.1-s0",
    ]
    assert names.count("pixels") == 2  # one raw-pixel probe per k: the input differs with k
    assert sorted(n for n in names if n.startswith("untrained-")) == [  # shared by the p runs
        "untrained-init1-k0-t0.1-s0",  # a population of two initialisations per k, at seeds
        "untrained-init1-k5-t0.1-s0",  # after the trained seed 0
        "untrained-init2-k0-t0.1-s0",
        "untrained-init2-k5-t0.1-s0",
    ]
    drop_cfg = json.loads(
        next(r for r in runs if "-p0.5-" in r.name).joinpath("config.json").read_text()
    )
    assert drop_cfg["views"]["name"] == "bitdrop" and drop_cfg["views"]["bit_p"] == 0.5
    stamps = [(r / "last.pt").stat().st_mtime_ns for r in runs if (r / "last.pt").exists()]
    make_figure("exp_randbits", force=True, **kw)  # type: ignore[arg-type]
    again = [(r / "last.pt").stat().st_mtime_ns for r in runs if (r / "last.pt").exists()]
    assert again == stamps and len(stamps) == 7  # 3 trained, 2 twins, 2 more initialisations
