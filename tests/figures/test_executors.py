"""figures.executors: local processes, and submitit jobs (its LocalExecutor standing in for Slurm)
that are preempted mid-run, requeued and resumed to the weights of an uninterrupted run."""

from __future__ import annotations

import json
import operator
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import submitit
import torch

from empirical.checkpoint import load_checkpoint
from figures import executors
from figures.executors import (
    THREADS_ENV,
    Outcome,
    ProcessExecutor,
    Resubmittable,
    SlurmOptions,
    SubmititExecutor,
    run_stoppable,
    run_threads,
    run_training,
    slurm_executor,
    stop_children,
)

ROOT = Path(__file__).resolve().parents[2]
TINY_SUITE_DIR = ROOT / "tests" / "empirical"


def _sorted(outcomes: object) -> list[Outcome]:
    return sorted(outcomes, key=lambda o: o.index)  # type: ignore[arg-type, attr-defined]


@pytest.mark.parametrize("jobs", [1, 2])
def test_process_executor_returns_values_and_errors(jobs: int) -> None:
    got = _sorted(ProcessExecutor(jobs).map(operator.truediv, [(1, 2), (1, 0), (3, 4)]))
    assert [(o.index, o.value) for o in got] == [(0, 0.5), (1, None), (2, 0.75)]
    assert got[1].error.startswith("ZeroDivisionError") and not got[0].error


def test_process_executor_rejects_zero_jobs() -> None:
    with pytest.raises(ValueError, match="jobs"):
        ProcessExecutor(0)


def test_slurm_options_map_to_submitit_parameters() -> None:
    opts = SlurmOptions(partition="gpu", time_min=90, gpus=2, cpus=8, max_parallel=4)
    assert opts.parameters("fig") == {
        "name": "fig",
        "timeout_min": 90,
        "gpus_per_node": 2,
        "cpus_per_task": 8,
        "tasks_per_node": 1,
        "nodes": 1,
        "slurm_partition": "gpu",
        "slurm_array_parallelism": 4,
    }
    assert "slurm_partition" not in SlurmOptions().parameters("x")  # the cluster's default


@pytest.mark.parametrize(
    ("field", "value"),
    [("time_min", 0), ("gpus", -1), ("cpus", 0), ("max_requeues", -1), ("partition", "a b")],
)
def test_slurm_options_reject_bad_values(field: str, value: object) -> None:
    with pytest.raises(ValueError, match=f"SlurmOptions.{field}"):
        SlurmOptions(**{field: value})  # type: ignore[arg-type]


def child_pids(pid: int) -> list[int]:
    """The live children of ``pid`` (from /proc)."""
    out = []
    for name in filter(str.isdigit, os.listdir("/proc")):
        try:
            stat = Path(f"/proc/{name}/stat").read_text()
        except OSError:
            continue
        state, ppid = stat[stat.rindex(")") + 2 :].split()[:2]
        if int(ppid) == pid and state != "Z":
            out.append(int(name))
    return out


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads /proc (Linux)")
def test_stop_children_stops_only_stoppable_children() -> None:
    sleep = [sys.executable, "-c", "import time; time.sleep(60)"]
    bystander = subprocess.Popen(sleep)  # e.g. multiprocessing's resource tracker
    before = set(child_pids(os.getpid()))
    codes: list[int] = []
    runner = threading.Thread(target=lambda: codes.append(run_stoppable(sleep)))
    runner.start()
    try:
        deadline = time.monotonic() + 30
        # run_stoppable registers the child only after Popen returns: wait for both
        while not set(child_pids(os.getpid())) - before or not executors._STOPPABLE:
            assert time.monotonic() < deadline, "the stoppable child did not start"
            time.sleep(0.01)
        (stopped,) = stop_children(timeout_s=30)
        assert stopped != bystander.pid
        assert stopped not in child_pids(os.getpid())  # it has exited when stop_children returns
        runner.join(timeout=30)
        assert codes == [-signal.SIGTERM]
        assert bystander.poll() is None  # left alone
        assert stop_children(timeout_s=30) == []  # nothing left to stop
    finally:
        bystander.kill()
        bystander.wait()
        runner.join(timeout=30)


