"""figures.claims: the verdict rule (one case per verdict), the claims files, the README section
generator and ``python -m figures claims``, on hand-made numbers."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from figures import claims, registry
from figures.__main__ import main
from figures.experiments import randbits
from figures.registry import FIGURES
from figures.stats import Interval, mean_interval


def _iv(lo: float, hi: float, n: int = 3) -> Interval:
    return Interval((lo + hi) / 2, lo, hi, n, 0.1)


@pytest.mark.parametrize(
    ("interval", "sign", "gated", "expected"),
    [
        (_iv(0.05, 0.15), 1, False, claims.HOLDS),
        (_iv(-0.15, -0.05), -1, False, claims.HOLDS),
        (_iv(-0.15, -0.05), 1, False, claims.CONTRADICTED),
        (_iv(0.05, 0.15), -1, False, claims.CONTRADICTED),
        (_iv(-0.05, 0.10), 1, False, claims.NOT_SEEN),
        (mean_interval([0.3]), 1, False, claims.NOT_SEEN),  # one seed: no interval
        (_iv(0.05, 0.15), 1, True, claims.NOT_A_RESULT),
    ],
)
def test_verdict_rule(interval: Interval, sign: int, gated: bool, expected: str) -> None:
    assert claims.verdict(interval, sign, gated) == expected


def test_verdict_rejects_a_bad_sign() -> None:
    with pytest.raises(ValueError, match="predicted_sign"):
        claims.verdict(_iv(0.1, 0.2), 0, False)


def _claim(id_: str, lo: float, hi: float, sign: int = 1, gated: bool = False) -> claims.Claim:
    return claims.Claim(
        id=id_,
        figure="exp_x",
        paper="Someone et al. 2020",
        claim=f"Claim {id_} says something.",
        effect="a minus b",
        measured=_iv(lo, hi),
        predicted_sign=sign,
        theory={"value": 0.25, "text": "linear model"} if id_ == "x.a" else None,
        gated=gated,
        gate_reason="no task beats the untrained encoder" if gated else "",
    )


CLAIMS = [
    _claim("x.a", 0.05, 0.15),
    _claim("x.b", -0.15, -0.05),
    _claim("x.c", -0.05, 0.10),
    _claim("x.d", 0.05, 0.15, gated=True),
]


def test_document_counts_and_entries() -> None:
    doc = claims.document(CLAIMS, {"exp_y": "no results file results/figures/exp_y.json"})
    assert doc["counts"] == {
        "holds": 1,
        "not seen": 1,
        "contradicted": 1,
        "not a result": 1,
    }
    first = doc["claims"][0]
    assert first["id"] == "x.a" and first["verdict"] == "holds"
    assert first["measured"]["lo"] == pytest.approx(0.05) and first["theory"]["value"] == 0.25
    assert doc["skipped"] == {"exp_y": "no results file results/figures/exp_y.json"}


def test_write_and_render(tmp_path: Path) -> None:
    jp, mp = claims.write(CLAIMS, {}, tmp_path / "claims.json", tmp_path / "claims.md")
    doc = json.loads(jp.read_text())
    assert [c["verdict"] for c in doc["claims"]] == [
        "holds",
        "contradicted",
        "not seen",
        "not a result",
    ]
    md = mp.read_text()
    assert md.count("\n| `x.") == 4
    assert "+0.100 (95% CI +0.050 to +0.150; 3 seeds)" in md and "+0.250 (linear model)" in md
    assert "**not a result (no task beats the untrained encoder)**" in md
    assert claims.load(jp) == doc


def test_load_names_the_missing_file(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=r"nothere\.json"):
        claims.load(tmp_path / "nothere.json")


def test_readme_section_follows_the_numbers() -> None:
    doc = claims.document(CLAIMS)
    text = claims.readme_section(doc)
    assert text.startswith(claims.README_BEGIN) and text.rstrip().endswith(claims.README_END)
    assert "4 claim(s)" in text and "1 holds, 1 not seen, 1 contradicted, 1 not a result" in text
    holds = text.index("Seen as the papers report")
    other_way = text.index("Seen the other way round")
    assert holds < text.index("`x.a`") < other_way < text.index("`x.b`")
    assert "+0.100 (95% CI +0.050 to +0.150; 3 seeds); the linear theory gives +0.250" in text
    # the numbers change, the text changes with them
    changed = claims.document([_claim("x.a", -0.3, -0.2), *CLAIMS[1:]])
    new = claims.readme_section(changed)
    assert "2 contradicted" in new and "Seen as the papers report" not in new


def test_splice_readme_replaces_only_the_marked_part() -> None:
    section = claims.readme_section(claims.document(CLAIMS[:1]))
    readme = f"# T\n\nintro\n\n{claims.README_BEGIN}\nold text\n{claims.README_END}\n\n## Next\n"
    out = claims.splice_readme(readme, section)
    assert out.startswith("# T\n\nintro\n\n") and out.endswith("\n\n## Next\n")
    assert "old text" not in out and "`x.a`" in out
    assert claims.splice_readme(out, section) == out  # idempotent
    with pytest.raises(ValueError, match="markers"):
        claims.splice_readme("# no markers\n", section)


def test_claim_ids_without_spaces() -> None:
    with pytest.raises(ValueError, match="id"):
        _claim("has space", 0.1, 0.2)


# ---------------------------------------------------------------------------------------------
# collected from the figures' cached results


def _randbits_results(gain: float) -> dict[str, object]:
    """Hand-made RandBits results: digit accuracy falls with k; trained = untrained + gain."""
    cfg = randbits.randbits_config()
    nb, nt, ns = len(cfg["bits"]), len(cfg["taus"]), 3
    rng = np.random.default_rng(0)
    unt = 0.5 + 0.01 * rng.standard_normal((nb, 1, ns)) * np.ones((nb, nt, ns))
    slope = np.linspace(0.0, -0.3, nb)[:, None, None]
    acc = unt + gain + slope + 0.005 * rng.standard_normal((nb, nt, ns))
    return {
        "bits": cfg["bits"],
        "taus": cfg["taus"],
        "seeds": [0, 1, 2],
        "accuracy": acc.tolist(),
        "untrained": unt.tolist(),
        "pixels": np.full((nb, nt), 0.8).tolist(),
        "chance": 0.1,
        "run_s": [],
        "theory_probe": np.linspace(0.9, 0.1, nb)[:, None, None].repeat(nt, 1).tolist(),
        "theory_share": np.ones((nb, nt, 1)).tolist(),
        "dropouts": cfg["dropouts"],  # bit dropout at the largest k: as trained as the k sweep
        "dropout_bits": max(cfg["bits"]),
        "dropout_tau": cfg["dropout_tau"],
        "dropout_accuracy": np.repeat(acc[-1, :1], len(cfg["dropouts"]), 0).tolist(),
        "dropout_untrained": np.repeat(unt[-1, :1], len(cfg["dropouts"]), 0).tolist(),
        "theory_dropout_probe": np.ones((len(cfg["dropouts"]), 1)).tolist(),
        "deep_trend": 0.01,
        "linear_trend": 0.02,
        "agree": True,
    }


def _write_results(
    results_dir: Path, name: str, config: dict, results: dict, code: str | None = None
) -> None:
    """Results as figures.registry.load_or_compute writes them (by the current code unless
    ``code`` is given)."""
    results_dir.mkdir(parents=True, exist_ok=True)
    doc = {"config": config, "code": code or registry.code_sha256(), "results": results}
    (results_dir / f"{name}.json").write_text(json.dumps(doc))


def test_collect_reads_cached_results_and_names_what_is_missing(tmp_path: Path) -> None:
    _write_results(tmp_path, "exp_randbits", randbits.randbits_config(), _randbits_results(0.3))
    found, skipped = claims.collect(tmp_path)
    ids = {c.id: c for c in found}
    assert ids["chen2021.randbits.bits-suppress-digit"].verdict == claims.HOLDS
    with_claims = {n for n in FIGURES if FIGURES[n].claims is not None}
    assert set(skipped) == with_claims - {"exp_randbits"} and "exp_foster" in skipped
    assert str(tmp_path / "exp_foster.json") in skipped["exp_foster"]
    # results of another config than the figure's current one are left out, named
    _write_results(
        tmp_path,
        "exp_randbits",
        {**randbits.randbits_config(), "seeds": [9]},
        _randbits_results(0.3),
    )
    found, skipped = claims.collect(tmp_path, ["exp_randbits"])
    assert found == [] and "another config" in skipped["exp_randbits"]
    # and so are results of the same config computed by older code
    _write_results(
        tmp_path, "exp_randbits", randbits.randbits_config(), _randbits_results(0.3), "old"
    )
    found, skipped = claims.collect(tmp_path, ["exp_randbits"])
    assert found == [] and "older code" in skipped["exp_randbits"]
    found, _ = claims.collect(tmp_path, ["exp_randbits"], check_config=False)
    assert "chen2021.randbits.bits-suppress-digit" in {c.id for c in found}
    with pytest.raises(ValueError, match="no claims for figure"):
        claims.collect(tmp_path, ["theory_phase"])


def test_cli_writes_claims_and_prints_the_readme_section(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    _write_results(
        tmp_path / "results" / "figures",
        "exp_randbits",
        randbits.randbits_config(),
        _randbits_results(0.0),  # trained = untrained: not a result
    )
    assert main(["claims", "--readme"]) == 0
    out = capsys.readouterr().out
    doc = json.loads((tmp_path / "results" / "claims.json").read_text())
    assert {c["verdict"] for c in doc["claims"]} == {claims.NOT_A_RESULT}
    assert (tmp_path / "results" / "claims.md").exists()
    assert out == claims.readme_section(doc)
    assert "Not a result (the runs do not beat an untrained encoder)" in out


def test_drawing_figures_rewrites_the_claims(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``python -m figures NAME`` (and ``all``) writes claims.json after the figures."""
    import figures.__main__ as cli

    drawn: list[str] = []
    monkeypatch.setattr(cli, "make_figure", lambda name, force=False: drawn.append(name) or [])
    monkeypatch.chdir(tmp_path)
    _write_results(
        tmp_path / "results" / "figures",
        "exp_randbits",
        randbits.randbits_config(),
        _randbits_results(0.3),
    )
    assert main(["theory_phase"]) == 0 and not (tmp_path / "results" / "claims.json").exists()
    assert main(["exp_randbits"]) == 0 and drawn == ["theory_phase", "exp_randbits"]
    doc = json.loads((tmp_path / "results" / "claims.json").read_text())
    assert "chen2021.randbits.bits-suppress-digit" in {c["id"] for c in doc["claims"]}
    assert "exp_foster" in doc["skipped"]
