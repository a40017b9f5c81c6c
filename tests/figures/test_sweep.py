"""figures.sweep: run ids, train -> evaluate -> skip, resume after an interruption, failures.

Tiny real runs: RandBits-MNIST with the small ConvNet, 64 examples, batch 32 (a few steps).
"""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

from figures import executors
from figures.sweep import (
    Evaluation,
    RunSpec,
    SweepError,
    default_jobs,
    eval_path,
    load_eval,
    run_sweep,
    up_to_date,
)

PRESET = "randbits-cpu"
TINY = (
    "data.train_size=64",
    "optim.batch_size=32",
    "optim.epochs=1",
    "run.knn_every=0",
    "run.threads=1",
)
PROBE = Evaluation("probe", "probe", {"n_train": 64, "n_test": 64, "max_iter": 20})


def tiny(name: str, *extra: str, seed: int = 0) -> RunSpec:
    return RunSpec("test", name, PRESET, (*TINY, *extra), seed, (PROBE,))


def test_run_id_is_name_plus_config_hash() -> None:
    a, b = tiny("a"), tiny("a", "optim.lr=0.002")
    assert a.run_id.startswith("a-") and len(a.run_id) == len("a-") + 8
    assert a.run_id != b.run_id  # a changed config gets a fresh directory
    assert tiny("a", seed=1).run_id != a.run_id
    assert tiny("a").run_id == a.run_id  # deterministic
    assert a.run_dir(Path("r")) == Path("r") / "test" / a.run_id


@pytest.mark.parametrize(
    "kwargs",
    [
        {"name": "a/b"},
        {"name": ""},
        {"figure": ".hidden"},
        {"seed": -1},
        {"overrides": ("run.seed=3",)},
        {"overrides": ("no-equals-sign",)},
        {"evaluations": (PROBE, PROBE)},
    ],
)
def test_runspec_rejects_bad_fields(kwargs: dict[str, object]) -> None:
    base: dict[str, object] = {"figure": "f", "name": "n", "preset": PRESET}
    with pytest.raises(ValueError, match="RunSpec"):
        RunSpec(**{**base, **kwargs})  # type: ignore[arg-type]


def test_evaluation_rejects_bad_kind_and_name() -> None:
    with pytest.raises(ValueError, match="kind"):
        Evaluation("x", "knn")
    with pytest.raises(ValueError, match="name"):
        Evaluation("a/b", "probe")


def test_jobs_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FEATUREDROP_JOBS", "3")
    assert default_jobs() == 3
    monkeypatch.setenv("FEATUREDROP_JOBS", "0")
    with pytest.raises(ValueError, match="FEATUREDROP_JOBS"):
        default_jobs()
    monkeypatch.delenv("FEATUREDROP_JOBS")
    assert 1 <= default_jobs() <= 2
    with pytest.raises(ValueError, match="jobs"):
        run_sweep([], Path("unused"), jobs=0)


