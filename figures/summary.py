"""``results/summary.md``: the tables behind every figure and one sentence per figure, written by
code from the cached results (``results/figures/NAME.json``) and the claims
(``results/claims.json``), so that the text stays true when the numbers change.

The tables are found in a figure's results, not declared by it: a *per-seed quantity* is any
numeric array whose last axis has one value per seed (``len(results["seeds"])``), anywhere in
the results (nested dicts give the row labels), except keys starting with ``theory`` (the linear
theory's curves), ``run_s`` (times per run) and ``chance``, and except the top-level 1-D lists of
scalars: those are the coordinates (``ps``, ``bits``, ``taus``, ``copies``, ...) that label the
leading axes of the quantities (matched by length, in order; else by position). Each row gives
the mean, sample sd and 95% t-interval over seeds (:func:`figures.stats.mean_interval`). A
quantity with an untrained counterpart (``accuracy`` beside ``untrained``, ``X`` beside
``untrained_X``) also gets its gain over the untrained encoder: the Welch interval of the trained
seeds against the untrained population (:func:`figures.stats.welch_interval`). The untrained
values have one value per initialisation on their last axis (``len(results["inits"])``) where the
results list ``inits``, else one per seed. A figure whose results carry no seeds (a theory figure:
no training runs) gets no table, and its sentence says so; one whose results carry seeds but no
quantity with one value per seed on its last axis (e.g. only seed-first learning curves) gets no
table either, and its sentence says that instead (it is not a theory figure).

The sentence of a figure names its largest gain over the untrained encoder and what its claims'
verdicts are, each claim linked by its id to ``claims.md``.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from empirical.io import atomic_write_bytes
from figures.claims import CLAIMS_JSON, NOT_A_RESULT, VERDICTS
from figures.stats import Interval, mean_interval, welch_interval

SUMMARY_MD = Path("results") / "summary.md"
SKIP_KEYS = ("seeds", "inits", "run_s", "chance")
SKIP_PREFIX = "theory"
KeyPath = tuple[str, ...]


@dataclass(frozen=True)
class Row:
    """One row of a table: a condition (``accuracy / digit, ps=0.2``) and its interval."""

    label: str
    interval: Interval


@dataclass(frozen=True)
class Table:
    """A table of rows under a title (``accuracy``, ``gain over untrained: accuracy``)."""

    title: str
    rows: tuple[Row, ...]


# raw-pixel probes (``pixels``, ``dropout_pixels``): one number per condition, neither an axis
# nor a per-seed value
PIXELS_WORD = "pixels"


def _skipped(key: str) -> bool:
    return key in SKIP_KEYS or key.startswith(SKIP_PREFIX) or PIXELS_WORD in key


def _scalar_list(value: Any) -> bool:
    return (
        isinstance(value, list)
        and bool(value)
        and all(isinstance(v, (int, float, str)) and not isinstance(v, bool) for v in value)
    )


def coordinates(results: Mapping[str, Any]) -> dict[str, list[Any]]:
    """The top-level coordinate lists of ``results``: every top-level 1-D list of scalars (a
    per-seed quantity sits deeper or has more axes), except the skipped keys and the raw-pixel
    probes (``pixels``, ``dropout_pixels``: one number per condition, not an axis)."""
    return {k: v for k, v in results.items() if not _skipped(k) and _scalar_list(v)}


def _as_array(value: Any) -> np.ndarray | None:
    try:
        arr = np.asarray(value, dtype=float)
    except (TypeError, ValueError):
        return None
    return arr if arr.ndim >= 1 else None


def per_seed_values(results: Mapping[str, Any]) -> Iterator[tuple[KeyPath, np.ndarray]]:
    """Every per-seed quantity of ``results`` as ``(path of keys, array (..., seeds))``; an
    untrained quantity (a key with an ``_``-separated word ``untrained`` on its path:
    ``untrained``, ``untrained_r2``, ``dropout_untrained``) has one value per initialisation
    instead where the results list ``inits``. Raw-pixel probes (keys containing ``pixels``) are
    one number per condition, never per seed, and are not visited."""
    seeds = results.get("seeds")
    if not isinstance(seeds, list) or not seeds:
        return
    n = len(seeds)
    inits = results.get("inits")
    n_inits = len(inits) if isinstance(inits, list) and inits else n
    coords = coordinates(results)

    def visit(value: Any, path: KeyPath) -> Iterator[tuple[KeyPath, np.ndarray]]:
        if isinstance(value, Mapping):
            for k, v in value.items():
                if not _skipped(str(k)):
                    yield from visit(v, (*path, str(k)))
            return
        if not isinstance(value, list) or (len(path) == 1 and path[0] in coords):
            return
        arr = _as_array(value)
        untrained = any("untrained" in k.split("_") for k in path)
        if arr is not None and arr.shape[-1] == (n_inits if untrained else n):
            yield path, arr

    yield from visit(results, ())


def _fmt(v: Any) -> str:
    return f"{v:g}" if isinstance(v, (int, float)) else str(v)


def axis_labels(shape: Sequence[int], coords: Mapping[str, Sequence[Any]]) -> list[str]:
    """Labels of the leading-axis positions of an array of ``shape`` (without the seed axis):
    each axis takes the first unused coordinate of its length (``ps=0.2``), else ``#i``."""
    used: set[str] = set()
    per_axis: list[list[str]] = []
    for length in shape:
        key = next((k for k, v in coords.items() if k not in used and len(v) == length), None)
        if key is None:
            per_axis.append([f"#{i}" for i in range(length)])
        else:
            used.add(key)
            per_axis.append([f"{key}={_fmt(v)}" for v in coords[key]])
    out = [""]
    for labels in per_axis:
        out = [f"{a}, {b}" if a else b for a in out for b in labels]
    return out


