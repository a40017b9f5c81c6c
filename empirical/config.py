"""Typed training configuration, declared once (nanoGPT style), with dotted command-line overrides.

A :class:`Config` is seven frozen sections: ``data``, ``model``, ``views``, ``loss``, ``optim``,
``regulariser`` and ``run``. Every field states its type and its allowed values (a closed range or
a set of choices) in its metadata; constructing a section with a value out of range raises
:class:`ConfigError` (a ``ValueError``) naming the field and the allowed range. Overrides such as
``optim.lr=0.1`` or ``views.name=oracle`` are parsed by the field's declared type; an unknown key,
a value of the wrong type or out of range is an error, never ignored or silently changed.
"""

from __future__ import annotations

import dataclasses
import json
import math
import typing
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from empirical import losses as _losses
from empirical import models as _models
from empirical import regulariser as _regulariser
from empirical import views as _views

JSONScalar = bool | int | float | str


class ConfigError(ValueError):
    """A bad configuration key or value; ``key`` is the dotted name (e.g. ``"optim.lr"``)."""

    def __init__(self, key: str, message: str) -> None:
        super().__init__(f"{key}: {message}")
        self.key = key


def _spec(
    default: Any,
    doc: str,
    *,
    lo: float | None = None,
    hi: float | None = None,
    choices: tuple[str, ...] | None = None,
    hi_open: bool = False,
) -> Any:
    """A dataclass field with its documentation and allowed values in the metadata
    (``[lo, hi]``, or ``[lo, hi)`` when ``hi_open``)."""
    meta = {"doc": doc, "lo": lo, "hi": hi, "choices": choices, "hi_open": hi_open}
    if isinstance(default, dict):
        return field(default_factory=lambda: dict(default), metadata=meta)
    return field(default=default, metadata=meta)


def allowed(f: dataclasses.Field[Any]) -> str:
    """Human-readable allowed values of a field, e.g. ``"float in [0, 1]"``."""
    kind = _field_type(f)
    m = f.metadata
    if m.get("choices"):
        return "one of " + ", ".join(repr(c) for c in m["choices"])
    if kind is dict:
        return "a JSON object (suite options; KEY=VALUE via data.options.KEY=VALUE)"
    if kind is bool:
        return "bool (true/false)"
    name = kind.__name__
    lo, hi = m.get("lo"), m.get("hi")
    if lo is None and hi is None:
        return name
    lo_s = "-inf" if lo is None else f"{lo:g}"
    hi_s = "inf" if hi is None or math.isinf(hi) else f"{hi:g}"
    close = ")" if m.get("hi_open") else "]"
    return f"{name} in [{lo_s}, {hi_s}{close}"


def _field_type(f: dataclasses.Field[Any]) -> type:
    t = f.type if isinstance(f.type, type) else None
    if t is None:
        name = str(f.type)
        table: dict[str, type] = {"int": int, "float": float, "str": str, "bool": bool}
        if name in table:
            return table[name]
        if name.startswith("dict"):
            return dict
        raise TypeError(f"unsupported config field type {f.type!r} for {f.name}")
    return t


def _check_value(f: dataclasses.Field[Any], value: Any) -> None:
    """Raise ConfigError(f.name, ...) when ``value`` is not of the field's type or out of range."""
    kind = _field_type(f)
    bad_type = ConfigError(f.name, f"expected {allowed(f)}; got {value!r}")
    if kind is bool:
        if not isinstance(value, bool):
            raise bad_type
        return
    if kind is int and (isinstance(value, bool) or not isinstance(value, int)):
        raise bad_type
    if kind is float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise bad_type
        if not math.isfinite(float(value)):
            raise bad_type
    if kind is str and not isinstance(value, str):
        raise bad_type
    if kind is dict:
        if not isinstance(value, dict) or not all(isinstance(k, str) for k in value):
            raise bad_type
        return
    m = f.metadata
    if m.get("choices") and value not in m["choices"]:
        raise bad_type
    lo, hi = m.get("lo"), m.get("hi")
    if (lo is not None and value < lo) or (hi is not None and value > hi):
        raise bad_type
    if hi is not None and m.get("hi_open") and value >= hi:
        raise bad_type


