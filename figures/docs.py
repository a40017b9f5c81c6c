"""Committed copies of the drawn figures for the README: ``docs/figures/NAME.png``
(``make docs-figures``, ``python -m figures docs``).

Each PNG of ``figures/out/`` is re-saved with Pillow (a dependency of matplotlib) as an optimised
PNG; while the file is larger than :data:`MAX_BYTES` it is downscaled (Lanczos), each time by the
square root of the size ratio (a PNG's size grows roughly with its pixel count) and a 10% margin,
down to at most :data:`MIN_WIDTH` pixels wide.
"""

from __future__ import annotations

import io
import math
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from empirical.io import atomic_write_bytes

if TYPE_CHECKING:
    from PIL.Image import Image

DOCS_DIR = Path("docs") / "figures"
MAX_BYTES = 300 * 1024
MIN_WIDTH = 200


def _png_bytes(image: Image) -> bytes:
    buf = io.BytesIO()
    image.save(buf, format="PNG", optimize=True)
    return buf.getvalue()


def downscaled_png(src: Path, max_bytes: int = MAX_BYTES) -> tuple[bytes, tuple[int, int]]:
    """The PNG ``src`` re-encoded, downscaled until it takes at most ``max_bytes``; returns the
    bytes and the size in pixels.

    Raises:
        ValueError: ``max_bytes`` < 1, or even :data:`MIN_WIDTH` pixels wide is too large.
    """
    from PIL import Image

    if max_bytes < 1:
        raise ValueError(f"max_bytes must be >= 1; got {max_bytes}")
    with Image.open(src) as opened:
        original = opened.convert("RGBA") if opened.mode not in ("RGB", "RGBA") else opened.copy()
    image = original
    data = _png_bytes(image)
    while len(data) > max_bytes:
        scale = math.sqrt(max_bytes / len(data)) * 0.9
        width = max(MIN_WIDTH, int(image.width * scale))
        if width >= image.width:
            raise ValueError(
                f"{src}: still {len(data)} bytes at {image.width} px wide; cannot reach "
                f"{max_bytes} bytes"
            )
        height = max(1, round(original.height * width / original.width))
        image = original.resize((width, height), Image.Resampling.LANCZOS)
        data = _png_bytes(image)
    return data, (image.width, image.height)


def copy_figures(
    out_dir: Path, docs_dir: Path = DOCS_DIR, max_bytes: int = MAX_BYTES
) -> list[tuple[Path, int]]:
    """Copy every ``out_dir/*.png`` to ``docs_dir`` at most ``max_bytes`` each; returns the
    written paths and their sizes in bytes."""
    written = []
    for src in sorted(out_dir.glob("*.png")):
        data, _ = downscaled_png(src, max_bytes)
        written.append((atomic_write_bytes(docs_dir / src.name, data), len(data)))
    return written


def figures_section(entries: Sequence[tuple[str, str]], docs_dir: Path = DOCS_DIR) -> str:
    """The README's figure list, generated as a placeholder for the reading guides: per figure
    (``(name, description)``) its committed PNG when ``docs_dir/NAME.png`` exists, else a note
    that it is not drawn yet, and a line for the guide."""
    lines = []
    for name, description in entries:
        png = docs_dir / f"{name}.png"
        lines.append(f"- **`{name}`**: {description}.")
        if png.exists():
            lines += ["", f"  ![{name}]({png.as_posix()})", ""]
        else:
            lines.append(f"  `{png.as_posix()}` not drawn yet (`make figures docs-figures`).")
        lines.append("  Reading guide: to be written.")
    return "\n".join(lines) + "\n"
