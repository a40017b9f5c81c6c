"""Run a teaching notebook (examples/notebooks/*.py, jupytext percent format) for a test.

The ``run_notebook`` fixture converts the ``.py`` file to a notebook with jupytext, appends a
cell that prints a JSON report of what the notebook computed, and executes everything with
nbclient in a fresh kernel whose working directory is the test's temporary folder. A cell that
raises fails the test (nbclient's ``CellExecutionError`` names the cell and the traceback).
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

NOTEBOOKS = Path(__file__).resolve().parents[2] / "examples" / "notebooks"
MARK = "__NOTEBOOK_REPORT__"

RunNotebook = Callable[[str, str], tuple[Any, dict[str, Any]]]


def stream_text(cell: Any) -> str:
    """Everything a code cell printed."""
    return "".join(o.get("text", "") for o in cell.outputs if o.output_type == "stream")


def cell_text(nb: Any, needle: str) -> str:
    """What the code cell whose source contains ``needle`` printed."""
    for cell in nb.cells:
        if cell.cell_type == "code" and needle in cell.source:
            return stream_text(cell)
    raise AssertionError(f"no code cell contains {needle!r}")


@pytest.fixture
def run_notebook(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> RunNotebook:
    jupytext = pytest.importorskip("jupytext", reason="needs the notebooks extra (.[notebooks])")
    nbclient = pytest.importorskip("nbclient")
    nbformat = pytest.importorskip("nbformat")
    # a fresh kernel of this environment: no user-level kernelspec named python3 pointing at
    # another Python, no IPython startup files of the user's profile
    monkeypatch.setenv("JUPYTER_DATA_DIR", str(tmp_path / "jupyter"))
    monkeypatch.setenv("IPYTHONDIR", str(tmp_path / "ipython"))

    def run(name: str, report: str) -> tuple[Any, dict[str, Any]]:
        """Execute notebook ``name`` with a last cell printing ``json.dumps(report)``."""
        nb = jupytext.read(NOTEBOOKS / name)
        nb.cells.append(
            nbformat.v4.new_code_cell(f"import json\nprint({MARK!r}, json.dumps({report}))")
        )
        client = nbclient.NotebookClient(
            nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}
        )
        t0 = time.perf_counter()
        client.execute()
        print(f"{name} ran in {time.perf_counter() - t0:.1f} s")  # shown with pytest -s / -rP
        match = re.search(re.escape(MARK) + r" (.*)", stream_text(nb.cells[-1]))
        assert match, f"the report cell printed nothing: {stream_text(nb.cells[-1])!r}"
        return nb, json.loads(match.group(1))

    return run
