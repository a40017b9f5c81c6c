"""exp_audio: plots of hand-made results, gate, claims, missing records, the runs' configs, and
the dropout-rate diagnostic on a suite without overlays (as audio-digits-noise)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import matplotlib
import numpy as np
import pytest

from figures import claims
from figures.baselines import resolved_config
from figures.experiments import audio, common
from figures.experiments.budget import decode_image, encode_image
from figures.inspect import errorbar_y as _errorbar_y
from figures.inspect import gate_texts as _gate_texts
from figures.inspect import line_y as _line
from figures.inspect import noisy as _noisy

if str(Path(__file__).parent) not in sys.path:  # tests/figures/knn_fake.py (importlib mode)
    sys.path.insert(0, str(Path(__file__).parent))
from knn_fake import (
    assert_flatness_said,
    curve_ends_at_last_step,
    curves,
    points_per_run,
    write_curve,
)

matplotlib.use("Agg")

VIEWS = ["expert", "viewmaker"]
KNN_STEPS = list(range(1, 13))  # the default config's kNN points: after every step
DIAG = Path(__file__).resolve().parents[1] / "empirical" / "diagnostics"


def _gallery() -> dict[str, Any]:
    rng = np.random.default_rng(1)
    rows = ["input", "viewmaker 1", "perturbation 1", "expert 1"]
    return {
        "suite": "audio-digits-noise",
        "task": "noise",
        "eps": 0.05,
        "image": False,
        "rows": rows,
        "columns": [
            {
                "class": c,
                "s": 0.1,
                "tiles": {r: encode_image(rng.normal(0, 1, (8, 10, 1))) for r in rows},
            }
            for c in range(3)
        ],
    }


def _results(learned: bool, late_rise: float = 0.0) -> dict[str, Any]:
    """Viewmaker views beat expert views on both tasks and every run beats the untrained encoder
    when ``learned``; else every trained run equals its untrained twin. Every kNN curve is flat
    over its last quarter but for ``late_rise`` (the viewmaker's noise task)."""
    rng = np.random.default_rng(0)
    unt = {v: {"digit": _noisy(rng, (3,), 0.3), "noise": _noisy(rng, (3,), 0.6)} for v in VIEWS}
    lift = {"expert": 0.05, "viewmaker": 0.15} if learned else {"expert": 0.0, "viewmaker": 0.0}
    acc = {v: {t: u + lift[v] for t, u in unt[v].items()} for v in VIEWS}
    names = audio.RATE_VIEWS
    rate = {
        t: {n: _noisy(rng, (3,), 0.1 * k).tolist() for k, n in enumerate(names)}
        for t in ("digit", "noise")
    }
    return {
        "views": VIEWS,
        "seeds": [0, 1, 2],
        "tasks": ["digit", "noise"],
        "accuracy": {v: {t: a.tolist() for t, a in d.items()} for v, d in acc.items()},
        "untrained": {v: {t: a.tolist() for t, a in d.items()} for v, d in unt.items()},
        "pixels": {v: {"digit": 0.25, "noise": 0.9} for v in VIEWS},
        "rate": rate,
        "judge_accuracy": {"digit": 0.8, "noise": 0.95},
        "chance": {"digit": 0.1, "noise": 1 / 3},
        "gallery": _gallery(),
        "knn_steps": KNN_STEPS,
        "knn": {
            v: {
                t: curves(0.4, 3, 12, late_rise if (v, t) == ("viewmaker", "noise") else 0.0)
                for t in ("digit", "noise")
            }
            for v in VIEWS
        },
        "run_s": {},
    }


def _axis(fig: Any, ylabel: str) -> Any:
    (ax,) = [a for a in fig.axes if a.get_ylabel().startswith(ylabel)]
    return ax


def test_plot_audio_draws_both_tasks_baselines_gains_rates_and_gallery() -> None:
    res = _results(learned=True)
    fig = audio.plot_audio(res, audio.audio_config())
    gain_ax = _axis(fig, "gain over untrained encoder")
    rate_ax = _axis(fig, "feature-dropout rate")
    for k, t in enumerate(res["tasks"]):
        ax = _axis(fig, f"linear probe accuracy ({t})")
        (ys,) = _errorbar_y(ax)
        np.testing.assert_allclose(ys, [np.mean(res["accuracy"][v][t]) for v in VIEWS])
        unt = [np.mean(res["untrained"][v][t]) for v in VIEWS]
        np.testing.assert_allclose(_line(ax, f"untrained:{t}"), unt)
        np.testing.assert_allclose(_line(ax, f"pixels:{t}"), [res["pixels"][v][t] for v in VIEWS])
        assert ax.get_xlabel() == "views"
        assert [x.get_text() for x in ax.get_xticklabels()] == VIEWS
        diff = [np.mean(np.subtract(res["accuracy"][v][t], res["untrained"][v][t])) for v in VIEWS]
        np.testing.assert_allclose(_line(gain_ax, f"gain:{t}"), diff)
        rates = [np.mean(res["rate"][t][n]) for n in audio.RATE_VIEWS]
        np.testing.assert_allclose(_errorbar_y(rate_ax)[k], rates)
    tiles = [a for a in fig.axes if a.images]
    assert len(tiles) == 4 * 3  # 4 rows x one column per noise type
    spectrogram = decode_image(res["gallery"]["columns"][0]["tiles"]["input"])[..., 0]
    np.testing.assert_allclose(tiles[0].images[0].get_array(), spectrogram)
    assert _gate_texts(fig) == []


def test_plot_audio_says_when_nothing_beats_the_untrained_encoder() -> None:
    fig = audio.plot_audio(_results(learned=False), audio.audio_config())
    texts = _gate_texts(fig)
    assert texts == ["no task beats the untrained encoder:\nview types not compared"] * 2


def test_claims_audio_verdicts() -> None:
    cfg = audio.audio_config()
    found = {c.id: c for c in audio.claims_audio(_results(learned=True), cfg)}
    vm = found["tamkin2023.audio.viewmaker-beats-expert"]
    assert vm.verdict == claims.HOLDS and vm.measured.mean == pytest.approx(0.1, abs=0.02)
    drop = found["tamkin2023.audio.viewmaker-drops-digit"]
    assert drop.verdict == claims.HOLDS and drop.measured.mean == pytest.approx(0.3, abs=0.03)
    res = _results(learned=True)
    res["accuracy"]["viewmaker"], res["accuracy"]["expert"] = (
        res["accuracy"]["expert"],
        res["accuracy"]["viewmaker"],
    )
    swapped = {c.id: c for c in audio.claims_audio(res, cfg)}
    assert swapped["tamkin2023.audio.viewmaker-beats-expert"].verdict == claims.CONTRADICTED
    gated = audio.claims_audio(_results(learned=False), cfg)
    assert {c.verdict for c in gated} == {claims.NOT_A_RESULT}


def test_audio_runs_use_the_audio_presets_with_rates_on_the_viewmaker() -> None:
    cfg = audio.audio_config()
    specs = audio.audio_specs(cfg)
    assert len(specs) == 2 * 3
    for spec in specs:
        c = resolved_config(spec)  # the typed config accepts the overrides
        assert c.data.suite == "audio-digits-noise" and c.views.name == spec.preset.split("-")[0]
        kinds = {e.kind for e in spec.evaluations}
        assert kinds == ({"probe", "dropout-rate"} if c.views.name == "viewmaker" else {"probe"})
    assert audio.EXP_AUDIO.specs is not None and audio.EXP_AUDIO.specs(cfg) == specs


def test_a_missing_record_is_an_error_naming_it(tmp_path: Path) -> None:
    from figures.baselines import plan

    cfg = audio.audio_config()
    specs = audio.audio_specs(cfg)
    base = plan(specs, tmp_path, (audio._probe(cfg),))
    with pytest.raises(FileNotFoundError, match=r"expert-s0-[0-9a-f]{8}/eval/fig-probe\.json"):
        audio.read_audio(cfg, base)


class _NoOverlay:
    """A suite whose batches carry no ``x_clean`` / ``overlay_mask`` (as audio-digits-noise)."""

    def __init__(self, suite: Any) -> None:
        self.suite = suite
        self.name, self.split = "no-overlay", suite.split
        self.tasks, self.input_shape = suite.tasks, suite.input_shape

    def __len__(self) -> int:
        return len(self.suite)

    def batch(self, indices: Any, rng: Any) -> Any:
        from dataclasses import replace

        return replace(self.suite.batch(indices, rng), x_clean=None, overlay_mask=None)


def test_dropout_rate_needs_labels_not_overlays(tmp_path: Path) -> None:
    from empirical.config import Config, apply_overrides
    from empirical.diagnostics.diagnose import DiagnosticOptions, diagnose
    from empirical.train import train

    if str(DIAG) not in sys.path:  # the diagnostics tests' tiny overlay suite
        sys.path.insert(0, str(DIAG))
    from diag_tiny import TinyOverlaySuite

    overrides = [
        "data.suite=diag_tiny:tiny_overlay",
        "data.options.n=64",
        "data.knn_bank=0",
        "data.knn_test=0",
        "model.encoder=convnet",
        "model.width=4",
        "model.head_hidden=16",
        "model.out_dim=8",
        "views.name=viewmaker",
        "views.vm_width=2",
        "views.vm_blocks=1",
        "optim.batch_size=32",
        "optim.epochs=1",
        "run.knn_every=0",
    ]
    assert train(apply_overrides(Config(), overrides), tmp_path)["status"] == "completed"
    opts = DiagnosticOptions(num_inputs=32, num_copies=2, judge_steps=5, eps=(0.05,))
    train_set = _NoOverlay(TinyOverlaySuite("train", n=64))
    test_set = _NoOverlay(TinyOverlaySuite("test", n=64))
    _, rec = diagnose(tmp_path, "dropout-rate", opts, train_set=train_set, test_set=test_set)
    views = rec["metrics"]["views"]
    assert any(n.startswith("viewmaker-trained") for n in views)
    assert set(views["identity"]) == {"background", "overlay"}
    assert views["identity"]["overlay"]["rate"] == pytest.approx(0.0)


# ---------------------------------------------------------------------------------------------
# kNN learning curves (issue 10: 8 or more points a run, kept beside the figure)


def test_every_run_of_the_default_config_records_eight_knn_points() -> None:
    cfg = audio.audio_config()
    specs = audio.audio_specs(cfg)
    for spec in specs:
        assert points_per_run(spec) >= common.MIN_CURVE_POINTS, spec.name
        assert curve_ends_at_last_step(spec), spec.name
        # the probe still reads every training utterance, not the 255 of the subset
        assert resolved_config(spec).data.train_size < cfg["probe"]["n_train"] == 1500
    assert common.knn_points(cfg["overrides"]) == points_per_run(specs[0]) == 12


def _fake_records(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, steps: list[int]) -> Any:
    """Every run's records (probe, rate) as stand-ins, its kNN curve in its metrics file."""
    cfg = audio.audio_config()
    cfg.update(seeds=[0, 1], runs_root=str(tmp_path))
    written = {}
    for k, spec in enumerate(audio.audio_specs(cfg)):
        n = len(steps)
        knn = {"digit": [0.1 + 0.01 * k] * n, "noise": [0.5] * (n - 1) + [0.51]}
        write_curve(spec.run_dir(tmp_path), steps, knn)
        (spec.run_dir(tmp_path) / "summary.json").write_text('{"train_time_s": 1.0}')
        written[spec.name] = knn
    rate = {"rate": 0.1}
    views = {f"{n}-x": {"digit": rate, "noise": rate} for n in audio.RATE_VIEWS}
    judges = {t: {"clean_accuracy": 0.9} for t in ("digit", "noise")}
    metrics = {t: {"accuracy": 0.5, "chance": 0.1} for t in ("digit", "noise")}

    def fake_eval(run_dir: Path, evaluation: Any) -> dict[str, Any]:
        if evaluation.kind == "dropout-rate":
            return {"metrics": {"views": views, "judges": judges}}
        return {"metrics": metrics, "elapsed_s": 1.0}

    monkeypatch.setattr(audio, "load_eval", fake_eval)
    monkeypatch.setattr(audio, "class_gallery", lambda *a, **k: {})
    return cfg, written


def test_read_audio_keeps_each_runs_curve_from_its_metrics_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fake_baselines: Any
) -> None:
    cfg, written = _fake_records(tmp_path, monkeypatch, KNN_STEPS)
    res = audio.read_audio(cfg, fake_baselines(tmp_path, ("digit", "noise")))
    assert res["knn_steps"] == KNN_STEPS
    for v in VIEWS:
        for t in ("digit", "noise"):
            assert res["knn"][v][t] == [written[f"{v}-s{s}"][t] for s in (0, 1)]
    f = audio.audio_flatness(res)  # the noise moves by 0.01 over the last step only
    assert f == {"max_abs": pytest.approx(0.01), "flat": True, "points": 12}


def test_a_run_with_one_knn_point_is_an_error_naming_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fake_baselines: Any
) -> None:
    cfg, _ = _fake_records(tmp_path, monkeypatch, [12])
    with pytest.raises(ValueError, match=r"expert-s0-[0-9a-f]{8}: the kNN learning curve has 1"):
        audio.read_audio(cfg, fake_baselines(tmp_path, ("digit", "noise")))


@pytest.mark.parametrize(("late_rise", "verdict"), [(0.0, "flat"), (0.03, "not flat")])
def test_figure_and_claims_say_whether_the_curves_are_flat(late_rise: float, verdict: str) -> None:
    cfg = audio.audio_config()
    res = _results(learned=True, late_rise=late_rise)
    title = audio.plot_audio(res, cfg)._suptitle.get_text()
    notes = [c.notes for c in audio.claims_audio(res, cfg)]
    assert_flatness_said(audio.audio_flatness(res), late_rise, verdict, 12, title, notes)
