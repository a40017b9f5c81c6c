"""figures.prefetch: the training runs of many figures, merged by run directory and ordered
longest first for one pool (``python -m figures all``)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from figures import prefetch
from figures.spec import Config, FigureSpec
from figures.sweep import Evaluation, RunSpec

PRESET = "randbits-cpu"
PROBE = Evaluation("fig-probe", "probe", {"n_train": 64})


def _spec(figure: str, name: str, *overrides: str, evals: tuple[Evaluation, ...] = ()) -> RunSpec:
    return RunSpec(figure, name, PRESET, ("optim.max_steps=10", *overrides), 0, evals)


def _no(*args: object) -> dict[str, object]:
    raise AssertionError("not computed")


def test_merge_keeps_one_entry_per_run_directory_with_every_evaluation(tmp_path: Path) -> None:
    other = Evaluation("fig-knn", "probe", {"n_train": 32})
    conflicting = Evaluation("fig-probe", "probe", {"n_train": 999})
    rate = Evaluation("fig-rate", "dropout-rate", {})
    a = _spec("fig", "a", evals=(PROBE,))
    b = _spec("fig", "b", evals=(PROBE, rate))
    merged = prefetch.merge(
        [a, b, _spec("fig", "a", evals=(PROBE, other)), _spec("fig", "a", evals=(conflicting,))],
        tmp_path,
    )
    assert [m.run_dir(tmp_path) for m in merged] == [a.run_dir(tmp_path), b.run_dir(tmp_path)]
    # a's second listing adds fig-knn; the third's fig-probe has other options: the first kept
    assert merged[0].evaluations == (PROBE, other)
    # the dropout rate waits for the judges its figure shares among its runs
    assert merged[1].evaluations == (PROBE,)
    # the same name in another figure is another run directory
    assert len(prefetch.merge([a, _spec("fig2", "a")], tmp_path)) == 2


def test_cost_orders_viewmaker_and_penalty_runs_and_longer_runs_first() -> None:
    short = _spec("fig", "short")
    long = _spec("fig", "long", "optim.max_steps=40")
    wide = _spec("fig", "wide", "optim.batch_size=512")
    penalty = _spec("fig", "penalty", "regulariser.weight=0.1")
    fixed = prefetch.FIXED_COST
    assert prefetch.cost(long) - fixed == pytest.approx(4 * (prefetch.cost(short) - fixed))
    assert prefetch.cost(penalty) - fixed == pytest.approx(
        prefetch.PENALTY_FACTOR * (prefetch.cost(short) - fixed)
    )
    assert prefetch.cost(wide) > prefetch.cost(short)
    order = prefetch.longest_first([short, penalty, long, wide, _spec("fig", "short2")])
    assert [s.name for s, _ in order] == ["long", "wide", "penalty", "short", "short2"]
    assert [c for _, c in order] == [prefetch.cost(s) for s, _ in order]


def test_cost_counts_the_viewmaker_factor() -> None:
    same = ("optim.max_steps=10", "optim.batch_size=64")
    plain = RunSpec("fig", "e", "expert-shapes-cpu", same)
    vm = RunSpec("fig", "v", "viewmaker-shapes-cpu", same)
    fixed = prefetch.FIXED_COST
    assert prefetch.cost(vm) - fixed == pytest.approx(
        prefetch.VIEWMAKER_FACTOR * (prefetch.cost(plain) - fixed)
    )


def test_shared_runs_skips_figures_without_listed_or_listable_runs(tmp_path: Path) -> None:
    def config() -> Config:
        return {"runs_root": str(tmp_path)}

    def broken(cfg: Config) -> list[RunSpec]:
        raise ValueError("cannot list")

    def fig(name: str, specs: object) -> FigureSpec:
        return FigureSpec(name, name, lambda c: {}, lambda r, c: None, config, specs=specs)  # type: ignore[arg-type]

    listed = fig("fig", lambda c: [_spec("fig", "a"), _spec("fig", "b", "optim.max_steps=20")])
    out = prefetch.shared_runs(
        [("fig", listed), ("theory", fig("theory", None)), ("bad", fig("bad", broken))]
    )
    assert list(out) == [tmp_path]
    assert [s.name for s, _ in out[tmp_path]] == ["b", "a"]


def test_all_draws_a_figure_after_the_figures_whose_runs_it_reads() -> None:
    from figures.registry import FIGURES, in_order

    order = in_order(sorted(FIGURES))
    assert sorted(order) == sorted(FIGURES)
    # exp_dynamics and exp_local_features read the oracle figure's runs and train nothing:
    # alphabetically they come first, and a make figures from scratch stopped at exp_dynamics
    for reader in ("exp_dynamics", "exp_local_features"):
        assert "exp_oracle_dropout" in FIGURES[reader].reads
        assert order.index(reader) > order.index("exp_oracle_dropout")
    # a figure read by one not asked for adds nothing; the others keep their order
    assert in_order(["exp_dynamics", "exp_audio"]) == ["exp_dynamics", "exp_audio"]


def test_in_order_rejects_figures_that_read_each_other() -> None:
    from figures.registry import in_order

    def config() -> Config:
        return {}

    def fig(name: str, reads: tuple[str, ...]) -> FigureSpec:
        return FigureSpec(name, name, lambda c: {}, lambda r, c: None, config, reads=reads)

    figs = {"a": fig("a", ("b",)), "b": fig("b", ("c",)), "c": fig("c", ("a",))}
    with pytest.raises(ValueError, match="cycle: a -> b -> c"):
        in_order(["a", "b", "c"], figs)
    figs["c"] = fig("c", ())
    assert in_order(["a", "b", "c"], figs) == ["c", "b", "a"]


def _fig_with_baselines(name: str, root: Path, request: object) -> FigureSpec:
    def config() -> Config:
        return {"runs_root": str(root)}

    return FigureSpec(
        name,
        name,
        lambda c: {},
        lambda r, c: None,
        config,
        baselines=request,  # type: ignore[arg-type]
    )


def test_shared_baselines_writes_the_untrained_runs_and_lists_each_pixel_probe_once(
    tmp_path: Path,
) -> None:
    from figures import baselines

    runs = (_spec("fig", "a"), _spec("fig", "b", "optim.lr=0.1"))  # one encoder at init
    request = baselines.Request(runs, (PROBE,))

    def broken(cfg: Config) -> baselines.Request:
        raise ValueError("cannot list")

    other = baselines.Request((_spec("other", "x", "optim.lr=0.2"),), (PROBE,))
    out = prefetch.shared_baselines(
        [
            ("fig", _fig_with_baselines("fig", tmp_path, lambda c: request)),
            # a second figure that lists the same runs (as exp_views_multitask reuses the
            # oracle figure's): their untrained runs and pixel probe appear once
            ("reuse", _fig_with_baselines("reuse", tmp_path, lambda c: request)),
            ("bad", _fig_with_baselines("bad", tmp_path, broken)),
            ("none", _fig_with_baselines("none", tmp_path, None)),
            # another figure's runs on the same data, probed alike: the same pixel record,
            # which its stage copies (as exp_losses and exp_viewmaker_budget)
            ("other", _fig_with_baselines("other", tmp_path, lambda c: other)),
        ]
    )
    expected = baselines.plan(runs, tmp_path, (PROBE,)).untrained_runs()
    expected += baselines.plan(other.specs, tmp_path, (PROBE,)).untrained_runs()
    assert len(expected) == 2 * baselines.UNTRAINED_INITS  # one encoder a figure
    assert list(out.untrained) == [tmp_path]
    got = out.untrained[tmp_path]
    assert [s.run_dir(tmp_path) for s in got] == [s.run_dir(tmp_path) for s in expected]
    assert all(s.evaluations == (PROBE,) for s in got)
    assert all((s.run_dir(tmp_path) / "summary.json").exists() for s in got)  # written
    assert len(out.pixels) == 1
    ((root, px),) = out.pixels
    assert root == tmp_path and px == baselines.pixel_probe_for(runs[0], PROBE)

    # the pool evaluates them after every training run of their root
    runs = (*runs, *other.specs)
    shared = {tmp_path: prefetch.longest_first(list(runs))}
    pool = prefetch.with_untrained(shared, out.untrained)[tmp_path]
    assert [s for s, _ in pool[: len(runs)]] == [s for s, _ in shared[tmp_path]]
    assert [s for s, _ in pool[len(runs) :]] == got
    assert all(c == prefetch.UNTRAINED_COST < prefetch.FIXED_COST for _, c in pool[len(runs) :])


def test_after_training_writes_pixel_probes_trains_judges_and_reports_failures(
    tmp_path: Path,
) -> None:
    from figures import baselines
    from figures.judges import JudgeShare

    probe = Evaluation("fig-probe", "probe", {"n_train": 64, "n_test": 64, "max_iter": 5})
    good = baselines.pixel_probe_for(_spec("fig", "a", "data.train_size=64"), probe)
    bad = baselines.PixelProbe("fig", {**good.data, "suite": "no-such-suite"}, probe)
    rate = Evaluation("fig-rate", "dropout-rate", {})
    untrained = JudgeShare(rate, (_spec("fig", "never-trained", evals=(rate,)),))
    tasks = [(tmp_path, untrained), (tmp_path, good), (tmp_path, bad)]
    outs = {o.what: o for o in prefetch.after_training(tasks, 1)}
    assert set(outs) == {
        str(good.path(tmp_path)),
        str(bad.path(tmp_path)),
        untrained.label(tmp_path),
    }
    assert outs[str(good.path(tmp_path))].error == ""
    record = baselines.pixel_record(good, tmp_path)  # found current: not computed again
    assert record["key"] == good.key() and good.path(tmp_path).exists()
    assert "no-such-suite" in outs[str(bad.path(tmp_path))].error
    assert not bad.path(tmp_path).exists()
    assert outs[untrained.label(tmp_path)].error  # its run is not there: reported, not raised
    # another figure's probe of the same data and options copies the record, not computed
    twin = baselines.PixelProbe("other-fig", good.data, probe)
    assert baselines.pixel_record(twin, tmp_path) == record
    assert twin.path(tmp_path).exists() and twin.path(tmp_path) != good.path(tmp_path)
    # a twin record of other code or options is not copied: it is computed (here: fails)
    stale = baselines.PixelProbe("stale-fig", bad.data, probe)
    stale.path(tmp_path).parent.mkdir(parents=True)
    stale.path(tmp_path).write_text(json.dumps({**record, "key": "other"}))
    clash = baselines.PixelProbe("third-fig", bad.data, probe)
    with pytest.raises(Exception, match="no-such-suite"):
        baselines.pixel_record(clash, tmp_path)


def test_shared_judges_and_rated_runs_keep_the_rates_the_training_pool_leaves(
    tmp_path: Path,
) -> None:
    from figures.judges import JudgeShare

    rate = Evaluation("fig-rate", "dropout-rate", {})
    a = _spec("fig", "a", evals=(PROBE, rate))
    b = _spec("fig", "b", evals=(rate,))

    def config() -> Config:
        return {"runs_root": str(tmp_path)}

    share = JudgeShare(rate, (a, b))

    def broken(cfg: Config) -> list[JudgeShare]:
        raise ValueError("cannot list")

    figs = [
        ("with", FigureSpec("with", "", _no, _no, config, judges=lambda c: [share])),
        ("without", FigureSpec("without", "", _no, _no, config)),
        ("broken", FigureSpec("broken", "", _no, _no, config, judges=broken)),
    ]
    shares = prefetch.shared_judges(figs)
    assert [(root, s.specs) for root, s in shares] == [(tmp_path, (a, b))]
    # the training pool leaves the rates out (merge); the rated runs keep them
    assert prefetch.merge([a], tmp_path)[0].evaluations == (PROBE,)
    rated = prefetch.rated_runs([*shares, *shares])  # one entry per run directory
    assert rated == {tmp_path: [a, b]}
    with pytest.raises(ValueError, match="dropout-rate"):
        JudgeShare(PROBE, (a,))
    with pytest.raises(ValueError, match="at least one run"):
        JudgeShare(rate, ())


def test_shares_of_the_same_judges_are_merged_across_figures(tmp_path: Path) -> None:
    from figures.judges import JudgeShare
    from figures.registry import FIGURES

    rate = Evaluation("fig-rate", "dropout-rate", {})
    other_rate = Evaluation("fig-rate", "dropout-rate", {"judge_steps": 7})
    a, b = _spec("f1", "a", evals=(rate,)), _spec("f2", "b", evals=(rate,))
    c = _spec("f2", "c", "data.options.num_bits=5", evals=(rate,))

    def config() -> Config:
        return {"runs_root": str(tmp_path)}

    def fig(name: str, *shares: JudgeShare) -> tuple[str, FigureSpec]:
        return name, FigureSpec(name, "", _no, _no, config, judges=lambda c: list(shares))

    shares = prefetch.shared_judges(
        [
            fig("f1", JudgeShare(rate, (a,))),
            fig("f2", JudgeShare(rate, (b,)), JudgeShare(other_rate, (b,)), JudgeShare(rate, (c,))),
        ]
    )
    # a and b: the same suite and judges (merged); other judge steps or other data: not
    assert [s.specs for _, s in shares] == [(a, b), (b,), (c,)]
    # the project's figures: exp_audio's judges, exp_viewmaker_budget's with those of
    # exp_views_multitask's shapes suite (the same suite and judges), its digits suite's
    real = prefetch.shared_judges(sorted(FIGURES.items()))
    figures_of = [sorted({s.figure for s in share.specs}) for _, share in real]
    assert figures_of == [
        ["exp_audio"],
        ["exp_viewmaker_budget", "exp_views_multitask"],
        ["exp_views_multitask"],
    ]


def test_every_dropout_rate_of_a_figure_waits_for_judges_it_lists() -> None:
    # the training pool leaves every dropout-rate evaluation out (merge); one that no judge
    # share of its figure lists would be left to the figure's own stage (one core idle)
    from figures.registry import FIGURES

    for name, spec in FIGURES.items():
        cfg = spec.default_config()
        listed = list(spec.specs(cfg)) if spec.specs else []
        if spec.baselines is not None:
            listed += list(spec.baselines(cfg).specs)
        wanted = {
            (s.run_dir(Path("r")), e.name, json.dumps(dict(e.options), sort_keys=True))
            for s in listed
            for e in s.evaluations
            if e.kind in prefetch.LEFT_TO_FIGURE
        }
        shares = spec.judges(cfg) if spec.judges else []
        covered = {
            (s.run_dir(Path("r")), e.name, json.dumps(dict(e.options), sort_keys=True))
            for share in shares
            for s in share.specs
            for e in s.evaluations
            if e.kind == "dropout-rate"
        }
        assert wanted <= covered, name
        if name in ("exp_audio", "exp_viewmaker_budget", "exp_views_multitask"):
            assert covered, name  # the figures that rate runs
        # the figure's first sweep (its baselines) leaves the rates to after the judges
        if spec.baselines is not None:
            first = spec.baselines(cfg).specs
            assert not any(e.kind == "dropout-rate" for s in first for e in s.evaluations), name


def test_every_experiment_figure_lists_the_baselines_its_compute_prepares() -> None:
    # a figure whose compute prepares baselines without listing them would leave its
    # untrained runs and raw-pixel probes to its own stage again (one core idle)
    from figures import baselines
    from figures.registry import FIGURES

    for name, spec in FIGURES.items():
        if spec.specs is None and not spec.reads:
            continue  # a theory figure, or one that prepares no baselines (exp_dynamics)
        if name == "exp_dynamics":
            assert spec.baselines is None  # it reads the oracle figure's records
            continue
        assert spec.baselines is not None, name
        request = spec.baselines(spec.default_config())
        assert isinstance(request, baselines.Request) and request.specs, name
        assert request.evaluations, name
        cfg = spec.default_config()
        listed = {s.run_dir(Path("r")) for s in spec.specs(cfg)} if spec.specs else set()
        requested = {s.run_dir(Path("r")) for s in request.specs}
        # the requested runs are the listed ones, with fewer (exp_viewmaker_budget lists gallery
        # runs, which have no baselines) or more (exp_views_multitask reuses the oracle
        # figure's), or those of the figure it reads (exp_local_features)
        assert not listed or requested <= listed or listed <= requested, name
        assert listed or spec.reads, name
