"""Two small reads every consumer of a dataset needs: a seeded random subset of its examples, and
the channel counts of its inputs.

- :func:`random_subset`: ``size`` distinct indices of ``range(n_total)``, drawn uniformly at
  random and sorted (suites may be stored sorted by class, so the first ``size`` examples would
  not be a fair sample); all of them for ``size`` 0 or ``size >= n_total``.
- :func:`probe_batch`: the first two examples (read with a fixed seed), to learn what the inputs
  look like; :func:`channel_counts`: how many channels the views see and how many post-view
  channels (Chen et al.'s RandBits) are appended after them, read off that batch.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from empirical.data.base import Batch, MultiTaskDataset


def random_subset(n_total: int, size: int, rng: np.random.Generator) -> np.ndarray:
    """Sorted distinct indices ``(min(size, n_total),)`` int64 of ``range(n_total)``.

    ``size`` 0 or ``>= n_total`` gives ``arange(n_total)`` without drawing from ``rng``; otherwise
    one ``rng.choice(n_total, size, replace=False)``, sorted.

    Raises:
        ValueError: ``n_total`` or ``size`` negative.
    """
    if n_total < 0 or size < 0:
        raise ValueError(f"n_total and size must be >= 0; got n_total {n_total}, size {size}")
    if size == 0 or size >= n_total:
        return np.arange(n_total, dtype=np.int64)
    return np.sort(rng.choice(n_total, size, replace=False)).astype(np.int64)


class ChannelCounts(NamedTuple):
    """Channels of a dataset's inputs: ``views`` (what view generators see) and ``post_view``
    (appended after the views, e.g. RandBits; 0 if none). The encoder reads ``total``."""

    views: int
    post_view: int

    @property
    def total(self) -> int:
        return self.views + self.post_view


def probe_batch(dataset: MultiTaskDataset) -> Batch:
    """The first two examples of ``dataset`` (one if it has one), read with ``default_rng(0)``:
    no caller's generator is drawn from.

    Raises:
        ValueError: an empty dataset.
    """
    if len(dataset) == 0:
        raise ValueError(f"dataset {getattr(dataset, 'name', '?')!r} is empty")
    return dataset.batch(np.arange(min(2, len(dataset))), np.random.default_rng(0))


def channel_counts(dataset: MultiTaskDataset) -> ChannelCounts:
    """Channel counts of ``dataset``'s inputs, read off :func:`probe_batch`."""
    batch = probe_batch(dataset)
    extra = 0 if batch.post_view_channels is None else int(batch.post_view_channels.shape[1])
    return ChannelCounts(int(batch.x.shape[1]), extra)
