"""Run benchmarks and merge their figures into ``results/bench.json`` (printed at the end).

Each benchmark module exposes ``run() -> dict[str, float | int | str]``. Timings live here and
never in tests.
"""

from __future__ import annotations

import argparse
import importlib
import json
from pathlib import Path

from empirical.cli import prog
from empirical.io import atomic_write_json

BENCHMARKS = [
    "theory",
    "data",
    "spirograph",
    "viewmaker",
    "train",
    "evaluate",
    "throughput",
    "allocator",
]
BENCH_PATH = Path("results") / "bench.json"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog=prog("python -m benchmarks"))
    parser.add_argument("names", nargs="*", help=f"subset of {BENCHMARKS} (default: all)")
    args = parser.parse_args(argv)
    names = args.names or BENCHMARKS
    unknown = sorted(set(names) - set(BENCHMARKS))
    if unknown:
        parser.error(f"unknown benchmark(s) {unknown}; known: {BENCHMARKS}")
    merged: dict[str, object] = {}
    if BENCH_PATH.exists():
        merged = json.loads(BENCH_PATH.read_text())
    for name in names:
        mod = importlib.import_module(f"benchmarks.{name}")
        print(f"== {name}", flush=True)
        out = mod.run()
        for k, v in out.items():
            print(f"  {k}: {v}", flush=True)
        merged.update(out)
        atomic_write_json(BENCH_PATH, merged)
    print(json.dumps(merged, indent=2, sort_keys=True))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