class _Section:
    """Validates every field of a frozen section dataclass on construction."""

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):  # type: ignore[arg-type]
            value = getattr(self, f.name)
            if _field_type(f) is float and isinstance(value, int) and not isinstance(value, bool):
                object.__setattr__(self, f.name, float(value))  # 1 -> 1.0: same value, typed
                value = float(value)
            _check_value(f, value)


INF = math.inf


@dataclass(frozen=True)
class DataConfig(_Section):
    """Which suite to pretrain on (``empirical.data.registry.build_suite``)."""

    suite: str = _spec(
        "overlay-digits-on-natural", "suite name (empirical.data.registry) or module:function"
    )
    options: dict[str, Any] = _spec({}, "keyword options passed to build_suite")  # noqa: RUF009
    train_size: int = _spec(
        0, "examples used per epoch (a seeded random subset; 0 = all)", lo=0, hi=10**8
    )
    knn_bank: int = _spec(1024, "kNN monitor: training examples in the memory bank", lo=0, hi=10**6)
    knn_test: int = _spec(512, "kNN monitor: held-out test examples (0 = off)", lo=0, hi=10**6)


ENCODERS = _models.ENCODERS.names()  # the registries are the one list of allowed names


@dataclass(frozen=True)
class ModelConfig(_Section):
    """Encoder and projection head (``empirical.models``)."""

    encoder: str = _spec("small_resnet", "encoder architecture", choices=ENCODERS)
    width: int = _spec(32, "base width (channels) of small_resnet / convnet", lo=1, hi=4096)
    head_depth: int = _spec(2, "projection head layers (0 = identity)", lo=0, hi=3)
    head_hidden: int = _spec(256, "projection head hidden width", lo=1, hi=65536)
    out_dim: int = _spec(128, "projection output dimension", lo=1, hi=65536)


VIEWS = _views.VIEWS.names()


@dataclass(frozen=True)
class ViewsConfig(_Section):
    """How the two views of each example are made (``empirical.views``)."""

    name: str = _spec("expert", "view generator", choices=VIEWS)
    p: float = _spec(0.5, "oracle: probability that a view drops the overlay", lo=0.0, hi=1.0)
    bit_p: float = _spec(
        0.0, "bitdrop: probability that a view zeroes the RandBits bits", lo=0.0, hi=1.0
    )
    base: str = _spec(
        "none", "views applied after oracle/viewmaker/bitdrop", choices=("none", "expert")
    )
    crop_min: float = _spec(0.2, "expert: smallest RandomResizedCrop area", lo=0.01, hi=1.0)
    crop_max: float = _spec(1.0, "expert: largest RandomResizedCrop area", lo=0.01, hi=1.0)
    jitter: float = _spec(
        0.4,
        "expert: colour jitter strength (brightness, contrast, saturation; hue = jitter/4)",
        lo=0.0,
        hi=1.0,
        hi_open=True,  # ImageExpertViews needs the first three strengths in [0, 1)
    )
    colour: float = _spec(0.8, "expert: probability of colour jitter", lo=0.0, hi=1.0)
    gray: float = _spec(0.2, "expert: probability of grayscale", lo=0.0, hi=1.0)
    blur: float = _spec(0.5, "expert: probability of Gaussian blur", lo=0.0, hi=1.0)
    flip: float = _spec(0.5, "expert: probability of a horizontal flip", lo=0.0, hi=1.0)
    eps: float = _spec(0.05, "viewmaker: L1 budget per pixel", lo=1e-6, hi=10.0)
    vm_width: int = _spec(32, "viewmaker: base channels", lo=1, hi=512)
    vm_blocks: int = _spec(3, "viewmaker: residual blocks", lo=1, hi=5)
    clamp: bool = _spec(False, "viewmaker: clamp views to [0, 1]")

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.crop_min > self.crop_max:
            raise ConfigError(
                "crop_min", f"must be <= crop_max ({self.crop_max:g}); got {self.crop_min:g}"
            )


LOSSES = _losses.LOSSES.names()


@dataclass(frozen=True)
class LossConfig(_Section):
    """Contrastive loss (``empirical.losses``)."""

    name: str = _spec("ntxent", "loss", choices=LOSSES)
    temperature: float = _spec(0.07, "temperature tau", lo=1e-4, hi=100.0)
    lam: float = _spec(1.0, "generalized loss weight lambda of L_dist", lo=0.0, hi=1e6)
    prior: str = _spec("normal", "align_swd prior", choices=_losses.PRIORS)


