"""Suite registry: ``build_suite(name, split, **options)``.

Each suite module calls ``register_suite`` at import time; ``empirical.data.catalog`` imports them
all. Unknown suites and unknown options raise ``ValueError`` naming what is wrong.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from empirical.data.base import DatasetFactory, MultiTaskDataset


@dataclass(frozen=True)
class SuiteSpec:
    name: str
    factory: DatasetFactory
    description: str
    default: bool = True  # part of "every default suite" (data_build_s benchmark)


SUITES: dict[str, SuiteSpec] = {}

D = TypeVar("D", bound=MultiTaskDataset)


def strict_factory(cls: Callable[..., D], suite: str) -> Callable[..., D]:
    """A suite factory ``(split, **options) -> cls(split=split, **options)`` that rejects options
    ``cls`` does not take with a ValueError naming them and the known ones."""
    known = frozenset(inspect.signature(cls).parameters) - {"split"}

    def build(split: str = "train", **options: Any) -> D:
        unknown = sorted(set(options) - known)
        if unknown:
            raise ValueError(
                f"unknown option(s) {unknown} for suite {suite!r}; known: {sorted(known)}"
            )
        return cls(split=split, **options)

    name = getattr(cls, "__name__", repr(cls))
    build.__doc__ = f"Suite factory of {suite!r}: ``{name}`` with checked options."
    return build


def register_suite(
    name: str, factory: DatasetFactory, description: str, default: bool = True
) -> None:
    if name in SUITES:
        raise ValueError(f"suite {name!r} registered twice")
    SUITES[name] = SuiteSpec(name, factory, description, default)


def build_suite(name: str, split: str = "train", **options: Any) -> MultiTaskDataset:
    from empirical.data import catalog  # noqa: F401  (registers every suite)

    if name not in SUITES:
        raise ValueError(f"unknown suite {name!r}; known suites: {', '.join(sorted(SUITES))}")
    if split not in ("train", "test"):
        raise ValueError(f"split must be 'train' or 'test'; got {split!r}")
    return SUITES[name].factory(split=split, **options)
