"""One progress display for the whole ``python -m figures`` job (empirical.progress.JobProgress),
the sweep reporting into it, and ``--dry-run``: fake specs and a fake executor, nothing trains."""

from __future__ import annotations

import io
import json
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

import figures.__main__ as cli
from empirical.progress import JobProgress, job_eta, reporting
from figures import baselines, registry, sweep
from figures.executors import Outcome
from figures.spec import Config, FigureSpec
from figures.sweep import Evaluation, RunResult, RunSpec, run_sweep

PRESET = "randbits-cpu"  # resolved (never trained) to count the untrained twins


class FakeClock:
    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        return self.t


class FakeExecutor:
    """Every call 'trains' in ``seconds`` of fake time (the clock moves by that much)."""

    def __init__(self, clock: FakeClock | None = None, seconds: float = 10.0) -> None:
        self.clock, self.seconds = clock, seconds

    def map(self, fn: Callable[..., Any], calls: Sequence[tuple[Any, ...]]) -> Iterator[Outcome]:
        for i, (spec, root) in enumerate(calls):
            if self.clock is not None:
                self.clock.t += self.seconds
            run_dir = spec.run_dir(root)
            done = (run_dir / "summary.json").exists()
            action = "skipped" if done else "trained"
            train_s = 0.0 if done else self.seconds
            yield Outcome(
                i, RunResult(str(run_dir), str(run_dir / "train.log"), action, train_s, 0)
            )


def _specs(figure: str, n: int, overrides: tuple[str, ...] = ()) -> list[RunSpec]:
    return [RunSpec(figure, f"run{i}", PRESET, overrides, i) for i in range(n)]


def test_job_eta_weights_each_kind_by_its_own_mean_time() -> None:
    # 2 trained runs took 20 s of worker time each, 4 evaluated ones 1 s each, in 21 s of wall
    # time (2 workers): 3 left to train and 2 to evaluate = 62 s of work at 2 s/s -> 31 s
    busy, done = {"train": 40.0, "other": 4.0}, {"train": 2, "other": 4}
    assert job_eta(22.0, busy, done, {"train": 3, "other": 2}) == pytest.approx(31.0)
    assert job_eta(22.0, busy, done, {"train": 0, "other": 0}) == 0.0
    # training runs left and none finished: no estimate yet
    assert job_eta(22.0, busy, {"train": 0, "other": 4}, {"train": 1, "other": 0}) is None
    # evaluated-only runs left and none finished: at the dearest finished kind's mean (20 s)
    only_trained = {"train": 2, "other": 0}
    assert job_eta(22.0, busy, only_trained, {"train": 1, "other": 2}) == pytest.approx(30.0)
    assert job_eta(0.0, busy, done, {"train": 1, "other": 0}) is None
    # with a prior for the evaluated-only kind (a trained run's evaluation took 2 s): 1 x 20 +
    # 2 x 2 s of work at 2 s/s
    prior = {"other": 2.0}
    assert job_eta(22.0, busy, only_trained, {"train": 1, "other": 2}, prior) == pytest.approx(12.0)
    # the prior is only used until that kind's own runs have finished
    assert job_eta(22.0, busy, done, {"train": 3, "other": 2}, prior) == pytest.approx(31.0)


def test_job_estimates_evaluated_only_runs_from_the_trained_runs_evaluations() -> None:
    clock = FakeClock()
    job = JobProgress([("pool", 2, 2), ("fig", 4, 0)], stream=io.StringIO(), bar=False, clock=clock)
    job.begin("pool")
    clock.t = 30.0
    job.finished("a: trained", trained=True, busy_s=60.0, eval_s=6.0)
    # 1 run left to train (60 s) and 4 evaluated-only (6 s each, not 60): 84 s at 2 s/s
    assert job.eta_s() == pytest.approx(42.0)
    job.finished("b: trained", trained=True, busy_s=60.0)  # no evaluation time: no change
    assert job.eta_s() == pytest.approx(4 * 6.0 / (120.0 / 30.0))


