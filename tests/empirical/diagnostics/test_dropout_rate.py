"""Feature-dropout rate: exact statistics from hit indicators, a judge trained on a tiny overlay
suite, rate 0 for identity views, ~1 for oracle views with p = 1 and ~p in between."""

from __future__ import annotations

import pytest
import torch

from empirical.diagnostics.dropout_rate import (
    JudgeConfig,
    dropout_rate,
    find_task,
    rates,
    train_judge,
    untrained_viewmaker,
)
from empirical.views.base import IdentityViews
from empirical.views.oracle import OracleDropoutViews

TINY_JUDGE = JudgeConfig(channels=(8, 16), steps=60, batch_size=64, lr=5e-3, num_test=192)


@pytest.fixture(scope="module")
def judges(tiny_train, tiny_test):
    return {t: train_judge(tiny_train, t, TINY_JUDGE, tiny_test) for t in ("overlay", "background")}


def test_rates_exact_values() -> None:
    right_x = torch.tensor([True, True, True, False])
    right_v = torch.tensor([[True, False, True, False], [False, False, True, True]])
    r = rates(right_x, right_v, chance=0.25)
    assert r["input_accuracy"] == 0.75 and r["view_accuracy"] == 0.5
    assert r["view_error"] == 0.5
    assert r["flip_rate"] == pytest.approx(3 / 6)  # views of the 3 inputs judged right
    assert r["rate"] == pytest.approx((0.75 - 0.5) / (0.75 - 0.25))
    assert r["num_inputs"] == 4 and r["num_views"] == 8
    same = rates(right_x, right_x[None].repeat(3, 1), chance=0.25)
    assert same["rate"] == 0.0 and same["flip_rate"] == 0.0
    with pytest.raises(ValueError, match="correct_views"):
        rates(right_x, right_v[:, :3], chance=0.25)


def test_judges_read_their_labels(judges) -> None:
    assert judges["overlay"].clean_accuracy > 0.95
    assert judges["background"].clean_accuracy > 0.9


def test_identity_views_keep_every_label(judges, tiny_test) -> None:
    r = dropout_rate(judges, tiny_test, IdentityViews(), num_inputs=128, views_per_input=2)
    for t in ("overlay", "background"):
        assert r[t]["rate"] == 0.0 and r[t]["flip_rate"] == 0.0
        assert r[t]["view_accuracy"] == r[t]["input_accuracy"]


def test_oracle_views_drop_the_overlay_at_rate_p(judges, tiny_test) -> None:
    full = dropout_rate(judges, tiny_test, OracleDropoutViews(1.0), 192, views_per_input=4)
    assert full["overlay"]["rate"] == pytest.approx(1.0, abs=0.12)
    assert full["overlay"]["view_accuracy"] == pytest.approx(0.25, abs=0.1)  # chance
    assert abs(full["background"]["rate"]) < 0.1  # the background stays readable
    half = dropout_rate(judges, tiny_test, OracleDropoutViews(0.5), 192, views_per_input=4)
    assert half["overlay"]["rate"] == pytest.approx(0.5, abs=0.12)


def test_untrained_viewmaker_is_seeded_and_leaves_global_rng(tiny_test) -> None:
    state = torch.random.get_rng_state()
    a, b = untrained_viewmaker(3, 0.05, seed=1), untrained_viewmaker(3, 0.05, seed=1)
    assert torch.equal(torch.random.get_rng_state(), state)
    for (_, p), (_, q) in zip(a.state_dict().items(), b.state_dict().items(), strict=True):
        assert torch.equal(p, q)
    c = untrained_viewmaker(3, 0.05, seed=2)
    assert not torch.equal(
        c.state_dict()["viewmaker.out.1.weight"], a.state_dict()["viewmaker.out.1.weight"]
    )


def test_errors(tiny_train) -> None:
    with pytest.raises(ValueError, match="steps"):
        JudgeConfig(steps=0)
    with pytest.raises(ValueError, match="augment"):
        JudgeConfig(augment="strong")
    with pytest.raises(ValueError, match="task must be one of"):
        find_task(tiny_train, "nope")
