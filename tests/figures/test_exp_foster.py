"""exp_foster: plots of hand-made results, gate and claims."""

from __future__ import annotations

from typing import Any

import matplotlib
import numpy as np
import pytest

from figures import claims
from figures.experiments import foster
from figures.inspect import errorbar_y as _errorbar_y
from figures.inspect import gate_texts as _gate_texts
from figures.inspect import line_y as _line
from figures.inspect import noisy as _noisy

matplotlib.use("Agg")

SEEDS = [0, 1, 2]

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
