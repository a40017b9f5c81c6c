"""exp_randbits: plots of hand-made results, gate, claims, and a micro end-to-end compute."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import matplotlib
import numpy as np
import pytest

from figures import claims
from figures.experiments import randbits
from figures.inspect import errorbar_y as _errorbar_y
from figures.inspect import gate_texts as _gate_texts
from figures.inspect import line_y as _line
from figures.inspect import noisy as _noisy
from figures.registry import make_figure

matplotlib.use("Agg")

SEEDS = [0, 1, 2]

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
