"""empirical.options: option sets declared once (the training config's field specs), validated on
construction, with command-line flags generated from the same declaration."""

from __future__ import annotations

import argparse
import dataclasses
from dataclasses import dataclass

import pytest

from empirical.config import ConfigError
from empirical.diagnostics.diagnose import DiagnosticOptions
from empirical.diagnostics.diagnose import _parser as diagnostics_parser
from empirical.evaluate import EvalOptions
from empirical.evaluate import _parser as evaluate_parser
from empirical.options import (
    Options,
    add_arguments,
    allowed_values,
    from_args,
    from_mapping,
    option,
)


@dataclass(frozen=True)
class Demo(Options):
    count: int = option(2, "how many", lo=1, hi=10)
    rate: float = option(0.5, "a rate", lo=0.0, hi=1.0, hi_open=True)
    mode: str = option("a", "a mode", choices=("a", "b"))
    on: bool = option(True, "a switch that defaults to on")
    off: bool = option(False, "a switch that defaults to off")
    sizes: tuple[int, ...] = option((1, 2), "sizes", lo=1, hi=100)
    rates: tuple[float, ...] = option((0.0,), "rates", lo=0.0, hi=1.0)


def _parse(*argv: str) -> Demo:
    p = argparse.ArgumentParser()
    add_arguments(p, Demo)
    return from_args(Demo, p.parse_args(list(argv)))


@pytest.mark.parametrize(
    ("kwargs", "key"),
    [
        ({"count": 0}, "count"),
        ({"count": 1.5}, "count"),
        ({"rate": 1.0}, "rate"),  # hi_open
        ({"mode": "c"}, "mode"),
        ({"on": 1}, "on"),
        ({"sizes": ()}, "sizes"),
        ({"sizes": (1, 0)}, "sizes"),
        ({"sizes": "12"}, "sizes"),
        ({"rates": (0.5, 2.0)}, "rates"),
    ],
)
def test_construction_rejects_values_out_of_the_spec(kwargs: dict, key: str) -> None:
    with pytest.raises(ConfigError, match=rf"^{key}: expected ") as e:
        Demo(**kwargs)
    assert e.value.key == key


def test_construction_normalises_lists_and_ints() -> None:
    d = Demo(sizes=[3, 4], rates=[0, 1], rate=0)  # type: ignore[arg-type]
    assert d.sizes == (3, 4) and d.rates == (0.0, 1.0) and d.rate == 0.0
    assert all(type(r) is float for r in (*d.rates, d.rate))
    assert d.to_dict() == {
        "count": 2,
        "rate": 0.0,
        "mode": "a",
        "on": True,
        "off": False,
        "sizes": (3, 4),
        "rates": (0.0, 1.0),
    }


def test_allowed_values_of_a_tuple_field_describe_one_element() -> None:
    sizes = next(f for f in dataclasses.fields(Demo) if f.name == "sizes")
    assert allowed_values(sizes) == "non-empty comma-separated list of int in [1, 100]"


def test_generated_flags_parse_by_the_declared_type() -> None:
    assert _parse() == Demo()
    d = _parse("--count", "4", "--rate", "0.25", "--mode", "b", "--no-on", "--off")
    assert d == Demo(count=4, rate=0.25, mode="b", on=False, off=True)
    assert _parse("--sizes", "5,6,", "--rates", "0.5").sizes == (5, 6)
    assert _parse("--rates", "0.5,1").rates == (0.5, 1.0)


@pytest.mark.parametrize(
    "argv", [("--count", "x"), ("--mode", "c"), ("--sizes", "1,a"), ("--on", "yes")]
)
def test_bad_flag_text_is_an_argparse_error(argv: tuple[str, ...]) -> None:
    with pytest.raises(SystemExit) as e:
        _parse(*argv)
    assert e.value.code == 2


def test_out_of_range_flag_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="count"):
        _parse("--count", "11")


def test_from_mapping_rejects_unknown_keys_by_name() -> None:
    assert from_mapping(Demo, {"count": 3, "sizes": [7]}) == Demo(count=3, sizes=(7,))
    with pytest.raises(ConfigError, match=r"fig\.counts: unknown option; options are count"):
        from_mapping(Demo, {"counts": 3}, where="fig")
    with pytest.raises(ConfigError, match=r"^fig\.count: expected int in \[1, 10\]"):
        from_mapping(Demo, {"count": 30}, where="fig")


# the flags the two commands had before their options were generated (they must all remain)
EVALUATE_FLAGS = (
    "--kind --name --layer --views --probe-on-views --num-copies --copies --jitter --n-train "
    "--n-test --batch-size --weight-decay --max-iter --seed --device --threads"
).split()
DIAGNOSTICS_FLAGS = (
    "--what --name --views --layer --num-inputs --num-copies --num-train --eps --judge-steps "
    "--judge-augment --k --at --batch-size --seed --device --threads"
).split()


def _flags(p: argparse.ArgumentParser) -> set[str]:
    return {s for a in p._actions for s in a.option_strings}


def test_evaluate_and_diagnostics_keep_their_flags_and_defaults() -> None:
    assert set(EVALUATE_FLAGS) <= _flags(evaluate_parser())
    assert set(DIAGNOSTICS_FLAGS) | {"--gallery-rows"} <= _flags(diagnostics_parser())
    assert from_args(EvalOptions, evaluate_parser().parse_args(["R"])) == EvalOptions()
    args = diagnostics_parser().parse_args(["R", "--what", "local"])
    assert from_args(DiagnosticOptions, args) == DiagnosticOptions()


def test_option_classes_validate_their_fields() -> None:
    with pytest.raises(ConfigError, match=r"^k: expected 0"):
        DiagnosticOptions(k=1)
    assert DiagnosticOptions(k=2).k == 2
    with pytest.raises(ConfigError, match=r"^views: "):
        EvalOptions(views="viewmaker")  # an untrained viewmaker means nothing here
    assert EvalOptions(copies=[1, 3]).copies == (1, 3)  # type: ignore[arg-type]
