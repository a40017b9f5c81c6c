"""Aggregation over seeds (empirical.report) on hand-made result JSONs: exact means and standard
deviations, grouping by config less the seed, markdown and CSV output, the command line."""

from __future__ import annotations

import csv
import io
import json
import math
from pathlib import Path

import pytest

from empirical.report import aggregate, load_records, main, mean_std, to_csv, to_markdown


def _config(seed: int, p: float) -> dict:
    return {
        "data": {"suite": "overlay-digits-on-natural"},
        "views": {"name": "oracle", "p": p},
        "run": {"seed": seed, "device": "cpu"},
    }


def _write(root: Path, seed: int, p: float, acc: float, r2: float, name: str = "probe") -> Path:
    run = root / f"p{p}-seed{seed}"
    record = {
        "schema": 1,
        "name": name,
        "kind": "probe",
        "config": _config(seed, p),
        "seed": seed,
        "options": {"layer": "prepool", "seed": 0, "device": "cpu"},
        "metrics": {
            "digit": {"accuracy": acc, "chance": 0.1, "r2_per_dim": [1.0, 2.0]},
            "pos": {"r2": r2, "flag": True},
        },
    }
    (run / "eval").mkdir(parents=True)
    (run / "eval" / f"{name}.json").write_text(json.dumps(record))
    return run


@pytest.fixture
def runs(tmp_path: Path) -> list[Path]:
    return [
        _write(tmp_path, 0, 0.5, 0.5, 0.1),
        _write(tmp_path, 1, 0.5, 0.7, 0.2),
        _write(tmp_path, 2, 0.5, 0.9, 0.6),
        _write(tmp_path, 0, 0.0, 0.25, -1.0),
    ]


def test_mean_std_exact() -> None:
    assert mean_std([0.5, 0.7, 0.9]) == (pytest.approx(0.7), pytest.approx(0.2))
    m, s = mean_std([3.0])
    assert m == 3.0 and math.isnan(s)
    with pytest.raises(ValueError):
        mean_std([])


def test_aggregate_groups_by_config_less_seed(runs: list[Path]) -> None:
    rows = aggregate(load_records(runs))
    by = {(r.group, r.metric): r for r in rows}
    a = by[("views.p=0.5", "digit.accuracy")]
    assert a.n == 3 and a.seeds == (0, 1, 2)
    assert a.mean == pytest.approx(0.7, abs=1e-12)
    assert a.std == pytest.approx(0.2, abs=1e-12)  # sample std of 0.5, 0.7, 0.9
    r2 = by[("views.p=0.5", "pos.r2")]
    assert r2.mean == pytest.approx(0.3, abs=1e-12)
    assert r2.std == pytest.approx(math.sqrt(((0.2) ** 2 + 0.1**2 + 0.3**2) / 2), abs=1e-12)
    single = by[("views.p=0.0", "digit.accuracy")]
    assert single.n == 1 and single.mean == 0.25 and math.isnan(single.std)
    assert by[("views.p=0.5", "digit.chance")].std == 0.0
    # lists and bools are not metrics
    assert not any(r.metric.endswith(("r2_per_dim", "flag")) for r in rows)


def test_metric_patterns_filter(runs: list[Path]) -> None:
    rows = aggregate(load_records(runs), ("*accuracy",))
    assert {r.metric for r in rows} == {"digit.accuracy"}


def test_markdown_and_csv(runs: list[Path]) -> None:
    rows = aggregate(load_records(runs), ("*accuracy",))
    md = to_markdown(rows).splitlines()
    assert md[0] == "| group | eval | metric | n | mean | std | seeds |"
    assert "| views.p=0.5 | probe | digit.accuracy | 3 | 0.7000 | 0.2000 | 0,1,2 |" in md
    assert "| views.p=0.0 | probe | digit.accuracy | 1 | 0.2500 |  | 0 |" in md
    table = list(csv.DictReader(io.StringIO(to_csv(rows))))
    row = next(r for r in table if r["group"] == "views.p=0.5")
    assert float(row["mean"]) == pytest.approx(0.7, abs=1e-12)
    assert float(row["std"]) == pytest.approx(0.2, abs=1e-12)
    assert next(r for r in table if r["group"] == "views.p=0.0")["std"] == ""


def test_different_eval_options_are_different_groups(tmp_path: Path) -> None:
    a = _write(tmp_path, 0, 0.5, 0.4, 0.0)
    b = _write(tmp_path, 1, 0.5, 0.6, 0.0)
    rec = json.loads((b / "eval" / "probe.json").read_text())
    rec["options"]["layer"] = "pooled"
    (b / "eval" / "probe.json").write_text(json.dumps(rec))
    rows = [r for r in aggregate(load_records([a, b])) if r.metric == "digit.accuracy"]
    assert sorted(r.mean for r in rows) == [0.4, 0.6] and all(r.n == 1 for r in rows)


def test_cli_writes_markdown_and_csv(runs: list[Path], tmp_path: Path) -> None:
    out = tmp_path / "table"
    assert main([*map(str, runs), "--eval", "probe", "--metric", "*r2", "--out", str(out)]) == 0
    assert "pos.r2" in (tmp_path / "table.md").read_text()
    assert (tmp_path / "table.csv").read_text().startswith("group,eval,metric,n,mean,std,seeds")
    assert main([str(tmp_path / "nothing")]) == 2


def test_a_file_that_is_not_a_record_is_an_error_naming_it(
    runs: list[Path], capsys: pytest.CaptureFixture[str]
) -> None:
    bad = runs[0] / "eval" / "notes.json"
    bad.write_text(json.dumps({"name": "notes", "metrics": {}}))
    assert main([str(runs[0])]) == 2
    err = capsys.readouterr().err
    assert str(bad) in err and "without" in err and "config" in err