@dataclass(frozen=True)
class OptimConfig(_Section):
    """Optimisers and schedule. ``batch_size`` is the global batch (all ranks together)."""

    epochs: int = _spec(200, "epochs", lo=1, hi=100000)
    batch_size: int = _spec(256, "global batch size", lo=2, hi=1 << 20)
    optimizer: str = _spec("sgd", "encoder optimiser", choices=("sgd", "adam"))
    lr: float = _spec(0.03, "encoder learning rate", lo=0.0, hi=100.0)
    momentum: float = _spec(0.9, "SGD momentum", lo=0.0, hi=0.9999)
    weight_decay: float = _spec(1e-4, "encoder weight decay", lo=0.0, hi=1.0)
    schedule: str = _spec("constant", "learning-rate schedule", choices=("constant", "cosine"))
    warmup_epochs: int = _spec(0, "linear warm-up epochs", lo=0, hi=100000)
    vm_lr: float = _spec(1e-3, "viewmaker Adam learning rate", lo=0.0, hi=100.0)
    max_steps: int = _spec(0, "stop after this many steps in total (0 = no limit)", lo=0, hi=10**9)


@dataclass(frozen=True)
class RegulariserConfig(_Section):
    """Foster et al.'s gradient penalty: loss = InfoNCE + weight * min(cap, GP)."""

    weight: float = _spec(0.0, "lambda (0 = off)", lo=0.0, hi=1e6)
    num_samples: int = _spec(100, "K fresh alpha' draws per example", lo=1, hi=100000)
    cap: float = _spec(1.0, "cap U", lo=0.0, hi=1e12)
    nuisance: str = _spec(
        "all",
        "alpha the penalty differentiates: all = every one (the paper's, faithful); no-h = "
        "spirograph's h randomised in the views but NOT differentiated, colours only (a "
        "deviation from the paper; docs/foster_penalty.md)",
        choices=_regulariser.NUISANCE_CHOICES,
    )


@dataclass(frozen=True)
class RunConfig(_Section):
    """Seed, device, precision and logging."""

    seed: int = _spec(0, "seed of every generator", lo=0, hi=2**31 - 1)
    device: str = _spec(
        "auto", "device (auto = cuda when available)", choices=("auto", "cpu", "cuda")
    )
    precision: str = _spec(
        "auto",
        "autocast dtype (auto = bf16 on CUDA if supported, fp32 on CPU); fp64 = float64 "
        "weights and inputs (exactness checks)",
        choices=("auto", "fp32", "bf16", "fp16", "fp64"),
    )
    threads: int = _spec(0, "torch CPU threads (0 = torch's default)", lo=0, hi=1024)
    deterministic: bool = _spec(True, "torch.use_deterministic_algorithms (warn only)")
    channels_last: bool = _spec(
        False,
        "encoder weights and step inputs in torch.channels_last (CUDA only: refused on the CPU, "
        "where torch's oneDNN kernels give wrong gradients for some convs; see README)",
    )
    knn_every: int = _spec(1, "kNN monitor every N epochs (0 = off)", lo=0, hi=100000)
    knn_every_steps: int = _spec(
        0,
        "kNN monitor also every N optimiser steps (0 = off): a learning curve for runs of an "
        "epoch or less, such as Spirograph's",
        lo=0,
        hi=10**9,
    )
    knn_k: int = _spec(20, "kNN monitor neighbours", lo=1, hi=1000)
    log_every: int = _spec(10, "plain log line every N steps (--quiet)", lo=1, hi=10**9)
    tensorboard: bool = _spec(
        False, "TensorBoard event files in RUN_DIR/tb (empirical.tracking; the track extra)"
    )
    gallery_every: int = _spec(
        5,
        "TensorBoard view gallery every N epochs (0 = none; with run.tensorboard)",
        lo=0,
        hi=10**6,
    )


SECTIONS: dict[str, type[_Section]] = {
    "data": DataConfig,
    "model": ModelConfig,
    "views": ViewsConfig,
    "loss": LossConfig,
    "optim": OptimConfig,
    "regulariser": RegulariserConfig,
    "run": RunConfig,
}


