"""Encoders, projection heads and the FLOP counter (empirical.models)."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from empirical.models import ENCODERS, ProjectionHead, build_encoder, count_flops


def n_params(m: nn.Module) -> int:
    return sum(p.numel() for p in m.parameters())


# (name, kwargs, input shape without channels) small enough for CPU tests
CASES = [
    ("resnet18", {}, (32, 32)),
    ("small_resnet", {}, (32, 32)),
    ("small_resnet", {"width": 8, "blocks": (2, 1), "stem_stride": 1}, (16, 16)),
    ("convnet", {"channels": (8, 16)}, (16, 16)),
    ("convnet", {"channels": (8, 16, 32), "downsample": "stride", "kernel_size": 5}, (20, 20)),
    ("chen_convnet", {}, (28, 28)),
    ("spectrogram", {}, (64, 37)),
    ("spectrogram", {}, (64, 100)),
]


def test_every_registered_encoder_is_covered() -> None:
    assert {c[0] for c in CASES} == set(ENCODERS)


def test_resnet18_cifar_stem_parameter_count() -> None:
    m = build_encoder("resnet18", 3)
    # 11.17M without a classifier (the standard 11.2M of ResNet-18 minus its 5k-param fc)
    assert 11_100_000 <= n_params(m) <= 11_200_000
    assert m.feat_dim == 512
    stem_conv = m.stem[0]
    assert isinstance(stem_conv, nn.Conv2d)
    assert stem_conv.kernel_size == (3, 3) and stem_conv.stride == (1, 1)
    assert not any(isinstance(x, nn.MaxPool2d) for x in m.modules())
    # k extra RandBits channels add exactly k * 64 * 3 * 3 stem weights
    assert n_params(build_encoder("resnet18", 3 + 5)) - n_params(m) == 5 * 64 * 9


@pytest.mark.parametrize("in_channels", [1, 3, 8])
@pytest.mark.parametrize(("name", "kw", "hw"), CASES)
def test_forward_is_mean_of_prepool(
    name: str, kw: dict, hw: tuple[int, int], in_channels: int
) -> None:
    torch.manual_seed(0)
    m = build_encoder(name, in_channels, **kw).eval()
    x = torch.randn(3, in_channels, *hw)
    maps = m.feature_maps(x)
    assert list(maps)[-1] == "prepool"
    assert maps["prepool"].shape[:2] == (3, m.feat_dim)
    z = m(x)
    assert z.shape == (3, m.feat_dim)
    torch.testing.assert_close(z, maps["prepool"].mean(dim=(2, 3)))
    # each example is encoded independently in eval mode
    torch.testing.assert_close(m(x[1:2]), z[1:2], atol=1e-5, rtol=1e-4)


def test_resolutions_per_stage() -> None:
    maps = build_encoder("resnet18", 3).feature_maps(torch.randn(2, 3, 32, 32))
    assert [tuple(v.shape[1:]) for v in maps.values()] == [
        (64, 32, 32),
        (64, 32, 32),
        (128, 16, 16),
        (256, 8, 8),
        (512, 4, 4),
    ]
    maps = build_encoder("chen_convnet", 1).feature_maps(torch.randn(2, 1, 28, 28))
    assert [v.shape[-1] for v in maps.values()] == [14, 7, 4]


def test_backward_reaches_every_parameter() -> None:
    torch.manual_seed(0)
    m = build_encoder("small_resnet", 4, width=8)
    m(torch.randn(4, 4, 32, 32)).pow(2).sum().backward()
    for name, p in m.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name


@pytest.mark.parametrize(
    ("name", "kw"),
    [
        ("nope", {}),
        ("small_resnet", {"width": 0}),
        ("small_resnet", {"blocks": ()}),
        ("small_resnet", {"stem_stride": 3}),
        ("small_resnet", {"depth": 3}),  # unknown option
        ("convnet", {"kernel_size": 4}),
        ("convnet", {"downsample": "avg"}),
        ("chen_convnet", {"channels": (8, 8)}),
    ],
)
def test_build_encoder_rejects_bad_arguments(name: str, kw: dict) -> None:
    with pytest.raises(ValueError):
        build_encoder(name, 3, **kw)


def test_build_encoder_rejects_zero_channels() -> None:
    with pytest.raises(ValueError, match="in_channels"):
        build_encoder("convnet", 0)


def test_projection_head_depths() -> None:
    torch.manual_seed(0)
    h = torch.randn(5, 16)
    head0 = ProjectionHead(16, 32, 8, depth=0)
    assert head0.out_dim == 16 and n_params(head0) == 0
    assert torch.equal(head0(h), h)
    for depth in (1, 2, 3):
        head = ProjectionHead(16, 32, 8, depth=depth)
        linears = [m for m in head.modules() if isinstance(m, nn.Linear)]
        assert len(linears) == depth
        assert [lin.out_features for lin in linears] == [32] * (depth - 1) + [8]
        assert head(h).shape == (5, 8) and head.out_dim == 8


@pytest.mark.parametrize("depth", [-1, 4, 1.5])
def test_projection_head_rejects_bad_depth(depth: object) -> None:
    with pytest.raises(ValueError, match="depth"):
        ProjectionHead(4, 4, 4, depth=depth)  # type: ignore[arg-type]


def test_count_flops_by_hand() -> None:
    model = nn.Sequential(
        nn.Conv2d(3, 4, 3, padding=1),  # 8x8 out: 2*3*4*9*64 = 13824
        nn.BatchNorm2d(4),
        nn.ReLU(),
        nn.Conv2d(4, 8, 3, stride=2, padding=1, groups=2),  # 4x4 out: 2*4*8*9*16/2 = 4608
        nn.Flatten(),
        nn.Linear(8 * 4 * 4, 10),  # 2*128*10 = 2560
    )
    model.train()
    assert count_flops(model, (3, 8, 8)) == 13824 + 4608 + 2560
    assert model.training and model[1].training  # modes restored
    seq = nn.Sequential(nn.Conv1d(2, 3, 5), nn.Linear(6, 7))  # (2, 10) -> (3, 6) -> (3, 7)
    assert count_flops(seq, (2, 10)) == 2 * 2 * 3 * 5 * 6 + 2 * 6 * 7 * 3


def test_count_flops_resnet18_cifar() -> None:
    # 0.56 GMACs for a 32x32 image: the figure usually quoted for the CIFAR ResNet-18
    flops = count_flops(build_encoder("resnet18", 3), (3, 32, 32))
    assert 1.10e9 <= flops <= 1.12e9
    # default small ResNet (width 32, stem stride 2), worked by hand for a 32x32 input
    stem = 2 * 3 * 32 * 9 * 16 * 16
    # last term of stages 2 and 3: the 1x1 stride-2 shortcut conv
    stage1 = 2 * (2 * 32 * 32 * 9 * 16 * 16)
    stage2 = 2 * 32 * 64 * 9 * 8 * 8 + 2 * 64 * 64 * 9 * 8 * 8 + 2 * 32 * 64 * 8 * 8
    stage3 = 2 * 64 * 128 * 9 * 4 * 4 + 2 * 128 * 128 * 9 * 4 * 4 + 2 * 64 * 128 * 4 * 4
    small = count_flops(build_encoder("small_resnet", 3), (3, 32, 32))
    assert small == stem + stage1 + stage2 + stage3 == 24_559_616


def test_count_flops_rejects_bad_shape() -> None:
    with pytest.raises(ValueError, match="input_shape"):
        count_flops(nn.Linear(2, 2), (0, 2))


@pytest.mark.parametrize("name", sorted(ENCODERS))
def test_encoders_are_device_agnostic(name: str) -> None:
    # the meta device runs shapes only: any tensor created on a fixed device inside forward
    # (a CUDA call, a CPU constant) would fail to mix with meta tensors
    with torch.device("meta"):
        m = build_encoder(name, 5)
        head = ProjectionHead(m.feat_dim, 16, 8, depth=3)
        z = head(m(torch.empty(2, 5, 64, 48)))
    assert z.device.type == "meta" and z.shape == (2, 8)
