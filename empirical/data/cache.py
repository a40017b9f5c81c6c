"""On-disk cache for generated arrays: built once, checked at every load, rebuilt when stale.

Layout under the cache folder (``$FEATUREDROP_DATA_CACHE``, default ``results/data_cache``)::

    <name>-<confighash>.npz    the arrays (uncompressed npz)
    <name>-<confighash>.json   manifest: generator version, config, config hash, SHA-256 checksums

The config hash covers the config and the generator version, so a changed config (or a new
generator version) gets its own file and is regenerated. The npz is written first and the manifest
last, both atomically (``empirical.io``); a load verifies the npz's SHA-256 against the manifest,
so a half-written, truncated or corrupt file is detected, reported with a warning and rebuilt.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import warnings
import zipfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from empirical.io import atomic_write_bytes, atomic_write_json, json_default

CACHE_ENV = "FEATUREDROP_DATA_CACHE"
DEFAULT_CACHE_DIR = Path("results") / "data_cache"
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


class CacheCorruptError(RuntimeError):
    """A cache entry exists but cannot be trusted (checksum, format or manifest mismatch)."""


def cache_dir() -> Path:
    """The cache folder: ``$FEATUREDROP_DATA_CACHE`` if set, else ``results/data_cache``."""
    env = os.environ.get(CACHE_ENV)
    return Path(env) if env else DEFAULT_CACHE_DIR


def config_hash(config: Mapping[str, Any], version: str) -> str:
    """First 16 hex digits of the SHA-256 of the canonical JSON of ``config`` and ``version``."""
    text = json.dumps(
        {"config": config, "generator_version": version}, sort_keys=True, default=json_default
    )
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def cache_paths(
    name: str, config: Mapping[str, Any], version: str = "1", root: Path | None = None
) -> tuple[Path, Path]:
    """``(npz path, manifest path)`` of the cache entry for ``name`` and ``config``."""
    _check_name(name)
    stem = f"{name}-{config_hash(config, version)}"
    folder = cache_dir() if root is None else Path(root)
    return folder / f"{stem}.npz", folder / f"{stem}.json"


def cached_arrays(
    name: str,
    config: Mapping[str, Any],
    build: Callable[[], dict[str, np.ndarray]],
    *,
    version: str = "1",
    root: Path | None = None,
) -> dict[str, np.ndarray]:
    """Return the arrays ``build()`` makes for ``config``, from the cache when it is valid.

    Args:
        name: entry name (letters, digits, ``_.-``), e.g. ``"natural-crops"``.
        config: everything the arrays depend on (JSON-serialisable); a change regenerates.
        build: makes the arrays; called only when the cache entry is missing or invalid.
        version: generator version; bump it when ``build`` changes its output.
        root: cache folder (default: ``cache_dir()``).

    Returns:
        name -> array (numeric dtypes only; object arrays are rejected).
    """
    npz_path, manifest_path = cache_paths(name, config, version, root)
    if npz_path.exists() or manifest_path.exists():
        try:
            return _load(npz_path, manifest_path, name, config, version)
        except CacheCorruptError as err:
            warnings.warn(
                f"data cache entry {npz_path} is invalid ({err}); rebuilding it",
                RuntimeWarning,
                stacklevel=2,
            )
    arrays = build()
    _save(npz_path, manifest_path, name, config, version, arrays)
    return arrays


def _save(
    npz_path: Path,
    manifest_path: Path,
    name: str,
    config: Mapping[str, Any],
    version: str,
    arrays: dict[str, np.ndarray],
) -> None:
    if not isinstance(arrays, dict) or not arrays:
        raise ValueError(f"build for cache entry {name!r} must return a non-empty dict of arrays")
    for key, arr in arrays.items():
        if not isinstance(arr, np.ndarray) or arr.dtype == object:
            raise ValueError(f"cache entry {name!r}: array {key!r} must be a numeric np.ndarray")
    data = npz_bytes(arrays)
    atomic_write_bytes(npz_path, data)
    manifest = {
        "name": name,
        "generator_version": version,
        "config": config,
        "config_hash": config_hash(config, version),
        "sha256": hashlib.sha256(data).hexdigest(),
        "size_bytes": len(data),
        "arrays": {
            k: {
                "shape": list(a.shape),
                "dtype": str(a.dtype),
                "sha256": hashlib.sha256(np.ascontiguousarray(a).tobytes()).hexdigest(),
            }
            for k, a in arrays.items()
        },
    }
    atomic_write_json(manifest_path, manifest)


def npz_bytes(arrays: Mapping[str, np.ndarray]) -> bytes:
    """An uncompressed npz of ``arrays`` whose bytes depend only on the arrays (fixed zip
    timestamps, sorted names), so that two builds of the same data are byte-identical and
    concurrent writers of one entry agree with each other's manifest."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_STORED, allowZip64=True) as zf:
        for key in sorted(arrays):
            info = zipfile.ZipInfo(f"{key}.npy", date_time=(1980, 1, 1, 0, 0, 0))
            with zf.open(info, "w", force_zip64=True) as f:
                np.lib.format.write_array(f, np.asanyarray(arrays[key]), allow_pickle=False)
    return buf.getvalue()


def _load(
    npz_path: Path, manifest_path: Path, name: str, config: Mapping[str, Any], version: str
) -> dict[str, np.ndarray]:
    try:
        manifest = json.loads(manifest_path.read_text())
    except (OSError, ValueError) as err:
        raise CacheCorruptError(f"manifest unreadable: {err}") from err
    if not isinstance(manifest, dict):
        raise CacheCorruptError("manifest is not a JSON object")
    if manifest.get("config_hash") != config_hash(config, version):
        raise CacheCorruptError("manifest config hash does not match the requested config")
    if manifest.get("generator_version") != version:
        raise CacheCorruptError("manifest generator version differs")
    try:
        data = npz_path.read_bytes()
    except OSError as err:
        raise CacheCorruptError(f"array file unreadable: {err}") from err
    if len(data) != manifest.get("size_bytes"):
        raise CacheCorruptError(
            f"array file has {len(data)} bytes, manifest says {manifest.get('size_bytes')}"
        )
    if hashlib.sha256(data).hexdigest() != manifest.get("sha256"):
        raise CacheCorruptError("array file SHA-256 does not match the manifest")
    try:
        with np.load(io.BytesIO(data), allow_pickle=False) as npz:
            arrays = {k: npz[k] for k in npz.files}
    except (OSError, ValueError, zipfile.BadZipFile) as err:
        raise CacheCorruptError(f"array file unreadable: {err}") from err
    expected = manifest.get("arrays")
    if not isinstance(expected, dict) or set(arrays) != set(expected):
        raise CacheCorruptError("array names differ from the manifest")
    for k, a in arrays.items():
        entry = expected[k]
        if (
            not isinstance(entry, dict)
            or list(a.shape) != entry.get("shape")
            or str(a.dtype) != entry.get("dtype")
        ):
            raise CacheCorruptError(f"array {k!r} has a shape or dtype the manifest does not list")
    return arrays


def _check_name(name: str) -> None:
    if not _NAME_RE.match(name):
        raise ValueError(f"cache entry name must match {_NAME_RE.pattern}; got {name!r}")
