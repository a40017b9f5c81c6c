"""Local features: K-means (exact partitions, restarts), ARI against scikit-learn and in exact
cases, segmentation truths of overlay suites and MultiDigits, maps and their PNG."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image
from sklearn.metrics import adjusted_rand_score
from torch import nn

from empirical.diagnostics.local_features import (
    adjusted_rand_index,
    cluster_maps,
    downsample_truth,
    draw_local_features,
    kmeans,
    local_feature_maps,
    local_feature_scores,
    score_maps,
    segmentation_truth,
    upsample_labels,
)
from empirical.diagnostics.png import HEADER, grid_size


@settings(deadline=None, max_examples=40, derandomize=True)
@given(
    n=st.integers(2, 60),
    ka=st.integers(1, 5),
    kb=st.integers(1, 5),
    seed=st.integers(0, 2**16),
)
def test_ari_matches_scikit_learn(n: int, ka: int, kb: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    a, b = rng.integers(0, ka, n), rng.integers(0, kb, n)
    assert adjusted_rand_index(a, b) == pytest.approx(adjusted_rand_score(a, b), abs=1e-12)
    perm = rng.permutation(10)
    assert adjusted_rand_index(a, perm[a]) == pytest.approx(1.0)  # relabelling changes nothing


def test_ari_exact_values() -> None:
    assert adjusted_rand_index([0, 0, 1, 1], [1, 1, 0, 0]) == 1.0
    # Hand-worked: table [[1, 1], [1, 1]]: I = 0, rows = cols = 2, E = 4 / 6, M = 2 -> -1/2
    assert adjusted_rand_index([0, 0, 1, 1], [0, 1, 0, 1]) == pytest.approx(-0.5)


def test_kmeans_recovers_separated_clusters_exactly() -> None:
    g = torch.Generator().manual_seed(0)
    centres = torch.tensor([[0.0, 0.0], [10.0, 0.0], [0.0, 10.0]], dtype=torch.float64)
    truth = torch.randint(0, 3, (5, 40), generator=g)
    x = centres[truth] + 0.1 * torch.randn(5, 40, 2, generator=g, dtype=torch.float64)
    labels, inertia = kmeans(x, 3, g)
    assert labels.shape == (5, 40) and inertia.shape == (5,)
    for i in range(5):
        assert adjusted_rand_index(labels[i].numpy(), truth[i].numpy()) == 1.0
    # inertia = within-cluster sum of squares of the found partition
    ref = sum(((x[0][labels[0] == j] - x[0][labels[0] == j].mean(0)) ** 2).sum() for j in range(3))
    assert float(inertia[0]) == pytest.approx(float(ref), rel=1e-9)


def test_kmeans_identical_points_and_errors() -> None:
    g = torch.Generator().manual_seed(0)
    _, inertia = kmeans(torch.ones(2, 6, 3), 2, g)
    assert torch.all(inertia == 0)
    with pytest.raises(ValueError, match="k must be"):
        kmeans(torch.ones(1, 3, 2), 4, g)


def test_ari_one_for_mask_features_and_near_zero_for_random() -> None:
    g = torch.Generator().manual_seed(0)
    truth = torch.zeros(6, 16, 16, dtype=torch.int64)
    for i in range(6):
        truth[i, i : i + 6, 2 * i : 2 * i + 5] = 1
    mask_feats = torch.stack([truth.double(), 1 - truth.double()], dim=1)  # (B, 2, H, W)
    labels = cluster_maps(mask_feats, 2, g)
    assert labels.shape == (6, 16, 16)
    assert np.all(score_maps(labels, truth) == 1.0)
    rand = cluster_maps(torch.randn(6, 8, 16, 16, generator=g, dtype=torch.float64), 2, g)
    assert abs(float(np.mean(score_maps(rand, truth)))) < 0.05
    # coarse maps equal to the block-averaged mask: ARI 1 at the features' resolution
    coarse = downsample_truth(truth, (8, 8), 2)
    feats = torch.stack([coarse.double(), 1 - coarse.double()], dim=1)
    labels8 = cluster_maps(feats, 2, g)
    assert labels8.shape == (6, 8, 8)
    assert np.all(score_maps(labels8, truth, at="features") == 1.0)
    up = upsample_labels(labels8, (16, 16))
    assert up.shape == (6, 16, 16) and torch.equal(up[:, ::2, ::2], labels8)


class TinyEncoder(nn.Module):
    """Two stages; stage 1 (8x8) reads the bright overlay, prepool (4x4) is random."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.conv = nn.Conv2d(3, 4, 3, padding=1)

    def feature_maps(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        s1 = nn.functional.avg_pool2d(x, 2)
        return {"stage1": s1, "prepool": nn.functional.avg_pool2d(self.conv(s1), 2)}


def test_local_feature_maps_on_an_overlay_suite(tiny_test, tmp_path) -> None:
    res = local_feature_maps(TinyEncoder(), tiny_test, num_images=12)
    assert list(res["maps"]) == ["pixels", "stage1", "prepool"]
    assert res["maps"]["pixels"].shape == (12, 16, 16)
    assert res["maps"]["stage1"].shape == (12, 8, 8)
    assert res["maps"]["prepool"].shape == (12, 4, 4)
    assert res["truth"].shape == (12, 16, 16) and res["k"] == 2
    scores = local_feature_scores(res)
    assert scores["pixels"]["ari"] > 0.9  # the overlay is pure white on a dark texture
    assert scores["stage1"]["n"] == 12 and scores["stage1"]["grid"] == [8, 8]
    path = draw_local_features(tmp_path / "maps.png", res, num_rows=5, scale=2)
    with Image.open(path) as img:
        h, w = grid_size(5, 5, 16, 16, 2, 2, titled=True)
        assert img.size == (w, h) and h > HEADER


def test_multidigits_truth() -> None:
    from empirical.data.registry import build_suite

    ds = build_suite("multidigits", "test", n=8)
    batch = ds.batch(np.arange(8), np.random.default_rng(0))
    truth = segmentation_truth(ds, batch)
    assert truth.shape == (8, 32, 32)
    ink = batch.x[:, 0] >= 0.5
    assert torch.equal(truth > 0, ink)  # every inked pixel lies in one of the two boxes
    for i in range(8):
        assert set(torch.unique(truth[i]).tolist()) == {0, 1, 2}
        r, c = ds.boxes[i, 0], ds.boxes[i, 1]
        a = truth[i] == 1
        assert a.any() and a[r : r + ds.config.size_a, c : c + ds.config.size_a].sum() == a.sum()
