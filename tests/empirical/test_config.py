"""Typed config, dotted overrides, validation errors (exit status 2) and presets."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from empirical import presets
from empirical.config import (
    SECTIONS,
    Config,
    ConfigError,
    OptimConfig,
    ViewsConfig,
    apply_overrides,
    from_dict,
)
from empirical.data.base import Batch
from empirical.train import EXIT_CONFIG, main

ROOT = Path(__file__).resolve().parents[2]


def test_roundtrip_through_json() -> None:
    cfg = apply_overrides(Config(), ["data.options.k=5", "optim.lr=0.5"])
    again = from_dict(json.loads(json.dumps(cfg.to_dict())))
    assert again == cfg
    assert again.data.options == {"k": 5}


def test_overrides_are_typed_and_change_nothing_else() -> None:
    base = Config()
    cfg = apply_overrides(
        base,
        [
            "optim.lr=0.1",
            "optim.epochs=3",
            "views.name=oracle",
            "views.p=0.25",
            "views.clamp=true",
            "data.options.pool=100",
            "data.options.name=abc",
        ],
    )
    assert cfg.optim.lr == 0.1 and isinstance(cfg.optim.lr, float)
    assert cfg.optim.epochs == 3 and isinstance(cfg.optim.epochs, int)
    assert (cfg.views.name, cfg.views.p, cfg.views.clamp) == ("oracle", 0.25, True)
    assert cfg.data.options == {"pool": 100, "name": "abc"}
    changed = {
        f"{s}.{k}"
        for s in SECTIONS
        for k, v in cfg.to_dict()[s].items()
        if base.to_dict()[s][k] != v
    }
    assert changed == {
        "optim.lr",
        "optim.epochs",
        "views.name",
        "views.p",
        "views.clamp",
        "data.options",
    }
    # an int given for a float field is the same value, typed as float
    assert apply_overrides(base, ["optim.lr=1"]).optim.lr == 1.0


@pytest.mark.parametrize(
    ("item", "key", "fragment"),
    [
        ("optim.lrr=0.1", "optim.lrr", "unknown key"),
        ("optimizer.lr=0.1", "optimizer.lr", "unknown section"),
        ("optim.lr=fast", "optim.lr", "float in [0, 100]"),
        ("optim.lr=-0.1", "optim.lr", "float in [0, 100]"),
        ("optim.lr=nan", "optim.lr", "float in [0, 100]"),
        ("optim.epochs=2.5", "optim.epochs", "int in [1, 100000]"),
        ("views.p=1.5", "views.p", "float in [0, 1]"),
        ("views.name=random", "views.name", "one of 'expert'"),
        ("views.clamp=maybe", "views.clamp", "bool"),
        ("model.head_depth=4", "model.head_depth", "int in [0, 3]"),
        ("optim.lr", "optim.lr", "section.key=value"),
        ("views.p.x=1", "views.p.x", "unknown key"),
    ],
)
def test_bad_overrides_name_the_key_and_range(item: str, key: str, fragment: str) -> None:
    with pytest.raises(ConfigError) as info:
        apply_overrides(Config(), [item])
    assert info.value.key == key
    assert fragment in str(info.value)


def test_constructors_reject_out_of_range_values() -> None:
    with pytest.raises(ValueError, match="momentum"):
        OptimConfig(momentum=1.5)
    with pytest.raises(ValueError, match=r"p: expected float in \[0, 1\]"):
        ViewsConfig(p=-0.1)
    with pytest.raises(ConfigError, match=r"optim\.nope"):
        from_dict({"optim": {"nope": 1}})


@settings(deadline=None, max_examples=60, derandomize=True)
@given(value=st.floats(min_value=-2.0, max_value=3.0, allow_nan=False))
def test_probability_field_accepts_exactly_the_unit_interval(value: float) -> None:
    """views.p is accepted iff 0 <= p <= 1, and then stored unchanged."""
    if 0.0 <= value <= 1.0:
        assert apply_overrides(Config(), [f"views.p={value!r}"]).views.p == value
    else:
        with pytest.raises(ConfigError, match=r"views\.p"):
            apply_overrides(Config(), [f"views.p={value!r}"])


@settings(deadline=None, max_examples=40, derandomize=True)
@given(value=st.integers(min_value=-5, max_value=10))
def test_head_depth_accepts_exactly_0_to_3(value: int) -> None:
    ok = 0 <= value <= 3
    try:
        cfg = apply_overrides(Config(), [f"model.head_depth={value}"])
    except ConfigError:
        assert not ok
    else:
        assert ok and cfg.model.head_depth == value


def test_main_exits_2_with_message(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--preset", "expert-digits-cpu", "optim.lr=-1"]) == EXIT_CONFIG
    err = capsys.readouterr().err
    assert "optim.lr" in err and "[0, 100]" in err
    assert main(["--preset", "no-such-preset"]) == EXIT_CONFIG
    assert "unknown preset" in capsys.readouterr().err


def test_command_line_exit_status_2() -> None:
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "empirical.train",
            "--preset",
            "viewmaker-digits-cpu",
            "views.eps=0",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 2
    assert "views.eps" in done.stderr and "float in [1e-06, 10]" in done.stderr


def test_list_shows_every_preset_one_line_each(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--list"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert [line.split()[0] for line in lines] == list(presets.PRESETS)
    names = set(presets.PRESETS)
    for views in ("expert", "oracle", "viewmaker"):
        for overlay in ("digits", "shapes", "letters"):
            for scale in ("cpu", "paper"):
                assert f"{views}-{overlay}-{scale}" in names
    for required in (
        "randbits-cpu",
        "randbits-paper",
        "digit-on-natural-paper",
        "multidigits-cpu",
        "lse-cpu",
        "swd-hypercube-paper",
        "spirograph-gp-cpu",
        "foster-colour-gp-paper",
        "viewmaker-audio-cpu",
    ):
        assert required in names
    assert not [n for n in names if n.startswith("randbits-k")]  # grid points are overrides


def test_every_preset_is_a_valid_config_and_scales_differ() -> None:
    for name, preset in presets.PRESETS.items():
        cfg = preset.config()
        assert from_dict(cfg.to_dict()) == cfg  # a valid config survives its own round trip
        assert name.endswith(("-cpu", "-paper"))
    paper = presets.get("viewmaker-digits-paper")
    assert paper.model.encoder == "resnet18"
    assert dataclasses.astuple(paper.optim)[:7] == (200, 256, "sgd", 0.03, 0.9, 1e-4, "constant")
    assert paper.optim.vm_lr == 1e-3 and paper.loss.temperature == 0.07
    assert (paper.views.vm_width, paper.views.vm_blocks, paper.views.eps) == (32, 3, 0.05)
    cpu = presets.get("viewmaker-digits-cpu")
    assert cpu.model.encoder == "small_resnet" and cpu.optim.batch_size == 128
    assert cpu.views.vm_width < paper.views.vm_width
    # presets hand out independent copies
    a = presets.get("randbits-cpu")
    a.data.options["k"] = 99
    assert presets.get("randbits-cpu").data.options == {"k": 5}


@pytest.mark.parametrize("scale", ["cpu", "paper"])
def test_randbits_views_are_crop_only(scale: str) -> None:
    """Chen et al.'s protocol: random crop of area 0.5-1 only: no flip, colour, grayscale, blur."""
    from empirical.parts import build_views
    from empirical.views import ImageExpertViews

    for k in (0, 20):
        cfg = apply_overrides(presets.get(f"randbits-{scale}"), [f"data.options.k={k}"])
        views = build_views(cfg, 1)
        assert isinstance(views, ImageExpertViews)
        assert views.crop_scale == (0.5, 1.0)
        assert (views.p_flip, views.p_jitter, views.p_gray, views.p_blur) == (0, 0, 0, 0)


