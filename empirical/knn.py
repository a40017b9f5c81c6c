"""Online kNN monitor of the training loop (Wu et al. 2018 style, as in SimCLR codebases).

At the end of an epoch the encoder's L2-normalised pooled features of a memory bank of training
examples and of held-out test examples (clean inputs, fixed overlays) are compared by cosine
similarity; each test example takes the similarity-weighted vote of its ``k`` nearest bank
examples (classification) or their mean target (regression, scored by R^2). Both sets are seeded
random samples: suites may be stored sorted by class, so a prefix would hold only a few classes.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import nn

from empirical.data.base import Batch, MultiTaskDataset, append_post_view_channels


def knn_indices(
    seed: int, pool: np.ndarray, n_test_total: int, bank: int, test: int
) -> tuple[np.ndarray, np.ndarray]:
    """Sorted, distinct indices of the memory bank and of the test queries.

    Args:
        pool: the training example indices the bank is drawn from (the run's training subset).
        n_test_total: size of the test split.
        bank, test: requested sizes (capped at the pool / test split sizes).

    Returns:
        ``(bank_idx (min(bank, len(pool)),), test_idx (min(test, n_test_total),))``, each a
        uniformly random sample without replacement, a pure function of ``seed``.
    """
    pool = np.asarray(pool)
    bank_idx = np.random.default_rng([seed, 3]).choice(pool, min(bank, len(pool)), replace=False)
    test_idx = np.random.default_rng([seed, 8]).choice(
        n_test_total, min(test, n_test_total), replace=False
    )
    return np.sort(bank_idx), np.sort(test_idx)


def knn_sets(
    train_set: MultiTaskDataset,
    test_set: MultiTaskDataset,
    pool: np.ndarray,
    bank: int,
    test: int,
    seed: int,
) -> tuple[Batch, Batch]:
    """The monitor's (bank, query) batches: :func:`knn_indices` read with seeded overlays."""
    bank_idx, test_idx = knn_indices(seed, pool, len(test_set), bank, test)
    return (
        train_set.batch(bank_idx, np.random.default_rng([seed, 4])),
        test_set.batch(test_idx, np.random.default_rng([seed, 5])),
    )


@torch.no_grad()
def encode(
    encoder: nn.Module, batch: Batch, device: torch.device, chunk: int = 512
) -> torch.Tensor:
    """L2-normalised pooled features of clean inputs (post-view channels appended): (B, D)."""
    x = append_post_view_channels(batch.x, batch)
    param = next(encoder.parameters(), None)
    dtype = torch.float32 if param is None else param.dtype
    out = [encoder(x[i : i + chunk].to(device, dtype)).float() for i in range(0, len(x), chunk)]
    return nn.functional.normalize(torch.cat(out), dim=1)


@torch.no_grad()
def knn_monitor(
    encoder: nn.Module,
    bank: Batch,
    query: Batch,
    tasks: tuple[Any, ...],
    k: int,
    device: torch.device,
) -> dict[str, float]:
    """Cheap online monitor: cosine kNN (k neighbours, similarity-weighted vote) per task.

    Classification: accuracy of the weighted vote; regression: R^2 of the neighbours' mean.
    """
    was_training = encoder.training
    encoder.eval()
    try:
        fb, fq = encode(encoder, bank, device), encode(encoder, query, device)
    finally:
        encoder.train(was_training)
    sim = fq @ fb.T  # (Nq, D) @ (D, Nb) -> (Nq, Nb)
    k = min(k, sim.shape[1])
    top, idx = sim.topk(k, dim=1)  # (Nq, k)
    weight = torch.exp(top / 0.07)
    out: dict[str, float] = {}
    for task in tasks:
        yb, yq = bank.labels[task.name].to(device), query.labels[task.name].to(device)
        if task.kind == "classification":
            votes = torch.zeros(len(yq), task.num_classes, device=device)
            votes.scatter_add_(1, yb[idx], weight)
            out[task.name] = float((votes.argmax(1) == yq).float().mean())
        else:
            pred = yb[idx].float().mean(dim=1)  # (Nq, dim)
            resid = ((pred - yq.float()) ** 2).sum()
            total = ((yq.float() - yq.float().mean(0)) ** 2).sum().clamp_min(1e-12)
            out[task.name] = float(1.0 - resid / total)
    return out
