"""The on-disk array cache: built once, invalidated by config, corruption detected and rebuilt."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from empirical.data.cache import (
    CACHE_ENV,
    cache_dir,
    cache_paths,
    cached_arrays,
    config_hash,
    npz_bytes,
)


class Builder:
    """Counts calls; returns arrays that depend on the config."""

    def __init__(self, value: int) -> None:
        self.value = value
        self.calls = 0

    def __call__(self) -> dict[str, np.ndarray]:
        self.calls += 1
        return {
            "a": np.arange(1000, dtype=np.int64) * self.value,
            "b": np.full((7, 3), self.value, dtype=np.float32),
        }


def test_builds_once_then_loads(tmp_path: Path) -> None:
    build = Builder(3)
    first = cached_arrays("entry", {"k": 3}, build, root=tmp_path)
    second = cached_arrays("entry", {"k": 3}, build, root=tmp_path)
    assert build.calls == 1
    for key in first:
        np.testing.assert_array_equal(first[key], second[key])
        assert first[key].dtype == second[key].dtype
    # only the npz and its manifest remain: no temporary files left behind
    assert sorted(p.suffix for p in tmp_path.iterdir()) == [".json", ".npz"]
    manifest = json.loads(cache_paths("entry", {"k": 3}, root=tmp_path)[1].read_text())
    assert manifest["generator_version"] == "1"
    assert manifest["config"] == {"k": 3}
    assert set(manifest["arrays"]) == {"a", "b"}


def test_changed_config_or_version_regenerates(tmp_path: Path) -> None:
    b3, b4 = Builder(3), Builder(4)
    cached_arrays("entry", {"k": 3}, b3, root=tmp_path)
    out = cached_arrays("entry", {"k": 4}, b4, root=tmp_path)
    assert b4.calls == 1
    assert out["b"][0, 0] == 4
    cached_arrays("entry", {"k": 3}, b3, root=tmp_path, version="2")
    assert b3.calls == 2
    cached_arrays("entry", {"k": 3}, b3, root=tmp_path)  # the old entry is still valid
    assert b3.calls == 2


@pytest.mark.parametrize("damage", ["truncate", "flip", "manifest", "no_manifest", "no_npz"])
def test_corruption_is_reported_and_rebuilt(tmp_path: Path, damage: str) -> None:
    build = Builder(5)
    reference = cached_arrays("entry", {"k": 5}, build, root=tmp_path)
    npz, manifest = cache_paths("entry", {"k": 5}, root=tmp_path)
    data = npz.read_bytes()
    if damage == "truncate":
        npz.write_bytes(data[: len(data) // 2])
    elif damage == "flip":
        flipped = bytearray(data)
        flipped[len(data) - 100] ^= 0xFF
        npz.write_bytes(bytes(flipped))
    elif damage == "manifest":
        manifest.write_text("{not json")
    elif damage == "no_manifest":
        manifest.unlink()
    else:
        npz.unlink()
    with pytest.warns(RuntimeWarning, match="invalid"):
        out = cached_arrays("entry", {"k": 5}, build, root=tmp_path)
    assert build.calls == 2
    np.testing.assert_array_equal(out["a"], reference["a"])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        cached_arrays("entry", {"k": 5}, build, root=tmp_path)
    assert build.calls == 2


def test_env_var_sets_the_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(CACHE_ENV, str(tmp_path / "c"))
    assert cache_dir() == tmp_path / "c"
    cached_arrays("entry", {}, Builder(1))
    assert len(list((tmp_path / "c").glob("entry-*.npz"))) == 1
    monkeypatch.delenv(CACHE_ENV)
    assert cache_dir() == Path("results") / "data_cache"


def test_bad_arguments(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="name"):
        cached_arrays("../escape", {}, Builder(1), root=tmp_path)
    with pytest.raises(ValueError, match="numeric"):
        cached_arrays("obj", {}, lambda: {"x": np.array([object()])}, root=tmp_path)
    with pytest.raises(ValueError, match="non-empty"):
        cached_arrays("empty", {}, dict, root=tmp_path)


@settings(deadline=None, max_examples=40, derandomize=True)
@given(
    st.dictionaries(
        st.text(min_size=1, max_size=5),
        st.one_of(st.integers(-100, 100), st.text(max_size=5), st.booleans()),
        max_size=6,
    )
)
def test_config_hash_ignores_key_order(config: dict) -> None:
    reordered = dict(reversed(list(config.items())))
    assert config_hash(config, "1") == config_hash(reordered, "1")
    assert config_hash(config, "1") != config_hash(config, "2")


def test_npz_bytes_are_deterministic_and_loadable(tmp_path: Path) -> None:
    arrays = Builder(2)()
    first, second = npz_bytes(arrays), npz_bytes(dict(reversed(list(arrays.items()))))
    assert first == second  # no timestamps, sorted names: concurrent writers agree
    (tmp_path / "a.npz").write_bytes(first)
    with np.load(tmp_path / "a.npz", allow_pickle=False) as npz:
        for key, value in arrays.items():
            np.testing.assert_array_equal(npz[key], value)
            assert npz[key].dtype == value.dtype


def test_manifest_with_wrong_array_entries_is_rebuilt(tmp_path: Path) -> None:
    build = Builder(6)
    cached_arrays("entry", {"k": 6}, build, root=tmp_path)
    manifest_path = cache_paths("entry", {"k": 6}, root=tmp_path)[1]
    manifest = json.loads(manifest_path.read_text())
    manifest["arrays"]["a"]["shape"] = [999]
    manifest_path.write_text(json.dumps(manifest))
    with pytest.warns(RuntimeWarning, match="shape or dtype"):
        cached_arrays("entry", {"k": 6}, build, root=tmp_path)
    assert build.calls == 2
