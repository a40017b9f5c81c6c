"""build_views: every name builds, bad names/options are rejected, post-view channels everywhere."""

from __future__ import annotations

from typing import Any

import pytest
import torch

from empirical.data.base import Batch
from empirical.data.spirograph import sample_targets
from empirical.views import (
    VIEWS,
    FosterViews,
    IdentityViews,
    ImageExpertViews,
    OracleDropoutViews,
    SpirographViews,
    ViewmakerViews,
    build_views,
)
from empirical.views.bitdrop import BitDropoutViews
from empirical.views.expert import AudioExpertViews

CASES: list[tuple[str, dict[str, Any], type]] = [
    ("identity", {}, IdentityViews),
    ("expert", {}, ImageExpertViews),
    ("expert", {"modality": "audio", "noise_std": 0.2}, AudioExpertViews),
    ("oracle", {"p": 0.5, "base": "expert", "base_kwargs": {"p_blur": 0.0}}, OracleDropoutViews),
    ("viewmaker", {"in_channels": 3, "base_channels": 4, "expert": True}, ViewmakerViews),
    ("foster", {"p_gray": 0.0}, FosterViews),
    ("spirograph", {}, SpirographViews),
    ("bitdrop", {"p": 0.0, "expert_kwargs": {"p_blur": 0.0}}, BitDropoutViews),
]


def test_cases_cover_every_name() -> None:
    assert {name for name, _, _ in CASES} == set(VIEWS)


def _batch() -> Batch:
    n = 3
    x = torch.rand(n, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    return Batch(
        x=x,
        labels={},
        index=torch.arange(n),
        x_clean=torch.zeros_like(x),
        post_view_channels=torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]]),
        params={"targets": sample_targets(n, torch.Generator().manual_seed(1))},
    )


@pytest.mark.parametrize(("name", "kw", "cls"), CASES)
def test_every_generator_builds_and_appends_identical_bits(
    name: str, kw: dict[str, Any], cls: type
) -> None:
    views = build_views(name, **kw)
    assert isinstance(views, cls)
    batch = _batch()
    pair = views(batch, torch.Generator().manual_seed(2))
    assert pair.v1.shape == pair.v2.shape == (3, 5, 32, 32)
    assert torch.equal(pair.v1[:, 3:], pair.v2[:, 3:])
    assert torch.equal(pair.v1[:, 3:, 5, 7], batch.post_view_channels)
    assert pair.adversarial == (name == "viewmaker")


@pytest.mark.parametrize(
    ("name", "kw", "match"),
    [
        ("nope", {}, "unknown views"),
        ("identity", {"p": 0.5}, "unknown option"),
        ("expert", {"modality": "video"}, "modality"),
        ("expert", {"noise_std": 0.1}, "unknown option"),
        ("oracle", {"p": 0.5, "base": "viewmaker"}, "base"),
        ("oracle", {"p": 2.0}, "p must be in"),
        ("viewmaker", {"in_channels": 3, "eps": -1.0}, "eps"),
        ("viewmaker", {"in_channels": 3, "expert_kwargs": {"p_blur": 0.0}}, "expert"),
        ("foster", {"hue": 0.1}, "unknown option"),
    ],
)
def test_bad_names_and_options_raise(name: str, kw: dict[str, Any], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        build_views(name, **kw)
