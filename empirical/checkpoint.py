"""Atomic training checkpoints with every piece of state needed for a bit-exact resume.

A checkpoint is one ``torch.save`` dict written through :func:`empirical.io.atomic_write` (a
temporary file, ``fsync``, ``os.replace``), so a reader never sees a half-written file, even when
the writer is killed. It holds the resolved config, the module and optimiser states, and all
random state: torch's global generator, the numpy ``Generator`` of the data path and the
``torch.Generator`` objects of views and losses, the training subset (``data.train_size``), plus
the position in the epoch (epoch, step, the epoch's permutation) so that a run can resume
mid-epoch (``empirical.run_state`` assembles it).

A run directory keeps two: ``last.pt`` and the one before it, ``prev.pt``
(:class:`CheckpointFiles`), so that a ``last.pt`` damaged after it was written (a full disk, a
copy cut short, bit rot) still leaves a good checkpoint to resume from.
"""

from __future__ import annotations

import io
import os
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np
import torch

from empirical.io import atomic_write

FORMAT_VERSION = 1
LAST, PREVIOUS = "last.pt", "prev.pt"


class CheckpointError(Exception):
    """A checkpoint file that exists but cannot be read (truncated, corrupt, wrong format).

    The message is one line naming the file and what to do; command-line entry points print it
    and exit with status 2.
    """

    def __init__(self, path: str | os.PathLike[str], problem: str) -> None:
        self.path, self.problem = Path(path), problem
        super().__init__(
            f"{self.path}: {problem}; the file is damaged or not a featuredrop checkpoint "
            f"(restore it, resume from an earlier checkpoint, or start a new run)"
        )


