"""Evaluation records: the one writer (and reader) of ``RUN_DIR/eval/NAME.json``.

Every evaluation (``empirical.evaluate``) and diagnostic (``empirical.diagnostics``) of a trained
run is written by :func:`write_record`, which runs it inside :func:`frozen` (every parameter and
buffer of the encoder and head compared bit for bit before and after; a change raises
:class:`EncoderModified`, MoCo's check) and stores, beside the metrics, everything that
determines them:

- ``config``: the run's resolved config, and ``seed``, its ``run.seed``;
- ``kind`` and ``options``: which evaluation, with which options (all of them);
- ``weights_sha256``: the checkpoint's identity, a hash of every module state it holds (encoder,
  head and, for a viewmaker run, the viewmaker whose views some evaluations use);
- ``code_sha256``: a hash of the source of the code that turns given weights into metrics
  (:data:`CODE_PATHS`);
- ``key``: :func:`record_key`, the SHA-256 of the canonical JSON of the five items above and the
  schema version. A record is *current* when its key equals the key the same evaluation gets
  now (:func:`current_record`); ``figures.sweep`` reuses current records and recomputes all others.

Also stored, for provenance only (not in the key): ``encoder_sha256`` (the encoder and head as
evaluated), ``code_version`` (the git commit, ``-dirty`` when tracked files differ, or the package
version), ``run_dir``, ``created_utc``, ``elapsed_s``.

The code version in the key: a hash of source files, not a hand-bumped constant, so that nobody
has to remember to bump it: any edit of :data:`CODE_PATHS` (evaluation, features, probes, the run
loader, diagnostics, and the models, views and data suites they run) recomputes the evaluations,
even an edit of a comment there; an edit elsewhere (training loop, losses, figures, tests, docs)
does not. The git commit is not used as the key because every commit, however unrelated, would
then invalidate every result.
"""

from __future__ import annotations

import argparse
import functools
import hashlib
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from empirical.io import atomic_write_json, json_default

if TYPE_CHECKING:  # torch is imported where it is used: reading records needs no torch
    import torch
    from torch import nn

    from empirical.options import Options
    from empirical.runs import LoadedRun

OptionsT = TypeVar("OptionsT", bound="Options")
SCHEMA_VERSION = 2
PACKAGE_ROOT = Path(__file__).resolve().parent
# the code that turns a checkpoint's weights into an evaluation's metrics (relative to empirical/)
CODE_PATHS: tuple[str, ...] = (
    "evaluate.py",
    "features.py",
    "probe.py",
    "runs.py",
    "records.py",
    "options.py",
    "parts.py",  # builds the run's views and suites from its config
    "diagnostics",
    "models",
    "views",
    "data",
)
REQUIRED_KEYS = ("schema", "name", "kind", "config", "seed", "options", "metrics")


class EncoderModified(RuntimeError):
    """The frozen encoder (or head) changed during an evaluation."""


# ---------------------------------------------------------------------------------------------
# hashes
# ---------------------------------------------------------------------------------------------


def _update(h: Any, name: str, t: torch.Tensor) -> None:
    import torch

    t = t.detach().cpu().contiguous()
    h.update(f"{name}|{t.dtype}|{tuple(t.shape)}|".encode())
    h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes())


def state_sha256(states: Mapping[str, Mapping[str, torch.Tensor]]) -> str:
    """SHA-256 over module name, tensor name, dtype, shape and bytes of every tensor of the
    state dicts ``{module: {tensor: value}}`` (modules sorted by name, tensors in their order)."""
    h = hashlib.sha256()
    for module in sorted(states):
        for name, t in states[module].items():
            _update(h, f"{module}.{name}", t)
    return h.hexdigest()


def snapshot(modules: Mapping[str, nn.Module]) -> dict[str, torch.Tensor]:
    """Copies of every parameter and buffer (BatchNorm statistics included), ``module.name``."""
    return {
        f"{m}.{k}": v.detach().clone()
        for m, mod in modules.items()
        for k, v in mod.state_dict(keep_vars=True).items()
    }


def weights_hash(modules: Mapping[str, nn.Module]) -> str:
    """SHA-256 over names, dtypes, shapes and bytes of every parameter and buffer of
    ``modules`` (in their order)."""
    h = hashlib.sha256()
    for name, t in snapshot(modules).items():
        _update(h, name, t)
    return h.hexdigest()


