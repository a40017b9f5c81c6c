"""Suite registry: ``build_suite(name, split, **options)`` over the table :data:`SUITES`.

This module imports every suite module and registers their factories explicitly (the suite
modules never import it), so the table is full as soon as this module is imported. Unknown suites
and unknown options raise ``ValueError`` naming what is wrong (``empirical.registry``).
"""

from __future__ import annotations

import functools
from typing import Any

from empirical.data import audio, chen, overlay, spirograph
from empirical.data.base import DatasetFactory, MultiTaskDataset
from empirical.registry import Registry

SUITES: Registry[DatasetFactory] = Registry("suite")
_NEEDS_USER_DATA: set[str] = set()  # not built offline with default options (CIFAR-10 files)

SUITES.register(
    "randbits-mnist",
    chen.make_randbits,
    description="MNIST digits + k random bits appended after the views (Chen et al.); task: digit",
)
SUITES.register(
    "digit-on-natural",
    chen.make_digit_on_image,
    description="photo crop with a 3x3 grid of one digit from a pool of N (Chen et al.); "
    "tasks: digit, image",
)
SUITES.register(
    "digit-on-fashion",
    chen.make_digit_on_fashion,
    description="Fashion-MNIST item with a 3x3 grid of one digit from a pool of N (Chen et al.'s "
    "DigitOnImage with a class-structured image); tasks: digit, image (the item's class)",
)
SUITES.register(
    "multidigits",
    chen.make_multidigits,
    description="two digits, one of varying size (Chen et al.); tasks: digit_a, digit_b",
)
for _ov in overlay.OVERLAYS:
    _task, _classes = overlay.OVERLAY_TASK[_ov]
    for _bg in overlay.BACKGROUNDS:
        SUITES.register(
            f"overlay-{_ov}-on-{_bg}",
            functools.partial(overlay.make_overlay_suite, _ov, _bg),
            description=f"{_ov} ({_classes} classes) overlaid on {_bg} backgrounds "
            f"(Feature Dropout); tasks: background, {_task}",
        )
        if _bg == "cifar10":
            _NEEDS_USER_DATA.add(f"overlay-{_ov}-on-{_bg}")
SUITES.register(
    "spirograph",
    spirograph.build_spirograph,
    description="Foster et al.'s Spirograph: differentiable renderer, targets (m, b, sigma, fr), "
    "nuisance (h, colours)",
)
SUITES.register(
    "audio-digits-noise",
    audio.build_audio_digits_noise,
    description="Spoken digits (eSpeak NG voices as speakers) in babble/traffic/machinery "
    "noise; log-mels",
)


def needs_user_data(name: str) -> bool:
    """True for suites that need files the user provides (not part of "every default suite")."""
    SUITES.lookup(name)
    return name in _NEEDS_USER_DATA


def default_suites() -> tuple[str, ...]:
    """Every suite that builds offline with default options, in registration order."""
    return tuple(n for n in SUITES if n not in _NEEDS_USER_DATA)


def build_suite(name: str, split: str = "train", **options: Any) -> MultiTaskDataset:
    """The ``split`` ("train" | "test") of suite ``name`` built with ``options``."""
    SUITES.lookup(name)  # an unknown name is reported first
    if split not in ("train", "test"):
        raise ValueError(f"split must be 'train' or 'test'; got {split!r}")
    return SUITES.build(name, split=split, **options)
