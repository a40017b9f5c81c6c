"""Fixtures shared by the view tests."""

from __future__ import annotations

import math
from collections.abc import Callable

import pytest
import torch


def _check_independent_drops(d1: torch.Tensor, d2: torch.Tensor, p: float) -> None:
    """Each view's drop indicator (one boolean per example) has mean p, and both views drop
    together with probability p^2 (independent draws); tolerance 5 binomial standard errors of
    the n examples."""
    n = d1.numel()
    sd = math.sqrt(p * (1 - p) / n)
    assert abs(float(d1.float().mean()) - p) < 5 * sd
    assert abs(float(d2.float().mean()) - p) < 5 * sd
    sd_joint = math.sqrt(p * p * (1 - p * p) / n)
    assert abs(float((d1 & d2).float().mean()) - p * p) < 5 * sd_joint


@pytest.fixture
def check_independent_drops() -> Callable[[torch.Tensor, torch.Tensor, float], None]:
    return _check_independent_drops