def test_train_evaluate_then_skip_then_report_failure(tmp_path: Path) -> None:
    spec = tiny("ok")
    lines: list[str] = []
    (res,) = run_sweep([spec], tmp_path, jobs=1, echo=lines.append)
    run_dir = spec.run_dir(tmp_path)
    assert res.action == "trained" and not res.error
    rec = load_eval(run_dir, PROBE)
    assert rec["kind"] == "probe" and rec["seed"] == 0
    assert 0.0 <= rec["metrics"]["digit"]["accuracy"] <= 1.0
    assert json.loads((run_dir / "summary.json").read_text())["global_step"] == 2
    assert "trained" in lines[0] and str(run_dir) in lines[0]

    # a second call trains and evaluates nothing
    stamps = {p: p.stat().st_mtime_ns for p in (run_dir / "last.pt", eval_path(run_dir, PROBE))}
    (again,) = run_sweep([spec], tmp_path, jobs=1, echo=lines.append)
    assert again.action == "skipped" and again.train_s == 0.0
    assert {p: p.stat().st_mtime_ns for p in stamps} == stamps

    # runs with nothing to do never reach the executor (no worker or Slurm job is started)
    seen: list[tuple[Any, ...]] = []

    class Recording(executors.ProcessExecutor):
        def map(
            self, fn: Callable[..., Any], calls: Sequence[tuple[Any, ...]]
        ) -> Iterator[executors.Outcome]:
            seen.extend(calls)
            return super().map(fn, calls)

    recording = Recording(1)
    assert up_to_date(spec, tmp_path)
    (none,) = run_sweep([spec], tmp_path, echo=lines.append, executor=recording)
    assert none.action == "skipped" and seen == []

    # a missing evaluation of a completed run is evaluated without training (by the executor)
    eval_path(run_dir, PROBE).unlink()
    assert not up_to_date(spec, tmp_path)
    (ev,) = run_sweep([spec], tmp_path, echo=lines.append, executor=recording)
    assert seen == [(spec, tmp_path)]
    assert ev.action == "evaluated" and eval_path(run_dir, PROBE).exists()
    assert (run_dir / "last.pt").stat().st_mtime_ns == stamps[run_dir / "last.pt"]

    # a failing run is reported with its directory and log; the other runs still happen
    bad, other = tiny("bad", "optim.lr=-1"), tiny("other", seed=1)
    with pytest.raises(SweepError) as info:
        run_sweep([bad, other], tmp_path, jobs=1, echo=lines.append)
    bad_dir = bad.run_dir(tmp_path)
    assert str(bad_dir) in str(info.value) and str(bad_dir / "train.log") in str(info.value)
    assert [Path(f.run_dir) for f in info.value.failures] == [bad_dir]
    assert "optim.lr" in (bad_dir / "train.log").read_text()
    assert eval_path(other.run_dir(tmp_path), PROBE).exists()
    assert any("FAILED" in line and "log:" in line for line in lines)


def _sigterm_when_checkpointed(run_dir: Path, sent: list[int]) -> None:
    """SIGTERM the training process once its first checkpoint exists (the run that
    ``executors.run_training`` started: a subprocess, or a child of its fork server)."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not (run_dir / "last.pt").exists():
        time.sleep(0.005)
    for proc in list(executors._STOPPABLE):
        os.kill(proc.pid, signal.SIGTERM)
        sent.append(proc.pid)


@pytest.mark.parametrize("forkserver", ["1", "0"])
def test_interrupted_run_resumes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, forkserver: str
) -> None:
    """Forked from the fork server or a plain subprocess, a run stopped by SIGTERM saves a
    checkpoint, exits with 128 + 15 and resumes to the end."""
    monkeypatch.setenv(executors.FORKSERVER_ENV, forkserver)
    spec = tiny("long", "optim.epochs=40")  # 2 steps per epoch, 80 in all
    run_dir = spec.run_dir(tmp_path)
    sent: list[int] = []
    watcher = threading.Thread(target=_sigterm_when_checkpointed, args=(run_dir, sent))
    watcher.start()
    with pytest.raises(SweepError, match="status 143"):
        run_sweep([spec], tmp_path, jobs=1, echo=lambda _: None)
    watcher.join()
    assert sent, "the training subprocess was not found"
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["status"] == "interrupted" and summary["global_step"] < 80
    assert not eval_path(run_dir, PROBE).exists()

    (res,) = run_sweep([spec], tmp_path, jobs=1, echo=lambda _: None)
    assert res.action == "resumed" and not res.error
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["status"] == "completed" and summary["global_step"] == 80
    assert "--resume" in (run_dir / "train.log").read_text()
    assert eval_path(run_dir, PROBE).exists()


def test_records_are_reused_only_while_their_key_holds(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An evaluation is recomputed when an option, the weights or the evaluation code change;
    reused (not rewritten) while they stay the same."""
    from empirical import records
    from empirical.checkpoint import load_checkpoint, save_checkpoint

    spec = tiny("keyed")
    run_dir = spec.run_dir(tmp_path)
    (res,) = run_sweep([spec], tmp_path, jobs=1, echo=lambda _: None)
    assert res.action == "trained"
    first = load_eval(run_dir, PROBE)

    def again(s: RunSpec) -> tuple[str, dict]:
        (r,) = run_sweep([s], tmp_path, jobs=1, echo=lambda _: None)
        assert not r.error, r.error
        return r.action, load_eval(run_dir, PROBE)

    # the same options: reused, the file untouched
    stamp = eval_path(run_dir, PROBE).stat().st_mtime_ns
    action, rec = again(spec)
    assert action == "skipped" and rec == first
    assert eval_path(run_dir, PROBE).stat().st_mtime_ns == stamp

    # another option under the same name: recomputed (same run directory, no training)
    fewer = Evaluation("probe", "probe", {**PROBE.options, "max_iter": 5})
    changed = RunSpec("test", "keyed", PRESET, spec.overrides, 0, (fewer,))
    assert changed.run_dir(tmp_path) == run_dir
    action, rec = again(changed)
    assert action == "evaluated" and rec["options"]["max_iter"] == 5
    assert rec["key"] != first["key"] and rec["weights_sha256"] == first["weights_sha256"]
    assert again(changed)[0] == "skipped"

    # other weights in last.pt: recomputed
    state = load_checkpoint(run_dir / "last.pt")
    name = next(iter(state["models"]["encoder"]))
    state["models"]["encoder"][name] = state["models"]["encoder"][name] + 1e-3
    save_checkpoint(run_dir / "last.pt", state)
    action, moved = again(changed)
    assert action == "evaluated" and moved["weights_sha256"] != rec["weights_sha256"]
    assert moved["encoder_sha256"] != rec["encoder_sha256"]

    # other evaluation code: recomputed
    monkeypatch.setattr(records, "code_sha256", lambda: "0" * 64)
    action, coded = again(changed)
    assert action == "evaluated" and coded["code_sha256"] == "0" * 64
    assert again(changed)[0] == "skipped"