def rng_state(
    np_rng: np.random.Generator, generators: dict[str, torch.Generator]
) -> dict[str, Any]:
    """Snapshot of torch's global RNG, a numpy Generator and named torch Generators."""
    state: dict[str, Any] = {
        "torch": torch.get_rng_state(),
        "numpy": np_rng.bit_generator.state,
        "generators": {k: g.get_state() for k, g in generators.items()},
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def restore_rng_state(
    state: dict[str, Any], np_rng: np.random.Generator, generators: dict[str, torch.Generator]
) -> None:
    """Inverse of :func:`rng_state` (in place)."""
    torch.set_rng_state(state["torch"])
    np_rng.bit_generator.state = state["numpy"]
    missing = set(generators) - set(state["generators"])
    if missing:
        raise ValueError(f"checkpoint lacks generator state(s) {sorted(missing)}")
    for k, g in generators.items():
        g.set_state(state["generators"][k])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def save_checkpoint(
    path: str | os.PathLike[str],
    state: dict[str, Any],
    *,
    keep_previous: str | os.PathLike[str] | None = None,
) -> Path:
    """Atomically write ``state`` (plus the format version) to ``path``; with ``keep_previous``
    the file it replaces is kept there (see :func:`empirical.io.atomic_write`)."""
    buf = io.BytesIO()
    torch.save({"format_version": FORMAT_VERSION, **state}, buf)
    data = buf.getvalue()

    def write(f: BinaryIO) -> None:
        f.write(data)

    return atomic_write(path, write, keep_previous=keep_previous)


def verify_archive(path: Path) -> None:
    """Check the CRC-32 of every member of the zip archive ``torch.save`` wrote.

    ``torch.load`` itself reads tensor bytes unchecked, so a flipped byte in a weight would load
    as a silently different model; any change to a member's bytes fails its CRC here, and a
    truncated file or damaged directory is not a readable archive.

    Raises:
        CheckpointError: the file is not a complete zip archive or a member fails its CRC.
    """
    try:
        with zipfile.ZipFile(path) as archive:
            bad = archive.testzip()
    except (zipfile.BadZipFile, EOFError, OSError, ValueError, KeyError, NotImplementedError) as e:
        raise CheckpointError(path, f"cannot be read (not a complete archive: {e})") from e
    if bad is not None:
        raise CheckpointError(path, f"cannot be read ({bad} fails its CRC-32 check)")


def load_checkpoint(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Load a checkpoint written by :func:`save_checkpoint` onto the CPU.

    Raises:
        FileNotFoundError: no checkpoint at ``path``.
        CheckpointError: the file cannot be read (truncated, a byte changed: see
            :func:`verify_archive`) or has an unknown format.
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"no checkpoint at {path}")
    verify_archive(path)
    try:
        state = torch.load(path, map_location="cpu", weights_only=False)
    except Exception as e:  # torch raises RuntimeError, EOFError, UnpicklingError, ...
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise CheckpointError(path, f"cannot be read ({first})") from e
    if not isinstance(state, dict) or state.get("format_version") != FORMAT_VERSION:
        found = state.get("format_version") if isinstance(state, dict) else type(state).__name__
        raise CheckpointError(path, f"checkpoint format {found!r}, expected {FORMAT_VERSION}")
    return state


@dataclass(frozen=True)
class Loaded:
    """A checkpoint read by :meth:`CheckpointFiles.load`: its ``state``, the file it came from,
    and ``note``, one line saying why that is not ``last.pt`` ("" when it is)."""

    state: dict[str, Any]
    path: Path
    note: str = ""


def _identity(path: Path) -> tuple[int, int, int] | None:
    try:
        st = path.stat()
    except FileNotFoundError:
        return None
    return (st.st_ino, st.st_size, st.st_mtime_ns)


class CheckpointFiles:
    """The checkpoints of one run directory: ``last.pt`` and the previous good one, ``prev.pt``.

    :meth:`save` writes a new ``last.pt`` and rotates the old one to ``prev.pt``, but only when
    the old one is known to be good (this object wrote it, or read it back whole); a ``last.pt``
    that was damaged, or that a resume skipped, is overwritten and ``prev.pt`` kept. A kill at
    any moment leaves at least one good checkpoint: the new ``last.pt`` is complete on disk
    before anything is renamed, and ``prev.pt`` is replaced by a hard link to the old
    ``last.pt`` (one atomic rename) before the new one takes its place (another).
    """

    def __init__(self, run_dir: str | os.PathLike[str]) -> None:
        run_dir = Path(run_dir)
        self.last, self.previous = run_dir / LAST, run_dir / PREVIOUS
        self._good: tuple[int, int, int] | None = None  # identity of a last.pt known good

    def load(self) -> Loaded:
        """``last.pt``, else (missing or damaged) ``prev.pt`` with a note saying so.

        Raises:
            FileNotFoundError: neither file exists.
            CheckpointError: ``last.pt`` cannot be read and there is no readable ``prev.pt``
                (the message names both problems).
        """
        identity = _identity(self.last)
        try:
            state = load_checkpoint(self.last)
        except FileNotFoundError:
            if not self.previous.exists():
                raise
            problem, error = "missing", None
        except CheckpointError as e:
            if not self.previous.exists():
                raise
            problem, error = e.problem, e
        else:
            self._good = identity if identity == _identity(self.last) else None
            return Loaded(state, self.last)
        try:
            state = load_checkpoint(self.previous)
        except CheckpointError as e2:
            raise CheckpointError(
                self.last, f"{problem}; its fallback {self.previous} is unusable too ({e2.problem})"
            ) from error
        note = (
            f"warning: {self.last}: {problem}; using the previous checkpoint "
            f"{self.previous} (global step {state.get('global_step', '?')}) instead"
        )
        return Loaded(state, self.previous, note)

    def start_fresh(self) -> None:
        """Remove the checkpoints of an earlier run in this directory (a new run starts)."""
        self.last.unlink(missing_ok=True)
        self.previous.unlink(missing_ok=True)
        self._good = None

    def save(self, state: dict[str, Any]) -> Path:
        """Write ``state`` as ``last.pt``; the old ``last.pt`` becomes ``prev.pt`` if good."""
        good = self._good is not None and self._good == _identity(self.last)
        save_checkpoint(self.last, state, keep_previous=self.previous if good else None)
        self._good = _identity(self.last)
        return self.last
