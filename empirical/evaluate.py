"""The one evaluation path (issue 5): linear probes of a frozen encoder on every task of its suite.

``python -m empirical.evaluate RUN_DIR [--kind probe|averaging|robustness] [options]`` writes one
record per evaluation to ``RUN_DIR/eval/NAME.json`` (atomically, through ``empirical.records``):
the run's config and seed, the evaluation options, the checkpoint's weights hash, the code
version, the key that identifies them all, and the metrics.

- ``probe``: a linear probe per task (``empirical.probe``) on features of one layer
  (``empirical.features``); trained on clean inputs, or on views with ``--probe-on-views``;
  tested on clean inputs.
- ``averaging``: Foster et al.'s (ICLR 2021) feature averaging: train and test features are both
  averaged over M transformed copies (the run's views by default), swept over M.
- ``robustness``: the probe trained on clean training features, tested under shifted nuisance
  distributions: Spirograph's background colour and ``h`` ranges shifted upwards (Foster et al.),
  or colour jitter of increasing strength on images (expert colour ops only).

Every evaluation runs inside ``empirical.records.frozen``: all parameters and buffers of the
encoder and head are compared before and after, and any change raises
:class:`~empirical.records.EncoderModified` (MoCo's check). The options are declared once, in
:class:`EvalOptions` (``empirical.options``); the command-line flags are generated from them.
Exit status of the command line: 0 done, 2 bad arguments or a run that cannot be read.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from empirical.cli import prog
from empirical.data.base import MultiTaskDataset, split_stream
from empirical.data.subsets import channel_counts, random_subset
from empirical.features import LAYERS, Features, extract_averaged_features
from empirical.options import Options, option
from empirical.probe import LinearProbe, probe_task
from empirical.records import (
    check_name,
    frozen,
    record_parser,
    run_record_command,
    write_record,
)
from empirical.runs import LoadedRun, load_run
from empirical.views.base import ViewGenerator

KINDS = ("probe", "averaging", "robustness")
DEFAULT_COPIES: tuple[int, ...] = (1, 2, 5, 10)
DEFAULT_JITTER: tuple[float, ...] = (0.0, 0.2, 0.4, 0.8)
SPIROGRAPH_SHIFTS: tuple[tuple[str, float], ...] = (
    ("bg", 0.2),
    ("bg", 0.4),
    ("h", 0.5),
    ("h", 1.0),
)
DEVICES = ("cpu", "cuda", "auto")
ProbeCallback = Callable[[str, LinearProbe], None]
Metrics = dict[str, Any]


def view_names() -> tuple[str, ...]:
    """Allowed ``views`` options: ``run`` or a ``views.name`` other than ``viewmaker``."""
    from empirical.config import VIEWS

    return ("run", *(v for v in VIEWS if v != "viewmaker"))


# ---------------------------------------------------------------------------------------------
# options
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class EvalOptions(Options):
    """Options of one evaluation; each field is validated on construction (a ``ConfigError``, a
    ValueError naming the field and its allowed values). Command-line flag: ``--field-name``."""

    layer: str = option("prepool", "features read by the probe", choices=LAYERS)
    views: str = option(
        "run",
        "views where the evaluation needs them: run (the run's own, with its trained viewmaker) "
        "or a views.name",
        choices=view_names(),
    )
    num_copies: int = option(1, "probe-on-views: M copies averaged", lo=1, hi=10000)
    probe_on_views: bool = option(
        False, "probe: train the probe on views (num_copies averaged), not on clean inputs"
    )
    copies: tuple[int, ...] = option(
        DEFAULT_COPIES, "averaging: the values of M swept", lo=1, hi=10000
    )
    jitter: tuple[float, ...] = option(
        DEFAULT_JITTER,
        "robustness: colour-jitter strengths on images",
        lo=0.0,
        hi=1.0,
        hi_open=True,
    )
    n_train: int = option(
        0, "training examples (a seeded random subset; 0 = data.train_size)", lo=0, hi=10**8
    )
    n_test: int = option(0, "test examples (a seeded random subset; 0 = all)", lo=0, hi=10**8)
    batch_size: int = option(256, "examples per forward pass", lo=1, hi=1 << 20)
    weight_decay: float = option(-1.0, "probe lambda (< 0: selected on a validation split)", hi=1e6)
    max_iter: int = option(100, "L-BFGS iterations of the logistic probe", lo=1, hi=10**6)
    seed: int = option(
        0, "seed of data reads (overlays), views and the validation split", lo=0, hi=2**31 - 1
    )
    device: str = option("cpu", "device of the encoder and probes", choices=DEVICES)


# ---------------------------------------------------------------------------------------------
# pieces
# ---------------------------------------------------------------------------------------------


def subset_indices(
    train_size: int, options: EvalOptions, n_train_total: int, n_test_total: int
) -> tuple[np.ndarray, np.ndarray]:
    """Seeded random subsets of a training split of ``n_train_total`` and a test split of
    ``n_test_total`` examples: ``options.n_train`` (default ``train_size``, a run's
    ``data.train_size``; 0 = all) and ``options.n_test`` (0 = all)."""
    n_train = options.n_train or train_size
    return (
        random_subset(n_train_total, n_train, np.random.default_rng([options.seed, 10])),
        random_subset(n_test_total, options.n_test, np.random.default_rng([options.seed, 11])),
    )


def train_test_indices(
    run: LoadedRun, options: EvalOptions, train_set: MultiTaskDataset, test_set: MultiTaskDataset
) -> tuple[np.ndarray, np.ndarray]:
    """:func:`subset_indices` of ``run``'s training and test sets."""
    return subset_indices(run.config.data.train_size, options, len(train_set), len(test_set))


