"""Checkpoints that survive damage: ``prev.pt`` rotation, CRC checks, kills at any moment, and
atomic writes that keep the permissions a plain write would have."""

from __future__ import annotations

import os
import struct
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import torch

from empirical import io as eio
from empirical.checkpoint import CheckpointError, CheckpointFiles, load_checkpoint, save_checkpoint


def _state(tag: int) -> dict[str, Any]:
    return {"tag": tag, "models": {"w": torch.full((64, 64), float(tag))}}


def _tag(path: Path) -> int:
    return int(load_checkpoint(path)["tag"])


def truncate(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def flip_bytes(path: Path, count: int = 1) -> None:
    """Flip ``count`` bytes in the middle of the largest member of the archive (tensor data):
    ``torch.load`` alone reads it without complaint, as a different weight. (The middle of the
    file itself may be alignment padding between members, which no CRC covers.)"""
    with zipfile.ZipFile(path) as archive:
        member = max(archive.infolist(), key=lambda info: info.compress_size)
    data = bytearray(path.read_bytes())
    at = member.header_offset
    name_len, extra_len = struct.unpack("<HH", data[at + 26 : at + 30])  # local file header
    start = at + 30 + name_len + extra_len + member.compress_size // 2
    for i in range(start, start + count):
        data[i] ^= 0xFF
    path.write_bytes(bytes(data))


DAMAGE = {"truncated": truncate, "flipped": flip_bytes}


@pytest.fixture
def umask() -> Iterator[Callable[[int], None]]:
    """Sets the process umask for the test; the old one is restored afterwards."""
    old = os.umask(0o022)
    os.umask(old)

    def set_umask(mask: int) -> None:
        os.umask(mask)

    yield set_umask
    os.umask(old)


@pytest.mark.parametrize("damage", sorted(DAMAGE))
def test_load_checkpoint_rejects_damaged_files_by_name(tmp_path: Path, damage: str) -> None:
    path = save_checkpoint(tmp_path / "last.pt", _state(1))
    DAMAGE[damage](path)
    with pytest.raises(CheckpointError) as e:
        load_checkpoint(path)
    assert str(path) in str(e.value) and "\n" not in str(e.value)


def test_save_rotates_the_previous_checkpoint_to_prev(tmp_path: Path) -> None:
    files = CheckpointFiles(tmp_path)
    for tag in (1, 2, 3):
        files.save(_state(tag))
    assert (_tag(files.last), _tag(files.previous)) == (3, 2)
    loaded = CheckpointFiles(tmp_path).load()
    assert (loaded.path, loaded.note, loaded.state["tag"]) == (files.last, "", 3)


@pytest.mark.parametrize("damage", sorted(DAMAGE))
def test_damaged_last_falls_back_to_prev_and_is_not_rotated(tmp_path: Path, damage: str) -> None:
    files = CheckpointFiles(tmp_path)
    files.save(_state(1))
    files.save(_state(2))
    DAMAGE[damage](files.last)
    again = CheckpointFiles(tmp_path)
    loaded = again.load()
    assert loaded.path == files.previous and loaded.state["tag"] == 1
    assert "last.pt" in loaded.note and "prev.pt" in loaded.note and "\n" not in loaded.note
    # the damaged last.pt is overwritten, never rotated over the good prev.pt
    again.save(_state(3))
    assert (_tag(files.last), _tag(files.previous)) == (3, 1)
    again.save(_state(4))
    assert (_tag(files.last), _tag(files.previous)) == (4, 3)


def test_both_damaged_is_one_error_naming_both(tmp_path: Path) -> None:
    files = CheckpointFiles(tmp_path)
    files.save(_state(1))
    files.save(_state(2))
    truncate(files.last)
    flip_bytes(files.previous)
    with pytest.raises(CheckpointError) as e:
        CheckpointFiles(tmp_path).load()
    message = str(e.value)
    assert str(files.last) in message and str(files.previous) in message and "\n" not in message


def test_missing_last_with_prev_falls_back(tmp_path: Path) -> None:
    files = CheckpointFiles(tmp_path)
    files.save(_state(1))
    files.save(_state(2))
    files.last.unlink()
    loaded = CheckpointFiles(tmp_path).load()
    assert loaded.state["tag"] == 1 and "missing" in loaded.note
    files.previous.unlink()
    with pytest.raises(FileNotFoundError):
        CheckpointFiles(tmp_path).load()


class Killed(BaseException):
    """Stands for SIGKILL: nothing after it runs (atomic_write's cleanup only removes its own
    temporary file, which a real kill would leave behind, harmlessly)."""


@pytest.mark.parametrize("links", [True, False], ids=["hard-links", "no-hard-links"])
def test_a_kill_at_any_moment_leaves_a_good_checkpoint(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, links: bool
) -> None:
    """Kill the save of checkpoint 3 before each of its file-system operations in turn (and let
    one save finish): a new reader always finds a whole checkpoint, 2 or 3."""
    real = {name: getattr(os, name) for name in ("fsync", "link", "replace")}
    found = []
    for kill_at in range(1, 10):
        run = tmp_path / f"kill{kill_at}"
        files = CheckpointFiles(run)
        files.save(_state(1))
        files.save(_state(2))
        calls = {"n": 0}

        def op(name: str, *args: Any, kill_at: int = kill_at, calls: dict = calls) -> Any:
            calls["n"] += 1
            if calls["n"] == kill_at:
                raise Killed(name)
            if name == "link" and not links:
                raise OSError("hard links not supported")
            return real[name](*args)

        for name in real:
            monkeypatch.setattr(eio.os, name, lambda *a, name=name: op(name, *a))
        try:
            files.save(_state(3))
            finished = True
        except Killed:
            finished = False
        finally:
            monkeypatch.undo()
        loaded = CheckpointFiles(run).load()
        assert loaded.state["tag"] in (2, 3), kill_at
        found.append(loaded.state["tag"])
        if finished:
            assert (_tag(files.last), _tag(files.previous)) == (3, 2)
            break
    assert found[0] == 2 and found[-1] == 3  # killed early: the old one; not killed: the new


def test_atomic_writes_follow_the_umask(tmp_path: Path, umask: Callable[[int], None]) -> None:
    for mask, mode in ((0o027, 0o640), (0o002, 0o664), (0o077, 0o600)):
        umask(mask)
        path = eio.atomic_write_bytes(tmp_path / f"new-{mask:o}.json", b"{}")
        assert path.stat().st_mode & 0o777 == mode, f"umask {mask:o}"
        assert eio.current_umask() == mask  # reading it leaves it as it was
        assert (
            save_checkpoint(tmp_path / f"ck-{mask:o}.pt", _state(1)).stat().st_mode & 0o777 == mode
        )


def test_atomic_write_keeps_the_mode_of_the_file_it_replaces(
    tmp_path: Path, umask: Callable[[int], None]
) -> None:
    """As ``open(path, "w")`` would: an existing file keeps its permissions."""
    umask(0o022)
    path = tmp_path / "summary.json"
    path.write_text("{}")
    path.chmod(0o604)
    eio.atomic_write_json(path, {"a": 1})
    assert path.stat().st_mode & 0o777 == 0o604 and path.read_text().startswith("{")


def test_rotation_keeps_the_checkpoint_mode(tmp_path: Path, umask: Callable[[int], None]) -> None:
    umask(0o027)
    files = CheckpointFiles(tmp_path)
    files.save(_state(1))
    files.save(_state(2))
    assert {p.stat().st_mode & 0o777 for p in (files.last, files.previous)} == {0o640}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["last.pt", "prev.pt"]  # no leftovers
