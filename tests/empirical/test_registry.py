"""One registry type (empirical.registry) behind suites, views, losses, encoders and figures:
arguments checked against the signature before the call, a factory's own errors kept as they are,
names that agree with the config, and tables full on import (issue 9 §3)."""

from __future__ import annotations

import dataclasses
import doctest
import inspect
import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from empirical import config, losses, models, registry, views
from empirical.data import registry as data_registry
from empirical.losses import build_loss
from empirical.models import build_encoder
from empirical.registry import Registry, check_arguments
from empirical.views import build_views
from figures import registry as figure_registry

ROOT = Path(__file__).resolve().parents[2]
TABLES: dict[str, Registry[Any]] = {
    "suite": data_registry.SUITES,
    "views": views.VIEWS,
    "loss": losses.LOSSES,
    "encoder": models.ENCODERS,
    "figure": figure_registry.FIGURES,
}


def broken(width: int = 1) -> None:
    """A factory whose body fails with a TypeError of its own (a bug, not a bad option)."""
    raise TypeError("a genuine bug inside the constructor")


def test_a_type_error_inside_a_factory_is_reported_as_itself() -> None:
    table = Registry[Callable[..., None]]("widget")
    table.register("broken", broken)
    with pytest.raises(TypeError, match="genuine bug"):
        table.build("broken", width=2)


@pytest.mark.parametrize(
    "build",
    [
        lambda: build_loss("ntxent", temperature=None),  # math.isfinite(None) inside NTXent
        lambda: build_encoder("small_resnet", 3, blocks=3),  # tuple(3) inside small_resnet
    ],
)
def test_the_builders_keep_a_constructors_type_error(build: Callable[[], object]) -> None:
    with pytest.raises(TypeError) as info:
        build()
    assert not isinstance(info.value, ValueError)
    assert "option" not in str(info.value)


@pytest.mark.parametrize("kind", sorted(TABLES))
def test_an_unknown_name_lists_the_known_ones(kind: str) -> None:
    table = TABLES[kind]
    with pytest.raises(ValueError) as info:
        table.lookup("no-such-name")
    text = str(info.value)
    assert text.startswith(f"unknown {kind} 'no-such-name'; known: ")
    assert text.split("known: ", 1)[1].split(", ") == list(table.names())


@pytest.mark.parametrize(
    ("build", "what", "bad", "allowed"),
    [
        (lambda: build_loss("ntxent", tau=0.1), "loss 'ntxent'", "tau", "temperature"),
        (lambda: build_encoder("convnet", 3, width=8), "encoder 'convnet'", "width", "channels"),
        (lambda: build_views("foster", hue=0.1), "views 'foster'", "hue", "p_gray"),
        (
            lambda: build_views("viewmaker", in_channels=3, widht=8),
            "views 'viewmaker'",
            "widht",
            "base_channels",
        ),
        (
            lambda: build_views("expert", modality="audio", p_blur=0.1),
            "expert views modality 'audio'",
            "p_blur",
            "noise_std",
        ),
        (
            lambda: data_registry.build_suite("spirograph", colour=3),
            "suite 'spirograph'",
            "colour",
            "h_range",
        ),
    ],
)
def test_an_unknown_option_is_named_with_the_allowed_ones(
    build: Callable[[], object], what: str, bad: str, allowed: str
) -> None:
    with pytest.raises(ValueError) as info:
        build()
    text = str(info.value)
    assert text.startswith(f"unknown option(s) [{bad!r}] for {what}; allowed: [")
    assert repr(allowed) in text.split("allowed: ", 1)[1]


@pytest.mark.parametrize("kind", ["views", "loss", "encoder"])
def test_every_factory_declares_its_options(kind: str) -> None:
    """A factory whose signature is only ``*args, **kwargs`` (e.g. an ``nn.Module`` without its
    own ``__init__``) would let any option through the check; the registries hold none."""
    for name, factory in TABLES[kind].items():
        kinds = [p.kind for p in inspect.signature(factory).parameters.values()]
        assert kinds != [inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD], name


def test_a_missing_required_option_is_a_value_error_naming_it() -> None:
    with pytest.raises(ValueError, match=r"views 'oracle'.*'p'"):
        build_views("oracle")


def test_check_arguments_calls_nothing() -> None:
    calls: list[int] = []

    def factory(a: int, b: int = 0) -> None:
        calls.append(a)

    check_arguments(factory, (1,), {"b": 2}, "factory")
    with pytest.raises(ValueError, match=r"unknown option\(s\) \['c'\] for factory"):
        check_arguments(factory, (1,), {"c": 2}, "factory")
    assert calls == []


def test_register_rejects_a_name_twice_and_works_as_a_decorator() -> None:
    table = Registry[Callable[..., int]]("number")

    @table.register("one", description="the number one")
    def one() -> int:
        return 1

    assert table.build("one") == 1 and table.describe("one") == "the number one"
    with pytest.raises(ValueError, match="number 'one' registered twice"):
        table.register("one", one)
    assert list(table) == ["one"] and len(table) == 1 and "one" in table


def test_the_registry_docstring_example_runs() -> None:
    result = doctest.testmod(registry)
    assert result.attempted > 0 and result.failed == 0


@pytest.mark.parametrize(
    ("section", "key", "table"),
    [
        ("model", "encoder", models.ENCODERS),
        ("views", "name", views.VIEWS),
        ("loss", "name", losses.LOSSES),
    ],
)
def test_the_configs_allowed_names_are_the_registries_names(
    section: str, key: str, table: Registry[Any]
) -> None:
    cls = config.SECTIONS[section]
    (f,) = [f for f in dataclasses.fields(cls) if f.name == key]  # type: ignore[arg-type]
    assert set(f.metadata["choices"]) == set(table.names())
    assert len(f.metadata["choices"]) == len(table.names())


def test_the_configs_prior_choices_are_the_losss_priors() -> None:
    (f,) = [f for f in dataclasses.fields(config.LossConfig) if f.name == "prior"]
    assert tuple(f.metadata["choices"]) == losses.PRIORS


FRESH = """
import json, sys
module, attr = sys.argv[1], sys.argv[2]
table = getattr(__import__(module, fromlist=[attr]), attr)
print(json.dumps(list(table)))
"""


@pytest.mark.parametrize(
    ("module", "attr", "kind"),
    [
        ("empirical.data.registry", "SUITES", "suite"),
        ("figures.registry", "FIGURES", "figure"),
        ("empirical.views", "VIEWS", "views"),
        ("empirical.losses", "LOSSES", "loss"),
        ("empirical.models", "ENCODERS", "encoder"),
    ],
)
def test_a_table_is_full_in_a_fresh_interpreter_that_imports_only_it(
    module: str, attr: str, kind: str
) -> None:
    done = subprocess.run(
        [sys.executable, "-c", FRESH, module, attr],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    names = json.loads(done.stdout)
    assert names == list(TABLES[kind].names())
    assert len(names) >= 4


def test_the_suite_table_holds_every_suite_family() -> None:
    overlays = {
        f"overlay-{o}-on-{b}"
        for o in ("digits", "shapes", "letters")
        for b in ("natural", "fashion", "cifar10")
    }
    chen = {"randbits-mnist", "digit-on-natural", "digit-on-fashion", "multidigits"}
    assert set(data_registry.SUITES) == overlays | chen | {"spirograph", "audio-digits-noise"}
