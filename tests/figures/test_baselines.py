"""figures.baselines: the untrained twin is the trained run's initialisation, populations lie at
other seeds, twins are shared
exactly where the initial encoder cannot differ, and the raw-pixel probe reads the evaluation's
subsets and is cached by key."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from figures import baselines
from figures.experiments import oracle, randbits
from figures.sweep import Evaluation, RunSpec

TINY = (
    "data.train_size=64",
    "optim.epochs=1",
    "optim.max_steps=1",
    "optim.batch_size=32",
    "run.knn_every=0",
    "run.threads=1",
)
PROBE = Evaluation("fig-probe", "probe", {"n_train": 64, "n_test": 48, "max_iter": 5})


def _params(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Learnable tensors only (BatchNorm running statistics move in a training step even at
    learning rate 0)."""
    skip = ("running_mean", "running_var", "num_batches_tracked")
    return {k: v for k, v in state.items() if not k.endswith(skip)}


def test_twins_are_shared_only_where_the_initial_encoder_is_the_same() -> None:
    # 2 suites x 6 p x 3 seeds: p changes only the views, the suite changes the data; the
    # background-free control (data.options.bg_scale=0) changes the data, so it has its own
    specs = oracle.oracle_specs(oracle.oracle_config())
    twins = baselines.untrained_twins(specs, (PROBE,))
    suites = ("shapes", "digits")
    assert [t.name for t in baselines.unique(twins)] == [
        *(f"untrained-{suite}-p0-s{seed}" for suite in suites for seed in (0, 1, 2)),
        *(f"untrained-{suite}-alone-s{seed}" for suite in suites for seed in (0, 1, 2)),
    ]
    assert twins["digits-p0.6-s1"].name == "untrained-digits-p0-s1"
    assert twins["digits-p0.6-s1"].seed == 1
    rb = randbits.randbits_specs(randbits.randbits_config())  # k changes the input channels
    assert len(baselines.unique(baselines.untrained_twins(rb, (PROBE,)))) == 5 * 3  # k x seeds
    with pytest.raises(ValueError, match="reserved"):
        baselines.untrained_twins([RunSpec("f", "untrained-x", "randbits-cpu")], ())


def test_a_population_is_the_seeds_after_the_trained_ones() -> None:
    specs = oracle.oracle_specs(oracle.oracle_config())  # seeds 0, 1, 2
    twins = baselines.untrained_twins(specs, (PROBE,))
    pops = baselines.population(specs, twins, inits=5)
    pop = pops["digits-p0.6-s1"]
    # disjoint from the trained seeds: no trained run's own initialisation is in its baseline
    assert [t.seed for t in pop] == [3, 4, 5, 6, 7]
    assert not {t.seed for t in pop} & {s.seed for s in specs}
    assert [t.name for t in pop[:2]] == [
        "untrained-init3-digits-p0-s0",
        "untrained-init4-digits-p0-s0",
    ]
    assert all(t.evaluations == twins["digits-p0-s0"].evaluations for t in pop)
    assert pops["digits-p1-s2"] == pop  # every p and seed of a suite: one population
    assert pops["digits-alone-s0"] != pop and pops["shapes-p0-s0"] != pop  # other data
    # an initialisation builds the same encoder as a trained run of that seed would
    assert baselines.init_key(pop[1]) == baselines.init_key(
        oracle._oracle_run(
            oracle.oracle_config(), "x", oracle.oracle_config()["suites"]["digits"], 0.0, 4
        )
    )
    # exactly inits, whatever the number of trained seeds; at least 2
    assert [t.seed for t in baselines.population(specs, twins, inits=2)["digits-p0-s0"]] == [3, 4]
    one_seed = [s for s in specs if s.seed == 1]
    one = baselines.population(one_seed, baselines.untrained_twins(one_seed, (PROBE,)), inits=3)
    assert [t.seed for t in one["digits-p0-s1"]] == [2, 3, 4]  # after the largest trained seed
    with pytest.raises(ValueError, match="at least 2"):
        baselines.population(specs, twins, inits=1)
    base = baselines.plan(specs, Path("/nowhere"), (PROBE,), inits=4)
    assert base.init_seeds("shapes-p0.2-s2") == [3, 4, 5, 6]
    # every distinct untrained run once, the populations' initialisations only (the twins,
    # the trained seeds' own initialisations, are not evaluated)
    todo = base.untrained_runs()
    assert len(todo) == len({t.name for t in todo})
    assert {t.name for t in todo} == {t.name for pop in base.populations.values() for t in pop}
    assert not {t.name for t in todo} & {t.name for t in baselines.unique(base.twins)}
    with pytest.raises(KeyError, match="no untrained population"):
        base.untrained_population("not-a-run", PROBE)


