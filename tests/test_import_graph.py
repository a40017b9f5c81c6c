"""No import cycle among the project's packages (issue 9): the imports each module runs when it
is imported (its top-level statements, read with ``ast``) form a graph without a cycle.

An edge ``a -> b`` means importing ``a`` runs ``b``: ``import b``, ``from b import x`` and
``from pkg import b`` (b a submodule), plus the packages above ``b`` (Python runs a package's
``__init__`` before its submodules), except ``a``'s own enclosing packages, which are already
being imported when ``a`` runs; ``from pkg import NAME`` of a name defined in ``a``'s own package
``pkg`` is an edge to ``pkg``. Imports under ``if TYPE_CHECKING:`` and inside functions and
classes are not run at import time and are left out.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator, Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("linear_theory", "empirical", "figures", "benchmarks")


def find_modules(root: Path, packages: Sequence[str]) -> dict[str, Path]:
    """Dotted module name -> file, for every ``.py`` file of ``packages`` under ``root``."""
    out: dict[str, Path] = {}
    for package in packages:
        for path in sorted((root / package).rglob("*.py")):
            parts = list(path.relative_to(root).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            out[".".join(parts)] = path
    return out


def _enclosing(name: str) -> list[str]:
    parts = name.split(".")
    return [".".join(parts[:i]) for i in range(1, len(parts))]


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _run_at_import(body: list[ast.stmt]) -> Iterator[ast.Import | ast.ImportFrom]:
    for node in body:
        if isinstance(node, ast.Import | ast.ImportFrom):
            yield node
        elif isinstance(node, ast.If):
            if not _is_type_checking(node.test):
                yield from _run_at_import(node.body)
            yield from _run_at_import(node.orelse)
        elif isinstance(node, ast.Try):
            for block in (node.body, *(h.body for h in node.handlers), node.orelse):
                yield from _run_at_import(block)
            yield from _run_at_import(node.finalbody)
        elif isinstance(node, ast.With):
            yield from _run_at_import(node.body)


def _targets(name: str, path: Path, modules: dict[str, Path]) -> Iterator[tuple[str, bool]]:
    """``(module, explicit)`` for each import ``name``'s top level runs; ``explicit``: the
    module itself is imported (or a name from it), not only a submodule of it."""
    is_package = path.name == "__init__.py"
    for node in _run_at_import(ast.parse(path.read_text(), str(path)).body):
        if isinstance(node, ast.Import):
            yield from ((alias.name, True) for alias in node.names)
            continue
        if node.level:  # relative: from the module's package upwards
            base = name.split(".") if is_package else name.split(".")[:-1]
            base = base[: len(base) - (node.level - 1)]
            source = ".".join([*base, *([node.module] if node.module else [])])
        else:
            source = node.module or ""
        yield source, False
        for alias in node.names:
            sub = f"{source}.{alias.name}"
            yield (sub if sub in modules else source), True


def import_graph(modules: dict[str, Path]) -> dict[str, set[str]]:
    """Module -> the project modules its top-level imports run (see the module docstring)."""
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        own = set(_enclosing(name))
        graph[name] = {
            m
            for target, explicit in _targets(name, path, modules)
            for m in [*_enclosing(target), target]
            if m in modules and m != name and (m not in own or (explicit and m == target))
        }
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle ``[a, b, ..., a]`` of ``graph`` or None (depth-first search)."""
    state: dict[str, int] = {}  # 1: on the stack, 2: done
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return [*stack[stack.index(nxt) :], nxt]
            if nxt not in state and (cycle := visit(nxt)) is not None:
                return cycle
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (cycle := visit(node)) is not None:
            return cycle
    return None


def test_the_packages_import_each_other_without_a_cycle() -> None:
    modules = find_modules(ROOT, PACKAGES)
    graph = import_graph(modules)
    cycle = find_cycle(graph)
    assert cycle is None, " -> ".join(cycle or [])
    # the graph is the real one: registries import what they register, not the reverse
    assert {"empirical.data.spirograph", "empirical.registry"} <= graph["empirical.data.registry"]
    assert "empirical.data.registry" not in graph["empirical.data.spirograph"]
    assert {"figures.theory_figures", "figures.spec"} <= graph["figures.registry"]
    assert "figures.registry" not in graph["figures.theory_figures"]
    assert "empirical.models" in graph["empirical.config"]
    assert len(modules) > 50


def _write(root: Path, files: dict[str, str]) -> dict[str, Path]:
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return find_modules(root, ["pkg"])


def test_a_cycle_between_two_modules_is_found(tmp_path: Path) -> None:
    modules = _write(
        tmp_path,
        {
            "pkg/__init__.py": "",
            "pkg/a.py": "from pkg.b import f\n",
            "pkg/b.py": "import os\nfrom . import a\n\ndef f():\n    from pkg import c\n",
            "pkg/c.py": "from pkg.a import f\n",  # imported lazily by b: no cycle through c
        },
    )
    assert find_cycle(import_graph(modules)) == ["pkg.a", "pkg.b", "pkg.a"]


def test_a_cycle_through_a_package_init_is_found(tmp_path: Path) -> None:
    """``pkg/__init__`` imports ``pkg.table``, which imports a name defined in the ``__init__``
    (the suite registry and catalog pattern the registry replaced)."""
    modules = _write(
        tmp_path,
        {
            "pkg/__init__.py": "from pkg.table import ROWS\nREGISTER = []\n",
            "pkg/table.py": "from pkg import REGISTER\nROWS = REGISTER\n",
        },
    )
    assert find_cycle(import_graph(modules)) == ["pkg", "pkg.table", "pkg"]


def test_lazy_and_type_checking_imports_are_not_edges(tmp_path: Path) -> None:
    modules = _write(
        tmp_path,
        {
            "pkg/__init__.py": "",
            "pkg/a.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import pkg.b\n",
            "pkg/b.py": "def g():\n    import pkg.a\n\nimport pkg.a\n",
        },
    )
    graph = import_graph(modules)
    assert graph["pkg.a"] == set() and graph["pkg.b"] == {"pkg.a"}
    assert find_cycle(graph) is None