def test_job_counts_every_stage_up_front_and_corrects_it_when_a_sweep_starts() -> None:
    clock, out = FakeClock(), io.StringIO()
    job = JobProgress([("a", 2, 2), ("b", 3, 1)], stream=out, bar=False, clock=clock)
    assert (job.done, job.total, job.total_train) == (0, 5, 3)
    job.begin("a")
    clock.t = 10.0
    job.finished("run-a0: trained", trained=True, busy_s=10.0)
    line = out.getvalue().splitlines()[-1]
    assert line.startswith("[a] runs 1/5 (trained 1/3), 0:00:10 elapsed, 6.0 runs/min")
    # 1 run left to train in a (10 s), 1 in b; b's 2 others at the trained runs' 10 s (an
    # upper bound): 40 s of work at 1 worker-second per second
    assert line.endswith("eta 0:00:40: run-a0: trained")
    job.begin("b")  # a ended after 1 of its 2 planned runs: its total is what it ran
    assert (job.total, job.total_train) == (4, 2)
    job.sweep(4, 1)  # b's sweep has 4 runs, not the 3 counted up front
    assert (job.total, job.total_train) == (5, 2)
    job.finished("run-b0: trained", trained=True, busy_s=10.0)
    job.finished("twin: evaluated", trained=False, busy_s=0.0)
    assert "[b] runs 3/5 (trained 2/2)" in out.getvalue().splitlines()[-1]


def test_job_prices_weighed_runs_left_by_their_weight() -> None:
    # a pool ordered longest first: the first run (weight 10) took 100 s; the 3 left weigh 1 each
    clock = FakeClock()
    job = JobProgress([("pool", 4, 4)], stream=io.StringIO(), bar=False, clock=clock)
    job.begin("pool")
    job.weigh([10.0, 1.0, 1.0, 1.0])
    clock.t = 100.0
    job.finished("long: trained", trained=True, busy_s=100.0, units=10.0)
    # 3 runs of a tenth of the first: 30 s of work at 1 s/s (counting runs: 300 s)
    assert job.eta_s() == pytest.approx(30.0)
    clock.t = 110.0
    job.finished("short: trained", trained=True, busy_s=10.0, units=1.0)
    # mean weight of the finished runs 5.5 for 110 s: 2 units left = 2 / 5.5 runs of 55 s
    assert job.eta_s() == pytest.approx(2 / 5.5 * 55.0 / (110.0 / 110.0))


def test_run_sweep_weighs_the_runs_it_trains(tmp_path: Path) -> None:
    clock, out = FakeClock(), io.StringIO()
    job = JobProgress([("fig", 3, 3)], stream=out, bar=False, clock=clock)
    specs = _specs("fig", 3)
    with reporting(job):
        job.begin("fig")
        with pytest.raises(ValueError, match="one entry per spec"):
            run_sweep(specs, tmp_path, weights=[1.0], executor=FakeExecutor(clock))
        run_sweep(specs, tmp_path, weights=[4.0, 2.0, 2.0], executor=FakeExecutor(clock))
        assert (job.units_done, job.units_left, job.runs_weighed_left) == (8.0, 0.0, 0)


def test_run_sweep_reports_into_the_active_job(tmp_path: Path) -> None:
    clock, out = FakeClock(), io.StringIO()
    job = JobProgress([("fig", 0, 0)], stream=out, bar=False, clock=clock)  # counted by the sweep
    echoed: list[str] = []
    with reporting(job):
        job.begin("fig")
        run_sweep(_specs("fig", 3), tmp_path, echo=echoed.append, executor=FakeExecutor(clock))
    lines = out.getvalue().splitlines()
    assert [ln.split(", ")[0] for ln in lines[:3]] == [
        "[fig] runs 1/3 (trained 1/3)",
        "[fig] runs 2/3 (trained 2/3)",
        "[fig] runs 3/3 (trained 3/3)",
    ]
    assert "eta 0:00:10" in lines[1] and "eta 0:00:00" in lines[2]
    assert str(tmp_path / "fig" / _specs("fig", 3)[2].run_id) in lines[2]
    assert lines[3].startswith("sweep: 3 run(s)")
    assert echoed == []  # the job printed the lines
    # without a job the sweep prints its own counters, as before
    run_sweep(_specs("fig", 1), tmp_path / "alone", echo=echoed.append, executor=FakeExecutor())
    assert echoed[0].startswith("[1/1] ")


