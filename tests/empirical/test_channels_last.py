"""Encoder gradients are right on every CPU ISA (issue 8).

torch 2.13's CPU build (oneDNN 3.12) computes wrong weight gradients, and corrupts the heap, for a
1x1 stride-2 convolution in channels_last when the input has fewer channels than the kernel's
block (IC < 8 with the AVX2 kernels). The project therefore refuses ``run.channels_last`` on the
CPU (``empirical.parts.check_channels_last``). These tests check what production builds: every
preset's encoder and the tiny test encoders, as ``build_parts`` makes them on the CPU, give
float32 gradients equal to a float64 reference of the same weights, at the default ISA and, in
a subprocess, with ``ONEDNN_MAX_CPU_ISA=AVX2`` (oneDNN reads the variable once, at start-up).
"""

from __future__ import annotations

import copy
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from empirical import presets
from empirical.config import Config, apply_overrides
from empirical.distributed import DistInfo
from empirical.parts import build_parts, encoder_kwargs

ROOT = Path(__file__).resolve().parents[2]
CPU = torch.device("cpu")
TOL = 1e-2  # ||g32 - g64|| / ||g64|| per parameter; the oneDNN defect gives 0.1-0.95


def _in_channels(cfg: Config) -> int:
    if cfg.model.encoder == "spectrogram":
        return 1
    return (1 if cfg.data.suite == "randbits-mnist" else 3) + int(cfg.data.options.get("k", 0))


def _cases() -> dict[str, Config]:
    """One config per distinct (encoder, its options, input channels): all presets, plus the
    small widths the tests use (a strided shortcut with 2, 4 or 8 input channels)."""
    out: dict[tuple[object, ...], tuple[str, Config]] = {}
    for name in sorted(presets.PRESETS):
        cfg = presets.get(name)
        key = (cfg.model.encoder, tuple(sorted(encoder_kwargs(cfg).items())), _in_channels(cfg))
        out.setdefault(key, (name, cfg))
    cases = dict(out.values())
    base = presets.get("oracle-digits-cpu")
    for w in (2, 4, 8):
        cases[f"small_resnet-width{w}"] = apply_overrides(base, [f"model.width={w}"])
    return cases


CASES = _cases()


def _input(cfg: Config, c: int, gen: torch.Generator) -> torch.Tensor:
    shape = (8, c, 64, 32) if cfg.model.encoder == "spectrogram" else (8, c, 32, 32)
    return torch.randn(shape, generator=gen)


def relative_gradient_errors(cfg: Config) -> dict[str, float]:
    """||g - g_ref|| / ||g_ref|| per convolution weight: ``g`` from the encoder exactly as
    ``build_parts`` makes it on the CPU (float32, the project's memory format and step input
    format), ``g_ref`` from a float64 contiguous copy of the same weights."""
    c = _in_channels(cfg)
    parts = build_parts(cfg, c, c, 8, 4, CPU, DistInfo())
    enc = parts.encoder.train()
    ref = copy.deepcopy(enc).to(torch.float64, memory_format=torch.contiguous_format)
    gen = torch.Generator().manual_seed(0)
    x = _input(cfg, c, gen)
    if cfg.run.channels_last:  # what the step does with its inputs
        x = x.contiguous(memory_format=torch.channels_last)
    w = torch.randn(enc(x).shape, generator=gen)
    enc.zero_grad(set_to_none=True)
    (enc(x) * w).sum().backward()
    (ref(x.double().contiguous()) * w.double()).sum().backward()
    errors = {}
    for (name, p), q in zip(enc.named_parameters(), ref.parameters(), strict=True):
        assert p.grad is not None and q.grad is not None, name
        if p.dim() != 4:  # conv weights only: a BatchNorm bias gradient is a sum that cancels,
            continue  # so its float32 rounding is large relative to its size
        scale = float(q.grad.norm()) or 1.0
        errors[name] = float((p.grad.double() - q.grad).norm()) / scale
    return errors


@pytest.mark.parametrize("name", sorted(CASES))
def test_encoder_gradients_match_float64(name: str) -> None:
    errors = relative_gradient_errors(CASES[name])
    worst = max(errors, key=errors.__getitem__)
    assert errors[worst] < TOL, f"{name}: {worst} gradient off by {errors[worst]:.3g} (relative)"


def test_default_config_keeps_cpu_encoders_contiguous() -> None:
    cfg = CASES["small_resnet-width4"]
    assert not cfg.run.channels_last
    parts = build_parts(cfg, 3, 3, 8, 4, CPU, DistInfo())
    assert all(p.is_contiguous() for p in parts.encoder.parameters())


@pytest.mark.slow
@pytest.mark.skipif(os.environ.get("ONEDNN_MAX_CPU_ISA") == "AVX2", reason="already on AVX2")
def test_encoder_gradients_match_float64_with_avx2_kernels() -> None:
    """The same checks in a fresh interpreter whose oneDNN is limited to the AVX2 kernels (the
    kernels of CPUs without AVX-512, where the defect shows)."""
    # one thread: there the defect corrupts the heap and kills the process, so it cannot pass
    env = {**os.environ, "ONEDNN_MAX_CPU_ISA": "AVX2", "OMP_NUM_THREADS": "1"}
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", __file__],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    assert " passed" in done.stdout
