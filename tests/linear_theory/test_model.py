"""Model spec: validation errors name the field; properties of the frozen dataclasses."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from linear_theory.model import FeatureGroup, LinearModel, random_rotation


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"dim": 0, "strength": 1.0}, "dim"),
        ({"dim": 2.5, "strength": 1.0}, "dim"),
        ({"dim": 2, "strength": -0.1}, "strength"),
        ({"dim": 2, "strength": float("nan")}, "strength"),
        ({"dim": 2, "strength": float("inf")}, "strength"),
        ({"dim": 2, "strength": 1.0, "dropout": 1.5}, "dropout"),
        ({"dim": 2, "strength": 1.0, "dropout": -0.01}, "dropout"),
        ({"dim": 2, "strength": 1.0, "spectrum": (1.0,)}, "spectrum"),
        ({"dim": 2, "strength": 1.0, "spectrum": (1.0, 0.0)}, "spectrum"),
    ],
)
def test_feature_group_rejects_bad_values_naming_the_field(kwargs: dict, field: str) -> None:
    with pytest.raises(ValueError, match=rf"^{field} must be"):
        FeatureGroup(**kwargs)


def _group() -> FeatureGroup:
    return FeatureGroup(dim=2, strength=1.0)


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"groups": ()}, "groups"),
        ({"groups": ("not a group",)}, "groups"),
        ({"groups": (_group(),), "noise": -1.0}, "noise"),
        ({"groups": (_group(),), "embed_dim": 0}, "embed_dim"),
        ({"groups": (_group(),), "rotation": np.eye(3)}, "rotation"),
        ({"groups": (_group(),), "rotation": np.array([[1.0, 1.0], [0.0, 1.0]])}, "rotation"),
    ],
)
def test_linear_model_rejects_bad_values_naming_the_field(kwargs: dict, field: str) -> None:
    with pytest.raises(ValueError, match=rf"^{field} must be"):
        LinearModel(**kwargs)


def test_from_arrays_and_with_dropout_check_lengths() -> None:
    with pytest.raises(ValueError, match=r"^strengths must be"):
        LinearModel.from_arrays([1, 2], [1.0])
    with pytest.raises(ValueError, match=r"^dropouts must be"):
        LinearModel.from_arrays([1, 2], [1.0, 1.0], [0.5])
    model = LinearModel.from_arrays([1, 2], [1.0, 1.0])
    with pytest.raises(ValueError, match=r"^dropouts must be"):
        model.with_dropout([0.1])
    with pytest.raises(ValueError, match=r"^dropout must be"):
        model.with_dropout([0.1, 2.0])
    with pytest.raises(ValueError, match=r"^embed_dim must be"):
        model.replace(embed_dim=0)


def test_derived_properties_exact() -> None:
    model = LinearModel(
        groups=(
            FeatureGroup(dim=2, strength=3.0, dropout=0.25, spectrum=(1.0, 4.0)),
            FeatureGroup(dim=1, strength=0.5),
        ),
        noise=0.1,
        embed_dim=2,
    )
    assert model.num_groups == 2
    assert model.dim == 3
    assert model.slices == (slice(0, 2), slice(2, 3))
    np.testing.assert_array_equal(model.group_index, [0, 0, 1])
    keep, signal, var = model.coordinate_params()
    np.testing.assert_allclose(keep, [0.75, 0.75, 1.0])
    np.testing.assert_allclose(signal, [9.0, 36.0, 0.25])
    np.testing.assert_allclose(var, [1.0, 4.0, 1.0])
    assert model.groups[0].keep == 0.75
    np.testing.assert_array_equal(model.groups[1].variances, [1.0])


def test_dataclasses_are_frozen_and_copies_revalidate() -> None:
    model = LinearModel.from_arrays([1, 1], [2.0, 1.0], noise=0.5)
    with pytest.raises(dataclasses.FrozenInstanceError):
        model.noise = 1.0  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        model.groups[0].dropout = 0.5  # type: ignore[misc]
    dropped = model.with_dropout([0.3, 0.0])
    assert [g.dropout for g in dropped.groups] == [0.3, 0.0]
    assert [g.dropout for g in model.groups] == [0.0, 0.0]  # original unchanged
    assert dropped.noise == model.noise and dropped.embed_dim == model.embed_dim


def test_rotation_is_read_only_and_orthogonal() -> None:
    rng = np.random.default_rng(0)
    rot = random_rotation(5, rng)
    np.testing.assert_allclose(rot @ rot.T, np.eye(5), atol=1e-12)
    model = LinearModel(groups=(FeatureGroup(dim=5, strength=1.0),), rotation=rot)
    assert model.rotation is not None
    np.testing.assert_array_equal(model.rotation, rot)  # stored as given
    with pytest.raises(ValueError):
        model.rotation[0, 0] = 2.0
    with pytest.raises(ValueError, match=r"^d must be"):
        random_rotation(0, rng)


def test_random_rotation_uses_the_generator_deterministically() -> None:
    a = random_rotation(4, np.random.default_rng(7))
    b = random_rotation(4, np.random.default_rng(7))
    c = random_rotation(4, np.random.default_rng(8))
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, c)