@dataclass(frozen=True)
class EvalInputs:
    """What every evaluation reads: the run, its options, both splits (the run's own by default)
    and the probe subsets drawn from them (:func:`train_test_indices`)."""

    run: LoadedRun
    options: EvalOptions
    train_set: MultiTaskDataset
    test_set: MultiTaskDataset
    train_idx: np.ndarray
    test_idx: np.ndarray
    callback: ProbeCallback | None = None

    @classmethod
    def of(
        cls,
        run: LoadedRun,
        options: EvalOptions,
        train_set: MultiTaskDataset | None = None,
        test_set: MultiTaskDataset | None = None,
        callback: ProbeCallback | None = None,
    ) -> EvalInputs:
        train = run.dataset("train") if train_set is None else train_set
        test = run.dataset("test") if test_set is None else test_set
        tr_idx, te_idx = train_test_indices(run, options, train, test)
        return cls(run, options, train, test, tr_idx, te_idx, callback)

    def features(
        self,
        split: str,
        views: ViewGenerator | None = None,
        copies: Sequence[int] = (1,),
        dataset: MultiTaskDataset | None = None,
    ) -> dict[int, Features]:
        """Features of the probe subset of ``split`` (of ``dataset`` in its place, e.g. a shifted
        test set), averaged over each number of ``copies`` of ``views``; train and test reads
        draw from separate seeds."""
        stream = split_stream(split)
        if dataset is None:
            dataset = self.train_set if stream == 0 else self.test_set
        rng = np.random.default_rng([self.options.seed, stream])
        gen = torch.Generator().manual_seed(self.options.seed * 1000 + stream)
        return extract_averaged_features(
            self.run.encoder,
            self.run.head,
            dataset,
            self.options.layer,
            views,
            copies,
            self.options.batch_size,
            self.train_idx if stream == 0 else self.test_idx,
            rng,
            gen,
        )

    def probe(
        self, train: Features, test: Features, callback: ProbeCallback | None = None
    ) -> dict[str, Metrics]:
        """:func:`probe_tasks` with these options (and ``callback``, default this one's)."""
        return probe_tasks(train, test, self.options, callback or self.callback)


def probe_tasks(
    train: Features,
    test: Features,
    options: EvalOptions,
    callback: ProbeCallback | None = None,
) -> dict[str, Metrics]:
    """A linear probe per task of ``train.tasks``, fitted on ``train`` and scored on ``test``.

    ``callback(task_name, probe)`` is called after each fit (e.g. to keep the probes).
    """
    out: dict[str, Metrics] = {}
    dev = torch.device("cuda" if options.device == "cuda" else "cpu")
    if options.device == "auto" and torch.cuda.is_available():
        dev = torch.device("cuda")
    for task in train.tasks:
        probe, metrics = probe_task(
            task,
            train.x,
            train.labels[task.name],
            test.x,
            test.labels[task.name],
            weight_decay=None if options.weight_decay < 0 else options.weight_decay,
            rng=np.random.default_rng([options.seed, 2]),
            max_iter=options.max_iter,
            device=dev,
        )
        if callback is not None:
            callback(task.name, probe)
        out[task.name] = metrics
    return out