def test_forked_and_subprocess_runs_train_the_same_weights(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """run_training forks from its fork server (torch imported once) or starts a subprocess:
    the run sees the same environment, working directory and sys.path either way (the tiny
    suite is found through PYTHONPATH), its output goes to the log, and its weights are equal
    bit for bit; a bad preset exits with the training command's config status, 2."""
    from empirical import presets

    path = os.pathsep.join([str(TINY_SUITE_DIR), os.environ.get("PYTHONPATH", "")])
    monkeypatch.setenv("PYTHONPATH", path)
    monkeypatch.chdir(tmp_path)  # relative --out: resolved against the caller's directory
    weights = {}
    for mode in ("1", "0"):
        monkeypatch.setenv(executors.FORKSERVER_ENV, mode)
        log = tmp_path / f"{mode}.log"
        args = ["--preset", presets.DEFAULT, "--out", f"run{mode}", "--quiet", *ARGS]
        assert run_training(args, log, dict(os.environ)) == 0, log.read_text()
        assert "epoch 3/3" in log.read_text()
        weights[mode] = load_checkpoint(tmp_path / f"run{mode}" / "last.pt")["models"]
        assert run_training(["--preset", "no-such-preset"], log, dict(os.environ)) == 2
        assert "no-such-preset" in log.read_text()
    for name, state in weights["0"].items():
        for key, tensor in state.items():
            assert torch.equal(weights["1"][name][key], tensor), f"{name}.{key} differs"


def test_forkserver_setting_is_checked(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(executors.FORKSERVER_ENV, "yes")
    with pytest.raises(ValueError, match=executors.FORKSERVER_ENV):
        executors.forkserver_enabled()
    monkeypatch.setenv(executors.FORKSERVER_ENV, "0")
    assert not executors.forkserver_enabled()


def test_run_threads_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(THREADS_ENV, raising=False)
    assert run_threads() == 1
    monkeypatch.setenv(THREADS_ENV, "6")
    assert run_threads() == 6
    monkeypatch.setenv(THREADS_ENV, "0")
    with pytest.raises(ValueError, match=THREADS_ENV):
        run_threads()


def test_a_slurm_jobs_run_trains_with_its_cpus(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """The job sets the threads (--cpus) and the sweep's training subprocess gets them."""
    from figures import sweep

    monkeypatch.setenv(THREADS_ENV, "1")  # restored after the job's setting below
    ex = slurm_executor(SlurmOptions(cpus=6), tmp_path / "jobs", cluster="debug")
    assert Resubmittable(run_threads, env=ex.env)() == 6
    seen: dict[str, str] = {}

    def fake_run(args: list[str], log: Path, env: dict[str, str]) -> int:
        seen.update(env)
        return 1

    monkeypatch.setattr(executors, "run_training", fake_run)
    spec = sweep.RunSpec("f", "n", "viewmaker-digits-cpu")
    with pytest.raises(RuntimeError, match="status 1"):
        sweep._train(spec, tmp_path / "run", tmp_path / "train.log")
    assert (seen["OMP_NUM_THREADS"], seen["MKL_NUM_THREADS"]) == ("6", "6")


def test_checkpoint_resubmits_the_same_call() -> None:
    fn = Resubmittable(operator.add, stop_timeout_s=0)
    delayed = fn.checkpoint(2, 3)
    assert delayed.function is fn and delayed.args == (2, 3)
    assert fn(2, 3) == 5


# ------------------------------------------------------------------------------------------
# submitit jobs (LocalExecutor: real processes, submitit's own signal handling and requeue)
# ------------------------------------------------------------------------------------------


def test_failed_job_names_the_job_and_its_log(tmp_path: Path) -> None:
    ex = SubmititExecutor(submitit.LocalExecutor(folder=tmp_path), poll_s=0.2)
    got = _sorted(ex.map(operator.truediv, [(1, 2), (1, 0)]))
    assert got[0] == Outcome(0, 0.5)
    assert got[1].value is None and "ZeroDivisionError" in got[1].error
    assert "log: " in got[1].error and str(tmp_path) in got[1].error


ARGS = (
    "data.suite=test_train:tiny_suite",
    "data.options.n=128",
    "data.knn_bank=32",
    "data.knn_test=32",
    "model.width=4",
    "model.head_hidden=16",
    "model.out_dim=8",
    "views.name=viewmaker",
    "views.vm_width=2",
    "views.vm_blocks=1",
    "optim.batch_size=16",  # 8 steps per epoch
    "optim.epochs=3",
    "optim.optimizer=sgd",
    "optim.lr=0.05",
    "loss.temperature=0.2",
    "run.device=cpu",
    "run.knn_k=5",
)
SIGNAL_AT = 12  # global step 12 = epoch 2, step 4


def _steps_logged(run: Path) -> int:
    try:
        text = (run / "metrics.jsonl").read_text()
    except FileNotFoundError:
        return 0
    return sum(1 for line in text.splitlines() if '"type": "step"' in line)


@pytest.mark.slow
def test_preempted_job_is_requeued_and_resumes_to_the_same_weights(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from empirical import presets
    from empirical.checkpoint import load_checkpoint
    from figures.sweep import RunSpec, execute

    # the jobs and their training subprocesses inherit the environment (the tiny suite's path)
    path = os.pathsep.join([str(TINY_SUITE_DIR), str(ROOT), os.environ.get("PYTHONPATH", "")])
    monkeypatch.setenv("PYTHONPATH", path)
    monkeypatch.chdir(ROOT)
    spec = RunSpec("t", "tiny", presets.DEFAULT, ARGS, seed=0)
    ref_root, run_root = tmp_path / "ref", tmp_path / "run"
    # the same code path as --executor slurm, with submitit running the jobs as local processes
    ex = slurm_executor(
        SlurmOptions(time_min=60, gpus=0, cpus=1), tmp_path / "jobs", cluster="local", poll_s=0.2
    )
    ref_job, job = ex.submit(execute, [(spec, ref_root), (spec, run_root)])

    run = spec.run_dir(run_root)
    deadline = time.monotonic() + 180
    while _steps_logged(run) < SIGNAL_AT:
        assert not job.done(), job.stderr()
        assert time.monotonic() < deadline, "the job made no progress"
        time.sleep(0.005)
    (task,) = child_pids(job._process.pid)  # the controller's one task: submitit's job process
    os.kill(task, signal.SIGUSR2)  # Slurm's (and submitit's) preemption / timeout warning

    outcomes = _sorted(ex.collect([ref_job, job]))
    assert [o.error for o in outcomes] == ["", ""]
    ref_result, result = (o.value for o in outcomes)
    assert (ref_result.action, result.action) == ("trained", "resumed")
    log = (run / "train.log").read_text()
    assert "interrupted by SIGTERM at epoch 2 step" in log  # saved mid-epoch, then requeued
    assert log.count("$ python -m empirical.train") == 2 and "--resume" in log
    assert "Calling checkpoint method" in (job.stderr() or "") + (job.stdout() or "")

    final = load_checkpoint(run / "last.pt")["models"]
    expected = load_checkpoint(spec.run_dir(ref_root) / "last.pt")["models"]
    assert final.keys() == expected.keys() and "viewmaker" in final
    for name in expected:
        for key, tensor in expected[name].items():
            assert torch.equal(final[name][key], tensor), f"{name}.{key} differs"
    steps = [
        r["global_step"]
        for r in map(json.loads, (run / "metrics.jsonl").read_text().splitlines())
        if r["type"] == "step"
    ]
    assert steps == list(range(1, 25))


# ------------------------------------------------------------------------------------------
# the sweep and the command line
# ------------------------------------------------------------------------------------------


class Recording:
    """An executor that runs nothing: it records the calls and answers ``outcome(i, args)``."""

    def __init__(self, outcome: object) -> None:
        self.outcome, self.calls = outcome, []  # type: ignore[var-annotated]

    def map(self, fn: object, calls: list[tuple[object, ...]]) -> object:
        self.calls.append((fn, list(calls)))
        return (self.outcome(i, args) for i, args in enumerate(calls))  # type: ignore[operator]


def _specs() -> list[object]:
    from empirical import presets
    from figures.sweep import RunSpec

    return [RunSpec("f", name, presets.DEFAULT, seed=1) for name in ("a", "b")]


def test_run_sweep_runs_on_the_active_executor(tmp_path: Path) -> None:
    from figures.executors import using
    from figures.sweep import RunResult, execute, run_sweep

    def done(i: int, args: tuple[object, ...]) -> Outcome:
        return Outcome(i, RunResult(f"dir{i}", "log", "trained", 1.0, 0.0))

    ex = Recording(done)
    with using(ex):  # type: ignore[arg-type]
        results = run_sweep(_specs(), tmp_path, echo=lambda line: None)  # type: ignore[arg-type]
    assert [r.run_dir for r in results] == ["dir0", "dir1"]
    ((fn, calls),) = ex.calls
    assert fn is execute and [c[1] for c in calls] == [tmp_path, tmp_path]


def test_run_sweep_reports_a_dead_job_with_its_run(tmp_path: Path) -> None:
    from figures.sweep import RunResult, SweepError, run_sweep

    def half(i: int, args: tuple[object, ...]) -> Outcome:
        if i == 1:
            return Outcome(i, None, "job 7 failed: node died; log: x.err")
        return Outcome(i, RunResult("dir0", "log", "trained", 1.0, 0.0))

    specs = _specs()
    with pytest.raises(SweepError) as info:
        run_sweep(specs, tmp_path, echo=lambda line: None, executor=Recording(half))  # type: ignore[arg-type]
    (failed,) = info.value.failures
    assert failed.run_dir == str(specs[1].run_dir(tmp_path))  # type: ignore[attr-defined]
    assert failed.error == "job 7 failed: node died; log: x.err"


def test_cli_hands_slurm_options_to_the_sweeps(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    import figures.__main__ as cli
    from figures import executors
    from figures.registry import FIGURES

    made: dict[str, object] = {}
    fake = object()

    def fake_slurm(options: SlurmOptions, folder: Path) -> object:
        made.update(options=options, folder=folder)
        return fake

    def fake_make_figure(name: str, force: bool = False) -> list[Path]:
        made["active"] = executors.active()
        return []

    monkeypatch.setattr(executors, "slurm_executor", fake_slurm)
    monkeypatch.setattr(cli, "make_figure", fake_make_figure)
    name = sorted(FIGURES)[0]
    argv = [name, "--executor", "slurm", "--partition", "gpu", "--time", "30", "--gpus", "2"]
    assert cli.main([*argv, "--cpus", "8", "--jobs-dir", str(tmp_path)]) == 0
    assert made["options"] == SlurmOptions(partition="gpu", time_min=30, gpus=2, cpus=8)
    assert made["folder"] == tmp_path and made["active"] is fake
    assert executors.active() is None  # only while the figures are made


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--partition", "gpu"], "--partition need(s) --executor slurm"),
        (["--executor", "slurm", "--time", "0"], "SlurmOptions.time_min"),
    ],
)
def test_cli_rejects_bad_cluster_options(
    capsys: pytest.CaptureFixture[str], extra: list[str], message: str
) -> None:
    import figures.__main__ as cli
    from figures.registry import FIGURES

    assert cli.main([sorted(FIGURES)[0], *extra]) == 2
    assert message in capsys.readouterr().err


@pytest.mark.skipif(shutil.which("srun") is not None, reason="a real Slurm would get the jobs")
def test_cli_without_slurm_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    import figures.__main__ as cli
    from figures.registry import FIGURES

    assert cli.main([sorted(FIGURES)[0], "--executor", "slurm"]) == 2
    assert "srun" in capsys.readouterr().err
