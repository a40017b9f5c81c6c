"""The three-class truth of overlay suites over Fashion-MNIST (black background, overlay, item)
on a hand-made 1x4x4 batch, the two-class truth elsewhere, and the real suite."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from empirical.data.base import Batch
from empirical.diagnostics.local_features import (
    ITEM_THRESHOLD,
    local_feature_maps,
    overlay_truth,
    segmentation_truth,
)

# the Fashion-MNIST image alone (grey, 3 channels): an item in the middle 2x2 block, one faint
# pixel (below the threshold) that is black background, and the shape over the top-left corner
# and one item pixel
ITEM = np.array(
    [
        [0.0, 0.0, 0.0, 0.0],
        [0.0, 0.8, 0.6, 0.0],
        [0.0, 0.7, 0.9, 0.0],
        [0.0, 0.0, 0.0, ITEM_THRESHOLD / 2],
    ],
    dtype=np.float32,
)
SHAPE = np.array(
    [
        [1, 1, 0, 0],
        [1, 1, 0, 0],
        [0, 0, 0, 0],
        [0, 0, 0, 0],
    ],
    dtype=bool,
)
# 0 black background, 1 shape, 2 item
EXPECTED = np.array(
    [
        [1, 1, 0, 0],
        [1, 1, 2, 0],
        [0, 2, 2, 0],
        [0, 0, 0, 0],
    ]
)


def _batch() -> Batch:
    clean = torch.from_numpy(np.repeat(ITEM[None, None], 3, axis=1))  # (1, 3, 4, 4)
    return Batch(
        x=clean.clone(),
        labels={},
        index=torch.zeros(1, dtype=torch.int64),
        x_clean=clean,
        overlay_mask=torch.from_numpy(SHAPE[None, None]),
    )


def _suite(background: str) -> SimpleNamespace:
    return SimpleNamespace(
        name=f"overlay-shapes-on-{background}", config=SimpleNamespace(background=background)
    )


def test_fashion_truth_has_shape_item_and_black_background() -> None:
    truth = segmentation_truth(_suite("fashion"), _batch())
    assert truth.dtype == torch.int64
    np.testing.assert_array_equal(truth[0].numpy(), EXPECTED)


def test_other_backgrounds_keep_overlay_vs_rest() -> None:
    truth = segmentation_truth(_suite("natural"), _batch())
    np.testing.assert_array_equal(truth[0].numpy(), SHAPE.astype(np.int64))


def test_fashion_truth_needs_the_clean_background() -> None:
    batch = _batch()
    batch.x_clean = None
    with pytest.raises(ValueError, match="x_clean"):
        segmentation_truth(_suite("fashion"), batch)
    with pytest.raises(ValueError, match="x_clean must be"):
        overlay_truth(torch.from_numpy(SHAPE[None]), torch.zeros(1, 3, 5, 5))


FASHION = Path("/usr/share/datasets/fashion-mnist")


@pytest.mark.skipif(not FASHION.is_dir(), reason="Fashion-MNIST not installed")
def test_the_fashion_suite_has_three_truth_classes_and_k_3() -> None:
    from torch import nn

    from empirical.data.registry import build_suite

    ds = build_suite("overlay-shapes-on-fashion", "test", max_examples=8)

    class Flat(nn.Module):
        def feature_maps(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
            return {"stage": nn.functional.avg_pool2d(x, 4)}

    res = local_feature_maps(Flat(), ds, num_images=8)
    assert res["k"] == 3
    truth = res["truth"]
    for i in range(8):
        assert set(torch.unique(truth[i]).tolist()) == {0, 1, 2}