# ---------------------------------------------------------------------------------------------
# the three evaluations
# ---------------------------------------------------------------------------------------------


def evaluate_probes(e: EvalInputs) -> dict[str, Metrics]:
    """Per-task probe metrics (``empirical.probe.task_metrics`` plus ``train_accuracy`` /
    ``train_r2``, ``n_train``, ``weight_decay``); raises :class:`EncoderModified` if the encoder
    moved."""
    with frozen(e.run.modules()):
        views = None
        if e.options.probe_on_views:
            views = e.run.views(e.options.views, channel_counts(e.train_set).views)
        m = e.options.num_copies if views is not None else 1
        return e.probe(e.features("train", views, (m,))[m], e.features("test")[1])


def feature_averaging_sweep(e: EvalInputs) -> dict[str, dict[str, Metrics]]:
    """Foster et al.'s feature averaging: for each M in ``options.copies``, probes trained and
    tested on features averaged over M views (``options.views``). Returns ``{"M=1": {task:
    metrics}, ...}``. One pass of ``max(copies)`` views serves every M."""
    with frozen(e.run.modules()):
        views = e.run.views(e.options.views, channel_counts(e.train_set).views)
        train = e.features("train", views, e.options.copies)
        test = e.features("test", views, e.options.copies)
        return {f"M={m}": e.probe(train[m], test[m]) for m in sorted(e.options.copies)}


def jitter_views(strength: float) -> ViewGenerator:
    """Colour jitter only, at ``strength`` s: brightness, contrast, saturation factors in
    [1 - s, 1 + s] and hue in [-s/4, s/4] (the training harness's scaling), always applied; no
    crop, flip, grayscale or blur."""
    from empirical.views.expert import ImageExpertViews

    return ImageExpertViews(
        crop_scale=(1.0, 1.0),
        crop_ratio=(1.0, 1.0),
        jitter=(strength, strength, strength, min(strength / 4.0, 0.5)),
        p_jitter=1.0,
        p_gray=0.0,
        p_blur=0.0,
        p_flip=0.0,
    )


def spirograph_shift(options: Mapping[str, Any], which: str, delta: float) -> dict[str, Any]:
    """Suite options with the ``bg`` (background colour) or ``h`` range shifted up by ``delta``
    (the upper bound of a colour range is capped at 1)."""
    from empirical.data.spirograph import NuisanceRanges

    default = NuisanceRanges()
    key = f"{which}_range"
    lo, hi = options.get(key, getattr(default, which))
    hi_new = hi + delta if which == "h" else min(hi + delta, 1.0)
    return {key: [lo + delta, hi_new]}


def robustness(e: EvalInputs) -> dict[str, Metrics]:
    """Probes trained on clean training features, tested under shifted nuisances.

    Spirograph suite: the test set re-rendered with the background range (``bg+d``) or the ``h``
    range (``h+d``) shifted up (``SPIROGRAPH_SHIFTS``); other image suites: test inputs with colour
    jitter of each strength in ``options.jitter`` (``jitter=0`` is the clean test set). Returns
    ``{shift: {task: metrics}}`` including the unshifted ``reference``.
    """
    run, options, test_set = e.run, e.options, e.test_set
    spiro = run.config.data.suite == "spirograph"
    with frozen(run.modules()):
        probes: dict[str, LinearProbe] = {}

        def keep(name: str, probe: LinearProbe) -> None:
            probes[name] = probe
            if e.callback is not None:
                e.callback(name, probe)

        out: dict[str, Metrics] = {}
        out["reference"] = e.probe(e.features("train")[1], e.features("test")[1], keep)
        shifted: list[tuple[str, MultiTaskDataset, ViewGenerator | None]] = []
        if spiro:
            for which, delta in SPIROGRAPH_SHIFTS:
                opts = spirograph_shift(run.config.data.options, which, delta)
                shifted.append((f"{which}+{delta:g}", run.dataset("test", **opts), None))
        else:
            channels = channel_counts(test_set).views
            if channels not in (1, 3):
                raise ValueError(f"colour-jitter robustness needs images; got {channels} channels")
            for s in options.jitter:
                if s > 0:
                    shifted.append((f"jitter={s:g}", test_set, jitter_views(s)))
        for name, data, views in shifted:
            feats = e.features("test", views, dataset=data)[1]
            out[name] = {
                t.name: {
                    **probes[t.name].score(feats.x, feats.labels[t.name]),
                    "weight_decay": probes[t.name].weight_decay,
                }
                for t in feats.tasks
            }
        return out


