"""figures.stats: t-intervals over seeds, paired gains and the baseline gate, on hand-made numbers
with known Student-t quantiles."""

from __future__ import annotations

import math

import pytest

from figures import stats

T975 = {1: 12.706204736, 2: 4.302652730, 4: 2.776445105}  # t_{0.975, df} from tables


@pytest.mark.parametrize("df", sorted(T975))
def test_t_quantile_matches_tables(df: int) -> None:
    assert stats.t_quantile(0.975, df) == pytest.approx(T975[df], rel=1e-8)


def test_interval_of_three_values() -> None:
    """[1, 2, 3]: mean 2, sd 1, half-width t_{0.975,2} / sqrt(3)."""
    iv = stats.mean_interval([1.0, 2.0, 3.0])
    half = T975[2] / math.sqrt(3)
    assert (iv.mean, iv.sd, iv.n) == (pytest.approx(2.0), pytest.approx(1.0), 3)
    assert iv.lo == pytest.approx(2.0 - half) and iv.hi == pytest.approx(2.0 + half)


def test_interval_of_two_values_uses_df_one() -> None:
    iv = stats.mean_interval([1.0, 3.0])  # sd sqrt(2), half-width t_{0.975,1} * sqrt(2)/sqrt(2)
    assert iv.lo == pytest.approx(2.0 - T975[1]) and iv.hi == pytest.approx(2.0 + T975[1])


def test_one_value_has_no_interval() -> None:
    iv = stats.mean_interval([0.7])
    assert iv.mean == 0.7 and not iv.defined and math.isnan(iv.lo)
    assert iv.to_dict()["lo"] is None and "no interval" in iv.text()


def test_paired_interval_is_the_interval_of_differences() -> None:
    iv = stats.paired_interval([0.8, 0.9, 1.0], [0.7, 0.7, 0.7])  # differences 0.1, 0.2, 0.3
    half = T975[2] * 0.1 / math.sqrt(3)
    assert iv.mean == pytest.approx(0.2)
    assert (iv.lo, iv.hi) == (pytest.approx(0.2 - half), pytest.approx(0.2 + half))
    with pytest.raises(ValueError, match="equal lengths"):
        stats.paired_interval([1.0, 2.0], [1.0])


def test_beats_needs_a_positive_lower_bound_and_the_margin() -> None:
    wide = stats.paired_interval([0.8, 0.9, 1.0], [0.7, 0.7, 0.7])  # lo = -0.048
    clear = stats.paired_interval([0.81, 0.82, 0.83], [0.7, 0.7, 0.7])  # 0.12 +- 0.025
    tiny = stats.paired_interval([0.710, 0.711, 0.712], [0.7, 0.7, 0.7])  # lo > 0, mean 0.011
    single = stats.paired_interval([0.9], [0.7])
    assert tiny.lo > 0 and tiny.mean < stats.GAIN_MARGIN
    assert [stats.beats(g) for g in (wide, clear, tiny, single)] == [False, True, False, False]


def test_gate_open_closed_and_without_intervals() -> None:
    clear = stats.paired_interval([0.81, 0.82, 0.83], [0.7, 0.7, 0.7])
    flat = stats.paired_interval([0.70, 0.71, 0.69], [0.7, 0.7, 0.7])
    g = stats.gate({"a digit": flat, "b digit": clear})
    assert g.open and g.beaten == ("b digit",) and g.checked == 2
    closed = stats.gate({"a digit": flat})
    assert not closed.open and closed.reason == "no task beats the untrained encoder"
    one_seed = stats.gate({"a": stats.paired_interval([0.9], [0.1])})
    assert not one_seed.open and "no interval" in one_seed.reason


def test_bad_arguments_are_rejected() -> None:
    with pytest.raises(ValueError, match="df"):
        stats.t_quantile(0.975, 0)
    with pytest.raises(ValueError, match="level"):
        stats.mean_interval([1.0, 2.0], level=1.0)
    with pytest.raises(ValueError, match="at least one"):
        stats.mean_interval([])
