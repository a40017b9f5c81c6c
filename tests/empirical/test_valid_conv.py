"""``valid_conv2d`` is ``F.conv2d`` (stride 1, no padding) in value and in every gradient, and the
viewmaker built on it computes what plain convolutions compute."""

from __future__ import annotations

from contextlib import nullcontext

import pytest
import torch
import torch.nn.functional as F

from empirical.models.valid_conv import FFT_MIN_TAPS, plain_conv2d, valid_conv2d
from empirical.views.viewmaker import Viewmaker

SHAPES = [  # (batch, C_in, C_out, kernel h, kernel w, input h, input w)
    (2, 3, 2, 3, 3, 7, 6),  # direct, fast input gradient
    (3, 2, 3, 5, 2, 9, 8),
    (1, 1, 1, 1, 1, 4, 4),
    (2, 2, 3, 5, 5, 8, 7),  # FFT (25 taps)
    (1, 2, 2, 9, 9, 10, 9),
]


def test_both_paths_are_covered() -> None:
    taps = [kh * kw for _, _, _, kh, kw, _, _ in SHAPES]
    assert min(taps) < FFT_MIN_TAPS <= max(taps)


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("bias", [True, False])
def test_gradcheck_float64(shape: tuple[int, ...], bias: bool) -> None:
    b, cin, cout, kh, kw, h, w = shape
    g = torch.Generator().manual_seed(0)
    x = torch.randn(b, cin, h, w, dtype=torch.float64, generator=g, requires_grad=True)
    wt = torch.randn(cout, cin, kh, kw, dtype=torch.float64, generator=g, requires_grad=True)
    inputs = [x, wt]
    if bias:
        inputs.append(torch.randn(cout, dtype=torch.float64, generator=g, requires_grad=True))
    assert torch.autograd.gradcheck(lambda *a: valid_conv2d(*a), inputs)
    assert torch.autograd.gradgradcheck(lambda *a: valid_conv2d(*a), inputs)


@pytest.mark.parametrize("shape", SHAPES)
def test_matches_conv2d_float32(shape: tuple[int, ...]) -> None:
    b, cin, cout, kh, kw, h, w = shape
    g = torch.Generator().manual_seed(1)
    x0 = torch.randn(b, cin, h, w, generator=g)
    w0 = torch.randn(cout, cin, kh, kw, generator=g)
    b0 = torch.randn(cout, generator=g)
    grad = torch.randn(b, cout, h - kh + 1, w - kw + 1, generator=g)
    results = []
    for fn in (valid_conv2d, F.conv2d):
        x, wt, bs = (t.clone().requires_grad_() for t in (x0, w0, b0))
        y = fn(x, wt, bs)
        y.backward(grad)
        results.append((y.detach(), x.grad, wt.grad, bs.grad))
    for ours, theirs in zip(*results, strict=True):
        assert ours is not None and theirs is not None
        # float32 rounding: the FFT's weight gradient sums over batch and pixels (about 2e-5)
        error = (ours - theirs).abs().max() / theirs.abs().max()
        assert error < 1e-4


def test_plain_conv2d_is_torchs_own_conv() -> None:
    x, wt = torch.randn(1, 2, 12, 12), torch.randn(3, 2, 9, 9)
    with plain_conv2d():
        plain = valid_conv2d(x, wt)
    torch.testing.assert_close(plain, F.conv2d(x, wt), rtol=0, atol=0)  # bit for bit
    assert not torch.equal(valid_conv2d(x, wt), plain)  # the FFT path rounds differently


def test_only_requested_gradients() -> None:
    x = torch.randn(2, 3, 6, 6)  # no grad: the viewmaker's first conv reads data
    wt = torch.randn(4, 3, 3, 3, requires_grad=True)
    valid_conv2d(x, wt).sum().backward()
    assert x.grad is None and wt.grad is not None


def _viewmaker_grads(plain: bool) -> dict[str, torch.Tensor]:
    torch.manual_seed(0)
    vm = Viewmaker(3, base_channels=4, num_res_blocks=1).double()
    x = torch.rand(4, 3, 12, 10, dtype=torch.float64, generator=torch.Generator().manual_seed(2))
    with plain_conv2d() if plain else nullcontext():
        v = vm(x, torch.Generator().manual_seed(3))
        (v * torch.linspace(-1, 1, v.numel(), dtype=v.dtype).view_as(v)).sum().backward()
    return {n: p.grad.clone() for n, p in vm.named_parameters() if p.grad is not None}


def test_viewmaker_gradients_equal_plain_convolutions() -> None:
    ours, plain = _viewmaker_grads(False), _viewmaker_grads(True)
    assert ours.keys() == plain.keys() and len(ours) > 10
    scale = max(g.abs().max().item() for g in plain.values())
    for name in ours:
        torch.testing.assert_close(ours[name], plain[name], rtol=1e-9, atol=1e-12 * scale)


def test_viewmaker_checkpoint_keys_unchanged() -> None:
    keys = set(Viewmaker(3, base_channels=4, num_res_blocks=1).state_dict())
    assert {"down.0.1.weight", "down.0.1.bias", "out.1.weight", "up.0.1.weight"} <= keys
    assert "res_blocks.0.conv1.1.weight" in keys
