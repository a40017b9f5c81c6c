"""``featuredrop``: one command for every entry point of the toolkit.

``featuredrop SUBCOMMAND [ARGS ...]`` runs ``python -m MODULE [ARGS ...]``: the same flags, the
same output and the same exit status, because it calls the module's own ``main(argv)``; only the
program name in usage and argparse error lines reads ``featuredrop SUBCOMMAND`` (:func:`prog`).

==============  ===============================  ===============================================
subcommand      module                           what it does
==============  ===============================  ===============================================
``train``       ``empirical.train``              pretrain an encoder (presets, overrides, resume)
``evaluate``    ``empirical.evaluate``           linear probes of a run's frozen encoder
``diagnose``    ``empirical.diagnostics``        invariance, dropout rate, local features, gallery
``report``      ``empirical.report``             mean and sd over seeds of evaluation records
``data``        ``empirical.data``               list the data suites, preview one
``figures``     ``figures``                      draw figures (running what they need)
``bench``       ``benchmarks``                   timings and throughputs (``results/bench.json``)
==============  ===============================  ===============================================

``featuredrop --version`` prints the installed version and the git commit of the source
checkout (``unknown`` when the package does not sit in a git checkout).

Like ``python -m``, the command puts the current directory first on ``sys.path``, so that
``data.suite=module:function`` finds a module in the directory you run it from, and ``bench``
finds the ``benchmarks`` folder of a source checkout (it is not installed as a package).
"""

from __future__ import annotations

import importlib
import os
import subprocess
import sys
from collections.abc import Callable, Sequence
from importlib import metadata
from pathlib import Path
from typing import NamedTuple

EXIT_USAGE = 2
_RUNNING: list[str] = []  # the subcommands main() is running, innermost last
DISTRIBUTION = "featuredrop"
SOURCE_ROOT = Path(__file__).resolve().parents[1]


class Subcommand(NamedTuple):
    """One subcommand: the module whose ``main(argv) -> int`` it runs, and a one-line summary."""

    module: str
    help: str


SUBCOMMANDS: dict[str, Subcommand] = {
    "train": Subcommand("empirical.train", "pretrain an encoder (python -m empirical.train)"),
    "evaluate": Subcommand(
        "empirical.evaluate", "probe a run's frozen encoder (python -m empirical.evaluate)"
    ),
    "diagnose": Subcommand(
        "empirical.diagnostics.__main__",
        "invariance, dropout rate, galleries (python -m empirical.diagnostics)",
    ),
    "report": Subcommand(
        "empirical.report", "mean and sd over seeds of eval records (python -m empirical.report)"
    ),
    "data": Subcommand(
        "empirical.data.__main__", "list the data suites, preview one (python -m empirical.data)"
    ),
    "figures": Subcommand("figures.__main__", "draw figures (python -m figures)"),
    "bench": Subcommand(
        "benchmarks.__main__", "run benchmarks, source checkout only (python -m benchmarks)"
    ),
}


def usage() -> str:
    """The top-level help text: the subcommands and the module each one stands for."""
    width = max(len(name) for name in SUBCOMMANDS)
    lines = [
        "usage: featuredrop [--version] [-h] SUBCOMMAND [ARGS ...]",
        "",
        "One command for the toolkit; `featuredrop SUBCOMMAND ARGS` is `python -m MODULE ARGS`",
        "(same flags, output and exit status). `featuredrop SUBCOMMAND --help` lists its flags.",
        "",
        "subcommands:",
        *(f"  {name:<{width}}  {sub.help}" for name, sub in SUBCOMMANDS.items()),
        "",
        "options:",
        "  -h, --help  show this help and exit",
        "  --version   print the version and the git commit, and exit",
    ]
    return "\n".join(lines) + "\n"


def package_version() -> str:
    """The installed distribution's version, or ``unknown`` when it is not installed."""
    try:
        return metadata.version(DISTRIBUTION)
    except metadata.PackageNotFoundError:
        return "unknown"


def git_commit(root: Path = SOURCE_ROOT) -> str:
    """``HEAD``'s full hash of the git checkout at ``root`` (``+modified`` when the tracked files
    differ from it), or ``unknown`` when ``root`` is not a git checkout or git is missing."""
    if not (root / ".git").exists():
        return "unknown"

    def git(*args: str) -> str:
        out = subprocess.run(
            ["git", "-C", str(root), *args], capture_output=True, text=True, timeout=10, check=True
        )
        return out.stdout.strip()

    try:
        commit = git("rev-parse", "HEAD")
        dirty = git("status", "--porcelain", "--untracked-files=no")
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return f"{commit}+modified" if dirty else commit


def version_line() -> str:
    """What ``featuredrop --version`` prints."""
    return f"featuredrop {package_version()} (git commit {git_commit()})"


def _entry_point(name: str) -> Callable[[list[str]], int] | None:
    """Import the subcommand's module and return its ``main``; ``None`` (with a message) when
    ``bench`` runs outside a source checkout."""
    module = SUBCOMMANDS[name].module
    try:
        mod = importlib.import_module(module)
    except ModuleNotFoundError as err:
        if err.name != module.split(".")[0]:
            raise
        print(
            f"featuredrop {name}: error: {module.split('.')[0]} is not installed; it lives in the "
            "source checkout: run the command from the checkout's root folder",
            file=sys.stderr,
        )
        return None
    main: Callable[[list[str]], int] = mod.main
    return main


def prog(module_prog: str) -> str:
    """The program name a subcommand's parser shows: ``featuredrop NAME`` while :func:`main`
    runs subcommand NAME, else ``module_prog`` (``python -m MODULE``)."""
    return f"featuredrop {_RUNNING[-1]}" if _RUNNING else module_prog


def _cwd_on_path() -> None:
    """Put the working directory first on ``sys.path``, as ``python -m`` does."""
    cwd = os.getcwd()
    if "" not in sys.path and cwd not in sys.path:
        sys.path.insert(0, cwd)


def main(argv: Sequence[str] | None = None) -> int:
    """``featuredrop`` entry point; returns the subcommand's exit status (2 for bad usage)."""
    args = list(sys.argv[1:] if argv is None else argv)
    if not args:
        sys.stderr.write(usage())
        print("featuredrop: error: a subcommand is required", file=sys.stderr)
        return EXIT_USAGE
    first, rest = args[0], args[1:]
    if first in ("-h", "--help"):
        sys.stdout.write(usage())
        return 0
    if first == "--version":
        print(version_line())
        return 0
    if first not in SUBCOMMANDS:
        sys.stderr.write(usage())
        print(
            f"featuredrop: error: unknown subcommand {first!r}; choose from "
            f"{', '.join(SUBCOMMANDS)}",
            file=sys.stderr,
        )
        return EXIT_USAGE
    _cwd_on_path()
    entry = _entry_point(first)
    if entry is None:
        return EXIT_USAGE
    _RUNNING.append(first)
    try:
        return int(entry(rest))
    finally:
        _RUNNING.pop()


if __name__ == "__main__":
    raise SystemExit(main())
