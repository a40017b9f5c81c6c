"""exp_local_features: plots of hand-made results, gate, claims, missing runs, the ARI."""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

import matplotlib
import numpy as np
import pytest

from empirical.diagnostics.local_features import adjusted_rand_index
from figures import claims
from figures.experiments import local
from figures.experiments.budget import encode_image
from figures.inspect import errorbar_y as _errorbar_y
from figures.inspect import gate_texts as _gate_texts
from figures.inspect import line_y as _line
from figures.inspect import noisy as _noisy

matplotlib.use("Agg")

STAGES = ["stem", "stage1", "stage2", "prepool"]


def _results(learned: bool) -> dict[str, Any]:
    """ARI rises over the untrained twin at every stage, and the probe beats the untrained
    encoder, when ``learned``; else trained equals untrained everywhere."""
    rng = np.random.default_rng(0)
    n = len(STAGES)
    unt = _noisy(rng, (n, 3), 0.2)
    ari = unt + (np.linspace(0.1, 0.3, n)[:, None] if learned else 0.0)
    p_unt = {"shape": _noisy(rng, (3,), 0.5), "background": _noisy(rng, (3,), 0.6)}
    p_acc = {k: v + (0.1 if learned else 0.0) for k, v in p_unt.items()}
    tile = encode_image(np.zeros((4, 4), dtype=int))
    image = {
        "input": encode_image(np.full((4, 4, 3), 0.5)),
        "truth": tile,
        "pixels": tile,
        "trained": {s: tile for s in STAGES},
        "untrained": {s: tile for s in STAGES},
    }
    return {
        "seeds": [0, 1, 2],
        "suite": "overlay-shapes-on-fashion",
        "stages": STAGES,
        "ari": {"trained": ari.tolist(), "untrained": unt.tolist()},
        "ari_pixels": 0.15,
        "scored_images": 100,
        "probe": {
            "trained": {k: v.tolist() for k, v in p_acc.items()},
            "untrained": {k: v.tolist() for k, v in p_unt.items()},
        },
        "show": {"seed": 0, "init": 3, "images": [image, image]},
    }


def _panels(fig: Any) -> tuple[Any, Any]:
    """The ARI panel and the gain panel (the axes with a y label)."""
    found = [ax for ax in fig.axes if ax.get_ylabel().startswith("ARI")]
    assert len(found) == 2
    return found[0], found[1]


def test_plot_local_draws_ari_baselines_and_gains() -> None:
    res = _results(learned=True)
    fig = local.plot_local(res, local.local_config())
    ari_ax, gain_ax = _panels(fig)
    (ys,) = _errorbar_y(ari_ax)
    np.testing.assert_allclose(ys, np.mean(res["ari"]["trained"], 1))
    np.testing.assert_allclose(_line(ari_ax, "untrained:ari"), np.mean(res["ari"]["untrained"], 1))
    np.testing.assert_allclose(_line(ari_ax, "pixels:ari"), [0.15] * len(STAGES))
    diff = np.subtract(res["ari"]["trained"], res["ari"]["untrained"]).mean(1)
    np.testing.assert_allclose(_line(gain_ax, "gain:ari"), diff)
    assert ari_ax.get_ylabel() == "ARI of the K-means map\nagainst the object mask"
    assert gain_ax.get_xlabel() == "encoder stage"
    assert [t.get_text() for t in ari_ax.get_xticklabels()] == STAGES
    # 2 images x (trained, untrained) rows of input, mask, pixels and 4 stages
    tiles = [ax for ax in fig.axes if ax.images]
    assert len(tiles) == 2 * 2 * (3 + len(STAGES))
    np.testing.assert_allclose(tiles[0].images[0].get_array(), 0.5, atol=1e-3)  # the input
    assert _gate_texts(fig) == []


def test_plot_local_says_when_nothing_beats_the_untrained_encoder() -> None:
    fig = local.plot_local(_results(learned=False), local.local_config())
    (text,) = _gate_texts(fig)
    assert text == "no task beats the untrained encoder:\nstages not compared"


