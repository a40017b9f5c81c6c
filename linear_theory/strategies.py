"""Hypothesis strategies that draw valid linear contrastive models, edge cases included.

Every strategy is bounded (finite strengths, noise and dims), so derived quantities never
overflow. Edge cases are drawn on purpose: dropout exactly 0 or 1, noise exactly 0, and
optionally zero strength. Rotations are Haar-random, drawn from a seed that hypothesis picks,
so failing examples shrink and replay.

A user property-tests a claim of their own in a few lines, e.g. "the optimal loss never
increases when the embedding dimension grows"::

    from hypothesis import given, settings
    from linear_theory.spectral import optimal_loss
    from linear_theory.strategies import linear_models

    @settings(deadline=None, max_examples=50, derandomize=True)
    @given(linear_models(max_groups=3, max_dim=4))
    def test_more_capacity_never_hurts(model):
        bigger = model.replace(embed_dim=model.embed_dim + 1)
        assert optimal_loss(bigger) <= optimal_loss(model) + 1e-12
"""

from __future__ import annotations

import numpy as np
from hypothesis import assume
from hypothesis import strategies as st

from linear_theory.model import FeatureGroup, LinearModel, random_rotation
from linear_theory.spectral import dropout_eigenvalue


def dropouts(edges: bool = True, max_value: float = 1.0) -> st.SearchStrategy[float]:
    """Dropout probabilities in ``[0, max_value]``; 0 and 1 (when allowed) drawn often."""
    if not 0.0 <= max_value <= 1.0:
        raise ValueError(f"max_value must be in [0, 1]; got {max_value!r}")
    inner = st.floats(0.0, max_value, allow_nan=False, allow_infinity=False)
    if not edges:
        return inner
    edge_values = [0.0, 1.0] if max_value == 1.0 else [0.0]
    return st.one_of(st.sampled_from(edge_values), inner, inner)


def noises(
    min_value: float = 0.0, max_value: float = 2.0, edges: bool = True
) -> st.SearchStrategy[float]:
    """View noise ``sigma`` in ``[min_value, max_value]``; 0 drawn often when allowed."""
    if not 0.0 <= min_value <= max_value:
        raise ValueError(f"min_value must be in [0, max_value]; got {min_value!r}")
    inner = st.floats(min_value, max_value, allow_nan=False, allow_infinity=False)
    if edges and min_value == 0.0:
        return st.one_of(st.just(0.0), inner, inner)
    return inner


MIN_POSITIVE_STRENGTH = 1e-3


def _strengths(min_strength: float, max_strength: float) -> st.SearchStrategy[float]:
    """Strengths in ``[min, max]``; with ``min == 0``: exactly 0, or at least 1e-3.

    Tiny positive strengths (say 1e-48) are numerically indistinguishable from 0 once squared,
    while in exact arithmetic they still give ``lambda = q`` when ``sigma = 0``; they are left out.
    """
    if min_strength > 0:
        return st.floats(min_strength, max_strength, allow_nan=False)
    low = min(MIN_POSITIVE_STRENGTH, max_strength)
    return st.one_of(st.just(0.0), st.floats(low, max_strength, allow_nan=False))


def feature_groups(
    max_dim: int = 4,
    min_strength: float = 0.1,
    max_strength: float = 5.0,
    spectra: bool | None = None,
    max_dropout: float = 1.0,
    edges: bool = True,
) -> st.SearchStrategy[FeatureGroup]:
    """One ``FeatureGroup``: dim in ``[1, max_dim]``, strength in ``[min, max]``.

    ``min_strength = 0`` draws the edge case 0 exactly and otherwise strengths >= 1e-3.

    Args:
        spectra: True: always a non-isotropic spectrum (values in [0.1, 3]); False: never;
            None: either.
        max_dropout: upper bound on the dropout probability.
        edges: draw dropout 0 and 1 (when ``max_dropout == 1``) more often.
    """
    if max_dim < 1:
        raise ValueError(f"max_dim must be an integer >= 1; got {max_dim!r}")
    if not 0.0 <= min_strength <= max_strength < np.inf:
        raise ValueError(
            f"min_strength must be in [0, max_strength] (finite); got {min_strength!r}"
        )

    strengths = _strengths(min_strength, max_strength)

    @st.composite
    def build(draw: st.DrawFn) -> FeatureGroup:
        dim = draw(st.integers(1, max_dim))
        strength = draw(strengths)
        dropout = draw(dropouts(edges, max_dropout))
        use_spectrum = draw(st.booleans()) if spectra is None else spectra
        spectrum = None
        if use_spectrum:
            values = st.floats(0.1, 3.0, allow_nan=False)
            spectrum = tuple(draw(st.lists(values, min_size=dim, max_size=dim)))
        return FeatureGroup(dim=dim, strength=strength, dropout=dropout, spectrum=spectrum)

    return build()


