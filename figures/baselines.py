"""Baselines beside every trained run of a figure: the untrained encoder and raw pixels (issue 10).

* **Untrained encoder.** For each trained :class:`~figures.sweep.RunSpec` the same architecture
  at a seeded initialisation: ``empirical.parts.build_parts`` with the run's resolved config
  (``run.seed`` included), which draws exactly the weights a run of that seed starts from (its
  *twin*, at the run's own seed, is the template of the population below). Its modules are
  saved as ``last.pt`` in the checkpoint format ``empirical.features.load_run`` reads, with a
  ``summary.json`` saying ``completed`` after 0 steps, in
  ``ROOT/<figure>/untrained-init<SEED>-<name>-<hash>/``; :func:`figures.sweep.run_sweep` then
  finds it trained and only evaluates it, through the one evaluation path, with the trained runs'
  evaluations (same probe, layer and data subsets). BatchNorm running statistics stay at their
  initial values (mean 0, variance 1), as in any freshly built encoder in eval mode. Trained runs
  whose encoder cannot differ at initialisation (same ``data`` and ``model`` sections, seed and
  precision: e.g. every p of an oracle sweep) share one untrained twin.
* **The untrained population.** The gate compares the trained seeds with the untrained encoder
  as a population of :data:`UNTRAINED_INITS` seeded initialisations (:func:`population`) at
  seeds disjoint from the trained ones (the seeds after the largest trained seed), so the two
  means the Welch interval compares are independent samples, as it assumes. Untrained probes
  spread across initialisations (the oracle figure's digits background: sd 0.042 over 10
  inits) far more than trained ones, and a trained run's probe is not correlated with its own
  initialisation's (-0.16 over 78 runs), so the mean of 8 initialisations is the better
  baseline for 3 trained seeds (``figures.stats.welch_interval``). A run's own twin (its seed)
  is the template of its population's members and is not evaluated. An initialisation costs
  about 2 worker-seconds.
* **Raw pixels.** The same probe code (``empirical.evaluate.probe_tasks`` over
  ``empirical.probe``) on the flattened clean inputs the encoder would see (post-view channels
  such as RandBits' bits appended, as in training), with the same training and test subsets and
  data reads as the figure's probe evaluation. It does not depend on the run's seed; one record
  per suite and probe options is cached in ``ROOT/<figure>/pixels-<hash>/eval/NAME.json`` in the
  record format of ``empirical.evaluate``.
"""

from __future__ import annotations

import functools
import hashlib
import json
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from figures.sweep import Evaluation, RunSpec, load_eval

UNTRAINED_PREFIX = "untrained-"
UNTRAINED_INITS = 8  # seeded initialisations per untrained population (the gate's baseline)
PIXEL_PREFIX = "pixels-"


def resolved_config(spec: RunSpec) -> Any:
    """The run's resolved :class:`empirical.config.Config` (preset, overrides, seed)."""
    from empirical import presets
    from empirical.config import apply_overrides

    return apply_overrides(presets.get(spec.preset), [*spec.overrides, f"run.seed={spec.seed}"])


def _hash(obj: Any) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True).encode()).hexdigest()[:8]


def init_key(spec: RunSpec) -> str:
    """8 hex digits over what fixes the encoder at initialisation and the data it is probed on:
    the ``data`` and ``model`` sections, ``run.seed`` and ``run.precision``."""
    d = resolved_config(spec).to_dict()
    return _hash([d["data"], d["model"], d["run"]["seed"], d["run"]["precision"]])