@contextmanager
def frozen(modules: Mapping[str, nn.Module]) -> Iterator[None]:
    """Raise :class:`EncoderModified` if any parameter or buffer of ``modules`` differs (bit for
    bit) after the block from before it."""
    import torch

    before = snapshot(modules)
    yield
    after = snapshot(modules)
    changed = sorted(
        k for k in before.keys() | after.keys() if k not in before or k not in after
    ) + sorted(k for k in before.keys() & after.keys() if not torch.equal(before[k], after[k]))
    if changed:
        shown = ", ".join(changed[:5]) + (" ..." if len(changed) > 5 else "")
        raise EncoderModified(
            f"the frozen encoder changed during evaluation: {len(changed)} tensor(s): {shown}"
        )


def _code_files() -> list[Path]:
    files: list[Path] = []
    for rel in CODE_PATHS:
        p = PACKAGE_ROOT / rel
        files += sorted(p.rglob("*.py")) if p.is_dir() else [p] if p.exists() else []
    return files


@functools.lru_cache(maxsize=1)
def code_sha256() -> str:
    """SHA-256 over the relative path and bytes of every ``.py`` file of :data:`CODE_PATHS`
    (computed once per process)."""
    h = hashlib.sha256()
    for f in _code_files():
        h.update(f"{f.relative_to(PACKAGE_ROOT).as_posix()}|{f.stat().st_size}|".encode())
        h.update(f.read_bytes())
    return h.hexdigest()


def code_version() -> dict[str, str]:
    """``{"commit": ..., "describe": ...}`` from git (``-dirty`` when tracked files differ from
    HEAD) where this file sits in a work tree, else ``{"package": "featuredrop==VERSION"}``."""
    root = PACKAGE_ROOT.parent
    env = {**os.environ, "GIT_OPTIONAL_LOCKS": "0"}  # never take the index lock

    def git(*args: str) -> str:
        res = subprocess.run(
            ["git", *args], cwd=root, env=env, capture_output=True, text=True, timeout=10
        )
        if res.returncode != 0:
            raise OSError(res.stderr.strip())
        return res.stdout.strip()

    try:
        commit = git("rev-parse", "HEAD")
        dirty = bool(git("status", "--porcelain", "--untracked-files=no"))
        return {"commit": commit, "describe": commit[:12] + ("-dirty" if dirty else "")}
    except (OSError, subprocess.SubprocessError):
        from importlib.metadata import PackageNotFoundError, version

        try:
            return {"package": f"featuredrop=={version('featuredrop')}"}
        except PackageNotFoundError:
            return {"package": "unknown"}


def record_key(run: LoadedRun, kind: str, options: Options) -> str:
    """SHA-256 of the canonical JSON of schema, kind, the run's config, the options, the
    checkpoint's ``weights_sha256`` and :func:`code_sha256`."""
    content = {
        "schema": SCHEMA_VERSION,
        "kind": kind,
        "config": run.config.to_dict(),
        "options": options.to_dict(),
        "weights_sha256": run.weights_sha256,
        "code_sha256": code_sha256(),
    }
    text = json.dumps(content, sort_keys=True, separators=(",", ":"), default=json_default)
    return hashlib.sha256(text.encode()).hexdigest()


# ---------------------------------------------------------------------------------------------
# files
# ---------------------------------------------------------------------------------------------


def check_name(name: str) -> str:
    """``name`` if it is a plain file name (no ``/``, not empty, no leading dot), else
    ValueError."""
    if not name or "/" in name or "\\" in name or name.startswith("."):
        raise ValueError(f"name must be a plain file name; got {name!r}")
    return name


def record_path(run_dir: str | Path, name: str) -> Path:
    """``RUN_DIR/eval/NAME.json``."""
    return Path(run_dir) / "eval" / f"{check_name(name)}.json"


def read_record(path: str | Path) -> dict[str, Any]:
    """The record at ``path``.

    Raises:
        FileNotFoundError: no file.
        ValueError: not JSON, or a record without one of :data:`REQUIRED_KEYS` (names the file).
    """
    path = Path(path)
    try:
        record = json.loads(path.read_text())
    except json.JSONDecodeError as e:
        raise ValueError(f"{path}: not a JSON evaluation record ({e})") from None
    if not isinstance(record, dict):
        raise ValueError(f"{path}: not an evaluation record (a JSON {type(record).__name__})")
    missing = [k for k in REQUIRED_KEYS if k not in record]
    if missing:
        raise ValueError(f"{path}: evaluation record without {', '.join(missing)}")
    return record


