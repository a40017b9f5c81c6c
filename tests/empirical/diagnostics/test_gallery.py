"""View galleries: the PNG is written with the expected size; the perturbation columns are
mid-grey for identity views and scaled to the largest change otherwise."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from empirical.diagnostics.dropout_rate import untrained_viewmaker
from empirical.diagnostics.gallery import (
    Gallery,
    draw_gallery,
    gallery_columns,
    make_gallery,
    perturbation_tiles,
)
from empirical.diagnostics.png import grid_size
from empirical.views.base import IdentityViews
from empirical.views.expert import expert_views


def test_gallery_png_size_and_columns(tiny_test, tmp_path) -> None:
    g = make_gallery(
        tiny_test, untrained_viewmaker(3, 0.1, width=4, blocks=1), expert_views("image"), 4, 3
    )
    assert g.inputs.shape == (4, 3, 16, 16)
    assert g.learned is not None and g.learned.shape == (3, 4, 3, 16, 16)
    assert g.expert is not None and g.expert.shape == (3, 4, 3, 16, 16)
    # the viewmaker's L1 budget: mean |delta| = eps per example (up to the 1e-4 smoothing)
    mean_abs = (g.learned - g.inputs[None]).abs().mean(dim=(2, 3, 4))
    assert torch.allclose(mean_abs, torch.full_like(mean_abs, 0.1), rtol=1e-2)
    info = draw_gallery(tmp_path / "g.png", g, scale=2)
    assert info["columns"] == ["input"] + [f"vm {i}" for i in (1, 2, 3)] + [
        f"delta {i}" for i in (1, 2, 3)
    ] + [f"expert {i}" for i in (1, 2, 3)]
    with Image.open(tmp_path / "g.png") as img:
        h, w = grid_size(4, 10, 16, 16, 2, 2, titled=True)
        assert img.size == (w, h)
    assert len(info["delta_scale"]) == 4 and all(s > 0 for s in info["delta_scale"])


def test_identity_perturbation_is_mid_grey(tiny_test, tmp_path) -> None:
    g = make_gallery(tiny_test, IdentityViews(), None, 2, 2)
    tiles, s = perturbation_tiles(g.inputs, g.learned)
    assert torch.all(tiles == 0.5) and np.all(s == 1.0)
    draw_gallery(tmp_path / "id.png", g, scale=1)
    with Image.open(tmp_path / "id.png") as img:
        a = np.asarray(img)
    h, w = grid_size(2, 5, 16, 16, 1, 2, titled=True)
    assert a.shape == (h, w, 3)
    top = h - 2 * (16 + 2)  # first tile row starts below the header
    delta_tile = a[top : top + 16, 2 + 3 * 18 : 2 + 3 * 18 + 16]  # column 4 = "delta 1"
    assert np.all(delta_tile == 128)


def test_perturbation_scale_reference() -> None:
    x = torch.zeros(1, 1, 2, 2)
    v = torch.tensor([[[[0.2, -0.4], [0.0, 0.1]]]])[None]  # (V=1, B=1, 1, 2, 2)
    tiles, s = perturbation_tiles(x, v)
    assert s.tolist() == pytest.approx([0.4])
    assert tiles[0, 0, 0].flatten().tolist() == pytest.approx([0.75, 0.0, 0.5, 0.625])


def test_errors(tiny_test) -> None:
    with pytest.raises(ValueError, match="learned or expert"):
        make_gallery(tiny_test, None, None)
    with pytest.raises(ValueError, match="num_views"):
        make_gallery(tiny_test, IdentityViews(), None, num_views=0)


def test_columns_follow_what_the_gallery_holds() -> None:
    x = torch.zeros(2, 3, 4, 4)
    assert gallery_columns(Gallery(x, None, torch.zeros(3, 2, 3, 4, 4))) == [
        "input",
        "expert 1",
        "expert 2",
        "expert 3",
    ]
    assert gallery_columns(Gallery(x, torch.zeros(1, 2, 3, 4, 4), None)) == [
        "input",
        "vm 1",
        "delta 1",
    ]


def test_gallery_rows_are_distinct_examples_of_the_dataset(tiny_test) -> None:
    """Each input row is one example of the suite (its pixels outside the four overlay squares
    are that example's clean pixels), no example twice; every view keeps the input's size."""
    g = make_gallery(tiny_test, None, expert_views("image"), 6, 2, seed=3)
    outside = ~torch.from_numpy(tiny_test.masks.any(axis=0))[0]  # (H, W) never overlaid
    clean = torch.from_numpy(tiny_test.clean)[:, :, outside]  # (n, 3, P)
    rows = g.inputs[:, :, outside]  # (6, 3, P)
    found = [int(torch.nonzero((clean == r).all(dim=(1, 2))).flatten()[0]) for r in rows]
    assert len(set(found)) == 6
    assert g.learned is None and g.expert is not None and g.expert.shape == (2, 6, 3, 16, 16)
