"""figures.registry's results cache: cached results are reused only for the same config and the
same code (figures.registry.code_sha256); anything else is recomputed from the records."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from figures import registry
from figures.spec import Config, FigureSpec


def _spec(calls: list[Config]) -> FigureSpec:
    def compute(cfg: Config) -> dict[str, Any]:
        calls.append(cfg)
        return {"value": len(calls)}

    return FigureSpec("fig-x", "a fake figure", compute, lambda r, c: None, lambda: {"a": 1})


def test_results_are_reused_only_for_the_same_config_and_code(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[Config] = []
    spec = _spec(calls)
    assert registry.load_or_compute(spec, {"a": 1}, tmp_path) == {"value": 1}
    saved = json.loads((tmp_path / "fig-x.json").read_text())
    assert saved["code"] == registry.code_sha256() and saved["config"] == {"a": 1}
    assert registry.load_or_compute(spec, {"a": 1}, tmp_path) == {"value": 1}  # cached
    assert registry.cached_results("fig-x", {"a": 1}, tmp_path) == {"value": 1}
    assert registry.load_or_compute(spec, {"a": 2}, tmp_path) == {"value": 2}  # another config
    monkeypatch.setattr(registry, "code_sha256", lambda: "edited")
    assert registry.cached_results("fig-x", {"a": 2}, tmp_path) is None  # another code
    assert registry.load_or_compute(spec, {"a": 2}, tmp_path) == {"value": 3}
    assert registry.load_or_compute(spec, {"a": 2}, tmp_path, force=True) == {"value": 4}
    assert len(calls) == 4


def test_results_without_a_code_fingerprint_or_corrupt_are_stale(tmp_path: Path) -> None:
    (tmp_path / "fig-x.json").write_text(json.dumps({"config": {"a": 1}, "results": {"v": 0}}))
    assert registry.cached_results("fig-x", {"a": 1}, tmp_path) is None  # written before
    (tmp_path / "fig-x.json").write_text("{not json")
    assert registry.cached_results("fig-x", {"a": 1}, tmp_path) is None
    assert registry.cached_results("missing", {"a": 1}, tmp_path) is None
    calls: list[Config] = []
    assert registry.load_or_compute(_spec(calls), {"a": 1}, tmp_path) == {"value": 1}


def test_the_fingerprint_changes_with_any_source_edit(tmp_path: Path) -> None:
    for rel in ("figures/a.py", "figures/sub/b.py", "linear_theory/c.py"):
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text("x = 1\n")
    (tmp_path / "figures" / "notes.md").write_text("not code")
    packages = ("figures", "linear_theory")
    base = registry.sources_sha256(tmp_path, packages, "eval")
    assert base == registry.sources_sha256(tmp_path, packages, "eval")
    assert base != registry.sources_sha256(tmp_path, packages, "other eval code")
    (tmp_path / "figures" / "notes.md").write_text("edited, still not code")
    assert registry.sources_sha256(tmp_path, packages, "eval") == base
    (tmp_path / "figures" / "sub" / "b.py").write_text("x = 1  # a comment\n")
    edited = registry.sources_sha256(tmp_path, packages, "eval")
    assert edited != base
    (tmp_path / "linear_theory" / "c.py").write_text("x = 2\n")
    assert registry.sources_sha256(tmp_path, packages, "eval") != edited
    assert registry.CODE_PACKAGES == packages
    assert len(registry.code_sha256()) == 64
