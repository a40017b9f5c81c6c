"""figures.prefetch: the training runs of many figures, merged by run directory and ordered
longest first for one pool (``python -m figures all``)."""

from __future__ import annotations

from pathlib import Path

import pytest

from figures import prefetch
from figures.spec import Config, FigureSpec
from figures.sweep import Evaluation, RunSpec

PRESET = "randbits-cpu"
PROBE = Evaluation("fig-probe", "probe", {"n_train": 64})


def _spec(figure: str, name: str, *overrides: str, evals: tuple[Evaluation, ...] = ()) -> RunSpec:
    return RunSpec(figure, name, PRESET, ("optim.max_steps=10", *overrides), 0, evals)


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

    out = prefetch.shared_baselines(
        [
            ("fig", _fig_with_baselines("fig", tmp_path, lambda c: request)),
            # a second figure that lists the same runs (as exp_views_multitask reuses the
            # oracle figure's): their untrained runs and pixel probe appear once
            ("reuse", _fig_with_baselines("reuse", tmp_path, lambda c: request)),
            ("bad", _fig_with_baselines("bad", tmp_path, broken)),
            ("none", _fig_with_baselines("none", tmp_path, None)),
        ]
    )
    expected = baselines.plan(runs, tmp_path, (PROBE,)).untrained_runs()
    assert len(expected) == baselines.UNTRAINED_INITS  # one encoder: one population
    assert list(out.untrained) == [tmp_path]
    got = out.untrained[tmp_path]
    assert [s.run_dir(tmp_path) for s in got] == [s.run_dir(tmp_path) for s in expected]
    assert all(s.evaluations == (PROBE,) for s in got)
    assert all((s.run_dir(tmp_path) / "summary.json").exists() for s in got)  # written
    assert len(out.pixels) == 1
    ((root, px),) = out.pixels
    assert root == tmp_path and px == baselines.pixel_probe_for(runs[0], PROBE)

    # the pool evaluates them after every training run of their root
    shared = {tmp_path: prefetch.longest_first(list(runs))}
    pool = prefetch.with_untrained(shared, out.untrained)[tmp_path]
    assert [s for s, _ in pool[: len(runs)]] == [s for s, _ in shared[tmp_path]]
    assert [s for s, _ in pool[len(runs) :]] == got
    assert all(c == prefetch.UNTRAINED_COST < prefetch.FIXED_COST for _, c in pool[len(runs) :])


def test_pixel_probes_write_their_records_and_report_failures(tmp_path: Path) -> None:
    from figures import baselines

    probe = Evaluation("fig-probe", "probe", {"n_train": 64, "n_test": 64, "max_iter": 5})
    good = baselines.pixel_probe_for(_spec("fig", "a", "data.train_size=64"), probe)
    bad = baselines.PixelProbe("fig", {**good.data, "suite": "no-such-suite"}, probe)
    outs = {o.path: o for o in prefetch.pixel_probes([(tmp_path, good), (tmp_path, bad)], 1)}
    assert set(outs) == {str(good.path(tmp_path)), str(bad.path(tmp_path))}
    assert outs[str(good.path(tmp_path))].error == ""
    record = baselines.pixel_record(good, tmp_path)  # found current: not computed again
    assert record["key"] == good.key() and good.path(tmp_path).exists()
    assert "no-such-suite" in outs[str(bad.path(tmp_path))].error
    assert not bad.path(tmp_path).exists()


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
