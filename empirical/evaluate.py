"""The one evaluation path (issue 5): linear probes of a frozen encoder on every task of its suite.

``python -m empirical.evaluate RUN_DIR [--kind probe|averaging|robustness] [options]`` writes one
JSON per evaluation to ``RUN_DIR/eval/NAME.json`` (atomically): the run's config and seed, the
evaluation options, the code version, a hash of the encoder's weights and the metrics.

- ``probe``: a linear probe per task (``empirical.probe``) on features of one layer
  (``empirical.features``); trained on clean inputs, or on views with ``--probe-on-views``;
  tested on clean inputs.
- ``averaging``: Foster et al.'s (ICLR 2021) feature averaging: train and test features are both
  averaged over M transformed copies (the run's views by default), swept over M.
- ``robustness``: the probe trained on clean training features, tested under shifted nuisance
  distributions: Spirograph's background colour and ``h`` ranges shifted upwards (Foster et al.),
  or colour jitter of increasing strength on images (expert colour ops only).

Every evaluation runs inside :func:`frozen`: all parameters and buffers of the encoder and head
are compared before and after, and any change raises :class:`EncoderModified` (MoCo's check).
Exit status of the command line: 0 done, 2 bad arguments.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from empirical.data.base import MultiTaskDataset
from empirical.features import LAYERS, Features, LoadedRun, extract_averaged_features, load_run
from empirical.io import atomic_write_json
from empirical.probe import LinearProbe, probe_task
from empirical.views.base import ViewGenerator

SCHEMA_VERSION = 1
KINDS = ("probe", "averaging", "robustness")
DEFAULT_COPIES: tuple[int, ...] = (1, 2, 5, 10)
DEFAULT_JITTER: tuple[float, ...] = (0.0, 0.2, 0.4, 0.8)
SPIROGRAPH_SHIFTS: tuple[tuple[str, float], ...] = (
    ("bg", 0.2),
    ("bg", 0.4),
    ("h", 0.5),
    ("h", 1.0),
)
ProbeCallback = Callable[[str, LinearProbe], None]
Metrics = dict[str, Any]


class EncoderModified(RuntimeError):
    """The frozen encoder (or head) changed during an evaluation."""


# ---------------------------------------------------------------------------------------------
# the frozen-encoder check
# ---------------------------------------------------------------------------------------------


def snapshot(modules: Mapping[str, nn.Module]) -> dict[str, torch.Tensor]:
    """Copies of every parameter and buffer (BatchNorm statistics included), ``module.name``."""
    return {
        f"{m}.{k}": v.detach().clone()
        for m, mod in modules.items()
        for k, v in mod.state_dict(keep_vars=True).items()
    }


def weights_hash(modules: Mapping[str, nn.Module]) -> str:
    """SHA-256 over names, dtypes, shapes and bytes of every parameter and buffer."""
    h = hashlib.sha256()
    for name, t in snapshot(modules).items():
        h.update(f"{name}|{t.dtype}|{tuple(t.shape)}|".encode())
        h.update(t.cpu().contiguous().reshape(-1).view(torch.uint8).numpy().tobytes())
    return h.hexdigest()


@contextmanager
def frozen(modules: Mapping[str, nn.Module]) -> Iterator[None]:
    """Raise :class:`EncoderModified` if any parameter or buffer of ``modules`` differs (bit for
    bit) after the block from before it."""
    before = snapshot(modules)
    yield
    after = snapshot(modules)
    changed = sorted(
        k for k in before.keys() | after.keys() if k not in before or k not in after
    ) + sorted(k for k in before.keys() & after.keys() if not torch.equal(before[k], after[k]))
    if changed:
        shown = ", ".join(changed[:5]) + (" ..." if len(changed) > 5 else "")
        raise EncoderModified(
            f"the frozen encoder changed during evaluation: {len(changed)} tensor(s): {shown}"
        )


# ---------------------------------------------------------------------------------------------
# options
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class EvalOptions:
    """Options of one evaluation; each field is validated on construction (ValueError naming it).

    Attributes:
        layer: ``prepool``, ``pooled`` or ``projection``.
        views: views used where the evaluation needs them: ``run`` (the run's own training views,
            with its trained viewmaker) or a ``views.name`` (``expert``, ``oracle``,
            ``identity``, ``spirograph``, ``foster``).
        num_copies: M copies averaged in ``probe`` when ``probe_on_views``.
        probe_on_views: ``probe``: train the probe on views (``num_copies`` averaged), not on
            clean inputs.
        copies: the sweep over M for ``averaging``.
        jitter: colour-jitter strengths for ``robustness`` on images (each in [0, 1)).
        n_train: training examples for the probe (a seeded random subset of the training split;
            0 = the run's ``data.train_size``, all if that is 0).
        n_test: test examples (a seeded random subset; 0 = all).
        batch_size: examples per forward pass.
        weight_decay: probe lambda; negative = select on a validation split.
        max_iter: L-BFGS iterations of the logistic probe.
        seed: seed of data reads (overlays), views and the validation split.
        device: ``cpu``, ``cuda`` or ``auto``.
    """

    layer: str = "prepool"
    views: str = "run"
    num_copies: int = 1
    probe_on_views: bool = False
    copies: tuple[int, ...] = DEFAULT_COPIES
    jitter: tuple[float, ...] = DEFAULT_JITTER
    n_train: int = 0
    n_test: int = 0
    batch_size: int = 256
    weight_decay: float = -1.0
    max_iter: int = 100
    seed: int = 0
    device: str = "cpu"

    def __post_init__(self) -> None:
        if self.layer not in LAYERS:
            raise ValueError(f"layer must be one of {', '.join(LAYERS)}; got {self.layer!r}")
        if self.num_copies < 1:
            raise ValueError(f"num_copies must be >= 1; got {self.num_copies}")
        if not self.copies or min(self.copies) < 1:
            raise ValueError(f"copies must be integers >= 1; got {self.copies}")
        if any(not 0.0 <= j < 1.0 for j in self.jitter) or not self.jitter:
            raise ValueError(f"jitter strengths must lie in [0, 1); got {self.jitter}")
        for name in ("n_train", "n_test", "seed"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0; got {getattr(self, name)}")
        if self.batch_size < 1:
            raise ValueError(f"batch_size must be >= 1; got {self.batch_size}")
        if self.max_iter < 1:
            raise ValueError(f"max_iter must be >= 1; got {self.max_iter}")
        if self.device not in ("cpu", "cuda", "auto"):
            raise ValueError(f"device must be cpu, cuda or auto; got {self.device!r}")


# ---------------------------------------------------------------------------------------------
# pieces
# ---------------------------------------------------------------------------------------------


def subset(n_wanted: int, n_have: int, rng: np.random.Generator) -> np.ndarray:
    """``n_wanted`` distinct indices of ``range(n_have)`` drawn at random, sorted (all for 0 or
    ``n_wanted >= n_have``). Random, not the first N: suites may be stored sorted by class."""
    if n_wanted == 0 or n_wanted >= n_have:
        return np.arange(n_have)
    return np.sort(rng.choice(n_have, n_wanted, replace=False))


def train_test_indices(
    run: LoadedRun, options: EvalOptions, train_set: MultiTaskDataset, test_set: MultiTaskDataset
) -> tuple[np.ndarray, np.ndarray]:
    """Seeded random subsets: ``n_train`` (default: the run's ``data.train_size``) training and
    ``n_test`` test examples."""
    n_train = options.n_train or run.config.data.train_size
    return (
        subset(n_train, len(train_set), np.random.default_rng([options.seed, 10])),
        subset(options.n_test, len(test_set), np.random.default_rng([options.seed, 11])),
    )


def view_channels(dataset: MultiTaskDataset) -> int:
    """Channels of the inputs the views see (post-view channels excluded)."""
    probe = dataset.batch(np.arange(min(2, len(dataset))), np.random.default_rng(0))
    return int(probe.x.shape[1])


def _features(
    run: LoadedRun,
    dataset: MultiTaskDataset,
    indices: np.ndarray,
    options: EvalOptions,
    views: ViewGenerator | None,
    copies: Sequence[int],
    stream: int,
) -> dict[int, Features]:
    """Features of ``dataset[indices]``; ``stream`` separates the seeds of train and test reads."""
    rng = np.random.default_rng([options.seed, stream])
    gen = torch.Generator().manual_seed(options.seed * 1000 + stream)
    return extract_averaged_features(
        run.encoder,
        run.head,
        dataset,
        options.layer,
        views,
        copies,
        options.batch_size,
        indices,
        rng,
        gen,
    )


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


def _modules(run: LoadedRun) -> dict[str, nn.Module]:
    return {"encoder": run.encoder, "head": run.head}


def _datasets(
    run: LoadedRun,
    train_set: MultiTaskDataset | None,
    test_set: MultiTaskDataset | None,
) -> tuple[MultiTaskDataset, MultiTaskDataset]:
    return (
        run.dataset("train") if train_set is None else train_set,
        run.dataset("test") if test_set is None else test_set,
    )


# ---------------------------------------------------------------------------------------------
# the three evaluations
# ---------------------------------------------------------------------------------------------


def evaluate_probes(
    run: LoadedRun,
    options: EvalOptions,
    train_set: MultiTaskDataset | None = None,
    test_set: MultiTaskDataset | None = None,
    callback: ProbeCallback | None = None,
) -> dict[str, Metrics]:
    """Per-task probe metrics (``empirical.probe.task_metrics`` plus ``train_accuracy`` /
    ``train_r2``, ``n_train``, ``weight_decay``); raises :class:`EncoderModified` if the encoder
    moved."""
    train_set, test_set = _datasets(run, train_set, test_set)
    tr_idx, te_idx = train_test_indices(run, options, train_set, test_set)
    with frozen(_modules(run)):
        views = None
        if options.probe_on_views:
            views = run.views(options.views, view_channels(train_set))
        m = options.num_copies if views is not None else 1
        train = _features(run, train_set, tr_idx, options, views, (m,), 0)[m]
        test = _features(run, test_set, te_idx, options, None, (1,), 1)[1]
        return probe_tasks(train, test, options, callback)


def feature_averaging_sweep(
    run: LoadedRun,
    options: EvalOptions,
    train_set: MultiTaskDataset | None = None,
    test_set: MultiTaskDataset | None = None,
    callback: ProbeCallback | None = None,
) -> dict[str, dict[str, Metrics]]:
    """Foster et al.'s feature averaging: for each M in ``options.copies``, probes trained and
    tested on features averaged over M views (``options.views``). Returns ``{"M=1": {task:
    metrics}, ...}``. One pass of ``max(copies)`` views serves every M."""
    train_set, test_set = _datasets(run, train_set, test_set)
    tr_idx, te_idx = train_test_indices(run, options, train_set, test_set)
    with frozen(_modules(run)):
        views = run.views(options.views, view_channels(train_set))
        train = _features(run, train_set, tr_idx, options, views, options.copies, 0)
        test = _features(run, test_set, te_idx, options, views, options.copies, 1)
        return {
            f"M={m}": probe_tasks(train[m], test[m], options, callback)
            for m in sorted(options.copies)
        }


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


def robustness(
    run: LoadedRun,
    options: EvalOptions,
    train_set: MultiTaskDataset | None = None,
    test_set: MultiTaskDataset | None = None,
    callback: ProbeCallback | None = None,
) -> dict[str, Metrics]:
    """Probes trained on clean training features, tested under shifted nuisances.

    Spirograph suite: the test set re-rendered with the background range (``bg+d``) or the ``h``
    range (``h+d``) shifted up (``SPIROGRAPH_SHIFTS``); other image suites: test inputs with colour
    jitter of each strength in ``options.jitter`` (``jitter=0`` is the clean test set). Returns
    ``{shift: {task: metrics}}`` including the unshifted ``reference``.
    """
    train_set, test_set = _datasets(run, train_set, test_set)
    tr_idx, te_idx = train_test_indices(run, options, train_set, test_set)
    spiro = run.config.data.suite == "spirograph"
    with frozen(_modules(run)):
        train = _features(run, train_set, tr_idx, options, None, (1,), 0)[1]
        probes: dict[str, LinearProbe] = {}

        def keep(name: str, probe: LinearProbe) -> None:
            probes[name] = probe
            if callback is not None:
                callback(name, probe)

        out: dict[str, Metrics] = {}
        test = _features(run, test_set, te_idx, options, None, (1,), 1)[1]
        out["reference"] = probe_tasks(train, test, options, keep)
        shifted: list[tuple[str, MultiTaskDataset, ViewGenerator | None]] = []
        if spiro:
            for which, delta in SPIROGRAPH_SHIFTS:
                opts = spirograph_shift(run.config.data.options, which, delta)
                shifted.append((f"{which}+{delta:g}", run.dataset("test", **opts), None))
        else:
            channels = view_channels(test_set)
            if channels not in (1, 3):
                raise ValueError(f"colour-jitter robustness needs images; got {channels} channels")
            for s in options.jitter:
                if s > 0:
                    shifted.append((f"jitter={s:g}", test_set, jitter_views(s)))
        for name, data, views in shifted:
            feats = _features(run, data, te_idx, options, views, (1,), 1)[1]
            out[name] = {
                t.name: {
                    **probes[t.name].score(feats.x, feats.labels[t.name]),
                    "weight_decay": probes[t.name].weight_decay,
                }
                for t in feats.tasks
            }
        return out


EVALUATIONS: dict[str, Callable[..., Any]] = {
    "probe": evaluate_probes,
    "averaging": feature_averaging_sweep,
    "robustness": robustness,
}


# ---------------------------------------------------------------------------------------------
# results
# ---------------------------------------------------------------------------------------------


def code_version() -> dict[str, str]:
    """``{"commit": ..., "describe": ...}`` from git (``-dirty`` when tracked files differ from
    HEAD) where this file sits in a work tree, else ``{"package": "featuredrop==VERSION"}``."""
    root = Path(__file__).resolve().parent.parent
    env = {**os.environ, "GIT_OPTIONAL_LOCKS": "0"}  # never take the index lock

    def git(*args: str) -> str:
        res = subprocess.run(
            ["git", *args], cwd=root, env=env, capture_output=True, text=True, timeout=10
        )
        if res.returncode != 0:
            raise OSError(res.stderr.strip())
        return res.stdout.strip()

    try:
        commit = git("rev-parse", "HEAD")
        dirty = bool(git("status", "--porcelain", "--untracked-files=no"))
        return {"commit": commit, "describe": commit[:12] + ("-dirty" if dirty else "")}
    except (OSError, subprocess.SubprocessError):
        from importlib.metadata import PackageNotFoundError, version

        try:
            return {"package": f"featuredrop=={version('featuredrop')}"}
        except PackageNotFoundError:
            return {"package": "unknown"}


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
        run, train_set, test_set: already loaded run / datasets (default: loaded from run_dir).

    Returns:
        The JSON path and the record: ``schema``, ``name``, ``kind``, ``run_dir``, ``config``,
        ``seed`` (the run's), ``options``, ``code_version``, ``encoder_sha256``, ``created_utc``,
        ``elapsed_s``, ``metrics``.
    """
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {', '.join(KINDS)}; got {kind!r}")
    options = options or EvalOptions()
    name = name or default_name(kind, options)
    if not name or "/" in name or name.startswith("."):
        raise ValueError(f"name must be a plain file name; got {name!r}")
    run_dir = Path(run_dir)
    t0 = time.perf_counter()
    run = run or load_run(run_dir, options.device)
    metrics = EVALUATIONS[kind](run, options, train_set, test_set, callback)
    record = {
        "schema": SCHEMA_VERSION,
        "name": name,
        "kind": kind,
        "run_dir": str(run_dir),
        "config": run.config.to_dict(),
        "seed": run.config.run.seed,
        "options": asdict(options),
        "code_version": code_version(),
        "encoder_sha256": weights_hash(_modules(run)),
        "created_utc": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "elapsed_s": time.perf_counter() - t0,
        "metrics": metrics,
    }
    path = atomic_write_json(run_dir / "eval" / f"{name}.json", record)
    return path, record


# ---------------------------------------------------------------------------------------------
# command line
# ---------------------------------------------------------------------------------------------


def _ints(text: str) -> tuple[int, ...]:
    return tuple(int(v) for v in text.split(",") if v)


def _floats(text: str) -> tuple[float, ...]:
    return tuple(float(v) for v in text.split(",") if v)


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m empirical.evaluate",
        description="Linear probes of a run's frozen encoder; writes RUN_DIR/eval/NAME.json.",
    )
    p.add_argument("run_dir", metavar="RUN_DIR")
    p.add_argument("--kind", choices=KINDS, default="probe", help="evaluation (default probe)")
    p.add_argument("--name", help="result name (default from kind and options)")
    p.add_argument("--layer", choices=LAYERS, default="prepool")
    p.add_argument("--views", default="run", help="run (default) or a views.name, e.g. expert")
    p.add_argument("--probe-on-views", action="store_true", help="probe: train on views")
    p.add_argument("--num-copies", type=int, default=1, help="probe-on-views: M copies averaged")
    p.add_argument("--copies", type=_ints, default=DEFAULT_COPIES, help="averaging: M values")
    p.add_argument("--jitter", type=_floats, default=DEFAULT_JITTER, help="robustness strengths")
    p.add_argument(
        "--n-train", type=int, default=0, help="random subset size (0 = data.train_size)"
    )
    p.add_argument("--n-test", type=int, default=0, help="random subset size (0 = all)")
    p.add_argument("--batch-size", type=int, default=256)
    p.add_argument("--weight-decay", type=float, default=-1.0, help="< 0: select on validation")
    p.add_argument("--max-iter", type=int, default=100)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", choices=("cpu", "cuda", "auto"), default="cpu")
    p.add_argument("--threads", type=int, default=0, help="torch CPU threads (0 = default)")
    return p


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        options = EvalOptions(
            layer=args.layer,
            views=args.views,
            num_copies=args.num_copies,
            probe_on_views=args.probe_on_views,
            copies=args.copies,
            jitter=args.jitter,
            n_train=args.n_train,
            n_test=args.n_test,
            batch_size=args.batch_size,
            weight_decay=args.weight_decay,
            max_iter=args.max_iter,
            seed=args.seed,
            device=args.device,
        )
        if args.threads > 0:
            torch.set_num_threads(args.threads)
        path, record = evaluate(args.run_dir, args.kind, options, args.name)
    except (ValueError, FileNotFoundError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(f"wrote {path}")
    for key, value in _summary_lines(record["metrics"]):
        print(f"  {key}: {value}")
    return 0


def _summary_lines(metrics: Mapping[str, Any], prefix: str = "") -> Iterator[tuple[str, str]]:
    for key, value in metrics.items():
        if isinstance(value, Mapping):
            yield from _summary_lines(value, f"{prefix}{key}.")
        elif key in ("accuracy", "r2", "mse", "chance"):
            yield f"{prefix}{key}", f"{value:.4f}"


if __name__ == "__main__":
    raise SystemExit(main())
