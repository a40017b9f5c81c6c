"""Named presets: every experiment of the three papers at two scales (see science.md).

``cpu`` presets (the default scale) run in minutes on 2 cores: 32x32 inputs, a few thousand
training images, a small ResNet (width 32), a slim viewmaker (base 8), batch 128, a few epochs and
Adam (a design of this project: it makes progress within a few epochs). ``paper`` presets use the
papers' hyperparameters: CIFAR-stem ResNet-18, batch 256, SGD lr 0.03 momentum 0.9 wd 1e-4,
viewmaker Adam 1e-3 with 32 base channels and 3 residual blocks, temperature 0.07, 200 epochs
(Tamkin et al.); Foster et al.'s runs use temperature 0.5 and batch 512 with a cosine schedule
(plain SGD instead of LARS).

Names: ``{views}-{overlay}-{scale}`` for the Feature Dropout overlay suites (views in expert,
oracle, viewmaker; overlay in digits, shapes, letters, on natural photographs),
``{views}-audio-{scale}``, ``randbits-{scale}``, ``digit-on-natural-{scale}``,
``digit-on-fashion-{scale}``, ``multidigits-{scale}``, ``lse-{scale}``, ``swd-{prior}-{scale}``,
``spirograph[-gp]-{scale}``, ``foster-colour[-gp]-{scale}``.

A sweep is one preset plus ``section.key=value`` overrides, not a preset per grid point: Chen et
al.'s RandBits grid is ``randbits-{scale}`` with ``data.options.k=K`` and ``loss.temperature=TAU``
(see ``figures/experiments/randbits.py``).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

from empirical.config import Config, ConfigError, from_dict

SCALES = ("cpu", "paper")
Sections = dict[str, dict[str, Any]]


@dataclass(frozen=True)
class Preset:
    name: str
    description: str
    sections: Sections

    def config(self) -> Config:
        return from_dict(copy.deepcopy(self.sections))


def _merge(*parts: Sections) -> Sections:
    out: Sections = {}
    for p in parts:
        for section, values in p.items():
            out.setdefault(section, {}).update(values)
    return out


def _scale(scale: str) -> Sections:
    """Shared settings of a scale (Tamkin et al.'s reference hyperparameters for ``paper``)."""
    if scale == "cpu":
        return {
            "data": {"train_size": 4096, "knn_bank": 1024, "knn_test": 512},
            "model": {"encoder": "small_resnet", "width": 32, "head_hidden": 256, "out_dim": 128},
            "views": {"vm_width": 8, "vm_blocks": 2},
            "loss": {"temperature": 0.1},
            "optim": {
                "epochs": 6,
                "batch_size": 128,
                "optimizer": "adam",
                "lr": 1e-3,
                "weight_decay": 1e-6,
                "vm_lr": 1e-3,
            },
        }
    return {
        "data": {"train_size": 0, "knn_bank": 5000, "knn_test": 2000},
        "model": {"encoder": "resnet18", "head_hidden": 512, "out_dim": 128},
        "views": {"vm_width": 32, "vm_blocks": 3},
        "loss": {"temperature": 0.07},
        "optim": {
            "epochs": 200,
            "batch_size": 256,
            "optimizer": "sgd",
            "lr": 0.03,
            "momentum": 0.9,
            "weight_decay": 1e-4,
            "vm_lr": 1e-3,
        },
    }


PRESETS: dict[str, Preset] = {}
# Chen et al.'s RandBits protocol: random crop of area 0.5-1 only (no flip, colour or blur).
CROP_ONLY = {
    "crop_min": 0.5,
    "crop_max": 1.0,
    "jitter": 0.0,
    "colour": 0.0,
    "gray": 0.0,
    "blur": 0.0,
    "flip": 0.0,
}


def _add(name: str, description: str, sections: Sections) -> None:
    if name in PRESETS:
        raise ValueError(f"preset {name!r} defined twice")
    PRESETS[name] = Preset(name, description, sections)


def _define() -> None:
    overlay_eps = {"digits": 0.05, "shapes": 0.05, "letters": 0.1}
    for scale in SCALES:
        # Feature Dropout (Tamkin et al. 2023): views x overlay suites on natural photographs.
        for overlay, eps in overlay_eps.items():
            suite = f"overlay-{overlay}-on-natural"
            views: dict[str, Sections] = {
                "expert": {"views": {"name": "expert"}},
                "oracle": {"views": {"name": "oracle", "p": 0.5, "base": "expert"}},
                "viewmaker": {"views": {"name": "viewmaker", "eps": eps}},
            }
            for vname, vsec in views.items():
                _add(
                    f"{vname}-{overlay}-{scale}",
                    f"Feature Dropout: {vname} views on {suite} ({scale})",
                    _merge(_scale(scale), {"data": {"suite": suite}}, vsec),
                )
        # Feature Dropout audio: spoken digits + background noise, log-mel inputs.
        for vname, vsec in (
            ("expert", {"views": {"name": "expert"}}),
            ("viewmaker", {"views": {"name": "viewmaker", "eps": 0.05}}),
        ):
            _add(
                f"{vname}-audio-{scale}",
                f"Feature Dropout audio: {vname} views on audio-digits-noise ({scale})",
                _merge(
                    _scale(scale),
                    {"data": {"suite": "audio-digits-noise"}, "model": {"encoder": "spectrogram"}},
                    vsec,
                ),
            )
        # Chen et al.: RandBits (crop-only views, small 3-layer ConvNet). One preset per scale; a
        # grid point is the preset plus ``data.options.k=K`` and ``loss.temperature=TAU``.
        _add(
            f"randbits-{scale}",
            f"Chen et al. RandBits: MNIST + k random bits (default 5; data.options.k=K), "
            f"crop-only ({scale})",
            _merge(
                _scale(scale),
                {
                    "data": {"suite": "randbits-mnist", "options": {"k": 5}},
                    "model": {"encoder": "chen_convnet"},
                    "views": {"name": "expert", **CROP_ONLY},
                },
            ),
        )
        _add(
            f"digit-on-natural-{scale}",
            f"Chen et al. DigitOnImage: MNIST digit on natural photos, expert views ({scale})",
            _merge(_scale(scale), {"data": {"suite": "digit-on-natural"}}),
        )
        _add(
            f"digit-on-fashion-{scale}",
            f"Chen et al. DigitOnImage on Fashion-MNIST items (the image task: the item's class), "
            f"expert views ({scale})",
            _merge(_scale(scale), {"data": {"suite": "digit-on-fashion"}}),
        )
        _add(
            f"multidigits-{scale}",
            f"Chen et al. MultiDigits: two digits, one of varying size, expert views ({scale})",
            _merge(_scale(scale), {"data": {"suite": "multidigits"}}),
        )
        # Chen et al.: generalized contrastive losses (alignment + distribution term).
        _add(
            f"lse-{scale}",
            f"Chen et al. alignment + LogSumExp (lambda 1) on overlay-digits-on-natural ({scale})",
            _merge(
                _scale(scale),
                {
                    "data": {"suite": "overlay-digits-on-natural"},
                    "loss": {"name": "align_lse", "lam": 1.0},
                    "model": {"head_depth": 3},
                },
            ),
        )
        for prior in ("normal", "hypersphere", "hypercube"):
            _add(
                f"swd-{prior}-{scale}",
                f"Chen et al. alignment + SWD to a {prior} prior on overlay-digits ({scale})",
                _merge(
                    _scale(scale),
                    {
                        "data": {"suite": "overlay-digits-on-natural"},
                        "loss": {"name": "align_swd", "lam": 1.0, "prior": prior},
                        "model": {"head_depth": 3},
                    },
                ),
            )
        # Foster et al.: Spirograph with and without the gradient penalty; colour jitter + GP.
        for gp in (False, True):
            tag = "-gp" if gp else ""
            _add(
                f"spirograph{tag}-{scale}",
                f"Foster et al. Spirograph, {'with' if gp else 'without'} gradient penalty "
                f"(lambda 0.01, U 1000) ({scale})",
                _merge(
                    _scale(scale),
                    _foster(scale),
                    {
                        "data": {"suite": "spirograph", "options": _spirograph_size(scale)},
                        "views": {"name": "spirograph"},
                        "regulariser": {"weight": 0.01 if gp else 0.0, "cap": 1000.0},
                    },
                ),
            )
            _add(
                f"foster-colour{tag}-{scale}",
                f"Foster et al. differentiable colour views on natural photos, "
                f"{'with' if gp else 'without'} gradient penalty (lambda 0.1, U 1) ({scale})",
                _merge(
                    _scale(scale),
                    _foster(scale),
                    {
                        "data": {"suite": "overlay-digits-on-natural"},
                        "views": {"name": "foster"},
                        "regulariser": {"weight": 0.1 if gp else 0.0, "cap": 1.0},
                    },
                ),
            )


def _spirograph_size(scale: str) -> dict[str, Any]:
    """Spirograph parameter sets: Foster et al.'s 100k train / 20k test at ``paper`` scale; the
    suite's default (10k / 2k) at ``cpu`` scale."""
    return {"n_train": 100_000, "n_test": 20_000} if scale == "paper" else {}


def _foster(scale: str) -> Sections:
    """Foster et al.'s training defaults: temperature 0.5 (batch 512, cosine, 50 epochs)."""
    if scale == "cpu":
        return {"loss": {"temperature": 0.5}, "regulariser": {"num_samples": 20}}
    return {
        "loss": {"temperature": 0.5},
        "optim": {"batch_size": 512, "schedule": "cosine", "epochs": 50},
        "regulariser": {"num_samples": 100},
    }


_define()
DEFAULT = "viewmaker-digits-cpu"


def get(name: str) -> Config:
    """The resolved config of preset ``name``; ConfigError (listing the presets) if unknown."""
    if name not in PRESETS:
        raise ConfigError("--preset", f"unknown preset {name!r}; see --list")
    return PRESETS[name].config()


def listing() -> list[str]:
    """One line per preset: name and description."""
    width = max(len(n) for n in PRESETS)
    return [f"{p.name:<{width}}  {p.description}" for p in PRESETS.values()]