def untrained_twins(
    specs: Sequence[RunSpec], evaluations: Sequence[Evaluation]
) -> dict[str, RunSpec]:
    """Trained run name -> its untrained twin (one twin per :func:`init_key`, named after the
    first trained run that needs it), evaluated with ``evaluations``."""
    by_key: dict[str, RunSpec] = {}
    out: dict[str, RunSpec] = {}
    for spec in specs:
        if spec.name.startswith(UNTRAINED_PREFIX):
            raise ValueError(f"run name {spec.name!r} is reserved for untrained twins")
        key = init_key(spec)
        if key not in by_key:
            by_key[key] = RunSpec(
                spec.figure,
                UNTRAINED_PREFIX + spec.name,
                spec.preset,
                spec.overrides,
                spec.seed,
                tuple(evaluations),
            )
        out[spec.name] = by_key[key]
    return out


def population_key(spec: RunSpec) -> str:
    """8 hex digits over what fixes the encoder's initialisation *up to its seed* and the data it
    is probed on (:func:`init_key` without ``run.seed``): the runs of one untrained population."""
    d = resolved_config(spec).to_dict()
    return _hash([d["data"], d["model"], d["run"]["precision"]])


def population(
    specs: Sequence[RunSpec],
    twins: Mapping[str, RunSpec],
    inits: int | None = None,
) -> dict[str, tuple[RunSpec, ...]]:
    """Trained run name -> the untrained population of its encoder: ``inits`` (default
    :data:`UNTRAINED_INITS`) initialisations at the seeds after the largest trained seed of the
    runs with the same :func:`population_key`, so that no trained run's own initialisation is
    among them (trained seeds 0-2: seeds 3-10). Each is the twin (``twins``, from
    :func:`untrained_twins`) of the group's first run at another seed, named
    ``untrained-init<SEED>-<first run>``.

    Raises:
        ValueError: ``inits`` below 2 (a population needs a spread).
    """
    inits = UNTRAINED_INITS if inits is None else inits
    if inits < 2:
        raise ValueError(f"inits must be at least 2; got {inits}")
    groups: dict[str, list[RunSpec]] = {}
    for spec in specs:
        groups.setdefault(population_key(spec), []).append(spec)
    out: dict[str, tuple[RunSpec, ...]] = {}
    for members in groups.values():
        first = members[0]
        evaluations = twins[first.name].evaluations
        after = max(spec.seed for spec in members)
        pop = tuple(
            RunSpec(
                first.figure,
                f"{UNTRAINED_PREFIX}init{seed}-{first.name}",
                first.preset,
                first.overrides,
                seed,
                tuple(evaluations),
            )
            for seed in range(after + 1, after + 1 + inits)
        )
        for spec in members:
            out[spec.name] = pop
    return out


def unique(twins: Mapping[str, RunSpec]) -> list[RunSpec]:
    """The distinct twins, in first-use order."""
    seen: dict[str, RunSpec] = {}
    for t in twins.values():
        seen.setdefault(t.name, t)
    return list(seen.values())