def _rows(path: KeyPath, arr: np.ndarray, coords: Mapping[str, Sequence[Any]]) -> list[Row]:
    flat = arr.reshape(-1, arr.shape[-1])
    labels = axis_labels(arr.shape[:-1], coords)
    name = " / ".join(path[1:])
    return [
        Row(", ".join(x for x in (name, lab) if x), mean_interval(v))
        for lab, v in zip(labels, flat, strict=True)
    ]


def untrained_path(path: KeyPath) -> KeyPath:
    """Where the untrained counterpart of ``path`` sits: ``accuracy`` or ``trained`` ->
    ``untrained`` (the first such key), else the last key ``X`` -> ``untrained_X``."""
    for key in ("accuracy", "trained"):
        if key in path:
            i = path.index(key)
            return (*path[:i], "untrained", *path[i + 1 :])
    return (*path[:-1], f"untrained_{path[-1]}")


def figure_tables(results: Mapping[str, Any]) -> list[Table]:
    """The tables of a figure's results: one per top-level key holding per-seed quantities,
    then one of gains over the untrained encoder per key that has untrained counterparts."""
    seeds = results.get("seeds")
    if not isinstance(seeds, list) or not seeds:
        return []
    coords = coordinates(results)
    values = dict(per_seed_values(results))
    plain: dict[str, list[Row]] = {}
    gains: dict[str, list[Row]] = {}
    for path, arr in values.items():
        plain.setdefault(path[0], []).extend(_rows(path, arr, coords))
        twin = values.get(untrained_path(path))
        if twin is not None and twin.shape[:-1] == arr.shape[:-1]:
            flat, flat_u = arr.reshape(-1, arr.shape[-1]), twin.reshape(-1, twin.shape[-1])
            labels = [r.label for r in _rows(path, arr, coords)]
            gains.setdefault(path[0], []).extend(
                Row(lab, welch_interval(a, b))
                for lab, a, b in zip(labels, flat, flat_u, strict=True)
            )
    tables = [Table(k, tuple(rows)) for k, rows in plain.items()]
    tables += [Table(f"gain over the untrained encoder: {k}", tuple(r)) for k, r in gains.items()]
    return tables


def _num(v: float) -> str:
    """Three decimals, or three significant digits below 0.01 (a conditional variance of 4e-4
    would otherwise read 0.000)."""
    if not math.isfinite(v):
        return "n/a"
    return f"{v:.3g}" if 0 < abs(v) < 0.01 else f"{v:.3f}"


def render_table(table: Table) -> list[str]:
    """A markdown table: condition, n (seeds or initialisations), mean, sd, 95% interval."""
    lines = [
        f"**{table.title}**",
        "",
        "| condition | n | mean | sd | 95% interval |",
        "|---|---|---|---|---|",
    ]
    for r in table.rows:
        iv = r.interval
        ci = (
            f"{_num(iv.lo)} to {_num(iv.hi)}"
            if iv.defined
            else "none (fewer than 2 values in a group)"
        )
        lines.append(f"| {r.label or '-'} | {iv.n} | {_num(iv.mean)} | {_num(iv.sd)} | {ci} |")
    return [*lines, ""]


def _claim_link(c: Mapping[str, Any]) -> str:
    return f"[`{c['id']}`](claims.md)"


def _claims_clause(claims: Sequence[Mapping[str, Any]]) -> str:
    if not claims:
        return "it tests no claim"
    if all(c["verdict"] == NOT_A_RESULT for c in claims):
        reason = claims[0].get("gate_reason") or "the gate is closed"
        return (
            f"its runs do not beat the untrained encoder ({reason}), so none of its "
            f"{len(claims)} claim(s) is judged ({', '.join(_claim_link(c) for c in claims)})"
        )
    parts = []
    for v in VERDICTS:
        group = [c for c in claims if c["verdict"] == v]
        if group:
            parts.append(f"{len(group)} {v} ({', '.join(_claim_link(c) for c in group)})")
    return f"of its {len(claims)} claim(s), " + ", ".join(parts)


