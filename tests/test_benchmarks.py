"""The benchmarks time the code production runs: ``benchmarks.viewmaker.preset_step`` builds a
preset's parts as the training loop does, post-view channels (RandBits bits) included."""

from __future__ import annotations

import math
import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks.viewmaker import preset_step  # noqa: E402


@pytest.mark.slow
def test_preset_step_builds_the_encoder_for_views_plus_post_view_channels() -> None:
    """randbits-cpu (5 bits by default): the encoder reads 1 image channel + 5 bit planes, and
    the production step runs on the preset's first batch."""
    cfg, batch, parts, step = preset_step("randbits-cpu")
    assert batch.post_view_channels is not None
    bits = int(batch.post_view_channels.shape[1])
    assert bits == cfg.data.options["k"] == 5
    conv = next(m for m in parts.encoder.modules() if isinstance(m, torch.nn.Conv2d))
    assert conv.in_channels == batch.x.shape[1] + bits
    torch.manual_seed(0)
    loss, stop = step()  # type: ignore[misc]
    assert math.isfinite(float(loss)) and stop is False