def _fake_figures(
    tmp_path: Path, sizes: dict[str, int], overrides: tuple[str, ...] = ()
) -> dict[str, FigureSpec]:
    def config() -> Config:
        return {"runs_root": str(tmp_path / "runs")}

    def compute_of(name: str) -> Callable[[Config], dict[str, Any]]:
        def compute(cfg: Config) -> dict[str, Any]:
            raise AssertionError(f"{name}: a dry run must not compute")

        return compute

    return {
        name: FigureSpec(
            name,
            f"fake {name}",
            compute_of(name),
            lambda r, c: None,
            config,
            specs=lambda c, name=name, n=n: _specs(name, n, overrides),
        )
        for name, n in sizes.items()
    }


def _fake_make_figure(figs: dict[str, FigureSpec]) -> Callable[..., list[Path]]:
    """What a figure's compute does: write the untrained twins (as figures.baselines.prepare
    does), then sweep the runs and the twins."""

    def make(name: str, force: bool = False) -> list[Path]:
        spec = figs[name]
        cfg = spec.default_config()
        root = Path(cfg["runs_root"])
        assert spec.specs is not None
        specs = list(spec.specs(cfg))
        # as figures.baselines.prepare: every initialisation of the untrained populations
        twins = baselines.plan(specs, root, ()).untrained_runs()
        for t in twins:
            t.run_dir(root).mkdir(parents=True, exist_ok=True)
            (t.run_dir(root) / "summary.json").write_text('{"status": "completed"}')
        run_sweep([*specs, *twins], root, executor=FakeExecutor())
        return []

    return make