EVALUATIONS: dict[str, Callable[[EvalInputs], Any]] = {
    "probe": evaluate_probes,
    "averaging": feature_averaging_sweep,
    "robustness": robustness,
}


# ---------------------------------------------------------------------------------------------
# results
# ---------------------------------------------------------------------------------------------


def default_name(kind: str, options: EvalOptions) -> str:
    """``probe-prepool``, ``probe-prepool-views-run-M5``, ``averaging-pooled-expert``, ..."""
    name = f"{kind}-{options.layer}"
    if kind == "probe" and options.probe_on_views:
        name += f"-views-{options.views}-M{options.num_copies}"
    if kind == "averaging":
        name += f"-{options.views}"
    return name


def evaluate(
    run_dir: str | Path,
    kind: str = "probe",
    options: EvalOptions | None = None,
    name: str | None = None,
    run: LoadedRun | None = None,
    train_set: MultiTaskDataset | None = None,
    test_set: MultiTaskDataset | None = None,
    callback: ProbeCallback | None = None,
) -> tuple[Path, dict[str, Any]]:
    """Run evaluation ``kind`` on ``run_dir`` and write ``run_dir/eval/NAME.json`` atomically.

    Args:
        run_dir: the run; ignored when ``run`` is given (the record goes to ``run.run_dir``).
        run, train_set, test_set: already loaded run / datasets (default: loaded from run_dir).

    Returns:
        The JSON path and the record (``empirical.records.write_record``).

    Raises:
        ValueError: a bad kind or name (before anything is loaded).
        FileNotFoundError, empirical.checkpoint.CheckpointError: no readable ``last.pt``.
    """
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {', '.join(KINDS)}; got {kind!r}")
    opts = options or EvalOptions()
    name = check_name(name or default_name(kind, opts))
    loaded = run or load_run(run_dir, opts.device)
    return write_record(
        loaded,
        kind,
        name,
        opts,
        lambda: EVALUATIONS[kind](EvalInputs.of(loaded, opts, train_set, test_set, callback)),
    )


# ---------------------------------------------------------------------------------------------
# command line
# ---------------------------------------------------------------------------------------------


def _parser() -> argparse.ArgumentParser:
    return record_parser(
        prog("python -m empirical.evaluate"),
        "Linear probes of a run's frozen encoder; writes RUN_DIR/eval/NAME.json.",
        "--kind",
        {"choices": KINDS, "default": "probe", "help": "evaluation (default probe)"},
        "result name (default from kind and options)",
        EvalOptions,
    )


def main(argv: list[str] | None = None) -> int:
    """Command line; exit status 0 done, 2 bad arguments or a run that cannot be read."""
    return run_record_command(
        _parser(),
        EvalOptions,
        argv,
        lambda args, opts: evaluate(args.run_dir, args.kind, opts, args.name),
        lambda metrics: (f"  {key}: {value}" for key, value in _summary_lines(metrics)),
    )


def _summary_lines(metrics: Mapping[str, Any], prefix: str = "") -> Iterator[tuple[str, str]]:
    for key, value in metrics.items():
        if isinstance(value, Mapping):
            yield from _summary_lines(value, f"{prefix}{key}.")
        elif key in ("accuracy", "r2", "mse", "chance"):
            yield f"{prefix}{key}", f"{value:.4f}"


if __name__ == "__main__":
    raise SystemExit(main())
