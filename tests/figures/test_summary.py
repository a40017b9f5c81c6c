"""figures.summary: tables over seeds and a sentence per figure, from hand-made results."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from figures import registry, summary
from figures.claims import HOLDS, NOT_A_RESULT, NOT_SEEN
from figures.experiments import randbits
from figures.stats import mean_interval, welch_interval


def _results(gain: float) -> dict[str, Any]:
    """Two suites x 3 values of p x 3 seeds, an untrained twin ``gain`` below the trained runs,
    a theory curve and run times that are no per-seed values."""
    rng = np.random.default_rng(0)
    acc = 0.5 + 0.05 * rng.standard_normal((3, 3))
    return {
        "ps": [0.0, 0.5, 1.0],
        "seeds": [0, 1, 2],
        "chance": 0.1,
        "run_s": [1.0, 2.0, 3.0],
        "suites": {
            "digits": {
                "accuracy": {"digit": acc.tolist()},
                "untrained": {"digit": (acc - gain + [[0.01, 0.0, -0.01]]).tolist()},
                "theory": {"ps": [0.0, 1.0, 2.0], "background": [0.1, 0.2, 0.3]},
            }
        },
        "runs": {"gp": {"r2": [0.4, 0.5, 0.6], "untrained_r2": [0.1, 0.1, 0.2]}},
        "theory_acc": [[0.5, 0.5, 0.5]] * 3,
    }


def test_tables_hold_mean_sd_and_interval_over_seeds() -> None:
    res = _results(0.2)
    tables = {t.title: t for t in summary.figure_tables(res)}
    assert set(tables) == {
        "suites",
        "runs",
        "gain over the untrained encoder: suites",
        "gain over the untrained encoder: runs",
    }  # no table of theory values, run times or chance, nor of the coordinates
    rows = tables["suites"].rows
    labels = [r.label for r in rows]
    assert labels[:3] == [f"digits / accuracy / digit, ps={p:g}" for p in (0, 0.5, 1)]
    assert labels[3:] == [f"digits / untrained / digit, ps={p:g}" for p in (0, 0.5, 1)]
    acc = np.asarray(res["suites"]["digits"]["accuracy"]["digit"])
    assert rows[1].interval == mean_interval(acc[1])
    gains = tables["gain over the untrained encoder: suites"].rows
    unt = np.asarray(res["suites"]["digits"]["untrained"]["digit"])
    assert gains[2].interval == welch_interval(acc[2], unt[2])
    r2_gain = tables["gain over the untrained encoder: runs"].rows[0].interval
    assert r2_gain.mean == pytest.approx((0.3 + 0.4 + 0.4) / 3)
    md = "\n".join(summary.render_table(tables["suites"]))
    iv = rows[0].interval
    assert f"| {iv.n} | {iv.mean:.3f} | {iv.sd:.3f} | {iv.lo:.3f} to {iv.hi:.3f} |" in md


def test_axes_are_labelled_by_coordinates_of_their_length() -> None:
    coords = {"bits": [0, 5], "taus": [0.1, 0.2, 0.4]}
    assert summary.axis_labels((2, 3), coords)[4] == "bits=5, taus=0.2"
    assert summary.axis_labels((4,), coords) == ["#0", "#1", "#2", "#3"]


def _claim(id_: str, verdict: str, figure: str = "fig") -> dict[str, Any]:
    return {"id": id_, "figure": figure, "verdict": verdict, "gate_reason": "closed gate"}


def test_sentence_follows_the_numbers_and_links_the_claims() -> None:
    claims = [_claim("a.rises", HOLDS), _claim("a.falls", NOT_SEEN)]
    text = summary.figure_sentence("fig", summary.figure_tables(_results(0.2)), claims)
    best = welch_interval([0.4, 0.5, 0.6], [0.1, 0.1, 0.2])  # the largest gain: the R^2 one
    assert f"largest gain over the untrained encoder is {best.mean:+.3f}" in text
    assert f"{best.lo:+.3f} to {best.hi:+.3f}" in text and "runs, gp / r2" in text
    assert "1 holds ([`a.rises`](claims.md)), 1 not seen ([`a.falls`](claims.md))" in text
    res = _results(0.2)
    res["runs"]["gp"]["r2"] = [0.1, 0.1, 0.2]  # no gain left there: the suite's gain is largest
    text = summary.figure_sentence("fig", summary.figure_tables(res), claims)
    assert "digits / accuracy / digit" in text and "runs, gp" not in text
    gated = [_claim("a.rises", NOT_A_RESULT)]
    text = summary.figure_sentence("fig", summary.figure_tables(res), gated)
    assert "do not beat the untrained encoder (closed gate)" in text
    assert "none of its 1 claim(s) is judged ([`a.rises`](claims.md))" in text
    assert "no runs over seeds" in summary.figure_sentence("theory_x", [], [])


def test_no_table_sentence_tells_a_theory_figure_from_an_experiment_without_table() -> None:
    theory = {"ps": [0.0, 0.5, 1.0], "probe": [[0.5, 0.6], [0.7, 0.8], [0.9, 1.0]]}
    text = summary.figure_section("theory_vs_p", theory, [])
    assert "`theory_vs_p` has no runs over seeds (a theory figure)" in text
    # an experiment figure reusing other figures' runs: seeds, but only seed-first curves
    experiment = {"seeds": [0, 1], "curves": {"knn": [[0.1, 0.2, 0.3], [0.2, 0.3, 0.4]]}}
    assert summary.figure_tables(experiment) == []
    text = summary.figure_section("exp_dynamics", experiment, [])
    assert "theory figure" not in text
    assert "`exp_dynamics` has runs over 2 seed(s), but no quantity" in text
    assert summary.n_seeds(experiment) == 2 and summary.n_seeds(theory) == 0


def test_write_summarises_cached_figures_and_names_the_rest(tmp_path: Path) -> None:
    results = tmp_path / "figures"
    results.mkdir()
    (results / "exp_randbits.json").write_text(
        json.dumps({"config": {"old": True}, "results": _results(0.2)})
    )
    claims_json = tmp_path / "claims.json"
    claims_json.write_text(
        json.dumps({"claims": [_claim("chen.bits", HOLDS, "exp_randbits"), _claim("x", HOLDS)]})
    )
    out = summary.write(results, claims_json, tmp_path / "summary.md")
    text = out.read_text()
    assert "## exp_randbits" in text and "[`chen.bits`](claims.md)" in text
    assert "`x`" not in text  # another figure's claim
    assert "holds results of an older config" in text
    assert "Not computed yet:" in text and "`exp_foster`" in text
    out = summary.write(results, tmp_path / "absent.json", tmp_path / "summary.md")
    assert "No `results/claims.json` yet" in out.read_text()
    # the current config, computed by older code: said so too; by the current code: no note
    current = randbits.randbits_config()
    for code, note in (("old", True), (registry.code_sha256(), False)):
        doc = {"config": current, "code": code, "results": _results(0.2)}
        (results / "exp_randbits.json").write_text(json.dumps(doc))
        text = summary.write(results, claims_json, tmp_path / "summary.md").read_text()
        assert ("holds results of older code" in text) is note
        assert "holds results of an older config" not in text


def test_claims_cli_splices_the_readme_between_its_markers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from figures import claims
    from figures.__main__ import main

    monkeypatch.chdir(tmp_path)
    readme = tmp_path / "README.md"
    marked = f"{claims.README_BEGIN}\nold text\n{claims.README_END}"
    readme.write_text(f"# T\n\nintro\n\n{marked}\n\nend\n")
    assert main(["claims", "--readme-file", str(readme)]) == 0
    text = readme.read_text()
    doc = claims.load(tmp_path / "results" / "claims.json")
    assert text == f"# T\n\nintro\n\n{claims.readme_section(doc).rstrip()}\n\nend\n"
    assert "old text" not in text and "## What these runs show" in text
    readme.write_text("no markers\n")
    assert main(["claims", "--readme-file", str(readme)]) == 2
    assert readme.read_text() == "no markers\n"


def test_small_numbers_keep_three_significant_digits() -> None:
    """A conditional variance of 4.4e-4 is not printed as 0.000 (it was, in exp_foster's
    table); ordinary numbers keep three decimals."""
    rows = (summary.Row("cv", mean_interval(np.array([4.4e-4, 4.6e-4, 4.5e-4]))),)
    line = summary.render_table(summary.Table("t", rows))[-2]
    assert "0.00045" in line and "| 0.000 |" not in line
    rows = (summary.Row("r2", mean_interval(np.array([0.5, 0.6, 0.7]))),)
    assert "| 0.600 | 0.100 |" in summary.render_table(summary.Table("t", rows))[-2]
    assert summary._num(float("nan")) == "n/a" and summary._num(0.0) == "0.000"


def test_untrained_populations_have_their_own_length_and_welch_gains() -> None:
    """Results that list ``inits``: untrained values (``untrained``, ``untrained_X``,
    ``X_untrained``) have one value per initialisation; ``trained`` pairs with ``untrained``;
    raw-pixel lists are no coordinates."""
    res = {
        "seeds": [0, 1, 2],
        "inits": [0, 1, 2, 3, 4],
        "ps": [0.0, 1.0],
        "dropout_pixels": [0.8, 0.8],  # one number per p: not an axis label
        "ari": {"trained": [[0.6, 0.62, 0.64], [0.3, 0.3, 0.33]], "untrained": [[0.5] * 5] * 2},
        "dropout_accuracy": [[0.7, 0.72, 0.74], [0.5, 0.5, 0.5]],
        "dropout_untrained": [[0.4, 0.42, 0.44, 0.46, 0.48]] * 2,
    }
    tables = {t.title: t for t in summary.figure_tables(res)}
    ari = tables["gain over the untrained encoder: ari"].rows
    assert [r.label for r in ari] == ["trained, ps=0", "trained, ps=1"]
    assert ari[0].interval == welch_interval([0.6, 0.62, 0.64], [0.5] * 5)
    unt = [r for r in tables["dropout_untrained"].rows]
    assert [r.interval.n for r in unt] == [5, 5] and [r.label for r in unt] == ["ps=0", "ps=1"]
    assert "pixels" not in " ".join(r.label for t in tables.values() for r in t.rows)
    # a raw-pixel list as long as the seeds is still one number per condition, not per seed
    res3 = {**res, "ps": [0.0, 0.5, 1.0], "dropout_pixels": [0.8, 0.8, 0.8]}
    res3["dropout_accuracy"] = [[0.7, 0.72, 0.74]] * 3
    res3["dropout_untrained"] = [[0.4] * 5] * 3
    res3["ari"] = {"trained": [[0.6, 0.62, 0.64]] * 3, "untrained": [[0.5] * 5] * 3}
    paths = [p for p, _ in summary.per_seed_values(res3)]
    assert ("dropout_pixels",) not in paths and ("dropout_accuracy",) in paths
