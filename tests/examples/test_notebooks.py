"""The teaching notebooks are jupytext percent files paired with ipynb, and explain as they go."""

from __future__ import annotations

from pathlib import Path

import pytest

NOTEBOOKS = Path(__file__).resolve().parents[2] / "examples" / "notebooks"

jupytext = pytest.importorskip("jupytext", reason="needs the notebooks extra (.[notebooks])")


def test_notebooks_are_paired_percent_files() -> None:
    names = sorted(p.name for p in NOTEBOOKS.glob("*.py"))
    assert names == ["01_linear_theory.py", "02_linear_infonce.py", "03_reading_a_run.py"]
    for name in names:
        text = (NOTEBOOKS / name).read_text()
        nb = jupytext.reads(text, fmt="py:percent")
        assert nb.metadata["jupytext"]["formats"] == "ipynb,py:percent"
        assert nb.metadata["kernelspec"]["name"] == "python3"
        markdown = [c for c in nb.cells if c.cell_type == "markdown"]
        assert len(markdown) >= 5, f"{name}: {len(markdown)} markdown cells"
        # what `jupytext --sync` writes back from the notebook is the file itself (the header
        # aside, where jupytext adds its version): pairing does not rewrite the sources
        assert _body(jupytext.writes(nb, fmt="py:percent")) == _body(text)


def _body(text: str) -> str:
    """The file after its ``# ---`` metadata header."""
    return text.split("# ---\n", 2)[2]