@dataclass(frozen=True)
class Config:
    """The whole resolved configuration of one run."""

    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    views: ViewsConfig = field(default_factory=ViewsConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    regulariser: RegulariserConfig = field(default_factory=RegulariserConfig)
    run: RunConfig = field(default_factory=RunConfig)

    def to_dict(self) -> dict[str, dict[str, Any]]:
        """JSON-ready nested dict (the form saved as config.json and inside checkpoints)."""
        return {name: dataclasses.asdict(getattr(self, name)) for name in SECTIONS}

    def replace(self, **sections: Mapping[str, Any]) -> Config:
        """A copy with fields of some sections replaced, e.g. ``replace(optim={"lr": 0.1})``."""
        return from_dict(self.to_dict(), {s: dict(v) for s, v in sections.items()})


def from_dict(
    d: Mapping[str, Mapping[str, Any]], updates: Mapping[str, Mapping[str, Any]] | None = None
) -> Config:
    """Build a Config from a nested dict (e.g. a saved config.json); unknown keys are errors."""
    updates = updates or {}
    unknown = sorted((set(d) | set(updates)) - set(SECTIONS))
    if unknown:
        raise ConfigError(unknown[0], f"unknown section; sections are {', '.join(SECTIONS)}")
    parts: dict[str, _Section] = {}
    for name, cls in SECTIONS.items():
        values = {**dict(d.get(name, {})), **dict(updates.get(name, {}))}
        known = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
        for key in values:
            if key not in known:
                raise ConfigError(
                    f"{name}.{key}", f"unknown key; keys of {name} are {', '.join(sorted(known))}"
                )
        try:
            parts[name] = cls(**values)
        except ConfigError as e:
            raise ConfigError(f"{name}.{e.key}", str(e).split(": ", 1)[1]) from None
    return Config(**parts)  # type: ignore[arg-type]


def _parse_scalar(f: dataclasses.Field[Any], text: str, key: str) -> Any:
    kind = _field_type(f)
    try:
        if kind is bool:
            low = text.strip().lower()
            if low in ("true", "1", "yes", "on"):
                return True
            if low in ("false", "0", "no", "off"):
                return False
            raise ValueError(text)
        if kind is int:
            return int(text)
        if kind is float:
            return float(text)
        if kind is dict:
            value = json.loads(text)
            if not isinstance(value, dict):
                raise ValueError(text)
            return value
    except ValueError:
        raise ConfigError(key, f"expected {allowed(f)}; got {text!r}") from None
    return text


def _parse_json_scalar(text: str) -> JSONScalar | list[Any] | dict[str, Any] | None:
    """``data.options.KEY=VALUE``: VALUE as JSON (numbers, true/false, lists), else a string."""
    try:
        value = json.loads(text)
    except json.JSONDecodeError:
        return text
    return typing.cast(JSONScalar | list[Any] | dict[str, Any] | None, value)


def apply_overrides(cfg: Config, overrides: Iterable[str]) -> Config:
    """Apply ``section.key=value`` strings (and ``data.options.NAME=VALUE``) to ``cfg``.

    Raises:
        ConfigError: malformed item, unknown section or key, wrong type, out of range.
    """
    updates: dict[str, dict[str, Any]] = {}
    for item in overrides:
        if "=" not in item:
            raise ConfigError(item, "override must look like section.key=value")
        key, text = item.split("=", 1)
        parts = key.split(".")
        if parts[0] not in SECTIONS:
            raise ConfigError(
                key, f"unknown section {parts[0]!r}; sections are {', '.join(SECTIONS)}"
            )
        section = SECTIONS[parts[0]]
        fields = {f.name: f for f in dataclasses.fields(section)}  # type: ignore[arg-type]
        if len(parts) == 3 and parts[:2] == ["data", "options"] and parts[2]:
            options = updates.setdefault("data", {}).setdefault("options", dict(cfg.data.options))
            options[parts[2]] = _parse_json_scalar(text)
            continue
        if len(parts) != 2 or parts[1] not in fields:
            raise ConfigError(
                key, f"unknown key; keys of {parts[0]} are {', '.join(sorted(fields))}"
            )
        updates.setdefault(parts[0], {})[parts[1]] = _parse_scalar(fields[parts[1]], text, key)
    return from_dict(cfg.to_dict(), updates)


def describe() -> list[str]:
    """One line per key: ``section.key  allowed  (doc)``; used by ``--help-keys``."""
    lines = []
    for name, cls in SECTIONS.items():
        for f in dataclasses.fields(cls):  # type: ignore[arg-type]
            lines.append(f"{name}.{f.name:<14} {allowed(f):<40} {f.metadata['doc']}")
    return lines
