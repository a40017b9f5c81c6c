"""Viewmaker: architecture (hand parameter count), the L1 budget, noise, shapes, grad_reverse."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from empirical.data.base import Batch
from empirical.views.viewmaker import (
    L1_SMOOTHING,
    Viewmaker,
    ViewmakerViews,
    grad_reverse,
    l1_budget,
)


def gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def conv(cin: int, cout: int, k: int) -> int:
    return cin * cout * k * k + cout


def inorm(c: int) -> int:
    return 2 * c


def test_parameter_count_matches_hand_count_at_base_32() -> None:
    c = 3
    down = conv(c + 1, 32, 9) + inorm(32) + conv(32, 64, 3) + inorm(64) + conv(64, 128, 3)
    down += inorm(128)
    # residual block k sees 128 + k channels (one noise channel added before each, kept)
    res = sum(2 * conv(128 + k, 128 + k, 3) + 2 * inorm(128 + k) for k in (1, 2, 3))
    up = conv(128 + 3, 64, 3) + inorm(64) + conv(64, 32, 3) + inorm(32) + conv(32, c, 9)
    vm = Viewmaker(c, base_channels=32, num_res_blocks=3)
    assert sum(p.numel() for p in vm.parameters()) == down + res + up == 1_120_131


def test_layer_widths_scale_with_base_channels() -> None:
    vm = Viewmaker(1, base_channels=8, num_res_blocks=5, noise_channels=2)
    assert vm.down[0][1].in_channels == 1 + 2
    assert [m[1].out_channels for m in vm.down] == [8, 16, 32]
    assert [b.conv1[1].in_channels for b in vm.res_blocks] == [34, 36, 38, 40, 42]
    assert vm.up[0][1].in_channels == 42
    assert vm.out[1].out_channels == 1
    assert all(isinstance(m[0], torch.nn.ReflectionPad2d) for m in [*vm.down, *vm.up, vm.out])


def _delta_and_raw(vm: Viewmaker, x: torch.Tensor, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    raw: list[torch.Tensor] = []
    handle = vm.out.register_forward_hook(lambda m, i, o: raw.append(o))
    try:
        delta = vm.delta(x, gen(seed))
    finally:
        handle.remove()
    return delta, raw[0]


@settings(deadline=None, max_examples=8, derandomize=True)
@given(eps=st.floats(0.01, 0.5), seed=st.integers(0, 2**16), side=st.sampled_from([8, 11, 12]))
def test_l1_budget_holds_exactly_per_example(eps: float, seed: int, side: int) -> None:
    torch.manual_seed(seed)
    vm = Viewmaker(3, base_channels=4, num_res_blocks=1, eps=eps).double()
    x = torch.rand(3, 3, side, side, generator=gen(seed), dtype=torch.float64)
    delta, raw = _delta_and_raw(vm, x, seed)
    m = torch.tanh(raw).abs().mean(dim=(1, 2, 3))
    got = delta.abs().mean(dim=(1, 2, 3))
    torch.testing.assert_close(got, eps * m / (m + L1_SMOOTHING), rtol=1e-12, atol=0.0)
    assert torch.all((got - eps).abs() <= eps * L1_SMOOTHING / m + 1e-15)
    torch.testing.assert_close(vm(x, gen(seed)), x + delta)


def test_l1_budget_function_from_equation() -> None:
    out = torch.tensor([[[[0.0, 1.0], [-2.0, 3.0]]]], dtype=torch.float64)
    t = torch.tanh(out)
    m = t.abs().mean()
    torch.testing.assert_close(l1_budget(out, 0.1), t * 0.1 / (m + 1e-4))
    assert l1_budget(torch.zeros(1, 1, 2, 2), 0.1).abs().max() == 0.0  # no direction: no change


def test_views_are_stochastic_and_reproducible() -> None:
    vm = Viewmaker(3, base_channels=4, num_res_blocks=2)
    x = torch.rand(4, 3, 16, 16, generator=gen(0))
    g = gen(1)
    a, b = vm(x, g), vm(x, g)
    assert (a - b).abs().mean() > 1e-3  # fresh noise per call
    torch.testing.assert_close(vm(x, gen(1)), a, rtol=0, atol=0)


@pytest.mark.parametrize("shape", [(2, 3, 32, 32), (2, 3, 28, 28), (2, 1, 15, 17), (2, 1, 64, 9)])
def test_shapes_including_odd_sizes(shape: tuple[int, int, int, int]) -> None:
    vm = Viewmaker(shape[1], base_channels=4, num_res_blocks=1)
    x = torch.rand(*shape, generator=gen(0))
    assert vm(x, gen(1)).shape == shape


def test_clamp_keeps_views_in_unit_range() -> None:
    vm = Viewmaker(3, base_channels=4, num_res_blocks=1, eps=0.5, clamp=True)
    v = vm(torch.rand(2, 3, 8, 8, generator=gen(0)), gen(1))
    assert v.min() >= 0.0 and v.max() <= 1.0
    unclamped = Viewmaker(3, base_channels=4, num_res_blocks=1, eps=0.5)
    w = unclamped(torch.rand(2, 3, 8, 8, generator=gen(0)), gen(1))
    assert w.min() < 0.0 or w.max() > 1.0  # eps = 0.5 leaves the unit box somewhere


@pytest.mark.parametrize(
    "kw",
    [
        {"in_channels": 0},
        {"base_channels": 0},
        {"num_res_blocks": 0},
        {"num_res_blocks": 6},
        {"eps": 0.0},
        {"noise_channels": 0},
    ],
)
def test_bad_arguments_raise(kw: dict[str, float]) -> None:
    args = {"in_channels": 3, **kw}
    with pytest.raises(ValueError, match=next(iter(kw))):
        Viewmaker(**args)  # type: ignore[arg-type]


def test_wrong_input_channels_raise() -> None:
    with pytest.raises(ValueError, match="input must be"):
        Viewmaker(3, base_channels=4)(torch.rand(1, 1, 8, 8), gen(0))


def test_grad_reverse_is_identity_forward_and_negates_backward() -> None:
    x = torch.randn(5, dtype=torch.float64, requires_grad=True)
    w = torch.randn(5, dtype=torch.float64)
    y = grad_reverse(x)
    assert torch.equal(y, x)
    (w * y).sum().backward()
    assert x.grad is not None
    torch.testing.assert_close(x.grad, -w)


def test_viewmaker_views_pair_marked_adversarial_with_post_view_channels() -> None:
    views = ViewmakerViews(Viewmaker(3, base_channels=4, num_res_blocks=1))
    bits = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    x = torch.rand(2, 3, 8, 8)
    batch = Batch(x=x, labels={}, index=torch.arange(2), post_view_channels=bits)
    pair = views(batch, gen(0))
    assert pair.adversarial
    assert pair.v1.shape == (2, 5, 8, 8)
    assert torch.equal(pair.v1[:, 3:], pair.v2[:, 3:])
    assert torch.equal(pair.v1[:, 3:, 4, 4], bits)
    assert not torch.equal(pair.v1[:, :3], pair.v2[:, :3])
    assert set(dict(views.named_parameters())) == {
        f"viewmaker.{k}" for k, _ in views.viewmaker.named_parameters()
    }
