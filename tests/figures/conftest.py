"""Fixtures shared by the figure tests: a stand-in for the sweep's baselines and the overrides of
a micro run (two optimiser steps) for the end-to-end figure tests."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest


class FakeBaselines:
    """What ``figures.experiments.common._sweep`` returns, with fixed levels: every untrained
    initialisation probes each task at 0.5 (an untrained population of two, seeds 3 and 4) and
    raw pixels at 0.4."""

    def __init__(self, root: Path, tasks: tuple[str, ...] = ("shape", "background")) -> None:
        self.root = root
        self.tasks = tasks

    def _record(self) -> dict[str, Any]:
        return {"metrics": {t: {"accuracy": 0.5} for t in self.tasks}}

    def untrained_population(self, name: str, evaluation: Any) -> list[dict[str, Any]]:
        return [self._record() for _ in self.init_seeds(name)]

    def init_seeds(self, name: str) -> list[int]:
        return [3, 4]  # after the trained seeds 0-2, as figures.baselines.population

    def pixel(self, name: str) -> dict[str, Any]:
        return {"metrics": {t: {"accuracy": 0.4} for t in self.tasks}}


@pytest.fixture
def fake_baselines() -> type[FakeBaselines]:
    return FakeBaselines


@pytest.fixture
def micro_overrides() -> list[str]:
    """A run of two optimiser steps of batch 32 on 64 training examples, width 8, one thread."""
    return [
        "data.train_size=64",
        "optim.epochs=1",
        "optim.max_steps=2",
        "optim.batch_size=32",
        "model.width=8",
        "run.knn_every=0",
        "run.threads=1",
    ]
