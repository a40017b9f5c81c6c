"""Fixtures of the diagnostics tests: the tiny overlay suite of ``diag_tiny.py``."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

from diag_tiny import TinyOverlaySuite  # noqa: E402


@pytest.fixture(scope="session")
def tiny_train() -> TinyOverlaySuite:
    return TinyOverlaySuite("train", n=384)


@pytest.fixture(scope="session")
def tiny_test() -> TinyOverlaySuite:
    return TinyOverlaySuite("test", n=192)
