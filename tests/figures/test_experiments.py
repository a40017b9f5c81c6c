"""figures.experiments: registration, the shared pieces (gains, theory), the run lists."""

from __future__ import annotations

import matplotlib
import numpy as np
import pytest

from figures import stats
from figures.experiments import common, foster, multitask, oracle, randbits
from figures.registry import FIGURES

matplotlib.use("Agg")

SEEDS = [0, 1, 2]


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


def test_gains_are_welch_intervals_against_the_untrained_population() -> None:
    trained = [[0.8, 0.9, 1.0], [0.5, 0.5, 0.5]]
    untrained = [[0.7, 0.7, 0.7, 0.7], [0.6, 0.4, 0.5, 0.5]]  # 4 initialisations, 3 seeds
    g = common.gains(trained, untrained)
    assert [x.mean for x in g] == [pytest.approx(0.2), pytest.approx(0.0)]
    assert g[0] == stats.welch_interval(trained[0], untrained[0])
    # the first: all the spread is the trained seeds' (sd 0.1, df 2): 0.2 +- t(2) 0.1 / sqrt 3
    half = stats.t_quantile(0.975, 2) * 0.1 / np.sqrt(3)
    assert (g[0].lo, g[0].hi) == (pytest.approx(0.2 - half), pytest.approx(0.2 + half))
    assert g[0].n == 3 and g[1].n == 3
    with pytest.raises(ValueError, match="leading axes"):
        common.gains(trained, untrained[:1])


def test_run_lists() -> None:
    # 2 suites x 6 p x 3 seeds, then 2 suites x 3 seeds of the background-free control
    oracle_runs = oracle.oracle_specs(oracle.oracle_config())
    assert len(oracle_runs) == 2 * 6 * 3 + 2 * 3 and len({s.run_id for s in oracle_runs}) == 42
    assert "views.p=0.4" in oracle_runs[7].overrides and oracle_runs[7].seed == 1
    assert "data.suite=overlay-digits-on-fashion" in oracle_runs[18].overrides
    multi = multitask.multitask_specs(multitask.multitask_config())  # viewmaker: 2 suites x 3
    assert len(multi) == 2 * 3 and {s.preset for s in multi} == {
        "viewmaker-shapes-cpu",
        "viewmaker-digits-cpu",
    }
    with_rate = [s.name for s in multi if any(e.kind == "dropout-rate" for e in s.evaluations)]
    assert with_rate == ["viewmaker-shapes-s0", "viewmaker-digits-s0"]
    reused = multitask.multitask_reused_specs(multitask.multitask_config())
    assert {s.run_id for d in reused.values() for s in d.values()} <= {
        s.run_id for s in oracle_runs
    }
    # k x tau x seeds, then bit dropout p in (0.25, 0.5, 0.75) x seeds (p = 0 is a k run)
    assert len(randbits.randbits_specs(randbits.randbits_config())) == 5 * 3 * 3 + 3 * 3
    foster_runs = foster.foster_specs(foster.foster_config())
    assert {s.preset for s in foster_runs} == {"spirograph-gp-cpu"} and len(foster_runs) == 7 * 3
