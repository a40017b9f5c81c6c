"""Statistics over seeds for the experiment figures: t-intervals, paired gains, the baseline gate.

Pure functions of numbers (no files, no plotting), so every rule here is tested on hand-made
values:

* :func:`mean_interval`: the mean of n values and its two-sided ``level`` Student-t interval,
  ``mean +- t_{(1 + level) / 2, n - 1} * sd / sqrt(n)`` (sample sd, ``ddof = 1``); with fewer
  than two values there is no interval (``lo = hi = nan``).
* :func:`paired_interval`: the same over per-seed differences ``a_i - b_i`` (seeds paired by
  position: run i of ``a`` and of ``b`` share a seed), e.g. one view type minus another (the
  same seed under each).
* :func:`contrast_interval`: a linear combination of the means of independent groups,
  ``sum_g w_g * mean_g``, with the Welch-Satterthwaite t-interval (the groups' sample variances
  need not be equal, nor their sizes); :func:`welch_interval` is the difference of two means.
  A trained run's *gain over the untrained encoder* is the Welch difference between the trained
  seeds and a population of seeded initialisations of the same encoder
  (``figures.baselines.UNTRAINED_INITS``), not a paired difference: across the oracle figure's 26
  (condition, task) cells the trained probe of a seed is not positively correlated with its own
  initialisation's (pooled within-cell correlation -0.16 over 78 runs,
  ``scripts/untrained_spread.py``, docs/cpu_scale_search.md "The gate's untrained baseline"), so
  pairing adds the initialisation's spread to every gain instead of cancelling it.
* :func:`beats`: the gate. A trained task *beats the untrained encoder* when its gain has an
  interval (at least two trained seeds and two initialisations), the interval's lower bound is
  above 0 and the mean gain is at least :data:`GAIN_MARGIN`. A run set none of whose tasks
  beats the untrained encoder is not a result (the figures say so instead of comparing
  conditions, and its claims are not judged).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

LEVEL = 0.95
GAIN_MARGIN = 0.02  # accuracy (or R^2) points a mean gain must reach to count as learned
NO_TASK_BEATS = "no task beats the untrained encoder"  # the closed gate's usual reason
GATE_RULE = (
    f"a task beats the untrained encoder when the {LEVEL:.0%} Welch t-interval of its gain "
    f"(the mean over the trained seeds minus the mean over seeded initialisations of the same "
    f"encoder, untrained) lies above 0 and the mean gain is at least {GAIN_MARGIN:g}"
)


@dataclass(frozen=True)
class Interval:
    """A mean over seeds with its t-interval.

    Attributes:
        mean: the mean of the values.
        lo, hi: the interval's bounds (``nan`` for fewer than two values or a non-finite value).
        n: the number of values.
        sd: their sample standard deviation (``nan`` for fewer than two).
        level: the interval's coverage.
    """

    mean: float
    lo: float
    hi: float
    n: int
    sd: float
    level: float = LEVEL

    @property
    def defined(self) -> bool:
        """Whether there is an interval (two or more finite values)."""
        return math.isfinite(self.lo) and math.isfinite(self.hi)

    def to_dict(self) -> dict[str, float | int | None]:
        """JSON-ready (``None`` for an undefined bound)."""

        def num(v: float) -> float | None:
            return float(v) if math.isfinite(v) else None

        return {
            "mean": num(self.mean),
            "lo": num(self.lo),
            "hi": num(self.hi),
            "n": self.n,
            "sd": num(self.sd),
            "level": self.level,
        }

    def text(self, digits: int = 3) -> str:
        """``+0.052 [+0.010, +0.094]`` (or ``+0.052 (1 seed, no interval)``)."""
        if not self.defined:
            seeds = f"{self.n} seed" + ("" if self.n == 1 else "s")
            return f"{self.mean:+.{digits}f} ({seeds}, no interval)"
        return f"{self.mean:+.{digits}f} [{self.lo:+.{digits}f}, {self.hi:+.{digits}f}]"


def t_quantile(q: float, df: int) -> float:
    """The q-quantile of Student's t with ``df`` degrees of freedom."""
    from scipy.stats import t

    if df < 1:
        raise ValueError(f"df must be >= 1; got {df}")
    if not 0.0 < q < 1.0:
        raise ValueError(f"q must lie in (0, 1); got {q}")
    return float(t.ppf(q, df))


