"""One table type for everything the project builds by name: data suites, views, losses, encoders
and figures (issue 9 §3).

A :class:`Registry` maps names to items (usually factories) in registration order. It is a
read-only ``Mapping``; items enter only through :meth:`Registry.register`, called explicitly by the
module that owns the table (that module imports the modules defining the items, never the other
way round, so the table is full once the owning module is imported and no import cycle arises).

:meth:`Registry.build` checks the arguments against the factory's signature
(``inspect.signature(factory).bind``) BEFORE calling it: an unknown name or option raises
``ValueError`` naming the registry, the name and what is allowed, while an error raised inside the
factory (a ``TypeError`` included) propagates as itself.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Iterator, Mapping
from typing import Any, ParamSpec, TypeVar, overload

T = TypeVar("T")
R = TypeVar("R")
P = ParamSpec("P")


def parameter_names(factory: Callable[..., Any]) -> list[str]:
    """The named parameters of ``factory`` (no ``*args`` / ``**kwargs``), in signature order."""
    variadic = (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD)
    params = inspect.signature(factory).parameters.values()
    return [p.name for p in params if p.kind not in variadic]


def check_arguments(
    factory: Callable[..., Any], args: tuple[Any, ...], kwargs: Mapping[str, Any], what: str
) -> None:
    """Raise ``ValueError`` naming ``what`` if ``factory(*args, **kwargs)`` would not bind.

    Options the signature lacks are named (``unknown option(s) [...] for <what>; allowed: [...]``);
    any other mismatch (a missing required option, too many positional arguments) is reported
    with the binder's own words. Nothing is called.
    """
    signature = inspect.signature(factory)
    try:
        signature.bind(*args, **kwargs)
    except TypeError as e:  # raised by bind only: the call has not happened
        allowed = parameter_names(factory)
        takes_any = any(
            p.kind is inspect.Parameter.VAR_KEYWORD for p in signature.parameters.values()
        )
        unknown = [] if takes_any else sorted(set(kwargs) - set(allowed))
        if unknown:
            raise ValueError(
                f"unknown option(s) {unknown} for {what}; allowed: {allowed}"
            ) from None
        raise ValueError(f"bad arguments for {what}: {e}; parameters: {allowed}") from None


def strict(factory: Callable[P, R], what: str) -> Callable[P, R]:
    """``factory`` with its arguments checked by :func:`check_arguments` before each call (the
    wrapper reports the factory's own signature)."""

    @functools.wraps(factory)
    def call(*args: P.args, **kwargs: P.kwargs) -> R:
        check_arguments(factory, args, kwargs, what)
        return factory(*args, **kwargs)

    return call


class Registry(Mapping[str, T]):
    """Name -> item table of one ``kind`` (the word errors use, e.g. ``"loss"``).

    >>> losses = Registry[Callable[..., float]]("loss")
    >>> @losses.register("half")
    ... def half(x: float, scale: float = 1.0) -> float:
    ...     return scale * x / 2
    >>> losses.build("half", 4.0)
    2.0
    >>> losses.build("half", 4.0, scael=2.0)
    Traceback (most recent call last):
    ValueError: unknown option(s) ['scael'] for loss 'half'; allowed: ['x', 'scale']
    """

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._items: dict[str, T] = {}
        self._descriptions: dict[str, str] = {}

    @overload
    def register(self, name: str, item: T, *, description: str = "") -> T: ...

    @overload
    def register(self, name: str, *, description: str = "") -> Callable[[T], T]: ...

    def register(
        self, name: str, item: T | None = None, *, description: str = ""
    ) -> T | Callable[[T], T]:
        """Add ``item`` under ``name`` (or, without ``item``, a decorator that adds what it
        decorates); a name registered twice is a ``ValueError``."""

        def add(value: T) -> T:
            if not name or not isinstance(name, str):
                raise ValueError(f"{self.kind} name must be a non-empty string; got {name!r}")
            if name in self._items:
                raise ValueError(f"{self.kind} {name!r} registered twice")
            self._items[name] = value
            self._descriptions[name] = description
            return value

        return add if item is None else add(item)

    def __getitem__(self, name: str) -> T:
        return self._items[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)

    def __repr__(self) -> str:
        return f"Registry({self.kind!r}: {', '.join(self._items)})"

    def names(self) -> tuple[str, ...]:
        """The registered names in registration order."""
        return tuple(self._items)

    def describe(self, name: str) -> str:
        """The description given at registration (``""`` if none)."""
        self.lookup(name)
        return self._descriptions[name]

    def lookup(self, name: str) -> T:
        """The item ``name``; ``ValueError`` naming the registry and the known names if unknown."""
        if name not in self._items:
            raise ValueError(f"unknown {self.kind} {name!r}; known: {', '.join(self._items)}")
        return self._items[name]

    def build(self: Registry[Callable[..., R]], name: str, /, *args: Any, **kwargs: Any) -> R:
        """``factory(*args, **kwargs)`` of the factory ``name``, arguments checked first
        (:func:`check_arguments`): bad names and options raise ``ValueError``; errors raised
        by the factory itself propagate unchanged."""
        factory = self.lookup(name)
        check_arguments(factory, args, kwargs, f"{self.kind} {name!r}")
        return factory(*args, **kwargs)
