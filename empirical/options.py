"""Option sets of the run-artifact commands (evaluation, diagnostics), each declared once.

An options class is a frozen dataclass deriving from :class:`Options` whose fields are declared
with :func:`option`, the field spec of the training config (``empirical.config``: a doc string,
a closed range ``[lo, hi]`` (``[lo, hi)`` with ``hi_open``) or a set of choices, in the field's
metadata). From that one declaration:

- construction validates every field, raising :class:`~empirical.config.ConfigError` (a
  ``ValueError``) naming the field and its allowed values; a ``tuple[int, ...]`` or
  ``tuple[float, ...]`` field must be a non-empty sequence whose every element is in range
  (lists become tuples, ints become floats where the field is a float);
- :func:`add_arguments` generates the command-line flags: ``--field-name`` parsed by the field's
  declared type (tuples comma-separated, e.g. ``--copies 1,2,5``; a bool defaulting to false is a
  plain flag), the choices, the default and the allowed range in the help;
- :func:`from_args` builds the options from the parsed flags, :func:`from_mapping` from a dict
  (e.g. a figure's config), rejecting unknown keys by name.
"""

from __future__ import annotations

import argparse
import dataclasses
from collections.abc import Mapping
from typing import Any, TypeVar

from empirical.config import ConfigError, _check_value, _field_type, _parse_scalar, _spec, allowed

T = TypeVar("T", bound="Options")
_SCALARS: dict[str, type] = {"int": int, "float": float, "str": str, "bool": bool}


#: A dataclass field of an options class: the config's field spec (documentation, ``lo`` /
#: ``hi`` bounds, which bound every element of a tuple field, and ``choices``).
option = _spec


def element_field(f: dataclasses.Field[Any]) -> dataclasses.Field[Any] | None:
    """For a ``tuple[X, ...]`` field, a field of type ``X`` with the same name and metadata (the
    spec of one element); ``None`` for a scalar field."""
    name = str(f.type).replace(" ", "")
    if not (name.startswith("tuple[") and name.endswith(",...]")):
        return None
    elem = name[len("tuple[") : -len(",...]")]
    if elem not in _SCALARS or elem == "bool":
        raise TypeError(f"unsupported option type {f.type!r} for {f.name}")
    out: dataclasses.Field[Any] = dataclasses.field(metadata=f.metadata)
    out.name, out.type = f.name, _SCALARS[elem]
    return out


def allowed_values(f: dataclasses.Field[Any]) -> str:
    """Human-readable allowed values, e.g. ``"int in [1, 10000]"`` or ``"non-empty
    comma-separated list of float in [0, 1)"``."""
    elem = element_field(f)
    if elem is None:
        return allowed(f)
    return f"non-empty comma-separated list of {allowed(elem)}"


def _coerce(f: dataclasses.Field[Any], value: Any) -> Any:
    """``1`` -> ``1.0`` for a float field (same value, the declared type); else unchanged."""
    if _field_type(f) is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    return value


class Options:
    """Base of the options classes: validates every field on construction (see the module
    docstring). Subclasses are ``@dataclass(frozen=True)`` with fields from :func:`option`."""

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):  # type: ignore[arg-type]
            value = getattr(self, f.name)
            elem = element_field(f)
            if elem is None:
                value = _coerce(f, value)
                _check_value(f, value)
            else:
                bad = ConfigError(f.name, f"expected {allowed_values(f)}; got {value!r}")
                if isinstance(value, str | bytes) or not isinstance(value, list | tuple):
                    raise bad
                value = tuple(_coerce(elem, v) for v in value)
                if not value:
                    raise bad
                for v in value:
                    try:
                        _check_value(elem, v)
                    except ConfigError:
                        raise bad from None
            object.__setattr__(self, f.name, value)

    def to_dict(self) -> dict[str, Any]:
        """The options as a JSON-ready dict (tuples as lists once serialised)."""
        return dataclasses.asdict(self)  # type: ignore[call-overload]


def _parser_type(f: dataclasses.Field[Any], flag: str) -> Any:
    """``argparse`` ``type=``: text -> value of the field's declared type (bad text: an argparse
    error, exit status 2)."""
    elem = element_field(f)

    def parse(text: str) -> Any:
        try:
            if elem is None:
                return _parse_scalar(f, text, flag)
            return tuple(_parse_scalar(elem, t, flag) for t in text.split(",") if t.strip())
        except ConfigError as e:
            raise argparse.ArgumentTypeError(str(e)) from None

    parse.__name__ = f.name
    return parse


def _shown(value: Any) -> str:
    if isinstance(value, tuple):
        return ",".join(f"{v:g}" if isinstance(v, float) else str(v) for v in value)
    return f"{value:g}" if isinstance(value, float) else str(value)


def add_arguments(parser: argparse.ArgumentParser, cls: type[Options]) -> None:
    """Add one ``--field-name`` flag per field of ``cls`` (destination: the field's name)."""
    defaults = cls()
    for f in dataclasses.fields(cls):  # type: ignore[arg-type]
        flag = "--" + f.name.replace("_", "-")
        default = getattr(defaults, f.name)
        doc = str(f.metadata["doc"]).replace("%", "%%")
        if element_field(f) is None and _field_type(f) is bool:
            if default:
                parser.add_argument(
                    flag,
                    dest=f.name,
                    action=argparse.BooleanOptionalAction,
                    default=True,
                    help=f"{doc} (default on)",
                )
            else:
                parser.add_argument(flag, dest=f.name, action="store_true", help=doc)
            continue
        choices = f.metadata.get("choices")
        shown = allowed_values(f).replace("%", "%%")
        parser.add_argument(
            flag,
            dest=f.name,
            type=_parser_type(f, flag),
            default=default,
            choices=choices,
            metavar=None if choices else f.name.upper(),
            help=f"{doc}; {shown} (default {_shown(default)})",
        )


def from_args(cls: type[T], args: argparse.Namespace) -> T:
    """``cls`` from the flags :func:`add_arguments` added (validated on construction)."""
    return cls(**{f.name: getattr(args, f.name) for f in dataclasses.fields(cls)})  # type: ignore[arg-type]


def from_mapping(cls: type[T], values: Mapping[str, Any], where: str = "") -> T:
    """``cls`` from a dict of field values; an unknown key is a :class:`ConfigError` naming it
    (``where``: a prefix for the key in messages, e.g. ``"fig-probe"``)."""
    known = [f.name for f in dataclasses.fields(cls)]  # type: ignore[arg-type]
    prefix = f"{where}." if where else ""
    for key in values:
        if key not in known:
            raise ConfigError(
                f"{prefix}{key}", f"unknown option; options are {', '.join(sorted(known))}"
            )
    try:
        return cls(**values)
    except ConfigError as e:
        raise ConfigError(f"{prefix}{e.key}", str(e).split(": ", 1)[1]) from None