@pytest.mark.parametrize("scale", ["cpu", "paper"])
def test_a_randbits_grid_point_is_the_preset_plus_two_overrides(scale: str) -> None:
    """Chen et al.'s grid (k bits x temperature) is one preset per scale plus
    ``data.options.k=K`` and ``loss.temperature=TAU``; nothing else changes."""
    base = presets.get(f"randbits-{scale}")
    assert (base.data.suite, base.model.encoder) == ("randbits-mnist", "chen_convnet")
    point = apply_overrides(base, ["data.options.k=20", "loss.temperature=0.05"])
    assert point.data.options == {"k": 20} and point.loss.temperature == 0.05
    undone = point.replace(data={"options": {"k": 5}}, loss={"temperature": base.loss.temperature})
    assert undone == base


def test_expert_view_probabilities_follow_the_config() -> None:
    """Each op has its own field; jitter 0 turns off colour jitter only (not blur or grayscale)."""
    from empirical.parts import build_views

    default = build_views(presets.get("expert-digits-cpu"), 3)
    assert (default.p_flip, default.p_jitter, default.p_gray, default.p_blur) == (
        0.5,
        0.8,
        0.2,
        0.5,
    )
    assert default.crop_scale == (0.2, 1.0)
    cfg = apply_overrides(
        presets.get("expert-digits-cpu"),
        ["views.jitter=0", "views.flip=0.25", "views.blur=0.75", "views.crop_max=0.9"],
    )
    views = build_views(cfg, 3)
    assert (views.p_flip, views.p_jitter, views.p_gray, views.p_blur) == (0.25, 0, 0.2, 0.75)
    assert views.crop_scale == (0.2, 0.9)
    foster = build_views(apply_overrides(cfg, ["views.name=foster"]), 3)
    assert (foster.p_flip, foster.crop_scale) == (0.25, (0.2, 0.9))