def test_drawing_all_shows_one_job_over_every_figure(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    figs = _fake_figures(tmp_path, {"fig-a": 2, "fig-b": 3})
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(cli, "FIGURES", figs)
    monkeypatch.setattr(cli, "make_figure", _fake_make_figure(figs))
    assert cli.main(["all", "--per-figure"]) == 0
    runs = [ln for ln in capsys.readouterr().err.splitlines() if " runs " in ln]
    # 2 + 3 runs and their encoders' untrained populations (8 + 8 initialisations, the seeds'
    # twins among them), counted before anything ran
    n = 5 + 2 * baselines.UNTRAINED_INITS
    # a sweep reports its runs with nothing to do (here the untrained ones) before the others
    inits = baselines.UNTRAINED_INITS
    assert runs[0].startswith(f"[fig-a] runs 1/{n} (trained 0/5)")
    assert runs[inits].startswith(f"[fig-a] runs {inits + 1}/{n} (trained 1/5)")
    first_b = 2 + inits
    assert runs[first_b].startswith(f"[fig-b] runs {first_b + 1}/{n} (trained 2/5)")
    assert runs[first_b + inits].startswith(f"[fig-b] runs {first_b + inits + 1}/{n} (trained 3/5)")
    assert runs[-1].startswith(f"[fig-b] runs {n}/{n} (trained 5/5)")
    assert "eta 0:00:00" in runs[-1]
    assert (tmp_path / "results" / "summary.md").exists()


def test_drawing_all_trains_every_figures_runs_in_one_pool_first(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    figs = _fake_figures(tmp_path, {"fig-a": 2, "fig-b": 3})
    # fig-c lists fig-a's runs again (as exp_dynamics lists the oracle figure's): trained once
    figs["fig-c"] = replace(figs["fig-a"], name="fig-c")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(cli, "FIGURES", figs)
    monkeypatch.setattr(cli, "make_figure", _fake_make_figure(figs))
    pool: list[str] = []

    class PoolExecutor(FakeExecutor):
        def map(
            self, fn: Callable[..., Any], calls: Sequence[tuple[Any, ...]]
        ) -> Iterator[Outcome]:
            yield from super().map(fn, calls)
            for spec, root in calls:  # what a trained run leaves
                pool.append(str(spec.run_dir(root)))
                spec.run_dir(root).mkdir(parents=True)
                (spec.run_dir(root) / "summary.json").write_text('{"status": "completed"}')

    monkeypatch.setattr(cli.executors, "active", lambda: PoolExecutor())
    assert cli.main(["all"]) == 0
    runs = [ln for ln in capsys.readouterr().err.splitlines() if " runs " in ln]
    # the pool: 5 distinct runs, all trained, before any figure; counted up front with the
    # figures' untrained populations (8 initialisations each); each figure's sweep then adds
    # its runs, found up to date (2 + 3 + 2)
    up_front = 5 + 3 * baselines.UNTRAINED_INITS
    assert len(pool) == 5 == len(set(pool))
    assert [ln.split(" runs ")[0] for ln in runs[:5]] == ["[training runs]"] * 5
    assert runs[0].startswith(f"[training runs] runs 1/{up_front} (trained 1/5)")
    assert runs[4].startswith(f"[training runs] runs 5/{up_front} (trained 5/5)")
    assert all("trained 5/5" in ln for ln in runs[5:])
    n = up_front + 7
    assert runs[-1].startswith(f"[fig-c] runs {n}/{n} (trained 5/5)")
    # with one figure to draw there is no pool stage: its own sweep trains
    capsys.readouterr()
    pool.clear()
    assert cli.main(["fig-b", "--force"]) == 0
    assert pool == []


def test_the_pool_evaluates_the_baselines_that_figures_list(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # figures that list their baselines (FigureSpec.baselines): their untrained runs are
    # evaluated in the pool after the training runs, and their sweeps start no worker
    figs = _fake_figures(tmp_path, {"fig-a": 2, "fig-b": 3})
    for name in figs:
        specs = figs[name].specs
        assert specs is not None
        figs[name] = replace(
            figs[name],
            baselines=lambda c, specs=specs: baselines.Request(tuple(specs(c)), ()),
        )
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(cli, "FIGURES", figs)
    monkeypatch.setattr(cli, "make_figure", _fake_make_figure(figs))
    calls: list[list[str]] = []

    class PoolExecutor(FakeExecutor):
        def map(
            self, fn: Callable[..., Any], calls_: Sequence[tuple[Any, ...]]
        ) -> Iterator[Outcome]:
            calls.append([spec.name for spec, _ in calls_])
            yield from super().map(fn, calls_)
            for spec, root in calls_:  # what a trained and evaluated run leaves
                spec.run_dir(root).mkdir(parents=True, exist_ok=True)
                (spec.run_dir(root) / "summary.json").write_text('{"status": "completed"}')
                (spec.run_dir(root) / "evaluated").write_text("")

    def up_to_date(spec: RunSpec, root: Path) -> bool:  # the untrained runs are written first
        return (spec.run_dir(root) / "evaluated").exists()

    monkeypatch.setattr(sweep, "up_to_date", up_to_date)
    monkeypatch.setattr(cli.executors, "active", lambda: PoolExecutor())
    assert cli.main(["all"]) == 0
    inits = baselines.UNTRAINED_INITS
    # one call: the pool (each figure's sweep finds everything up to date and calls nothing)
    assert len(calls) == 1
    (pool,) = calls
    assert len(pool) == 5 + 2 * inits
    assert all(not n.startswith("untrained-") for n in pool[:5])  # training runs first
    assert all(n.startswith("untrained-") for n in pool[5:])
    runs = [ln for ln in capsys.readouterr().err.splitlines() if " runs " in ln]
    # counted up front in the pool's stage; the figures' sweeps add their runs, found done
    up_front = 5 + 2 * inits
    assert runs[0].startswith(f"[training runs] runs 1/{up_front} (trained 1/5)")
    n = up_front + 5 + 2 * inits
    assert runs[-1].startswith(f"[fig-b] runs {n}/{n} (trained 5/5)")


def test_dry_run_counts_cached_and_to_train_runs_without_running(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    figs = _fake_figures(tmp_path, {"fig-a": 3, "fig-b": 2})
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("FEATUREDROP_JOBS", "2")
    monkeypatch.setattr(cli, "FIGURES", figs)
    cfg = figs["fig-a"].default_config()
    a = _specs("fig-a", 3)
    done = a[0].run_dir(Path(cfg["runs_root"]))
    done.mkdir(parents=True)
    (done / "summary.json").write_text(json.dumps({"status": "completed", "train_time_s": 120}))
    half = a[1].run_dir(Path(cfg["runs_root"]))
    half.mkdir(parents=True)
    (half / "last.pt").write_bytes(b"")
    results = tmp_path / "results" / "figures"
    results.mkdir(parents=True)  # fig-b's results are cached with its current config
    cached = {"config": cfg, "code": registry.code_sha256(), "results": {}}
    (results / "fig-b.json").write_text(json.dumps(cached))
    assert cli.main(["all", "--dry-run"]) == 0
    out = capsys.readouterr().out.splitlines()
    row = {ln.split()[0]: ln.split()[1:] for ln in out[1:3]}
    # results, runs, trained, resume, to train, twins (the untrained population of the one
    # encoder: UNTRAINED_INITS initialisations), training minutes of one worker (source)
    inits = str(baselines.UNTRAINED_INITS)
    assert row["fig-a"] == ["stale", "3", "1", "1", "2", inits, "4.0", "(runs)"]
    assert row["fig-b"] == ["cached", "2", "0", "0", "2", inits, "-"]
    total = 3 + baselines.UNTRAINED_INITS
    assert out[3].startswith(f"total: {total} run(s) to bring up to date, 2 of them to train")
    assert "about 2.0 min with 2 parallel run(s)" in out[4]
    assert not (tmp_path / "results" / "summary.md").exists()  # a dry run writes nothing
    assert cli.main(["plan"]) == 0 and capsys.readouterr().out.splitlines() == out


def test_on_a_terminal_a_bar_shows_the_job_and_the_lines_print_above_it() -> None:
    out = io.StringIO()
    job = JobProgress([("a", 2, 1)], stream=out, bar=True, clock=FakeClock())
    job.begin("a")
    job.finished("run-a0: trained", trained=True, busy_s=5.0)
    job.close()
    text = out.getvalue()
    assert "[a] runs 1/2 (trained 1/1)" in text and "run-a0: trained" in text
    assert "a: 1/2 runs" in text and "trained 1/1, eta" in text  # the bar
    last = text.rstrip().split("\r")[-1]  # the bar's final state
    assert re.fullmatch(r"job: 1/1 runs \|#+\| [\d:]+ elapsed, trained 1/1, eta 0:00:00", last)


def test_dry_run_estimates_unrun_figures_from_the_benchmarks_step_time(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    figs = _fake_figures(tmp_path, {"fig-c": 2, "fig-d": 1}, ("optim.max_steps=60",))
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("FEATUREDROP_JOBS", "2")
    monkeypatch.setattr(cli, "FIGURES", figs)
    (tmp_path / "results").mkdir()
    bench = {f"throughput_fig-c.{PRESET}_step_s": 0.5, "throughput_matmul_gflops_1thread": 9.0}
    # fig-d trains another preset, measured for no figure: no estimate
    figs["fig-d"] = replace(
        figs["fig-d"], specs=lambda c: [RunSpec("fig-d", "r", "spirograph-cpu", (), 0)]
    )
    (tmp_path / "results" / "bench.json").write_text(json.dumps(bench))
    assert cli.main(["all", "--dry-run"]) == 0
    out = capsys.readouterr().out.splitlines()
    row = {ln.split()[0]: ln.split()[1:] for ln in out[1:3]}
    assert row["fig-c"][-2:] == ["1.0", "(bench)"]  # 2 runs x 60 steps x 0.5 s
    assert row["fig-d"][-1] == "?"  # its preset was not benchmarked
    assert "about 0.5 min with 2 parallel run(s)" in out[4] and "no estimate for fig-d" in out[4]


def test_the_pool_trains_the_judges_after_the_runs_then_evaluates_the_rates(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # a figure that lists its judge shares (FigureSpec.judges): the training pool leaves its
    # dropout rates out; its judges are trained once every run is trained, then one sweep
    # evaluates the rates, and the figure's own sweep finds everything up to date
    from figures import judges

    rate = Evaluation("fig-rate", "dropout-rate", {})
    figs = _fake_figures(tmp_path, {"fig-a": 2, "fig-b": 1})

    def rated(c: Config) -> list[RunSpec]:
        return [replace(s, evaluations=(rate,)) for s in _specs("fig-a", 2)]

    figs["fig-a"] = replace(
        figs["fig-a"], specs=rated, judges=lambda c: [judges.JudgeShare(rate, tuple(rated(c)))]
    )
    events: list[tuple[str, list[str]]] = []

    class PoolExecutor(FakeExecutor):
        def map(
            self, fn: Callable[..., Any], calls_: Sequence[tuple[Any, ...]]
        ) -> Iterator[Outcome]:
            if calls_:  # a sweep with everything up to date calls it with nothing
                events.append(("sweep", [f"{s.name}:{len(s.evaluations)}" for s, _ in calls_]))
            yield from super().map(fn, calls_)
            for spec, root in calls_:  # what a trained and evaluated run leaves
                d = spec.run_dir(root)
                d.mkdir(parents=True, exist_ok=True)
                (d / "summary.json").write_text('{"status": "completed"}')
                for e in spec.evaluations:
                    (d / e.name).write_text("")

    def up_to_date(spec: RunSpec, root: Path) -> bool:
        d = spec.run_dir(root)
        return (d / "summary.json").exists() and all(
            (d / e.name).exists() for e in spec.evaluations
        )

    def train(self: judges.JudgeShare, root: Path) -> int:
        assert all((s.run_dir(root) / "summary.json").exists() for s in self.specs)
        events.append(("judges", [s.name for s in self.specs]))
        return len(self.specs) - 1

    def make(name: str, force: bool = False) -> list[Path]:  # the figure's own sweep
        spec = figs[name]
        assert spec.specs is not None
        run_sweep(list(spec.specs(spec.default_config())), tmp_path / "runs")
        return []

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("FEATUREDROP_JOBS", "1")  # the judges train in this process
    monkeypatch.setattr(cli, "FIGURES", figs)
    monkeypatch.setattr(cli, "make_figure", make)
    monkeypatch.setattr(sweep, "up_to_date", up_to_date)
    monkeypatch.setattr(judges.JudgeShare, "train", train)
    monkeypatch.setattr(cli.executors, "active", lambda: PoolExecutor())
    assert cli.main(["all"]) == 0
    assert events == [
        ("sweep", ["run0:0", "run1:0", "run0:0"]),  # the training pool: no rates
        ("judges", ["run0", "run1"]),
        ("sweep", ["run0:1", "run1:1"]),  # the rates, with the judges in place
    ]
    err = capsys.readouterr().err
    assert "judges for 2 run(s)" in err
    # the pool's stage: 3 training runs, 1 judge share, 2 rated runs
    assert len([ln for ln in err.splitlines() if ln.startswith("[training runs] runs ")]) == 6
