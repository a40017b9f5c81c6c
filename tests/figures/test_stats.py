"""figures.stats: t-intervals over seeds, paired gains and the baseline gate, on hand-made numbers
with known Student-t quantiles."""

from __future__ import annotations

import math

import numpy as np
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


def test_welch_interval_is_scipys_welch_t_interval() -> None:
    from scipy.stats import ttest_ind

    a, b = [0.488, 0.50, 0.476], [0.41, 0.43, 0.42, 0.44, 0.40, 0.45, 0.43, 0.42]
    iv = stats.welch_interval(a, b)
    ci = ttest_ind(a, b, equal_var=False).confidence_interval(0.95)
    assert iv.mean == pytest.approx(np.mean(a) - np.mean(b))
    assert (iv.lo, iv.hi) == (pytest.approx(ci.low), pytest.approx(ci.high))
    assert iv.n == 3  # the trained seeds
    se = np.sqrt(np.var(a, ddof=1) / 3 + np.var(b, ddof=1) / 8)
    assert iv.sd == pytest.approx(se * np.sqrt(3))


def test_contrast_interval_of_a_difference_of_gains() -> None:
    groups = [[0.9, 0.88, 0.86], [0.8, 0.82, 0.78, 0.8], [0.56, 0.55, 0.57], [0.6, 0.61, 0.59, 0.6]]
    iv = stats.contrast_interval(groups, [1, -1, -1, 1])
    m = [np.mean(g) for g in groups]
    assert iv.mean == pytest.approx(m[0] - m[1] - m[2] + m[3])
    terms = [np.var(g, ddof=1) / len(g) for g in groups]
    df = sum(terms) ** 2 / sum(t * t / (len(g) - 1) for t, g in zip(terms, groups, strict=True))
    from scipy.stats import t as student_t

    half = student_t.ppf(0.975, df) * np.sqrt(sum(terms))
    assert (iv.lo, iv.hi) == (pytest.approx(iv.mean - half), pytest.approx(iv.mean + half))


def test_gain_difference_pairs_each_seed_across_the_two_conditions() -> None:
    """A seed (an init) that reads both conditions alike cancels in the paired differences: the
    interval is the Welch interval of the differences, narrower than the four-group contrast
    when the pairs are correlated, and its mean is the same contrast of means."""
    th, tl = np.array([0.9, 0.8, 0.85]), np.array([0.7, 0.6, 0.66])
    uh = np.array([0.5, 0.6, 0.55, 0.65, 0.45])
    ul = uh - np.array([0.01, 0.02, 0.0, 0.01, 0.02])
    iv = stats.gain_difference(th, uh, tl, ul)
    assert iv == stats.welch_interval(th - tl, uh - ul)
    four = stats.contrast_interval([th, uh, tl, ul], [1, -1, -1, 1])
    assert iv.mean == pytest.approx(four.mean)
    assert iv.hi - iv.lo < 0.5 * (four.hi - four.lo)
    with pytest.raises(ValueError, match="pairs each seed"):
        stats.gain_difference(th, uh, tl[:2], ul)


def test_contrast_interval_edge_cases() -> None:
    one = stats.welch_interval([0.9], [0.1, 0.2])  # one trained seed: no interval
    assert one.mean == pytest.approx(0.75) and not one.defined
    flat = stats.welch_interval([1.0, 1.0], [1.0, 1.0, 1.0])  # no spread: a point
    assert flat.defined and flat.lo == flat.hi == 0.0
    only_b = stats.welch_interval([0.5, 0.5, 0.5], [0.1, 0.2, 0.3])  # df from b alone
    half = stats.t_quantile(0.975, 2) * 0.1 / np.sqrt(3)
    assert (only_b.lo, only_b.hi) == (pytest.approx(0.3 - half), pytest.approx(0.3 + half))
    assert not stats.welch_interval([0.5, float("nan")], [0.1, 0.2]).defined
    with pytest.raises(ValueError, match="one weight per group"):
        stats.contrast_interval([[1.0, 2.0]], [1.0, -1.0])
    with pytest.raises(ValueError, match="at least one value"):
        stats.contrast_interval([[1.0, 2.0], []], [1.0, -1.0])


def test_the_gate_opens_on_a_welch_gain_that_pairing_would_hide() -> None:
    """Trained seeds tight, untrained initialisations spread: paired over 3 seeds the gain's
    interval reaches below 0; against 8 initialisations it does not."""
    trained = [0.73, 0.75, 0.72]
    untrained = [0.50, 0.66, 0.52, 0.55, 0.58, 0.63, 0.57, 0.61]
    paired = stats.paired_interval(trained, untrained[:3])
    welch = stats.welch_interval(trained, untrained)
    assert not stats.beats(paired) and stats.beats(welch)