def read_records(run_dirs: Iterable[str | Path], name: str | None = None) -> list[dict[str, Any]]:
    """Every ``eval/*.json`` record of ``run_dirs`` (only ``NAME.json`` if ``name`` is given; a
    glob pattern is allowed), in a stable order.

    Raises:
        FileNotFoundError: a run directory without any (matching) record.
        ValueError: a file that is not a record (see :func:`read_record`).
    """
    records = []
    for d in run_dirs:
        files = sorted((Path(d) / "eval").glob(f"{name or '*'}.json"))
        if not files:
            raise FileNotFoundError(f"no evaluation results {name or '*'}.json in {d}/eval")
        records += [read_record(f) for f in files]
    return records


def current_record(path: str | Path, key: str) -> dict[str, Any] | None:
    """The record at ``path`` if it exists, is readable and its ``key`` equals ``key``; else
    ``None`` (missing, damaged, from an older schema, or made from other inputs: recompute)."""
    try:
        record = read_record(path)
    except (FileNotFoundError, ValueError):
        return None
    return record if record.get("key") == key else None


def write_record(
    run: LoadedRun,
    kind: str,
    name: str,
    options: Options,
    compute: Callable[[], Mapping[str, Any]],
) -> tuple[Path, dict[str, Any]]:
    """Run ``compute()`` (the metrics) inside :func:`frozen` and write its record to
    ``run.run_dir/eval/NAME.json`` atomically.

    Returns:
        The path and the record: ``schema``, ``name``, ``kind``, ``run_dir``, ``config``,
        ``seed``, ``options``, ``weights_sha256``, ``encoder_sha256``, ``code_sha256``,
        ``code_version``, ``key``, ``created_utc``, ``elapsed_s`` (of ``compute``), ``metrics``.

    Raises:
        ValueError: ``name`` is not a plain file name.
        EncoderModified: ``compute`` changed the encoder or head.
    """
    path = record_path(run.run_dir, name)
    key = record_key(run, kind, options)
    modules = run.modules()
    t0 = time.perf_counter()
    with frozen(modules):
        metrics = dict(compute())
    record = {
        "schema": SCHEMA_VERSION,
        "name": name,
        "kind": kind,
        "run_dir": str(run.run_dir),
        "config": run.config.to_dict(),
        "seed": run.config.run.seed,
        "options": options.to_dict(),
        "weights_sha256": run.weights_sha256,
        "encoder_sha256": weights_hash(modules),
        "code_sha256": code_sha256(),
        "code_version": code_version(),
        "key": key,
        "created_utc": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "elapsed_s": time.perf_counter() - t0,
        "metrics": metrics,
    }
    return atomic_write_json(path, record), record


def record_parser(
    prog: str,
    description: str,
    selector: str,
    selector_kw: Mapping[str, Any],
    name_help: str,
    options: type[Options],
) -> argparse.ArgumentParser:
    """The command line of a command that writes one record of a run: ``RUN_DIR``, the
    ``selector`` flag (``--kind``, ``--what``; ``add_argument`` keywords ``selector_kw``),
    ``--name``, ``--threads`` and the flags generated from ``options``."""
    from empirical.options import add_arguments

    p = argparse.ArgumentParser(prog=prog, description=description)
    p.add_argument("run_dir", metavar="RUN_DIR")
    p.add_argument(selector, **selector_kw)
    p.add_argument("--name", help=name_help)
    p.add_argument("--threads", type=int, default=0, help="torch CPU threads (0 = default)")
    add_arguments(p, options)
    return p


def run_record_command(
    parser: argparse.ArgumentParser,
    options: type[OptionsT],
    argv: list[str] | None,
    write: Callable[[argparse.Namespace, OptionsT], tuple[Path, dict[str, Any]]],
    show: Callable[[Mapping[str, Any]], Iterable[str]],
) -> int:
    """Parse ``argv`` with ``parser``, build the ``options``, set the torch threads, ``write``
    the record, and print ``wrote PATH`` and the lines ``show`` makes of its metrics.

    Returns the exit status: 0, or 2 (``error: ...`` on stderr) for bad arguments or a run or
    suite that cannot be used.
    """
    import torch

    from empirical.allocator import keep_freed_memory
    from empirical.checkpoint import CheckpointError
    from empirical.options import from_args

    args = parser.parse_args(argv)
    try:
        keep_freed_memory()
        opts = from_args(options, args)
        if args.threads > 0:
            torch.set_num_threads(args.threads)
        path, record = write(args, opts)
    except (ValueError, FileNotFoundError, CheckpointError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(f"wrote {path}")
    for line in show(record["metrics"]):
        print(line)
    return 0