def test_bad_evaluation_option_fails_before_any_training(tmp_path: Path) -> None:
    from empirical.config import ConfigError

    bad = Evaluation("p", "probe", {"max_iters": 5})
    spec = RunSpec("test", "never", PRESET, TINY, 0, (bad,))
    with pytest.raises(ConfigError, match=r"p\.max_iters: unknown option"):
        run_sweep([spec], tmp_path, jobs=1, echo=lambda _: None)
    assert not spec.run_dir(tmp_path).exists()


@pytest.mark.parametrize("how", ["kill", "ctrl-c"])
def test_killing_the_sweep_stops_its_workers_runs_with_a_checkpoint(
    tmp_path: Path, how: str
) -> None:
    """A sweep killed outright (SIGKILL: no handler runs in it) or interrupted with Ctrl-C
    (SIGINT to its whole process group) leaves no run going, and each run saves its checkpoint
    first: a killed sweep's workers learn of their parent's death
    (figures.executors.stop_with_parent); an interrupted worker gives its run time to stop at
    its next step before it kills it (figures.executors._stoppable)."""
    import subprocess
    import sys

    specs = [tiny(f"long{i}", "optim.epochs=5000", seed=i) for i in range(2)]  # 10,000 steps
    fields = [(s.name, s.overrides, s.seed) for s in specs]
    script = (
        "import sys; from pathlib import Path; from figures.sweep import RunSpec, run_sweep; "
        f"specs = [RunSpec('test', n, {PRESET!r}, o, s, ()) for n, o, s in {fields!r}]; "
        "run_sweep(specs, Path(sys.argv[1]), jobs=2, echo=lambda _: None)"
    )
    sweep = subprocess.Popen([sys.executable, "-c", script, str(tmp_path)], start_new_session=True)
    dirs = [s.run_dir(tmp_path) for s in specs]
    try:
        deadline = time.monotonic() + 120
        while not all((d / "last.pt").exists() for d in dirs):  # both runs are training
            assert time.monotonic() < deadline and sweep.poll() is None, "the runs did not start"
            time.sleep(0.05)
        if how == "kill":
            sweep.kill()
        else:
            os.killpg(sweep.pid, signal.SIGINT)
        sweep.wait(timeout=90)
        deadline = time.monotonic() + 60
        summaries: list[dict[str, object]] = []
        while time.monotonic() < deadline:
            paths = [d / "summary.json" for d in dirs]
            if all(p.exists() for p in paths):
                summaries = [json.loads(p.read_text()) for p in paths]
                if all(s.get("status") != "running" for s in summaries):
                    break
            time.sleep(0.1)
        assert [s.get("status") for s in summaries] == ["interrupted", "interrupted"]
        assert all(int(s["global_step"]) < 10_000 for s in summaries)  # type: ignore[call-overload]
    finally:
        if sweep.poll() is None:
            os.killpg(sweep.pid, signal.SIGKILL)
