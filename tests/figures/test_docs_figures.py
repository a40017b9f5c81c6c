"""figures.docs (make docs-figures): PNG copies downscaled to at most 300 KB, on fake PNGs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from figures import docs


def _png(path: Path, width: int, height: int, noisy: bool) -> Path:
    rng = np.random.default_rng(0)
    pixels = rng.integers(0, 256, (height, width, 3), dtype=np.uint8) if noisy else None
    image = Image.fromarray(pixels) if pixels is not None else Image.new("RGB", (width, height))
    image.save(path)
    return path


def test_a_large_png_is_downscaled_below_the_limit_keeping_its_aspect(tmp_path: Path) -> None:
    src = _png(tmp_path / "big.png", 900, 600, noisy=True)  # noise: about 1.6 MB
    assert src.stat().st_size > docs.MAX_BYTES
    data, (w, h) = docs.downscaled_png(src)
    assert len(data) <= docs.MAX_BYTES and w < 900
    assert h == round(600 * w / 900)
    (tmp_path / "out.png").write_bytes(data)
    with Image.open(tmp_path / "out.png") as back:
        assert back.size == (w, h) and back.format == "PNG"


def test_copy_figures_writes_every_png_and_keeps_small_ones_full_size(tmp_path: Path) -> None:
    out, dest = tmp_path / "out", tmp_path / "docs" / "figures"
    out.mkdir()
    _png(out / "big.png", 900, 600, noisy=True)
    _png(out / "small.png", 300, 200, noisy=False)
    (out / "small.pdf").write_bytes(b"%PDF")
    written = docs.copy_figures(out, dest)
    assert [p.name for p, _ in written] == ["big.png", "small.png"]
    assert all(p.stat().st_size == n <= docs.MAX_BYTES for p, n in written)
    with Image.open(dest / "small.png") as small:
        assert small.size == (300, 200)
    assert not (dest / "small.pdf").exists()


def test_an_impossible_limit_is_an_error(tmp_path: Path) -> None:
    src = _png(tmp_path / "big.png", 900, 600, noisy=True)
    with pytest.raises(ValueError, match="cannot reach"):
        docs.downscaled_png(src, max_bytes=1000)
    with pytest.raises(ValueError, match="max_bytes"):
        docs.downscaled_png(src, max_bytes=0)


def test_figures_section_shows_drawn_pngs_and_names_missing_ones(tmp_path: Path) -> None:
    _png(tmp_path / "exp_a.png", 30, 20, noisy=False)
    text = docs.figures_section([("exp_a", "drawn"), ("exp_b", "missing")], tmp_path)
    assert f"![exp_a]({(tmp_path / 'exp_a.png').as_posix()})" in text
    assert f"`{(tmp_path / 'exp_b.png').as_posix()}` not drawn yet" in text
    assert "![exp_b]" not in text and text.count("Reading guide") == 2
