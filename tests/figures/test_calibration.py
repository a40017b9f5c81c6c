"""figures.calibration: the half-max p of a curve, and the calibrated oracle theory on a
hand-made overlay suite."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

from empirical.data.base import Batch
from figures import calibration
from linear_theory.calibration import Calibration, GroupEstimate
from linear_theory.moments import moment_diagonals
from linear_theory.spectral import p_star


def test_half_max_p_interpolates_the_first_crossing() -> None:
    # start 0.2, max 1.0 -> half level 0.6, crossed between p=0.25 (0.4) and p=0.5 (0.8)
    assert calibration.half_max_p([0.0, 0.25, 0.5, 1.0], [0.2, 0.4, 0.8, 1.0]) == pytest.approx(
        0.375
    )


def test_half_max_p_takes_the_first_crossing_of_a_non_monotone_curve() -> None:
    # half level 0.5: first reached exactly at p=0.2, later dips do not matter
    ps, vs = [0.0, 0.1, 0.2, 0.3, 0.4], [0.0, 0.25, 0.5, 0.1, 1.0]
    assert calibration.half_max_p(ps, vs) == pytest.approx(0.2)


def test_half_max_p_of_a_curve_that_rises_at_once() -> None:
    assert calibration.half_max_p([0.0, 1.0], [0.0, 1.0]) == pytest.approx(0.5)


@pytest.mark.parametrize("vs", [[0.5, 0.5, 0.5], [0.9, 0.5, 0.1]])
def test_half_max_p_is_nan_when_the_curve_never_rises(vs: list[float]) -> None:
    assert math.isnan(calibration.half_max_p([0.0, 0.5, 1.0], vs))


def test_half_max_p_needs_a_rise_beyond_min_rise() -> None:
    ps = [0.0, 0.5, 1.0]
    small = [0.600, 0.603, 0.605]  # a rise of 0.005: a half point without a tolerance
    assert calibration.half_max_p(ps, small) == pytest.approx(0.5 * 0.0025 / 0.003)
    assert math.isnan(calibration.half_max_p(ps, small, min_rise=0.02))
    assert math.isnan(calibration.half_max_p(ps, [0.5, 0.5, 0.75], min_rise=0.25))  # not > 0.25
    big = [0.6, 0.65, 0.7]  # a rise of 0.1: the same half point with or without the tolerance
    assert calibration.half_max_p(ps, big, min_rise=0.02) == calibration.half_max_p(ps, big)
    assert calibration.half_max_p(ps, big, min_rise=0.02) == pytest.approx(0.5)


@pytest.mark.parametrize("bad", [-0.01, float("nan"), float("inf")])
def test_half_max_p_rejects_a_bad_min_rise(bad: float) -> None:
    with pytest.raises(ValueError, match="min_rise must be a finite number >= 0"):
        calibration.half_max_p([0.0, 1.0], [0.0, 1.0], min_rise=bad)


@pytest.mark.parametrize(
    ("ps", "vs", "field"),
    [
        ([0.0, 0.5], [0.1, 0.2, 0.3], "ps and values"),
        ([0.0], [0.1], "ps"),
        ([0.0, 0.5, 0.5], [0.1, 0.2, 0.3], "ps must be strictly increasing"),
        ([0.0, 0.5, 1.0], [0.1, float("nan"), 0.3], "values must be finite"),
    ],
)
def test_half_max_p_rejects_bad_curves(ps: list[float], vs: list[float], field: str) -> None:
    with pytest.raises(ValueError, match=field):
        calibration.half_max_p(ps, vs)


# ---------------------------------------------------------------------------------------------
# the calibrated theory: dynamics on a hand-made calibration, oracle_theory on a tiny suite


def _calibration(m_strong: float = 2.0) -> Calibration:
    """Two 2-d groups, the overlay the stronger, noise 0.5 (hand-made, no data)."""
    groups = (
        GroupEstimate("overlay", 2, 2.0, m_strong, 2 * m_strong**2, 0.5),
        GroupEstimate("background", 2, 2.0, 1.0, 2.0, 0.5),
    )
    return Calibration(groups, 0.5, {"overlay/background": 0.0}, 100, 4)


def test_group_curves_show_suppression_and_its_release_with_capacity_two() -> None:
    """m = 2 < 4 directions: at p = 0 the overlay takes the capacity and the background is
    suppressed; at p = 1 the overlay is gone and the background learned; the background's half
    point lies just beyond the optimum's threshold p* (near p* the eigenvalues nearly tie and the
    finite budget does not separate them)."""
    ps = [i / 20 for i in range(21)]
    dyn = calibration.group_curves(_calibration(), ps, steps=400, embed_dim=2)
    over = np.asarray(dyn["curves"]["overlay"])  # (len(ps), S)
    back = np.asarray(dyn["curves"]["background"])
    assert over.shape == back.shape == (len(ps), len(dyn["steps"]))
    assert dyn["steps"][0] == 0 and dyn["steps"][-1] == 400
    assert over[0, -1] > 0.9 and back[0, -1] < 0.1
    assert over[-1, -1] < 0.01 and back[-1, -1] > 0.9
    assert np.all(np.diff(over[:, -1]) <= 1e-9)
    p_half = calibration.predicted_p_half(ps, back[:, -1])
    assert float(p_star(2.0, 1.0, 0.5)) < p_half < float(p_star(2.0, 1.0, 0.5)) + 0.1


def test_group_curves_start_small_and_use_the_documented_step() -> None:
    cal = _calibration()
    dyn = calibration.group_curves(cal, [0.0, 1.0], steps=10, embed_dim=2)
    c0, a0 = moment_diagonals(cal.model([0.0, 0.0], 2))
    assert dyn["step_size"] == pytest.approx(1.0 / (8.0 * c0.max()))
    assert dyn["init"] == pytest.approx(calibration.INIT_FRACTION * np.max(c0 / a0**2))
    assert max(c[0] for c in dyn["curves"]["overlay"]) < 1e-3  # small start
    assert dyn["steps"] == list(range(11))


def test_predicted_p_half_needs_a_real_rise() -> None:
    ps = [0.0, 0.5, 1.0]
    assert math.isnan(calibration.predicted_p_half(ps, [1.0, 1.0 + 1e-4, 1.0 + 2e-3]))
    assert calibration.predicted_p_half(ps, [0.0, 0.2, 0.4]) == pytest.approx(0.5)


class _TinyOverlaySuite:
    """A hand-made overlay suite: 3x8x8 images, backgrounds from 4 random patterns, an overlay
    of one of 3 bright squares at a random corner (drawn fresh per read)."""

    def __init__(self) -> None:
        rng = np.random.default_rng(0)
        patterns = rng.random((4, 3, 8, 8))
        coef = rng.random((300, 4))
        self.backgrounds = (coef @ patterns.reshape(4, -1)).reshape(300, 3, 8, 8) / 4.0

    def __len__(self) -> int:
        return len(self.backgrounds)

    def batch(self, indices: np.ndarray, rng: np.random.Generator) -> Batch:
        bg = self.backgrounds[indices].astype(np.float32)
        x = bg.copy()
        side = rng.integers(2, 5, len(indices))
        for i, s in enumerate(side):
            r, c = rng.integers(0, 8 - s, 2)
            x[i, :, r : r + s, c : c + s] = rng.random()
        return Batch(
            x=torch.from_numpy(x),
            labels={"background": torch.zeros(len(indices), dtype=torch.int64)},
            index=torch.from_numpy(np.asarray(indices)),
            x_clean=torch.from_numpy(bg),
        )


@pytest.fixture
def tiny_suite(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(calibration, "build_suite", lambda name, split="train": _TinyOverlaySuite())


SUITE = "overlay-digits-on-fashion"


def test_oracle_theory_on_a_tiny_suite(tiny_suite: None) -> None:
    ps = [0.0, 0.5, 1.0]
    res = calibration.oracle_theory(SUITE, ps, steps=24, batch_size=32, seed=1)
    json.dumps(res)  # JSON-ready
    params = res["params"]
    assert [g["name"] for g in params["groups"]] == ["overlay", "background"]
    assert params["n"] == 300 and params["space_dim"] == 3 * 8 * 8
    assert params["batch_size"] == 32 and params["embed_dim"] == calibration.EMBED_DIM
    assert res["ps"] == ps and res["steps"] == 24
    curves = res["curves"]
    assert curves["steps"][0] == 0 and curves["steps"][-1] == 24
    for group in ("overlay", "background"):
        assert len(res[group]) == len(curves[group]) == len(ps)
        assert [c[-1] for c in curves[group]] == res[group]  # the budget's value is the curve's end
    assert res["overlay"][-1] < 0.01  # p = 1: the overlay is never shown
    expected = calibration.predicted_p_half(ps, res["background"])
    assert (math.isnan(res["p_half"]) and math.isnan(expected)) or res["p_half"] == expected
    again = calibration.oracle_theory(SUITE, ps, steps=24, batch_size=32, seed=1)
    assert again["overlay"] == res["overlay"] and again["params"] == res["params"]


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"suite": "overlay-letters-on-natural"}, "suite must be one of"),
        ({"ps": [0.0]}, "ps must be"),
        ({"ps": [0.5, 0.2]}, "ps must be strictly increasing"),
        ({"ps": [0.0, 1.5]}, "ps must be"),
        ({"steps": 0}, "steps must be an integer >= 1"),
        ({"batch_size": 1}, "batch_size must be an integer >= 2"),
    ],
)
def test_oracle_theory_rejects_bad_arguments(
    tiny_suite: None, kwargs: dict[str, object], field: str
) -> None:
    args: dict[str, object] = {"suite": SUITE, "ps": [0.0, 1.0], "steps": 4, "batch_size": 8}
    with pytest.raises(ValueError, match=field):
        calibration.oracle_theory(**{**args, **kwargs})  # type: ignore[arg-type]
