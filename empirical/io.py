"""Atomic file writes: a reader never sees a half-written file.

Permissions: the file gets the mode a plain ``open(path, "w")`` would leave, i.e. the mode of the
file it replaces when there is one, else ``0o666`` minus the process umask (``tempfile.mkstemp``
alone would make every result file 0600, unreadable to a group sharing a results folder).
"""

from __future__ import annotations

import json
import os
import stat
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, BinaryIO

_UMASK_LOCK = threading.Lock()


def current_umask() -> int:
    """The process umask, read without changing it for other threads where the OS allows
    (``/proc/self/status`` on Linux); elsewhere set-and-restore under a lock."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    with _UMASK_LOCK:
        mask = os.umask(0o022)
        os.umask(mask)
    return mask


def plain_write_mode(path: str | os.PathLike[str]) -> int:
    """Permission bits ``open(path, "w")`` would leave: those of an existing ``path`` (a plain
    write keeps them), else ``0o666 & ~umask``."""
    try:
        return stat.S_IMODE(os.stat(path).st_mode)
    except FileNotFoundError:
        return 0o666 & ~current_umask()


def atomic_write(
    path: str | os.PathLike[str],
    write: Callable[[BinaryIO], None],
    *,
    keep_previous: str | os.PathLike[str] | None = None,
) -> Path:
    """Write ``path`` by calling ``write(f)`` on a temporary file in the same folder, then
    ``fsync`` and ``os.replace`` it into place, with the mode of :func:`plain_write_mode`.

    Args:
        keep_previous: where the file now at ``path`` (if any) is kept once the new one is in
            place. It is hard-linked there before the new file replaces ``path`` (so ``path``
            always exists); where links are not supported it is renamed there instead (then
            ``path`` is briefly absent, and only ``keep_previous`` holds a complete file).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    mode = plain_write_mode(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            os.fchmod(f.fileno(), mode)
            write(f)
            f.flush()
            os.fsync(f.fileno())
        if keep_previous is not None and path.exists():
            _keep(path, Path(keep_previous))
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return path


def _keep(path: Path, previous: Path) -> None:
    """Make ``previous`` the file now at ``path``, atomically: a reader of ``previous`` sees the
    old or the new version, never a partial one."""
    link = previous.with_name(f".{previous.name}.link")
    try:
        link.unlink(missing_ok=True)
        os.link(path, link)
    except OSError:  # no hard links here (some network and FUSE file systems)
        os.replace(path, previous)
        return
    os.replace(link, previous)


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes) -> Path:
    def write(f: BinaryIO) -> None:
        f.write(data)

    return atomic_write(path, write)


def atomic_write_json(path: str | os.PathLike[str], obj: Any) -> Path:
    text = json.dumps(obj, indent=2, sort_keys=True, default=json_default) + "\n"
    return atomic_write_bytes(path, text.encode())


def json_default(o: Any) -> Any:
    """``json.dumps(default=...)`` for numpy scalars and arrays, sets (sorted, so the text is
    deterministic) and paths."""
    import numpy as np

    if isinstance(o, np.integer):
        return int(o)
    if isinstance(o, np.floating):
        return float(o)
    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, set | frozenset):
        return sorted(o)
    if isinstance(o, Path):
        return str(o)
    raise TypeError(f"value of type {type(o).__name__} is not JSON serialisable")
