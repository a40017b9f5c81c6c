"""The linear theory calibrated to an overlay suite's data, for the oracle and dynamics figures.

* :func:`half_max_p`: where a curve over increasing p first reaches half-way between its value at
  the first p and its maximum (linear interpolation): the number the oracle figure compares
  between measurement and theory.
* :func:`calibrate_suite`: the linear model estimated (``linear_theory.calibration``) from a fixed
  seeded sample of an overlay suite: the overlay component ``x - x_clean`` and the background
  ``x_clean`` as the two groups, two views made by the oracle runs' base views (their expert
  crops, flips and colour changes, ``figures.experiments.common.cpu_scale``) for the noise. The
  fixed space is :func:`linear_theory.calibration.random_projection` of the flattened pixels to
  :data:`PROJECTION_DIM` dimensions (seed :data:`PROJECTION_SEED`); it never reads a deep result.
* :func:`oracle_theory`: the calibrated model's per-group learning curves under oracle dropout
  p of the overlay (the theory's twin of ``exp_oracle_dropout``), at the deep runs' budget.

Theory at a finite budget (choices of this module, not fitted to anything):

* the encoder has :data:`EMBED_DIM` dimensions (the pooled features of the oracle runs'
  small_resnet of width 16 that the probes read: 4 x 16 channels);
* it starts small and random: ``W0`` entries ``N(0, r0 / m)`` with ``r0 =``
  :data:`INIT_FRACTION` times the largest per-direction weight of the no-dropout optimum
  (``K_i = c_i / a_i^2``, ``linear_theory.dynamics``), seeded by ``seed``, the same at every p;
* one deep optimiser step is one step of gradient descent on the population spectral loss
  (``linear_theory.dynamics.gradient_descent``) with the step size
  ``eta = 1 / (8 c_max)``, ``c_max`` the largest cross-view moment of the no-dropout model: the
  fastest direction's growth rate ``8 c`` is then one e-fold per step, the largest step at which
  that logistic is not overshot. So the theory's time at step ``k`` is ``t = k eta``. The
  population gradient is the limit of the deep runs' minibatch gradient, which is unbiased at
  any batch size, so ``batch_size`` does not enter the curves (it is kept in the result);
* the reported per-group value is the **normalised group strength**
  ``sum_{i in k} ||W[:, i]||^2 / sum_{i in k} K_i(p = 0)``: the group's weight in the encoder
  relative to its weight at the no-dropout optimum of an unconstrained encoder (0: not
  represented; 1: as at the optimum without dropout). It is used instead of the analytic probe
  accuracy because on noiseless clean inputs a linear probe reads any direction with non-zero
  weight perfectly once ``W`` has full rank, so probe accuracy would not show finite-time
  suppression.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from linear_theory.calibration import Calibration, calibrate, random_projection
from linear_theory.dynamics import gradient_descent
from linear_theory.moments import moment_diagonals
from linear_theory.spectral import coordinate_eigenvalues, p_star

SUITES = ("overlay-shapes-on-fashion", "overlay-digits-on-fashion")
SAMPLE_SIZE = 2048  # examples in the calibration sample
PROJECTION_DIM = 256  # dimension of the fixed space (random projection of the pixels)
PROJECTION_SEED = 0
EMBED_DIM = 64  # theory's m: the probed feature width of the oracle runs' encoder
INIT_FRACTION = 1e-4  # r0 / max_i K_i of the random small start
CURVE_POINTS = 33  # recorded points of each learning curve (steps 0 .. budget)
RISE_TOL = 0.01  # a curve rising by less than this (normalised strength) has no half point
GROUPS = ("overlay", "background")


def half_max_p(ps: Sequence[float], values: Sequence[float], min_rise: float = 0.0) -> float:
    """The smallest p at which ``values`` first reaches half-way from ``values[0]`` to its maximum.

    ``values[i]`` is the curve at ``ps[i]`` (``ps`` strictly increasing). The half level is
    ``values[0] + (max(values) - values[0]) / 2``; the crossing is interpolated linearly between
    the last point below it and the first point at or above it. A curve whose rise
    ``max(values) - values[0]`` does not exceed ``min_rise`` has no half point: the result is
    NaN. With the default ``min_rise = 0`` that is a curve that never rises above its first
    value; a measured curve passes its noise level (e.g. a 95% half-width over seeds) so that a
    rise within noise gets no half point.

    Raises:
        ValueError: naming ``ps`` or ``values`` when they differ in length, have fewer than two
            points, are not finite, or ``ps`` is not strictly increasing; naming ``min_rise``
            when it is negative or not finite.
    """
    if not (math.isfinite(min_rise) and min_rise >= 0.0):
        raise ValueError(f"min_rise must be a finite number >= 0, got {min_rise!r}")
    p = np.asarray(ps, dtype=float)
    v = np.asarray(values, dtype=float)
    if p.ndim != 1 or v.ndim != 1 or p.shape != v.shape:
        raise ValueError(f"ps and values must be 1-d of equal length, got {p.shape} and {v.shape}")
    if p.size < 2:
        raise ValueError(f"ps must have at least 2 points, got {p.size}")
    if not np.all(np.isfinite(p)):
        raise ValueError(f"ps must be finite, got {p.tolist()}")
    if not np.all(np.isfinite(v)):
        raise ValueError(f"values must be finite, got {v.tolist()}")
    if not np.all(np.diff(p) > 0):
        raise ValueError(f"ps must be strictly increasing, got {p.tolist()}")
    top = float(v.max())
    if not top - float(v[0]) > min_rise:
        return math.nan
    half = float(v[0]) + (top - float(v[0])) / 2.0
    i = int(np.argmax(v >= half))  # first index at or above the half level; i >= 1
    lo_p, hi_p, lo_v, hi_v = float(p[i - 1]), float(p[i]), float(v[i - 1]), float(v[i])
    return lo_p + (half - lo_v) / (hi_v - lo_v) * (hi_p - lo_p)


# ---------------------------------------------------------------------------------------------
# calibration of an overlay suite


def build_suite(name: str, split: str = "train") -> Any:
    """The suite ``name`` from the project's data registry (a seam the tests replace)."""
    from empirical.data.registry import build_suite as _build

    return _build(name, split)


