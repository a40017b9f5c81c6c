"""``python -m figures list | all | NAME [NAME ...] [--force]``."""

from __future__ import annotations

import argparse
import sys
import time

from figures import catalog  # noqa: F401  (registers every figure)
from figures.registry import FIGURES, make_figure


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m figures", description=__doc__)
    parser.add_argument("what", nargs="+", help="'list', 'all', or figure names")
    parser.add_argument("--force", action="store_true", help="recompute cached results")
    args = parser.parse_args(argv)
    if args.what == ["list"]:
        for name, spec in sorted(FIGURES.items()):
            print(f"{name:32s} {spec.description}")
        return 0
    names = sorted(FIGURES) if args.what == ["all"] else args.what
    unknown = [n for n in names if n not in FIGURES]
    if unknown:
        print(
            f"error: unknown figure(s) {', '.join(unknown)}; known: {', '.join(sorted(FIGURES))}",
            file=sys.stderr,
        )
        return 2
    for name in names:
        t0 = time.perf_counter()
        paths = make_figure(name, force=args.force)
        print(f"{name}: {', '.join(str(p) for p in paths)} ({time.perf_counter() - t0:.1f} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
