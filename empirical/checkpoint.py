"""Atomic training checkpoints with every piece of state needed for a bit-exact resume.

A checkpoint is one ``torch.save`` dict written through :func:`empirical.io.atomic_write` (a
temporary file, ``fsync``, ``os.replace``), so a reader never sees a half-written file, even when
the writer is killed. It holds the resolved config, the module and optimiser states, and all
random state: torch's global generator, the numpy ``Generator`` of the data path and the
``torch.Generator`` objects of views and losses, the training subset (``data.train_size``), plus
the position in the epoch (epoch, step, the epoch's permutation) so that a run can resume
mid-epoch.
"""

from __future__ import annotations

import io
import os
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np
import torch

from empirical.io import atomic_write

FORMAT_VERSION = 1


class CheckpointError(Exception):
    """A checkpoint file that exists but cannot be read (truncated, corrupt, wrong format).

    The message is one line naming the file and what to do; command-line entry points print it
    and exit with status 2.
    """

    def __init__(self, path: str | os.PathLike[str], problem: str) -> None:
        self.path = Path(path)
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


def save_checkpoint(path: str | os.PathLike[str], state: dict[str, Any]) -> Path:
    """Atomically write ``state`` (plus the format version) to ``path``."""
    buf = io.BytesIO()
    torch.save({"format_version": FORMAT_VERSION, **state}, buf)
    data = buf.getvalue()

    def write(f: BinaryIO) -> None:
        f.write(data)

    return atomic_write(path, write)


def load_checkpoint(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Load a checkpoint written by :func:`save_checkpoint` onto the CPU.

    Raises:
        FileNotFoundError: no checkpoint at ``path``.
        CheckpointError: the file cannot be read (truncated, corrupt) or has an unknown format.
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"no checkpoint at {path}")
    try:
        state = torch.load(path, map_location="cpu", weights_only=False)
    except Exception as e:  # torch raises RuntimeError, EOFError, UnpicklingError, ...
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise CheckpointError(path, f"cannot be read ({first})") from e
    if not isinstance(state, dict) or state.get("format_version") != FORMAT_VERSION:
        found = state.get("format_version") if isinstance(state, dict) else type(state).__name__
        raise CheckpointError(path, f"checkpoint format {found!r}, expected {FORMAT_VERSION}")
    return state