def n_seeds(results: Mapping[str, Any]) -> int:
    """How many seeds the figure's runs are over: ``len(results["seeds"])``; 0 when the results
    carry no seeds (a theory figure, which trains nothing)."""
    seeds = results.get("seeds")
    return len(seeds) if isinstance(seeds, list) else 0


def _no_table_head(name: str, seeds: int) -> str:
    if seeds == 0:
        return f"`{name}` has no runs over seeds (a theory figure)"
    return (
        f"`{name}` has runs over {seeds} seed(s), but no quantity in its results has one value "
        "per seed on its last axis, so it has no table"
    )


def figure_sentence(
    name: str, tables: Sequence[Table], claims: Sequence[Mapping[str, Any]], seeds: int = 0
) -> str:
    """One sentence about figure ``name`` from its numbers: its largest mean gain over the
    untrained encoder (with its interval) and its claims' verdicts. ``seeds``: how many seeds
    its results carry (:func:`n_seeds`; 0: a theory figure), said when it has no table."""
    gain_rows = [
        (t.title.split(": ", 1)[1], r)
        for t in tables
        if t.title.startswith("gain over")
        for r in t.rows
        if math.isfinite(r.interval.mean)
    ]
    if not tables:
        head = _no_table_head(name, seeds)
    elif gain_rows:
        what, best = max(gain_rows, key=lambda x: x[1].interval.mean)
        iv = best.interval
        ci = (
            f"95% interval {iv.lo:+.3f} to {iv.hi:+.3f}, {iv.n} seeds"
            if iv.defined
            else f"{iv.n} seed(s), no interval"
        )
        head = (
            f"In `{name}` the largest gain over the untrained encoder is {iv.mean:+.3f} "
            f"({what}, {best.label}; {ci})"
        )
    else:
        head = f"`{name}` has no untrained baseline in its results"
    return f"{head}; {_claims_clause(claims)}."


def figure_section(
    name: str, results: Mapping[str, Any], claims: Sequence[Mapping[str, Any]], note: str = ""
) -> str:
    """The summary's section of one figure: heading, sentence, tables."""
    tables = figure_tables(results)
    lines = [f"## {name}", "", figure_sentence(name, tables, claims, n_seeds(results)), ""]
    if note:
        lines += [f"_{note}_", ""]
    for t in tables:
        lines += render_table(t)
    return "\n".join(lines)


def render(
    figures: Mapping[str, tuple[Mapping[str, Any], str]],
    claims_doc: Mapping[str, Any] | None,
    missing: Sequence[str] = (),
) -> str:
    """The summary document: ``figures`` maps a figure to its results and a note (e.g. that the
    results are of an older config); ``claims_doc`` is ``claims.json`` (None: not written)."""
    claims = list(claims_doc["claims"]) if claims_doc else []
    lines = [
        "# Summary of the figures' results",
        "",
        "Generated by `python -m figures` (`figures/summary.py`) from `results/figures/*.json` "
        "and `results/claims.json`; do not edit. Means, sample sd and 95% t-intervals are over "
        "seeds (column n), and in the untrained rows over seeded initialisations of the "
        "untrained encoder; a gain is the trained seeds' mean minus the untrained "
        "initialisations' mean, with its Welch interval (n: the trained seeds; sd: the "
        "standard error times the square root of n).",
        "",
    ]
    if claims_doc is None:
        lines += ["No `results/claims.json` yet: claims are not linked.", ""]
    for name, (results, note) in figures.items():
        mine = [c for c in claims if c.get("figure") == name]
        lines.append(figure_section(name, results, mine, note))
    if missing:
        lines += ["Not computed yet: " + ", ".join(f"`{m}`" for m in missing) + ".", ""]
    return "\n".join(lines).rstrip("\n") + "\n"


def write(results_dir: Path, claims_json: Path = CLAIMS_JSON, out: Path = SUMMARY_MD) -> Path:
    """Write the summary of every registered figure with a results file in ``results_dir``."""
    from figures.registry import FIGURES, code_sha256

    found: dict[str, tuple[Mapping[str, Any], str]] = {}
    missing = []
    for name, spec in sorted(FIGURES.items()):
        path = results_dir / f"{name}.json"
        if not path.exists():
            missing.append(name)
            continue
        cached = json.loads(path.read_text())
        if cached.get("config") != json.loads(json.dumps(spec.default_config())):
            note = f"{path} holds results of an older config"
        elif cached.get("code") != code_sha256():
            note = f"{path} holds results of older code"
        else:
            note = ""
        found[name] = (cached["results"], note)
    doc = json.loads(claims_json.read_text()) if claims_json.exists() else None
    return atomic_write_bytes(out, render(found, doc, missing).encode())
