"""Which training examples each step of a run reads: the subset, the epoch orders, rank slices.

A run trains on :func:`training_subset` (all examples, or a seeded random subset of
``data.train_size``); epoch ``e`` visits it in the order :func:`epoch_permutation` ``(seed, e)``;
step ``s`` of an epoch reads positions ``[s * B, (s + 1) * B)`` of that order (``B`` the global
batch), of which rank ``r`` of ``W`` reads the ``r``-th of ``W`` equal slices.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from empirical.config import Config, ConfigError
from empirical.data.subsets import random_subset


def training_subset(seed: int, n_total: int, size: int) -> np.ndarray:
    """Sorted indices of the training examples a run uses, shape ``(min(size, n_total),)``.

    ``size`` 0 (or >= ``n_total``) means all examples. Otherwise a uniformly random subset drawn
    once from ``seed`` (suites may be stored sorted by class, so a prefix would hold only a few
    classes); each epoch then visits it in the order of :func:`epoch_permutation`.
    """
    return random_subset(n_total, size, np.random.default_rng([seed, 6]))


def epoch_permutation(seed: int, epoch: int, n: int) -> np.ndarray:
    """The order of the ``n`` training examples in ``epoch`` (a pure function of seed, epoch)."""
    return np.random.default_rng([seed, 2, epoch]).permutation(n)


@dataclass(frozen=True)
class Plan:
    """The run's data schedule: ``subset`` (indices into the ``n_total`` training examples), the
    global and per-rank batch, steps per epoch and in all (``optim.max_steps`` caps the total)."""

    seed: int
    n_total: int  # examples in the training split
    subset: np.ndarray
    epochs: int
    batch_size: int
    local_batch: int
    steps_per_epoch: int
    steps_total: int

    @classmethod
    def of(cls, cfg: Config, n_total: int, world: int) -> Plan:
        """The plan of ``cfg`` over a training split of ``n_total`` examples and ``world`` ranks.

        Raises:
            ConfigError: ``optim.batch_size`` not divisible by ``world`` or larger than the
                training subset.
        """
        o = cfg.optim
        if o.batch_size % world:
            raise ConfigError(
                "optim.batch_size", f"{o.batch_size} is not divisible by {world} processes"
            )
        subset = training_subset(cfg.run.seed, n_total, cfg.data.train_size)
        steps_per_epoch = len(subset) // o.batch_size
        if steps_per_epoch < 1:
            raise ConfigError(
                "optim.batch_size", f"{o.batch_size} exceeds the {len(subset)} training examples"
            )
        steps_total = steps_per_epoch * o.epochs
        if o.max_steps:
            steps_total = min(steps_total, o.max_steps)
        return cls(
            cfg.run.seed,
            n_total,
            subset,
            o.epochs,
            o.batch_size,
            o.batch_size // world,
            steps_per_epoch,
            steps_total,
        )

    def permutation(self, epoch: int) -> np.ndarray:
        return epoch_permutation(self.seed, epoch, len(self.subset))

    def indices(self, permutation: np.ndarray, step: int, rank: int) -> np.ndarray:
        """Example indices rank ``rank`` reads at ``step`` of the epoch ordered by
        ``permutation``: shape ``(local_batch,)``."""
        lo = step * self.batch_size + rank * self.local_batch
        return self.subset[permutation[lo : lo + self.local_batch]]

    def finished(self, epoch: int, global_step: int) -> bool:
        return epoch >= self.epochs or global_step >= self.steps_total
