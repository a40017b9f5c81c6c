"""empirical.data.subsets: the one seeded random subset and the one channel-count probe."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from empirical.data.base import Batch, TaskSpec
from empirical.data.subsets import ChannelCounts, channel_counts, probe_batch, random_subset


def test_random_subset_is_random_sorted_distinct_and_seeded() -> None:
    assert np.array_equal(random_subset(5, 0, np.random.default_rng(0)), np.arange(5))
    assert np.array_equal(random_subset(10, 20, np.random.default_rng(0)), np.arange(10))
    s = random_subset(1000, 300, np.random.default_rng(0))
    assert s.dtype == np.int64 and len(np.unique(s)) == 300 and np.all(np.diff(s) > 0)
    assert s.max() > 700  # not the first 300 (suites may be sorted by class)
    assert np.array_equal(s, random_subset(1000, 300, np.random.default_rng(0)))
    assert not np.array_equal(s, random_subset(1000, 300, np.random.default_rng(1)))
    # the exact draw: one choice without replacement, sorted
    ref = np.sort(np.random.default_rng([4, 6]).choice(50, 7, replace=False))
    assert np.array_equal(random_subset(50, 7, np.random.default_rng([4, 6])), ref)


def test_random_subset_of_all_draws_nothing() -> None:
    rng = np.random.default_rng(3)
    random_subset(10, 10, rng)
    assert rng.random() == np.random.default_rng(3).random()


def test_random_subset_rejects_negative_sizes() -> None:
    with pytest.raises(ValueError, match="size"):
        random_subset(10, -1, np.random.default_rng(0))


class _Bits:
    """Five 2 x 4 x 4 examples with three post-view channels (or none)."""

    name = "bits"
    tasks = (TaskSpec("k", "classification", num_classes=2),)

    def __init__(self, bits: int, n: int = 5) -> None:
        self.bits, self.n, self.reads = bits, n, 0

    def __len__(self) -> int:
        return self.n

    def batch(self, indices: np.ndarray, rng: np.random.Generator) -> Batch:
        self.reads += 1
        idx = torch.from_numpy(np.asarray(indices, dtype=np.int64))
        pv = torch.ones(len(idx), self.bits) if self.bits else None
        x = torch.full((len(idx), 2, 4, 4), float(rng.random()), dtype=torch.float64)
        return Batch(x=x, labels={"k": idx % 2}, index=idx, post_view_channels=pv)


def test_channel_counts_of_views_and_post_view_channels() -> None:
    assert channel_counts(_Bits(3)) == ChannelCounts(views=2, post_view=3)
    assert channel_counts(_Bits(3)).total == 5
    assert channel_counts(_Bits(0)) == ChannelCounts(2, 0)


def test_probe_batch_reads_the_first_two_examples_once_with_a_fixed_seed() -> None:
    data = _Bits(0)
    b = probe_batch(data)
    assert b.index.tolist() == [0, 1] and data.reads == 1
    assert float(b.x[0, 0, 0, 0]) == np.random.default_rng(0).random()
    assert probe_batch(_Bits(0, n=1)).index.tolist() == [0]
    with pytest.raises(ValueError, match="empty"):
        probe_batch(_Bits(0, n=0))