def _check_suite(suite: str) -> None:
    if suite not in SUITES:
        raise ValueError(f"suite must be one of {', '.join(SUITES)}; got {suite!r}")


def base_views(suite: str) -> Any:
    """The oracle runs' base views on ``suite`` (expert views at the CPU scale): the preset of
    ``figures.experiments.oracle.oracle_config`` with its overrides and ``views.name=expert``."""
    from empirical.config import apply_overrides
    from empirical.parts import build_views
    from empirical.presets import get
    from figures.experiments.oracle import oracle_config

    cfg = oracle_config()
    preset = next(s["preset"] for s in cfg["suites"].values() if s["suite"] == suite)
    run_cfg = apply_overrides(
        get(preset), [*cfg["overrides"], f"data.suite={suite}", "views.name=expert"]
    )
    return build_views(run_cfg, 3)


def suite_sample(
    suite: str, n: int, seed: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """A seeded sample of ``min(n, len)`` training examples of ``suite``, flattened ``(n, P)``:
    inputs ``x``, their overlay-free twins ``x_clean`` and two base views of ``x``."""
    ds = build_suite(suite, "train")
    rng = np.random.default_rng(seed)
    idx = np.sort(rng.choice(len(ds), min(n, len(ds)), replace=False))
    batch = ds.batch(idx, rng)
    if batch.x_clean is None:
        raise ValueError(f"suite {suite!r} has no x_clean (not an overlay suite)")
    gen = torch.Generator().manual_seed(seed)
    views = base_views(suite)
    v1, v2 = views.view(batch.x, gen), views.view(batch.x, gen)

    def flat(t: torch.Tensor) -> np.ndarray:
        return t.detach().numpy().reshape(t.shape[0], -1).astype(np.float64)

    return flat(batch.x), flat(batch.x_clean), flat(v1), flat(v2)


def calibrate_suite(suite: str, seed: int = 0, n: int = SAMPLE_SIZE) -> Calibration:
    """The linear model of ``suite`` (module docstring): groups ``overlay`` (``x - x_clean``)
    and ``background`` (``x_clean``) in the fixed random-projection space."""
    _check_suite(suite)
    x, x_clean, v1, v2 = suite_sample(suite, n, seed)
    g = random_projection(x.shape[1], min(PROJECTION_DIM, x.shape[1]), PROJECTION_SEED)
    # (n, P) @ (P, D) each
    return calibrate({"overlay": (x - x_clean) @ g, "background": x_clean @ g}, v1 @ g, v2 @ g)


# ---------------------------------------------------------------------------------------------
# the calibrated theory under oracle dropout


def _check_int(name: str, value: object, lo: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < lo:
        raise ValueError(f"{name} must be an integer >= {lo}; got {value!r}")
    return int(value)


def _check_ps(ps: Sequence[float]) -> list[float]:
    out = [float(p) for p in ps]
    if len(out) < 2 or not all(0.0 <= p <= 1.0 for p in out):
        raise ValueError(f"ps must be >= 2 values in [0, 1]; got {out}")
    if not all(b > a for a, b in itertools.pairwise(out)):
        raise ValueError(f"ps must be strictly increasing; got {out}")
    return out


def record_steps(steps: int, points: int = CURVE_POINTS) -> list[int]:
    """The steps ``0 .. steps`` at which the learning curves are recorded (at most ``points``)."""
    return sorted({round(s) for s in np.linspace(0, steps, min(points, steps + 1))})


def group_curves(
    cal: Calibration,
    ps: Sequence[float],
    steps: int,
    seed: int = 0,
    embed_dim: int = EMBED_DIM,
) -> dict[str, Any]:
    """Normalised group strengths over training when the first group is dropped with each p.

    Returns ``{"steps": (S,), "curves": {group: (len(ps), S)}, "step_size": eta, "init": r0}``
    (module docstring: gradient descent from a seeded small start, ``eta = 1 / (8 c_max)``).
    """
    ps = _check_ps(ps)
    steps = _check_int("steps", steps, 1)
    k = len(cal.groups)
    base = cal.model([0.0] * k, embed_dim)
    models = [cal.model([p] + [0.0] * (k - 1), embed_dim) for p in ps]
    c0, a0 = moment_diagonals(base)
    cap0 = np.where(c0 > 0, c0 / a0**2, 0.0)  # (d,): K_i at p = 0
    eta = 1.0 / (8.0 * float(c0.max()))
    r0 = INIT_FRACTION * float(cap0.max())
    d, m = base.dim, embed_dim
    w0 = np.random.default_rng(seed).standard_normal((m, d)) * math.sqrt(r0 / m)
    diags = [moment_diagonals(mod) for mod in models]
    c = np.stack([np.diag(ci) for ci, _ in diags])  # (B, d, d)
    a = np.stack([np.diag(ai) for _, ai in diags])
    w = np.broadcast_to(w0, (len(ps), m, d)).copy()
    at = record_steps(steps)
    norms = []
    done = 0
    for s in at:
        if s > done:
            # the per-configuration numpy loop: same iterates, faster than torch at this size
            w = gradient_descent(c, a, w, eta, s - done, tol=0.0, method="loop").w
            done = s
        norms.append(np.sum(w**2, axis=-2))  # (B, d): ||W[:, i]||^2
    r = np.stack(norms, axis=1)  # (B, S, d)
    curves = {
        g.name: (r[..., sl].sum(-1) / cap0[sl].sum()).tolist()
        for g, sl in zip(base.groups, base.slices, strict=True)
    }
    return {"steps": at, "curves": curves, "step_size": eta, "init": r0}


def _nan_to_none(x: float) -> float | None:
    return None if not math.isfinite(x) else float(x)


def theory_params(cal: Calibration, embed_dim: int = EMBED_DIM) -> dict[str, Any]:
    """JSON-ready parameters: the calibration, m, the groups' eigenvalues without dropout, and
    p* (the overlay dropout at which its eigenvalue meets the background's; None when the
    overlay is not the stronger group)."""
    base = cal.model([0.0] * len(cal.groups), embed_dim)
    lam = coordinate_eigenvalues(base)
    s_over, s_back = (g.strength for g in cal.groups[:2])
    return {
        **cal.to_dict(),
        "embed_dim": embed_dim,
        "eigenvalues": {
            g.name: float(lam[sl][0]) for g, sl in zip(base.groups, base.slices, strict=True)
        },
        "p_star": _nan_to_none(float(p_star(s_over, s_back, cal.noise))),
        "projection_dim": cal.space_dim,
        "projection_seed": PROJECTION_SEED,
    }


def predicted_p_half(ps: Sequence[float], values: Sequence[float]) -> float:
    """:func:`half_max_p` of a theory curve, NaN when it rises by less than :data:`RISE_TOL`."""
    v = np.asarray(values, dtype=float)
    if float(v.max() - v[0]) < RISE_TOL:
        return math.nan
    return half_max_p(ps, values)


def oracle_theory(
    suite: str, ps: Sequence[float], steps: int, batch_size: int, seed: int = 0
) -> dict[str, Any]:
    """The calibrated theory of oracle dropout on ``suite`` at the deep runs' budget.

    ``"overlay"`` / ``"background"``: the normalised group strength (module docstring) of each
    group after ``steps`` optimiser steps, one value per p; ``"curves"``: the same over training
    at ``curves["steps"]``, one list per p and group; ``"p_half"``: :func:`predicted_p_half` of
    the background. ``batch_size`` (>= 2) is recorded only (see the module docstring).
    """
    _check_suite(suite)
    ps = _check_ps(ps)
    steps = _check_int("steps", steps, 1)
    batch_size = _check_int("batch_size", batch_size, 2)
    cal = calibrate_suite(suite, seed)
    dyn = group_curves(cal, ps, steps, seed)
    curves = dyn["curves"]
    overlay = [float(c[-1]) for c in curves["overlay"]]
    background = [float(c[-1]) for c in curves["background"]]
    return {
        "suite": suite,
        "params": {
            **theory_params(cal),
            "step_size": dyn["step_size"],
            "init": dyn["init"],
            "seed": seed,
            "batch_size": batch_size,
            "measure": "normalised group strength",
        },
        "ps": ps,
        "overlay": overlay,
        "background": background,
        "p_half": predicted_p_half(ps, background),
        "steps": steps,
        "curves": {"steps": dyn["steps"], **curves},
    }
