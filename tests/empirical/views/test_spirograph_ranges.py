"""Spirograph views draw their nuisance from the run's dataset ranges (issue 8 §3): a run whose
``data.options`` set ``h_range`` / ``bg_range`` gets views with those ranges, not Foster's
defaults."""

from __future__ import annotations

import inspect

import numpy as np
import pytest
import torch

from empirical.config import Config, apply_overrides
from empirical.data.registry import build_suite
from empirical.data.spirograph import NUISANCE_NAMES, SpirographDataset
from empirical.parts import build_views
from empirical.views import spirograph_views

H_RANGE, BG_RANGE = (3.0, 3.5), (0.7, 0.9)  # both disjoint from the defaults (0.5, 2.5), (0, 0.6)


def spirograph_config(*options: str) -> Config:
    """``options``: ``data.options.KEY=VALUE`` overrides, as on the command line."""
    return apply_overrides(Config(), ["data.suite=spirograph", "views.name=spirograph", *options])


def test_views_of_a_run_draw_h_and_background_from_the_dataset_ranges() -> None:
    cfg = spirograph_config(
        "data.options.h_range=[3.0, 3.5]",
        "data.options.bg_range=[0.7, 0.9]",
        "data.options.n_train=64",
    )
    assert cfg.data.options["h_range"] == list(H_RANGE)  # a JSON list, as a saved config has it
    data = build_suite("spirograph", "train", **cfg.data.options)
    batch = data.batch(np.arange(32), np.random.default_rng(0))
    views = build_views(cfg, 3)
    pair = views(batch, torch.Generator().manual_seed(1))
    h, bg = NUISANCE_NAMES.index("h"), [NUISANCE_NAMES.index(k) for k in ("br", "bg", "bb")]
    for alpha in (pair.alpha1, pair.alpha2, batch.params["alpha"]):  # views and dataset agree
        assert alpha is not None
        assert float(alpha[:, h].min()) >= H_RANGE[0] and float(alpha[:, h].max()) <= H_RANGE[1]
        colours = alpha[:, bg]
        assert float(colours.min()) >= BG_RANGE[0] and float(colours.max()) <= BG_RANGE[1]


def test_views_keep_the_ranges_the_options_leave_out() -> None:
    cfg = spirograph_config("data.options.h_range=[3.0, 3.5]")
    ranges = build_views(cfg, 3).ranges
    assert ranges.h == H_RANGE
    assert ranges.bg == SpirographDataset(n_train=1, n_test=1).ranges.bg  # the suite's default


def test_spirograph_views_take_the_suites_option_names_and_defaults() -> None:
    """The view factory and the suite share option names and defaults (so data.options can be
    handed over as they are)."""
    views = inspect.signature(spirograph_views).parameters
    suite = inspect.signature(SpirographDataset).parameters
    for name in ("h_range", "bg_range"):
        assert views[name].default == suite[name].default


def test_bad_view_ranges_are_rejected_naming_the_range() -> None:
    with pytest.raises(ValueError, match=r"^h must be a range"):
        spirograph_views(h_range=(2.0, 1.0))
