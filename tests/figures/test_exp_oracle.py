"""exp_oracle_dropout: plots of hand-made results, gate and claims."""

from __future__ import annotations

from typing import Any

import matplotlib
import numpy as np
import pytest

from figures import claims
from figures.experiments import oracle
from figures.inspect import errorbar_y as _errorbar_y
from figures.inspect import gate_texts as _gate_texts
from figures.inspect import line_y as _line
from figures.inspect import noisy as _noisy

matplotlib.use("Agg")

SEEDS = [0, 1, 2]

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