def _completed(run_dir: Path) -> bool:
    try:
        summary = json.loads((run_dir / "summary.json").read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return False
    return bool(summary.get("status") == "completed" and summary.get("untrained"))


@functools.lru_cache(maxsize=64)
def _channels(data: str) -> Any:
    """``channel_counts`` of the training split of the ``data`` section (JSON): what an
    encoder's input layer needs, built once per suite for all its untrained runs (a figure
    writes up to 64 of one suite)."""
    from empirical.config import from_dict
    from empirical.data.subsets import channel_counts
    from empirical.parts import build_dataset

    return channel_counts(build_dataset(from_dict({"data": json.loads(data)}), "train"))


def write_untrained(spec: RunSpec, root: Path) -> Path:
    """Write the untrained run of ``spec`` (``last.pt``, ``config.json``, ``summary.json``)
    unless it is there already; returns its directory."""
    import torch

    from empirical.checkpoint import save_checkpoint
    from empirical.distributed import DistInfo
    from empirical.io import atomic_write_json
    from empirical.parts import build_parts

    run_dir = spec.run_dir(root)
    if _completed(run_dir):
        return run_dir
    cfg = resolved_config(spec)
    channels = _channels(json.dumps(cfg.to_dict()["data"], sort_keys=True))
    # the trained run's parts before its first step (build_parts seeds itself from run.seed)
    parts = build_parts(cfg, channels.total, channels.views, 1, 1, torch.device("cpu"), DistInfo())
    models = {k: m.state_dict() for k, m in parts.modules().items()}
    run_dir.mkdir(parents=True, exist_ok=True)
    save_checkpoint(
        run_dir / "last.pt", {"config": cfg.to_dict(), "models": models, "untrained": True}
    )
    atomic_write_json(run_dir / "config.json", cfg.to_dict())
    atomic_write_json(
        run_dir / "summary.json",
        {
            "status": "completed",
            "untrained": True,
            "message": "seeded initialisation, 0 training steps (figures.baselines)",
            "epochs_done": 0,
            "global_step": 0,
            "steps_total": 0,
            "train_time_s": 0.0,
        },
    )
    return run_dir


# ---------------------------------------------------------------------------------------------
# raw pixels


@dataclass(frozen=True)
class PixelProbe:
    """The raw-pixel probe of a suite (``data``: a resolved ``data`` config section) with the
    options of one probe evaluation."""

    figure: str
    data: Mapping[str, Any]
    evaluation: Evaluation

    def __post_init__(self) -> None:
        if self.evaluation.kind != "probe":
            raise ValueError(
                f"raw-pixel baselines need a probe evaluation; got kind {self.evaluation.kind!r}"
            )

    def options(self) -> Any:
        """The evaluation's validated ``EvalOptions``."""
        opts = self.evaluation.build_options()
        if getattr(opts, "probe_on_views", False):
            raise ValueError("raw-pixel baselines are probed on clean inputs (probe_on_views)")
        return opts

    def record(self) -> Path:
        """The record's path under its figure's folder: the same for every figure that asks for
        the same data and options."""
        folder = f"{PIXEL_PREFIX}{_hash([dict(self.data), self.options().to_dict()])}"
        return Path(folder) / "eval" / f"{self.evaluation.name}.json"

    def path(self, root: Path) -> Path:
        return root / self.figure / self.record()

    def key(self) -> str:
        """What the record depends on: data, options and the evaluation code
        (``empirical.records.code_sha256``)."""
        from empirical.records import code_sha256

        return hashlib.sha256(
            json.dumps(
                [dict(self.data), self.options().to_dict(), code_sha256()], sort_keys=True
            ).encode()
        ).hexdigest()


def pixel_probe_for(spec: RunSpec, evaluation: Evaluation) -> PixelProbe:
    return PixelProbe(spec.figure, resolved_config(spec).to_dict()["data"], evaluation)


def pixel_subsets(
    train_size: int, options: Any, n_train_set: int, n_test_set: int
) -> tuple[Any, Any]:
    """The training and test indices of ``empirical.evaluate.train_test_indices`` for a run
    with ``data.train_size = train_size``."""
    import numpy as np

    from empirical.data.subsets import random_subset

    n_train = options.n_train or train_size
    return (
        random_subset(n_train_set, n_train, np.random.default_rng([options.seed, 10])),
        random_subset(n_test_set, options.n_test, np.random.default_rng([options.seed, 11])),
    )


def pixel_features(dataset: Any, indices: Any, options: Any, stream: int) -> Any:
    """``Features`` of the flattened clean inputs (post-view channels appended, as the encoder
    sees them), read like ``empirical.evaluate``'s features (seed ``[options.seed, stream]``)."""
    import numpy as np
    import torch

    from empirical.data.base import append_post_view_channels
    from empirical.features import Features, read_batches

    rng = np.random.default_rng([options.seed, stream])
    xs: list[torch.Tensor] = []
    labels: dict[str, list[torch.Tensor]] = {}
    index: list[torch.Tensor] = []
    for batch in read_batches(dataset, indices, options.batch_size, rng):
        xs.append(append_post_view_channels(batch.x, batch).flatten(1).float())  # (B, C*H*W)
        for name, y in batch.labels.items():
            labels.setdefault(name, []).append(y)
        index.append(batch.index)
    return Features(
        torch.cat(xs),
        {k: torch.cat(v) for k, v in labels.items()},
        torch.cat(index),
        tuple(dataset.tasks),
        "pixels",
        1,
    )


@contextmanager
def evaluation_threads() -> Iterator[None]:
    """torch's CPU threads set to a run's (``figures.executors.run_threads``: 1 on a local
    machine) while the block runs, as in the sweep's workers, where every run is evaluated.

    The probe's L-BFGS is not converged at its iteration limit on the ill-conditioned pixel
    features, so the summation order of another thread count moves it: the DigitOnImage
    photo task's raw-pixel probe gave 0.54 with the 2 threads of the figure's process and
    0.58 with one (N = 10)."""
    import torch

    from figures.executors import run_threads

    before = torch.get_num_threads()
    torch.set_num_threads(run_threads())
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _twin_record(pixel: PixelProbe, root: Path, key: str) -> dict[str, Any] | None:
    """A current record of the same probe that another figure under ``root`` filed (the same
    data and options give the same record, whichever figure asked), else None."""
    for other in sorted(root.glob(f"*/{pixel.record().as_posix()}")):
        try:
            cached = dict(json.loads(other.read_text()))
        except (OSError, ValueError):  # a record being written, or not one: compute
            continue
        if cached.get("key") == key:
            return cached
    return None


def pixel_record(pixel: PixelProbe, root: Path) -> dict[str, Any]:
    """The raw-pixel probe record, computed and written atomically unless a record with the
    same key is there, or under another figure of ``root`` (then copied: exp_losses and
    exp_viewmaker_budget probe the same suite's pixels, as do exp_oracle_dropout and
    exp_views_multitask)."""
    path = pixel.path(root)
    key = pixel.key()
    if path.exists():
        cached = dict(json.loads(path.read_text()))
        if cached.get("key") == key:
            return cached
    from empirical.io import atomic_write_json

    twin = _twin_record(pixel, root, key)
    if twin is not None:
        atomic_write_json(path, twin)
        return dict(json.loads(path.read_text()))
    from empirical.config import from_dict
    from empirical.evaluate import probe_tasks
    from empirical.parts import build_dataset
    from empirical.records import code_version

    t0 = time.perf_counter()
    opts = pixel.options()
    cfg = from_dict({"data": dict(pixel.data)})
    train_set, test_set = build_dataset(cfg, "train"), build_dataset(cfg, "test")
    tr, te = pixel_subsets(cfg.data.train_size, opts, len(train_set), len(test_set))
    train = pixel_features(train_set, tr, opts, 0)
    test = pixel_features(test_set, te, opts, 1)
    with evaluation_threads():  # the fit's float sums depend on the thread count
        metrics = probe_tasks(train, test, opts)
    record = {
        "schema": 1,
        "name": pixel.evaluation.name,
        "kind": "probe",
        "baseline": "raw pixels",
        "config": {"data": dict(pixel.data)},
        "seed": None,
        "options": opts.to_dict(),
        "features": int(train.x.shape[1]),
        "key": key,
        "code_version": code_version(),
        "created_utc": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "elapsed_s": time.perf_counter() - t0,
        "metrics": metrics,
    }
    atomic_write_json(path, record)
    return dict(json.loads(path.read_text()))  # as a later call reads it (lists, not tuples)


# ---------------------------------------------------------------------------------------------
# a figure's baselines


@dataclass(frozen=True)
class Baselines:
    """The baselines of a figure's trained runs (see :func:`prepare`)."""

    root: Path
    twins: Mapping[str, RunSpec]
    pixels: Mapping[str, PixelProbe]
    populations: Mapping[str, tuple[RunSpec, ...]] = field(default_factory=dict)

    def untrained_population(self, name: str, evaluation: Evaluation) -> list[dict[str, Any]]:
        """The records of ``evaluation`` of every initialisation in the untrained population of
        trained run ``name`` (:func:`population`), in seed order.

        Raises:
            KeyError: no population was prepared for ``name`` (names it).
        """
        if name not in self.populations:
            raise KeyError(f"no untrained population prepared for run {name!r}")
        return [load_eval(t.run_dir(self.root), evaluation) for t in self.populations[name]]

    def untrained_runs(self) -> list[RunSpec]:
        """Every distinct untrained run to write and evaluate: the populations'
        initialisations, in first-use order (the twins are their templates only)."""
        todo: dict[str, RunSpec] = {}
        for pop in self.populations.values():
            for t in pop:
                todo.setdefault(t.name, t)
        return list(todo.values())

    def init_seeds(self, name: str) -> list[int]:
        """The seeds of the untrained population of trained run ``name``."""
        return [t.seed for t in self.populations[name]]

    def pixel(self, name: str) -> dict[str, Any]:
        """The raw-pixel probe record for trained run ``name``."""
        return pixel_record(self.pixels[name], self.root)


@dataclass(frozen=True)
class Request:
    """The baselines a figure's ``compute`` prepares, listed without running anything
    (``FigureSpec.baselines``; ``python -m figures all`` evaluates them in its shared pool,
    ``figures.prefetch``): the trained runs, what their untrained runs are evaluated with, and
    the evaluation whose options the raw-pixel probe uses (None: the first ``probe`` among
    ``evaluations``)."""

    specs: tuple[RunSpec, ...]
    evaluations: tuple[Evaluation, ...]
    pixel_evaluation: Evaluation | None = None

    def prepare(self, root: Path) -> tuple[Baselines, list[RunSpec]]:
        """:func:`prepare` of this request under ``root``."""
        return prepare(self.specs, root, self.evaluations, self.pixel_evaluation)


def distinct_pixel_probes(base: Baselines, root: Path) -> list[PixelProbe]:
    """The distinct raw-pixel probes of ``base`` (one per record path), in first-use order."""
    out: dict[Path, PixelProbe] = {}
    for px in base.pixels.values():
        out.setdefault(px.path(root), px)
    return list(out.values())


def plan(
    specs: Sequence[RunSpec],
    root: Path,
    evaluations: Sequence[Evaluation],
    inits: int | None = None,
) -> Baselines:
    """The twins and untrained populations of ``specs`` (no raw-pixel probes), without writing
    anything: what :func:`prepare` writes, and what tests build by hand."""
    twins = untrained_twins(specs, evaluations)
    return Baselines(root, twins, {}, population(specs, twins, inits))


def prepare(
    specs: Sequence[RunSpec],
    root: Path,
    evaluations: Sequence[Evaluation],
    pixel_evaluation: Evaluation | None = None,
    inits: int | None = None,
) -> tuple[Baselines, list[RunSpec]]:
    """Write the untrained populations of ``specs`` (cheap: no training) and return the
    baselines and the untrained specs to add to the figure's sweep (which only evaluates them).

    Args:
        evaluations: what each initialisation is evaluated with (a subset of the trained runs'
            ones).
        pixel_evaluation: the probe evaluation whose options the raw-pixel probe uses (default:
            the first ``probe`` among ``evaluations``; none: no pixel baseline).
        inits: the size of each untrained population (:func:`population`; default
            :data:`UNTRAINED_INITS`).
    """
    planned = plan(specs, root, evaluations, inits)
    twins, pops = planned.twins, planned.populations
    todo = planned.untrained_runs()
    for t in todo:
        write_untrained(t, root)
    if pixel_evaluation is None:
        pixel_evaluation = next((e for e in evaluations if e.kind == "probe"), None)
    pixels = (
        {s.name: pixel_probe_for(s, pixel_evaluation) for s in specs}
        if pixel_evaluation is not None
        else {}
    )
    return Baselines(root, twins, pixels, pops), todo
