"""examples/notebooks/01_linear_theory.py runs top to bottom and its sliders redraw the figure."""

from __future__ import annotations

import re
from typing import Any

import pytest


@pytest.mark.slow
def test_every_slider_redraws_the_figure(run_notebook: Any) -> None:
    report = (
        "{'redraws': redraw_log, 'png': image.value[:4].hex(), "
        "'values': {k: s.value for k, s in controls.items()}}"
    )
    nb, out = run_notebook("01_linear_theory.py", report)
    # the first draw, then one per slider that the notebook's own cell moves
    settings = [(r["ratio"], r["p"], r["sigma"], r["m"]) for r in out["redraws"]]
    assert settings == [
        (2.0, 0.0, 0.5, 2),
        (3.0, 0.0, 0.5, 2),
        (3.0, 0.6, 0.5, 2),
        (3.0, 0.6, 0.8, 2),
        (3.0, 0.6, 0.8, 3),
    ]
    assert out["values"] == {"ratio": 3.0, "p": 0.6, "sigma": 0.8, "m": 3}
    assert out["png"] == b"\x89PNG".hex()  # the image widget holds the last redraw
    # the setting worked by hand: the weak task at chance below p*, solved above it
    text = _cell_text(nb, "for p in (0.0, threshold - 0.05")
    assert re.search(r"p\* = 0\.142\b", text)
    rows = re.findall(r"probe accuracy strong ([0-9.]+), weak ([0-9.]+)", text)
    assert rows == [("1.00", "0.50"), ("1.00", "0.50"), ("0.50", "1.00"), ("0.50", "1.00")]
    timing = _cell_text(nb, "controls[name].value = value")
    assert len(re.findall(r"redraw \d+ ms \(\d+ ms of CPU\)", timing)) == 5


def _cell_text(nb: Any, needle: str) -> str:
    for cell in nb.cells:
        if cell.cell_type == "code" and needle in cell.source:
            return "".join(o.get("text", "") for o in cell.outputs if o.output_type == "stream")
    raise AssertionError(f"no code cell contains {needle!r}")
