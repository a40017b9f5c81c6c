"""Feature extraction (empirical.features): layers, feature averaging against a reference built
from the views themselves, identical copies, post-view channels, eval mode."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from empirical.data.base import Batch, TaskSpec, append_post_view_channels
from empirical.features import encode, extract_averaged_features, extract_features
from empirical.models import ProjectionHead, small_resnet
from empirical.views.base import IdentityViews
from empirical.views.expert import ImageExpertViews


class Blobs:
    """``n`` random 3 x 12 x 12 images; task ``k``: class of the example (index mod 3); optional
    RandBits-style post-view channels and a per-read random brightness (from ``rng``)."""

    name = "blobs"
    split = "test"
    input_shape = (3, 12, 12)

    def __init__(self, n: int = 20, bits: int = 0) -> None:
        rng = np.random.default_rng(0)
        self.x = rng.uniform(0.0, 1.0, (n, 3, 12, 12)).astype(np.float32)
        self.bits = rng.integers(0, 2, (n, max(bits, 1))).astype(np.float32)[:, :bits]
        self.tasks = (TaskSpec("k", "classification", num_classes=3),)

    def __len__(self) -> int:
        return len(self.x)

    def batch(self, indices: np.ndarray, rng: np.random.Generator) -> Batch:
        idx = np.asarray(indices, dtype=np.int64)
        scale = rng.uniform(0.9, 1.0, (len(idx), 1, 1, 1)).astype(np.float32)
        return Batch(
            x=torch.from_numpy(self.x[idx] * scale),
            labels={"k": torch.from_numpy(idx % 3)},
            index=torch.from_numpy(idx),
            post_view_channels=torch.from_numpy(self.bits[idx]) if self.bits.shape[1] else None,
        )


def _models(in_channels: int = 3) -> tuple[torch.nn.Module, torch.nn.Module]:
    torch.manual_seed(0)
    enc = small_resnet(in_channels, width=4)
    head = ProjectionHead(enc.feat_dim, 8, 5, depth=2)
    with torch.no_grad():  # non-trivial BatchNorm statistics
        for m in enc.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.uniform_(-0.2, 0.2)
                m.running_var.uniform_(0.5, 1.5)
    return enc, head


def test_layers_shapes_and_prepool_mean_is_pooled() -> None:
    enc, head = _models()
    data = Blobs()
    pre = extract_features(enc, head, data, "prepool", batch_size=7)
    pooled = extract_features(enc, head, data, "pooled", batch_size=7)
    proj = extract_features(enc, head, data, "projection", batch_size=7)
    assert pre.x.shape == (20, 16 * 2 * 2)  # width 4 -> 16 channels at 2 x 2 for 12 x 12
    assert pooled.x.shape == (20, 16) and proj.x.shape == (20, 5)
    torch.testing.assert_close(pre.x.reshape(20, 16, 4).mean(-1), pooled.x)
    assert torch.equal(pre.labels["k"], torch.arange(20) % 3)
    assert torch.equal(pre.index, torch.arange(20))


def test_features_do_not_depend_on_batch_size_and_keep_modes_and_statistics() -> None:
    """Eval mode: BatchNorm uses running statistics, so an example's features do not depend on
    its batch; the modules' modes and buffers are as before the call."""
    enc, head = _models()
    enc.train()
    head.eval()
    before = {k: v.clone() for k, v in enc.state_dict().items()}
    a = extract_features(enc, head, Blobs(), "pooled", batch_size=20)
    b = extract_features(enc, head, Blobs(), "pooled", batch_size=3)
    torch.testing.assert_close(a.x, b.x, rtol=1e-5, atol=1e-6)
    assert enc.training and not head.training
    for k, v in enc.state_dict().items():
        assert torch.equal(v, before[k]), k


@pytest.mark.parametrize("m", [1, 2, 3, 6])
def test_identical_copies_change_nothing(m: int) -> None:
    enc, head = _models()
    clean = extract_features(enc, head, Blobs(), "prepool", batch_size=8)
    avg = extract_features(enc, head, Blobs(), "prepool", IdentityViews(), m, batch_size=8)
    assert avg.num_copies == m
    torch.testing.assert_close(avg.x, clean.x, rtol=1e-6, atol=1e-6)


def test_averaging_equals_mean_over_the_views_drawn() -> None:
    """Reference: draw the same views by hand (same generators) and average their features."""
    enc, head = _models()
    data = Blobs(n=10)
    views = ImageExpertViews()
    out = extract_averaged_features(
        enc,
        head,
        data,
        "pooled",
        views,
        copies=(1, 3, 4),
        batch_size=10,
        rng=np.random.default_rng(1),
        generator=torch.Generator().manual_seed(2),
    )
    batch = data.batch(np.arange(10), np.random.default_rng(1))
    gen = torch.Generator().manual_seed(2)
    enc.eval()
    with torch.no_grad():
        copies = []
        for _ in range(2):
            pair = views(batch, gen)
            copies += [enc(pair.v1), enc(pair.v2)]
    for m in (1, 3, 4):
        torch.testing.assert_close(out[m].x, torch.stack(copies[:m]).mean(0), rtol=1e-5, atol=1e-6)
    assert not torch.allclose(out[1].x, out[4].x)  # the views really differ


def test_post_view_channels_are_appended() -> None:
    enc, head = _models(in_channels=3 + 4)
    data = Blobs(bits=4)
    f = extract_features(enc, head, data, "pooled")
    batch = data.batch(np.arange(20), np.random.default_rng(0))
    enc.eval()
    with torch.no_grad():
        ref = encode(enc, head, append_post_view_channels(batch.x, batch), "pooled")
    torch.testing.assert_close(f.x, ref)
    g = extract_features(enc, head, data, "pooled", IdentityViews(), 2)  # through views too
    torch.testing.assert_close(g.x, ref, rtol=1e-6, atol=1e-6)


def test_bad_arguments() -> None:
    enc, head = _models()
    with pytest.raises(ValueError, match="layer"):
        extract_features(enc, head, Blobs(), "logits")
    with pytest.raises(ValueError, match="needs views"):
        extract_features(enc, head, Blobs(), "pooled", None, 2)
    with pytest.raises(ValueError, match="num_copies"):
        extract_features(enc, head, Blobs(), "pooled", IdentityViews(), 0)
    with pytest.raises(ValueError, match="batch_size"):
        extract_features(enc, head, Blobs(), "pooled", batch_size=0)
