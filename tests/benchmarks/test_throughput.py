"""benchmarks.throughput: the FLOP count and FLOP-fraction arithmetic on a tiny model, with a
fake clock (no timing assertions), and the figures' configurations."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import torch
from torch import nn

from benchmarks import throughput


class StepClock:
    """Each call is 0.25 s after the previous one: every timed step takes 0.25 s."""

    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        self.t += 0.25
        return self.t


B = 8
# two linear layers 5 -> 4 -> 3 on B inputs: forward 2B(5*4 + 4*3); backward: the second layer's
# weight and input gradients 2 * 2B*4*3, the first layer's weight gradient 2B*5*4 (the input
# needs none)
STEP_FLOPS = 2 * B * (5 * 4 + 4 * 3) + 2 * 2 * B * 4 * 3 + 2 * B * 5 * 4


def _tiny_step() -> Callable[[], object]:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(5, 4), nn.Linear(4, 3))
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    x = torch.randn(B, 5)

    def step() -> object:
        opt.zero_grad()
        loss = model(x).square().mean()
        loss.backward()
        opt.step()
        return loss

    return step


def test_a_step_counts_forward_and_backward_matmuls() -> None:
    assert throughput.count_flops(_tiny_step()) == STEP_FLOPS == 1216


def test_measure_turns_flops_and_step_time_into_images_and_a_fraction() -> None:
    m = throughput.measure(_tiny_step(), B, matmul_flop_per_s=1e4, clock=StepClock())
    assert m.step_flops == STEP_FLOPS and m.step_s == pytest.approx(0.25)
    assert m.img_per_s == pytest.approx(B / 0.25)
    assert m.flop_fraction == pytest.approx(STEP_FLOPS / 0.25 / 1e4)  # 0.4864
    with pytest.raises(ValueError, match="step_s"):
        throughput.flop_fraction(STEP_FLOPS, 0.0, 1e4)


def test_configurations_cover_each_figure_preset_once() -> None:
    configs, _ = throughput.configurations()
    keys = [(c.preset, c.overrides) for c in configs]
    assert len(keys) == len(set(keys))
    labels = {c.label for c in configs}
    assert any(lab.startswith("exp_oracle_dropout.") for lab in labels)
    oracle = next(c for c in configs if c.label.startswith("exp_oracle_dropout."))
    assert "model.width=16" in oracle.overrides  # the figure's cpu_scale overrides
    assert {"randbits-cpu", "spirograph-cpu"} <= {c.preset for c in configs}