def mean_interval(values: Sequence[float] | np.ndarray, level: float = LEVEL) -> Interval:
    """Mean of ``values`` (one per seed) and its two-sided ``level`` t-interval.

    Raises:
        ValueError: no values, or ``level`` outside (0, 1).
    """
    if not 0.0 < level < 1.0:
        raise ValueError(f"level must lie in (0, 1); got {level}")
    v = np.asarray(values, dtype=float).reshape(-1)
    n = int(v.size)
    if n == 0:
        raise ValueError("mean_interval needs at least one value")
    mean = float(v.mean())
    if n < 2 or not np.all(np.isfinite(v)):
        return Interval(mean, math.nan, math.nan, n, math.nan, level)
    sd = float(v.std(ddof=1))
    half = t_quantile(0.5 + level / 2.0, n - 1) * sd / math.sqrt(n)
    return Interval(mean, mean - half, mean + half, n, sd, level)


def paired_interval(
    a: Sequence[float] | np.ndarray, b: Sequence[float] | np.ndarray, level: float = LEVEL
) -> Interval:
    """Interval of the mean per-seed difference ``a_i - b_i`` (seeds paired by position).

    Raises:
        ValueError: ``a`` and ``b`` differ in length.
    """
    x, y = np.asarray(a, dtype=float).reshape(-1), np.asarray(b, dtype=float).reshape(-1)
    if x.shape != y.shape:
        raise ValueError(f"paired values need equal lengths; got {x.size} and {y.size}")
    return mean_interval(x - y, level)


def contrast_interval(
    groups: Sequence[Sequence[float] | np.ndarray],
    weights: Sequence[float],
    level: float = LEVEL,
) -> Interval:
    """``sum_g weights[g] * mean(groups[g])`` over independent groups, with its two-sided
    ``level`` Welch-Satterthwaite t-interval: standard error
    ``se = sqrt(sum_g w_g^2 s_g^2 / n_g)`` and degrees of freedom
    ``se^4 / sum_g (w_g^2 s_g^2 / n_g)^2 / (n_g - 1)``. No interval (``nan`` bounds) when a
    group has fewer than two values or a non-finite one; a zero standard error gives the point
    interval ``[mean, mean]``. The result's ``n`` is the first group's size (the trained seeds)
    and its ``sd`` is ``se * sqrt(n)``, so that ``sd / sqrt(n)`` is the standard error as for
    the other intervals.

    Raises:
        ValueError: no groups, an empty group, groups and weights of different lengths, or
            ``level`` outside (0, 1).
    """
    if not 0.0 < level < 1.0:
        raise ValueError(f"level must lie in (0, 1); got {level}")
    if not groups or len(groups) != len(weights):
        raise ValueError(
            f"contrast_interval needs one weight per group; got {len(groups)} groups and "
            f"{len(weights)} weights"
        )
    vs = [np.asarray(g, dtype=float).reshape(-1) for g in groups]
    if any(v.size == 0 for v in vs):
        raise ValueError("contrast_interval needs at least one value per group")
    w = [float(x) for x in weights]
    mean = float(sum(wi * v.mean() for wi, v in zip(w, vs, strict=True)))
    n = int(vs[0].size)
    if any(v.size < 2 or not np.all(np.isfinite(v)) for v in vs):
        return Interval(mean, math.nan, math.nan, n, math.nan, level)
    terms = [wi * wi * float(v.var(ddof=1)) / v.size for wi, v in zip(w, vs, strict=True)]
    var = sum(terms)
    if var <= 0.0:
        return Interval(mean, mean, mean, n, 0.0, level)
    df = var * var / sum(t * t / (v.size - 1) for t, v in zip(terms, vs, strict=True) if t > 0)
    se = math.sqrt(var)
    from scipy.stats import t as student_t

    half = float(student_t.ppf(0.5 + level / 2.0, df)) * se
    return Interval(mean, mean - half, mean + half, n, se * math.sqrt(n), level)