def test_claims_local_verdicts() -> None:
    cfg = local.local_config()
    found = {c.id: c for c in local.claims_local(_results(learned=True), cfg)}
    unt = found["chen2021.local.trained-beats-untrained"]
    px = found["chen2021.local.trained-beats-pixels"]
    assert unt.verdict == claims.HOLDS and unt.measured.mean == pytest.approx(0.2, abs=1e-9)
    assert px.verdict == claims.HOLDS
    gated = local.claims_local(_results(learned=False), cfg)
    assert {c.verdict for c in gated} == {claims.NOT_A_RESULT}


def test_claims_local_contradicted_when_pixels_segment_better() -> None:
    res = _results(learned=True)
    res["ari_pixels"] = 0.9
    found = {c.id: c for c in local.claims_local(res, local.local_config())}
    assert found["chen2021.local.trained-beats-pixels"].verdict == claims.CONTRADICTED


def test_the_reused_runs_are_the_oracle_figures_runs() -> None:
    from figures.experiments import oracle

    cfg = local.local_config()
    ours = local.local_specs(cfg)
    theirs = {s.run_id for s in oracle.oracle_specs(oracle.oracle_config())}
    assert [s.seed for s in ours] == [0, 1, 2]
    assert all(s.figure == "exp_oracle_dropout" and s.run_id in theirs for s in ours)
    assert all(s.name.startswith("shapes-p0-") for s in ours)


def test_untrained_runs_are_an_error_naming_them(tmp_path: Path) -> None:
    cfg = {**local.local_config(), "runs_root": str(tmp_path)}
    with pytest.raises(FileNotFoundError, match=r"exp_oracle_dropout/shapes-p0-s0-[0-9a-f]{8}"):
        local.compute_local(cfg)


def test_a_missing_record_is_an_error_naming_it(tmp_path: Path) -> None:
    from figures.baselines import plan

    cfg = local.local_config()
    specs = local.local_specs(cfg)
    base = plan(specs, tmp_path, specs[0].evaluations)
    with pytest.raises(FileNotFoundError, match=r"shapes-p0-s0-[0-9a-f]{8}/eval/fig-local\.json"):
        local.read_local(cfg, specs, base)


def test_adjusted_rand_index_of_a_hand_computed_case() -> None:
    # contingency [[2, 1, 0], [0, 1, 2]]: index sum C(n_ij, 2) = 2; rows 3 + 3 = 6; columns
    # 1 + 1 + 1 = 3; C(6, 2) = 15; expected 6 * 3 / 15 = 1.2; max (6 + 3) / 2 = 4.5
    a = [0, 0, 0, 1, 1, 1]
    b = [0, 0, 1, 1, 2, 2]
    assert adjusted_rand_index(np.array(a), np.array(b)) == pytest.approx((2 - 1.2) / (4.5 - 1.2))
    assert adjusted_rand_index(np.array(a), np.array([5, 5, 5, 7, 7, 7])) == 1.0


def test_the_dotted_line_is_labelled_k_means_on_raw_pixels() -> None:
    fig = local.plot_local(_results(learned=True), local.local_config())
    ari_ax, _ = _panels(fig)
    texts = [t.get_text() for t in ari_ax.get_legend().get_texts()]
    assert texts == ["trained encoder", "untrained encoder", "K-means on raw pixels"]


def test_the_gallery_rows_are_as_tight_as_its_columns() -> None:
    """No empty band between tile rows: every vertical gap between consecutive rows is at most
    the horizontal gap between tiles plus 0.05 in (3 images, 6 rows of 7 tiles)."""
    res = _results(learned=True)
    res["show"]["images"] = res["show"]["images"][:1] * 3
    fig = local.plot_local(res, local.local_config())
    fig.canvas.draw()
    tiles = [ax.get_window_extent() for ax in fig.axes if ax.images]
    cols = 3 + len(STAGES)
    rows = [tiles[i : i + cols] for i in range(0, len(tiles), cols)]
    assert len(rows) == 6
    inch = fig.dpi
    hgap = (rows[0][1].x0 - rows[0][0].x1) / inch
    vgaps = [(a[0].y0 - b[0].y1) / inch for a, b in itertools.pairwise(rows)]
    assert hgap < 0.2
    assert max(vgaps) <= hgap + 0.05, (hgap, vgaps)
