"""Aggregate evaluation results over seeds: mean and standard deviation tables (issue 5).

``python -m empirical.report RUN_DIR... [--eval NAME] [--metric PATTERN] [--out PREFIX]`` reads
every ``RUN_DIR/eval/*.json`` record (``empirical.records``: written by ``empirical.evaluate`` and
``empirical.diagnostics``; a file that is not a record is an error naming it), groups the records
by evaluation name, evaluation options (less the evaluation seed) and run config less the keys in
:data:`IGNORED_CONFIG_KEYS` (the seed and purely operational settings), and reports for every
numeric metric the number of seeds, the mean and the sample standard deviation (``ddof = 1``;
empty for a single seed). Output: a markdown table (printed; ``PREFIX.md``) and CSV
(``PREFIX.csv``). Groups are labelled by the config keys on which they differ.
"""

from __future__ import annotations

import argparse
import csv
import fnmatch
import io
import json
import math
import statistics
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from empirical.cli import prog
from empirical.io import atomic_write_bytes

IGNORED_CONFIG_KEYS = frozenset(
    {
        "run.seed",
        "run.device",
        "run.threads",
        "run.log_every",
        "run.tensorboard",
        "run.gallery_every",
    }
)
IGNORED_OPTION_KEYS = frozenset({"seed", "device"})
COLUMNS = ("group", "eval", "metric", "n", "mean", "std", "seeds")


def flatten(tree: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested dicts -> ``{"a.b.c": leaf}`` (lists and other leaves kept as they are)."""
    out: dict[str, Any] = {}
    for key, value in tree.items():
        if isinstance(value, Mapping):
            out.update(flatten(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


def numeric_metrics(metrics: Mapping[str, Any]) -> dict[str, float]:
    """The numeric leaves of a metrics tree (bools, lists and strings left out)."""
    return {
        k: float(v)
        for k, v in flatten(metrics).items()
        if isinstance(v, int | float) and not isinstance(v, bool)
    }


def load_records(run_dirs: Iterable[str | Path], name: str | None = None) -> list[dict[str, Any]]:
    """Every ``eval/*.json`` record of ``run_dirs`` (only ``name`` if given), in a stable order
    (``empirical.records.read_records``).

    Raises:
        FileNotFoundError: a run directory without any (matching) result.
        ValueError: a file that is not an evaluation record.
    """
    from empirical.records import read_records

    return read_records(run_dirs, name)


def _group_key(record: Mapping[str, Any]) -> tuple[str, str, str]:
    config = {k: v for k, v in flatten(record["config"]).items() if k not in IGNORED_CONFIG_KEYS}
    options = {k: v for k, v in record["options"].items() if k not in IGNORED_OPTION_KEYS}
    return (
        record["name"],
        json.dumps(options, sort_keys=True),
        json.dumps(config, sort_keys=True),
    )


@dataclass(frozen=True)
class Row:
    """One aggregated metric of one group."""

    group: str
    eval: str
    metric: str
    n: int
    mean: float
    std: float  # NaN for a single seed
    seeds: tuple[int, ...]


def mean_std(values: Sequence[float]) -> tuple[float, float]:
    """Mean and sample standard deviation (``ddof = 1``; NaN for fewer than 2 values), computed
    with exact rational arithmetic (``statistics``), so identical values give std exactly 0."""
    if not values:
        raise ValueError("no values")
    mean = statistics.mean(values)
    return mean, statistics.stdev(values, mean) if len(values) > 1 else math.nan


def _labels(configs: Sequence[dict[str, Any]]) -> list[str]:
    """Label each config by the keys on which the configs differ (``all`` if none)."""
    keys = sorted({k for c in configs for k in c})
    differing = [k for k in keys if len({json.dumps(c.get(k)) for c in configs}) > 1]
    if not differing:
        return ["all"] * len(configs)
    return [" ".join(f"{k}={json.dumps(c.get(k))}" for k in differing) for c in configs]


def aggregate(records: Sequence[Mapping[str, Any]], patterns: Sequence[str] = ("*",)) -> list[Row]:
    """Group ``records`` (config less the seed, eval name, options) and reduce every numeric
    metric whose name matches one of ``patterns`` (fnmatch) to n, mean and std over the group."""
    groups: dict[tuple[str, str, str], list[Mapping[str, Any]]] = {}
    for r in records:
        groups.setdefault(_group_key(r), []).append(r)
    keys = list(groups)
    labels = _labels([json.loads(k[2]) for k in keys])
    rows = []
    for key, label in zip(keys, labels, strict=True):
        members = groups[key]
        per_metric: dict[str, list[tuple[int, float]]] = {}
        for r in members:
            for metric, value in numeric_metrics(r["metrics"]).items():
                if any(fnmatch.fnmatchcase(metric, p) for p in patterns):
                    per_metric.setdefault(metric, []).append((int(r["seed"]), value))
        for metric, pairs in per_metric.items():
            pairs.sort()
            mean, std = mean_std([v for _, v in pairs])
            rows.append(
                Row(label, key[0], metric, len(pairs), mean, std, tuple(s for s, _ in pairs))
            )
    return rows


def _fmt(v: float) -> str:
    return "" if math.isnan(v) else f"{v:.4f}"


def to_markdown(rows: Sequence[Row]) -> str:
    """A markdown table with columns :data:`COLUMNS`."""
    lines = ["| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    for r in rows:
        cells = [r.group, r.eval, r.metric, str(r.n), _fmt(r.mean), _fmt(r.std)]
        cells.append(",".join(str(s) for s in r.seeds))
        lines.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
    return "\n".join(lines) + "\n"


def to_csv(rows: Sequence[Row]) -> str:
    """CSV with columns :data:`COLUMNS` (full precision; empty std for a single seed)."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(COLUMNS)
    for r in rows:
        std = "" if math.isnan(r.std) else repr(r.std)
        seeds = ",".join(str(s) for s in r.seeds)
        w.writerow([r.group, r.eval, r.metric, r.n, repr(r.mean), std, seeds])
    return buf.getvalue()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog=prog("python -m empirical.report"),
        description="Mean and std over seeds of RUN_DIR/eval/*.json (markdown and CSV).",
    )
    p.add_argument("run_dirs", nargs="+", metavar="RUN_DIR")
    p.add_argument("--eval", dest="name", help="only results NAME.json (default all)")
    p.add_argument(
        "--metric",
        action="append",
        help="fnmatch pattern of metric names, repeatable (default: all), e.g. '*accuracy'",
    )
    p.add_argument("--out", help="write PREFIX.md and PREFIX.csv")
    args = p.parse_args(argv)
    try:
        rows = aggregate(load_records(args.run_dirs, args.name), args.metric or ("*",))
    except (FileNotFoundError, ValueError, KeyError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    md = to_markdown(rows)
    print(md, end="")
    if args.out:
        atomic_write_bytes(f"{args.out}.md", md.encode())
        atomic_write_bytes(f"{args.out}.csv", to_csv(rows).encode())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