def test_crop_min_above_crop_max_is_rejected() -> None:
    with pytest.raises(ConfigError, match=r"views\.crop_min"):
        apply_overrides(Config(), ["views.crop_min=0.8", "views.crop_max=0.5"])


@settings(deadline=None, max_examples=40, derandomize=True)
@given(value=st.floats(min_value=0.0, max_value=1.0, allow_nan=False))
def test_every_accepted_jitter_builds_expert_views(value: float) -> None:
    """views.jitter is accepted iff it lies in [0, 1), and every accepted value builds."""
    from empirical.parts import build_views

    if value < 1.0:
        views = build_views(apply_overrides(Config(), [f"views.jitter={value!r}"]), 3)
        x = torch.rand(4, 3, 16, 16)
        pair = views(Batch(x=x, labels={}, index=torch.arange(4)), torch.Generator().manual_seed(0))
        assert pair.v1.shape == x.shape and torch.isfinite(pair.v1).all()
    else:
        with pytest.raises(ConfigError, match=r"views\.jitter: expected float in \[0, 1\)"):
            apply_overrides(Config(), [f"views.jitter={value!r}"])


def test_builder_value_errors_exit_2_naming_the_key(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A ValueError raised while building parts from a config exits 2 and names the dotted key."""
    from empirical.views import expert

    here = Path(__file__).resolve().parent
    monkeypatch.syspath_prepend(str(here))
    tiny = ["data.suite=test_train:tiny_suite", "data.options.n=32", "optim.batch_size=16"]
    assert main(["--out", str(tmp_path / "a"), "views.jitter=1.0", *tiny]) == EXIT_CONFIG
    assert "views.jitter" in capsys.readouterr().err

    def reject(self: object, *args: object, **kwargs: object) -> None:
        raise ValueError("p_flip must be in [0, 1]; got 0.5")  # as if the range were narrower

    monkeypatch.setattr(expert.ImageExpertViews, "__init__", reject)
    out = ["--out", str(tmp_path / "b"), "--preset", "expert-digits-cpu", *tiny]
    assert main(out) == EXIT_CONFIG
    assert "views.flip: p_flip must be in [0, 1]" in capsys.readouterr().err
    monkeypatch.undo()
    assert main(["--out", str(tmp_path / "c"), "data.suite=no-such-suite"]) == EXIT_CONFIG
    assert "data.suite" in capsys.readouterr().err


def test_spirograph_paper_presets_use_the_papers_dataset_size() -> None:
    """Foster et al.: 100k train / 20k test parameter sets; the cpu presets stay small."""
    import inspect

    from empirical.data.spirograph import SpirographDataset

    for gp in ("", "-gp"):
        paper = presets.get(f"spirograph{gp}-paper").data.options
        assert paper == {"n_train": 100_000, "n_test": 20_000}
        assert set(paper) <= set(inspect.signature(SpirographDataset.__init__).parameters)
        assert presets.get(f"spirograph{gp}-cpu").data.options == {}
