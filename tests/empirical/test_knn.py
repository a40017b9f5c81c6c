"""The online kNN monitor's sets (empirical.knn): seeded random samples, not prefixes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from empirical.knn import knn_indices, knn_sets

HERE = Path(__file__).resolve().parent


def test_knn_indices_are_seeded_random_samples_of_the_pool() -> None:
    pool = np.arange(100, 400, 3)  # 100 training-subset indices
    bank, test = knn_indices(5, pool, 1000, 20, 50)
    again = knn_indices(5, pool, 1000, 20, 50)
    assert np.array_equal(bank, again[0]) and np.array_equal(test, again[1])
    assert set(bank.tolist()) <= set(pool.tolist()) and len(np.unique(bank)) == 20
    assert np.all(np.diff(test) > 0) and test.max() < 1000 and len(test) == 50
    assert test.max() > 500  # not the first 50 test examples
    other = knn_indices(6, pool, 1000, 20, 50)
    assert not np.array_equal(test, other[1]) and not np.array_equal(bank, other[0])
    # sizes are capped at what exists
    small_bank, small_test = knn_indices(0, pool[:5], 7, 20, 50)
    assert sorted(small_bank.tolist()) == pool[:5].tolist() and small_test.tolist() == list(
        range(7)
    )


def test_knn_sets_cover_every_class_of_class_sorted_splits(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.syspath_prepend(str(HERE))
    from test_train import TinySuite

    train_set = TinySuite("train", n=512, sort_labels=True)
    test_set = TinySuite("test", n=512, sort_labels=True)
    assert set(test_set.bg[:64].tolist()) == {0}  # a prefix would see one class
    subset = np.arange(512)
    bank, query = knn_sets(train_set, test_set, subset, 64, 64, seed=0)
    assert len(bank.x) == 64 and len(query.x) == 64
    assert set(bank.labels["background"].tolist()) == {0, 1, 2, 3}
    assert set(query.labels["background"].tolist()) == {0, 1, 2, 3}