def linear_models(
    min_groups: int = 1,
    max_groups: int = 3,
    max_dim: int = 4,
    rotated: bool | None = None,
    spectra: bool | None = None,
    min_strength: float = 0.1,
    max_strength: float = 5.0,
    min_noise: float = 0.0,
    max_noise: float = 2.0,
    max_dropout: float = 1.0,
    edges: bool = True,
) -> st.SearchStrategy[LinearModel]:
    """Valid ``LinearModel``s with ``K`` in ``[min_groups, max_groups]``, ``m`` in ``[1, d]``.

    Args:
        rotated: True: always a Haar-random rotation; False: never; None: either.
        spectra: passed to ``feature_groups``.
        min_noise, max_noise: range of the view noise (``0`` drawn often when allowed).
        edges: draw the edge values (dropout 0/1, noise 0) more often.
    """
    if not 1 <= min_groups <= max_groups:
        raise ValueError(f"min_groups must be in [1, max_groups]; got {min_groups!r}")
    groups_st = feature_groups(max_dim, min_strength, max_strength, spectra, max_dropout, edges)

    @st.composite
    def build(draw: st.DrawFn) -> LinearModel:
        groups = tuple(draw(st.lists(groups_st, min_size=min_groups, max_size=max_groups)))
        noise = draw(noises(min_noise, max_noise, edges))
        d = sum(g.dim for g in groups)
        embed_dim = draw(st.integers(1, d))
        use_rotation = draw(st.booleans()) if rotated is None else rotated
        rotation = None
        if use_rotation:
            seed = draw(st.integers(0, 2**32 - 1))
            rotation = random_rotation(d, np.random.default_rng(seed))
        return LinearModel(groups=groups, noise=noise, embed_dim=embed_dim, rotation=rotation)

    return build()


def two_group_models(
    strong_beats_weak: bool | None = True,
    strong_dropout: bool = False,
    max_dim: int = 4,
    min_strength: float = 0.1,
    max_strength: float = 5.0,
    min_noise: float = 0.05,
    max_noise: float = 2.0,
    min_gap: float = 1e-3,
    rotated: bool | None = None,
) -> st.SearchStrategy[LinearModel]:
    """Isotropic two-group models: group 0 "strong", group 1 "weak" (never dropped).

    ``embed_dim`` equals the strong group's dim. Group 1 never has dropout; group 0 has none
    unless ``strong_dropout`` (then any ``p`` in [0, 1], edges included).

    Args:
        strong_beats_weak: True: ``lambda_strong(0) > lambda_weak(0) + min_gap`` (the regime in
            which a p* exists); False: ``lambda_strong(0) <= lambda_weak(0)``; None: either.
        min_noise: lower bound on the noise; with ``sigma = 0`` all eigenvalues at ``p = 0``
            equal 1, so the strong group can only beat the weak one when ``sigma > 0``.
        min_gap: the minimum gap between the undropped eigenvalues when ``strong_beats_weak``.
    """
    if not 0.0 < min_strength <= max_strength < np.inf:
        raise ValueError(
            f"min_strength must be in (0, max_strength] (finite); got {min_strength!r}"
        )
    if strong_beats_weak is True and min_noise <= 0:
        raise ValueError(f"min_noise must be > 0 when strong_beats_weak; got {min_noise!r}")

    @st.composite
    def build(draw: st.DrawFn) -> LinearModel:
        d1 = draw(st.integers(1, max_dim))
        d2 = draw(st.integers(1, max_dim))
        sigma = draw(noises(min_noise, max_noise, edges=True))
        sa = draw(st.floats(min_strength, max_strength, allow_nan=False))
        sb = draw(st.floats(min_strength, max_strength, allow_nan=False))
        la = float(dropout_eigenvalue(0.0, sa, sigma))
        lb = float(dropout_eigenvalue(0.0, sb, sigma))
        if strong_beats_weak is True:
            s_strong, s_weak = (sa, sb) if la >= lb else (sb, sa)
            gap = abs(la - lb)
            assume(gap > min_gap)  # near-ties cannot be separated numerically
        elif strong_beats_weak is False:
            s_strong, s_weak = (sa, sb) if la <= lb else (sb, sa)
        else:
            s_strong, s_weak = sa, sb
        p = draw(dropouts(edges=True)) if strong_dropout else 0.0
        rot = draw(st.booleans()) if rotated is None else rotated
        rotation = None
        if rot:
            seed = draw(st.integers(0, 2**32 - 1))
            rotation = random_rotation(d1 + d2, np.random.default_rng(seed))
        groups = (
            FeatureGroup(dim=d1, strength=s_strong, dropout=p, name="strong"),
            FeatureGroup(dim=d2, strength=s_weak, dropout=0.0, name="weak"),
        )
        return LinearModel(groups=groups, noise=sigma, embed_dim=d1, rotation=rotation)

    return build()