def welch_interval(
    a: Sequence[float] | np.ndarray, b: Sequence[float] | np.ndarray, level: float = LEVEL
) -> Interval:
    """``mean(a) - mean(b)`` over two independent samples (e.g. trained seeds and untrained
    initialisations, of any sizes) with its Welch t-interval (:func:`contrast_interval`)."""
    return contrast_interval([a, b], [1.0, -1.0], level)


def gain_difference(
    trained_hi: Sequence[float] | np.ndarray,
    untrained_hi: Sequence[float] | np.ndarray,
    trained_lo: Sequence[float] | np.ndarray,
    untrained_lo: Sequence[float] | np.ndarray,
    level: float = LEVEL,
) -> Interval:
    """How a gain over the untrained encoder changes between two conditions,
    ``(mean(trained_hi) - mean(untrained_hi)) - (mean(trained_lo) - mean(untrained_lo))``, where
    the trained runs of the two conditions share their seeds and the untrained populations their
    initialisations (the same order): the Welch interval (:func:`welch_interval`) of the
    per-seed differences ``trained_hi - trained_lo`` against the per-initialisation differences
    ``untrained_hi - untrained_lo``. The pairs are not independent (one seed, one init, in both
    conditions), which the four-group :func:`contrast_interval` assumes: with positively
    correlated pairs it is too wide, with negatively correlated ones too narrow. On the cached
    runs pairing widened three of the four intervals it serves (docs/cpu_scale_search.md).

    Raises:
        ValueError: the two trained (or untrained) groups differ in size.
    """
    th, tl = np.asarray(trained_hi, dtype=float), np.asarray(trained_lo, dtype=float)
    uh, ul = np.asarray(untrained_hi, dtype=float), np.asarray(untrained_lo, dtype=float)
    if th.shape != tl.shape or uh.shape != ul.shape:
        raise ValueError(
            "gain_difference pairs each seed (init) across the two conditions; got trained "
            f"{th.shape} vs {tl.shape} and untrained {uh.shape} vs {ul.shape}"
        )
    return welch_interval(th - tl, uh - ul, level)


def beats(gain: Interval, margin: float = GAIN_MARGIN) -> bool:
    """The gate's rule for one task: an interval exists, its lower bound is above 0 and the
    mean gain is at least ``margin``."""
    return gain.defined and gain.lo > 0.0 and gain.mean >= margin


@dataclass(frozen=True)
class Gate:
    """Whether a run set is a result: ``open`` when at least one of its (condition, task)
    gains beats the untrained encoder (:func:`beats`); ``beaten`` names those that do."""

    open: bool
    beaten: tuple[str, ...]
    checked: int
    reason: str

    def to_dict(self) -> dict[str, object]:
        return {
            "open": self.open,
            "beaten": list(self.beaten),
            "checked": self.checked,
            "reason": self.reason,
        }


def gate(gains: dict[str, Interval], margin: float = GAIN_MARGIN) -> Gate:
    """The gate over named gains (e.g. ``"p=0 digit"``); closed when none beats the untrained
    encoder, with a reason in words."""
    beaten = tuple(k for k, g in gains.items() if beats(g, margin))
    if beaten:
        return Gate(True, beaten, len(gains), f"{len(beaten)} of {len(gains)} beat it")
    if gains and not any(g.defined for g in gains.values()):
        n = max(g.n for g in gains.values())
        return Gate(False, (), len(gains), f"{n} seed(s): no interval over seeds")
    return Gate(False, (), len(gains), NO_TASK_BEATS)