@pytest.mark.slow
def test_untrained_twin_holds_the_trained_runs_initial_weights(tmp_path: Path) -> None:
    """A run trained one step at learning rate 0 still holds its initial weights: the twin of
    the same seed equals them; the twin of another seed does not."""
    from empirical.checkpoint import load_checkpoint
    from empirical.train import train

    spec = RunSpec("fig", "k5", "randbits-cpu", (*TINY, "optim.lr=0"), 3)
    train(baselines.resolved_config(spec), tmp_path / "trained", quiet=True)
    trained = load_checkpoint(tmp_path / "trained" / "last.pt")["models"]
    (twin,) = baselines.unique(baselines.untrained_twins([spec], (PROBE,)))
    run_dir = baselines.write_untrained(twin, tmp_path)
    models = load_checkpoint(run_dir / "last.pt")["models"]
    assert set(models) == {"encoder", "head"}
    for module in ("encoder", "head"):
        a, b = _params(trained[module]), _params(models[module])
        assert a and a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["status"] == "completed" and summary["global_step"] == 0
    other = RunSpec("fig", "k5b", "randbits-cpu", (*TINY, "optim.lr=0"), 4)
    (twin4,) = baselines.unique(baselines.untrained_twins([other], (PROBE,)))
    enc4 = load_checkpoint(baselines.write_untrained(twin4, tmp_path) / "last.pt")["models"]
    conv = next(k for k, v in models["encoder"].items() if v.dim() == 4)
    assert not torch.equal(enc4["encoder"][conv], models["encoder"][conv])


@pytest.mark.slow
def test_pixel_probe_reads_the_evaluations_subsets_and_is_cached(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import empirical.evaluate as evaluate
    from empirical.runs import load_run

    spec = RunSpec("fig", "k5", "randbits-cpu", TINY, 0, (PROBE,))
    base, twins = baselines.prepare([spec], tmp_path, (PROBE,))
    run = load_run(twins[0].run_dir(tmp_path))
    opts = PROBE.build_options()
    train_set, test_set = run.dataset("train"), run.dataset("test")
    tr, te = baselines.pixel_subsets(
        run.config.data.train_size, opts, len(train_set), len(test_set)
    )
    ref_tr, ref_te = evaluate.train_test_indices(run, opts, train_set, test_set)
    assert tr.tolist() == ref_tr.tolist() and te.tolist() == ref_te.tolist()
    rec = base.pixel("k5")
    x = train_set.batch(tr[:1], np.random.default_rng(0)).x
    assert rec["features"] == (x.shape[1] + 5) * x.shape[2] * x.shape[3]  # + 5 bit planes
    assert set(rec["metrics"]) == {t.name for t in train_set.tasks}
    assert rec["metrics"]["digit"]["n"] == 48 and rec["metrics"]["digit"]["n_train"] == 64

    def fail(*a: object, **k: object) -> None:
        raise AssertionError("recomputed a cached raw-pixel probe")

    monkeypatch.setattr(evaluate, "probe_tasks", fail)
    assert base.pixel("k5") == rec
    path = base.pixels["k5"].path(tmp_path)
    path.write_text(json.dumps({**rec, "key": "stale"}))
    with pytest.raises(AssertionError, match="recomputed"):
        base.pixel("k5")


def test_pixel_probe_fits_with_a_runs_threads_whatever_the_process_has(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # the fit's float sums depend on the thread count (the DigitOnImage photo probe: 0.543 with
    # 2 threads, 0.578 with 1), so a figure drawn alone must fit as the pool's workers do
    import empirical.evaluate as evaluate

    seen: list[int] = []
    real = evaluate.probe_tasks

    def probe_tasks(*a: object, **k: object) -> object:
        seen.append(torch.get_num_threads())
        return real(*a, **k)  # type: ignore[arg-type]

    monkeypatch.setattr(evaluate, "probe_tasks", probe_tasks)
    monkeypatch.setenv("FEATUREDROP_RUN_THREADS", "1")
    spec = RunSpec("fig", "k5", "randbits-cpu", TINY, 0, (PROBE,))
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        baselines.pixel_record(baselines.pixel_probe_for(spec, PROBE), tmp_path)
        assert seen == [1] and torch.get_num_threads() == 2  # restored afterwards
    finally:
        torch.set_num_threads(before)


def test_a_missing_untrained_record_names_the_file(tmp_path: Path) -> None:
    spec = RunSpec("fig", "k0", "randbits-cpu", ("data.options.k=0", *TINY), 0, (PROBE,))
    base = baselines.plan([spec], tmp_path, (PROBE,))
    with pytest.raises(FileNotFoundError, match=r"untrained-init1-k0-.*fig-probe\.json"):
        base.untrained_population("k0", PROBE)
