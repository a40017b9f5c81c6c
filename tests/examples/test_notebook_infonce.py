"""examples/notebooks/02_linear_infonce.py trains live and shows suppression and its cure."""

from __future__ import annotations

from typing import Any

import pytest


@pytest.mark.slow
def test_bits_suppress_the_weak_group_and_bit_dropout_restores_it(run_notebook: Any) -> None:
    report = "{'bits': list(BITS), 'dropouts': list(DROPOUTS), 'probe': probe[-1].tolist()}"
    _, out = run_notebook("02_linear_infonce.py", report)
    assert out["bits"] == [0, 8, 32, 64] and out["dropouts"] == [0.0, 0.5]
    probe = {
        (b, p): out["probe"][i][j]
        for i, b in enumerate(out["bits"])
        for j, p in enumerate(out["dropouts"])
    }
    assert probe[(0, 0.0)] > 0.9  # without bits the weak group is learned
    assert probe[(64, 0.0)] < 0.2  # 64 shared bits suppress it
    assert all(probe[(b, 0.5)] > 0.9 for b in out["bits"])  # bit dropout restores it
