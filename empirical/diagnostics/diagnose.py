"""Diagnostics of a trained run, written next to its evaluation results (issue 5).

``python -m empirical.diagnostics RUN_DIR --what invariance|dropout-rate|local|gallery [options]``
loads the run (``empirical.runs.load_run``), runs one diagnostic and writes its record to
``RUN_DIR/eval/NAME.json`` through ``empirical.records.write_record`` (``NAME`` = ``--name``,
default ``diagnostics-WHAT``): the same writer, record format, frozen-encoder check and key as
``empirical.evaluate``, so that ``python -m empirical.report`` aggregates it over seeds like any
evaluation and ``figures.sweep`` recomputes it when its inputs change. ``local`` and ``gallery``
also write ``RUN_DIR/eval/NAME.png``.

- ``invariance``: conditional variance (fresh views, and alpha-only where the views have alpha),
  the R^2 of alpha from the representation (``invariance.py``) and, where the views have alpha,
  the split of Foster's gradient penalty among the parameters (``penalty``, ``penalty.py``);
- ``dropout-rate``: judges trained on the run's suite (overlay suites, audio; cached in
  ``RUN_DIR/eval/judges/``), the rate of identity (control), expert, untrained viewmakers at each
  ``--eps`` and the run's trained viewmaker (``dropout_rate.py``);
- ``local``: K-means maps of every encoder stage and of the pixels, ARI vs the known
  segmentation (``local_features.py``);
- ``gallery``: ``--gallery-rows`` inputs (default 8), each with ``--num-copies`` viewmaker views
  (the run's trained viewmaker, else an untrained one), their perturbations and expert views
  (``gallery.py``).

The options are declared once, in :class:`DiagnosticOptions` (``empirical.options``); the
command-line flags are generated from them.
"""

from __future__ import annotations

import argparse
import hashlib
import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch

from empirical.checkpoint import load_checkpoint, save_checkpoint
from empirical.cli import prog
from empirical.config import ConfigError
from empirical.data.base import MultiTaskDataset
from empirical.data.subsets import channel_counts, probe_batch
from empirical.diagnostics.dropout_rate import (
    Judge,
    JudgeConfig,
    JudgeNet,
    dropout_rate,
    train_judge,
    untrained_viewmaker,
)
from empirical.diagnostics.gallery import draw_gallery, make_gallery
from empirical.diagnostics.invariance import alpha_predictability, measure_conditional_variance
from empirical.diagnostics.local_features import (
    draw_local_features,
    local_feature_maps,
    local_feature_scores,
)
from empirical.diagnostics.penalty import measure_penalty_parts
from empirical.evaluate import DEVICES, view_names
from empirical.features import LAYERS
from empirical.options import Options, option
from empirical.records import (
    check_name,
    record_parser,
    record_path,
    run_record_command,
    write_record,
)
from empirical.runs import LoadedRun, load_run
from empirical.views.base import ViewGenerator

WHATS = ("invariance", "dropout-rate", "local", "gallery")
DEFAULT_EPS: tuple[float, ...] = (0.05, 0.1, 0.2)


@dataclass(frozen=True)
class DiagnosticOptions(Options):
    """Options of one diagnostic; each field is validated on construction (a ``ConfigError``, a
    ValueError naming the field and its allowed values). Command-line flag: ``--field-name``."""

    views: str = option(
        "run",
        "invariance: run (the run's own views, with its trained viewmaker) or a views.name",
        choices=view_names(),
    )
    layer: str = option(
        "pooled", "invariance: representation (pooled = Foster's h)", choices=LAYERS
    )
    num_inputs: int = option(
        256, "test inputs (invariance, dropout-rate) or images (local)", lo=1, hi=10**7
    )
    num_copies: int = option(
        8, "copies per input (invariance), views per input (dropout-rate, gallery)", lo=1, hi=10000
    )
    num_train: int = option(
        1024, "invariance: training examples of the alpha probe", lo=1, hi=10**7
    )
    eps: tuple[float, ...] = option(
        DEFAULT_EPS, "dropout-rate: L1 budgets of the untrained viewmakers", lo=1e-6, hi=10.0
    )
    judge_steps: int = option(400, "dropout-rate: Adam steps of each judge", lo=1, hi=10**7)
    judge_augment: str = option(
        "none", "dropout-rate: judges' training augmentation", choices=("none", "expert")
    )
    k: int = option(0, "local: clusters per image (0 = the number of truth classes)", lo=0, hi=1000)
    at: str = option("input", "local: score at this resolution", choices=("input", "features"))
    gallery_rows: int = option(8, "gallery: inputs, one row of the PNG each", lo=1, hi=1024)
    batch_size: int = option(128, "examples per forward pass", lo=1, hi=1 << 20)
    seed: int = option(
        0, "seed of the reads, views, directions, judges and clusterings", lo=0, hi=2**31 - 1
    )
    device: str = option("cpu", "device of the encoder", choices=DEVICES)

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.k == 1:
            raise ConfigError("k", "expected 0 (automatic) or an int in [2, 1000]; got 1")


# ---------------------------------------------------------------------------------------------
# the four diagnostics
# ---------------------------------------------------------------------------------------------


def _trained_viewmaker(run: LoadedRun, channels: int) -> ViewGenerator | None:
    """The run's own views when it trained a viewmaker, else ``None``."""
    if run.config.views.name != "viewmaker" or "viewmaker" not in run.models:
        return None
    return run.views("run", channels)


def diagnose_invariance(
    run: LoadedRun, opts: DiagnosticOptions, train: MultiTaskDataset, test: MultiTaskDataset
) -> dict[str, Any]:
    """Conditional variance (fresh views; alpha only where available), R^2 of alpha and the
    per-parameter split of the gradient penalty (where the views have alpha)."""
    views = run.views(opts.views, channel_counts(test).views)

    def cv(alpha_only: bool) -> dict[str, Any]:
        return measure_conditional_variance(
            run.encoder,
            run.head,
            test,
            views,
            opts.num_inputs,
            max(opts.num_copies, 2),
            layer=opts.layer,
            alpha_only=alpha_only,
            batch_size=opts.batch_size,
            seed=opts.seed,
        )

    out: dict[str, Any] = {"views": opts.views, "conditional_variance": cv(False)}
    if not has_alpha(views, test, run.device):
        out["alpha_r2"] = {"skipped": "views without differentiable parameters alpha"}
        return out
    out["conditional_variance_alpha_only"] = cv(True)
    out["alpha_r2"] = alpha_predictability(
        run.encoder,
        run.head,
        train,
        test,
        views,
        opts.num_train,
        opts.num_inputs,
        opts.layer,
        opts.batch_size,
        opts.seed,
        _alpha_names(opts.views, run),
    )
    out["penalty"] = measure_penalty_parts(
        run.encoder,
        test,
        views,
        _alpha_names(opts.views, run),
        opts.num_inputs,
        opts.batch_size,
        seed=opts.seed,
    )
    return out


def has_alpha(views: ViewGenerator, dataset: MultiTaskDataset, device: torch.device) -> bool:
    """Whether ``views`` report differentiable parameters alpha (and can re-render them)."""
    batch = probe_batch(dataset).to(device)
    with torch.no_grad():
        pair = views(batch, torch.Generator(device=device).manual_seed(0))
    return all(v is not None for v in (pair.alpha1, pair.render1, pair.sample_alpha))


def _alpha_names(views: str, run: LoadedRun) -> tuple[str, ...] | None:
    name = run.config.views.name if views == "run" else views
    if name == "foster":
        from empirical.views.foster import ALPHA_NAMES

        return ALPHA_NAMES
    if name == "spirograph":
        from empirical.data.spirograph import NUISANCE_NAMES

        return NUISANCE_NAMES
    return None


def judge_config(opts: DiagnosticOptions) -> JudgeConfig:
    """The judges' config of a dropout-rate diagnostic: its judges' steps, augmentation and
    seed."""
    return JudgeConfig(steps=opts.judge_steps, augment=opts.judge_augment, seed=opts.seed)


def judge_digest(suite: str, options: Mapping[str, Any], cfg: JudgeConfig) -> str:
    """What a judge depends on: the suite, its options and the judge's config (a judge trains
    on the suite's whole training split, whatever a run's ``data.train_size``)."""
    key = json.dumps({"suite": suite, "options": dict(options), **asdict(cfg)}, sort_keys=True)
    return hashlib.sha256(key.encode()).hexdigest()[:12]


def judge_path(run: LoadedRun, task: str, cfg: JudgeConfig) -> Path:
    """Cache file of a judge: keyed by the suite, its options and the judge's config
    (:func:`judge_digest`)."""
    digest = judge_digest(run.config.data.suite, run.config.data.options, cfg)
    return run.run_dir / "eval" / "judges" / f"{task}-{digest}.pt"


def cached_judge(
    run: LoadedRun, task: str, cfg: JudgeConfig, train: MultiTaskDataset, test: MultiTaskDataset
) -> Judge:
    """Load the judge of ``task`` from the run's cache, else train it and save it (atomically)."""
    path = judge_path(run, task, cfg)
    if path.exists():
        state = load_checkpoint(path)
        spec = next(t for t in train.tasks if t.name == task)
        net = JudgeNet(state["in_channels"], spec.num_classes, cfg.channels)
        net.load_state_dict(state["net"])
        return Judge(spec, net.eval(), state["in_channels"], state["clean_accuracy"], cfg)
    judge = train_judge(train, task, cfg, test)
    save_checkpoint(
        path,
        {
            "net": judge.net.state_dict(),
            "in_channels": judge.in_channels,
            "clean_accuracy": judge.clean_accuracy,
            "judge_config": asdict(cfg),
        },
    )
    return judge


def diagnose_dropout_rate(
    run: LoadedRun, opts: DiagnosticOptions, train: MultiTaskDataset, test: MultiTaskDataset
) -> dict[str, Any]:
    """Judges of every classification task, then the dropout rate of each view generator."""
    probe = probe_batch(test)
    tasks = [t.name for t in train.tasks if t.kind == "classification"]
    if not tasks:  # judges need labels; any suite with them (overlay suites, audio) will do
        raise ValueError(f"dropout-rate needs classification tasks; {test.name!r} has none")
    cfg = judge_config(opts)
    judges = {t: cached_judge(run, t, cfg, train, test) for t in tasks}
    channels = int(probe.x.shape[1])
    v = run.config.views
    named: dict[str, ViewGenerator] = {
        "identity": run.views("identity", channels),
        "expert": run.views("expert", channels),
    }
    for eps in opts.eps:
        vm = untrained_viewmaker(channels, eps, v.vm_width, v.vm_blocks, opts.seed)
        named[f"viewmaker-untrained-eps{eps:g}"] = vm.to(run.device)
    trained = _trained_viewmaker(run, channels)
    if trained is not None:
        named[f"viewmaker-trained-eps{v.eps:g}" + ("+expert" if v.base == "expert" else "")] = (
            trained
        )
    rates = {
        name: dropout_rate(
            judges,
            test,
            views,
            opts.num_inputs,
            opts.num_copies,
            opts.batch_size,
            opts.seed,
            run.device,
        )
        for name, views in named.items()
    }
    return {
        "judges": {
            t: {"clean_accuracy": j.clean_accuracy, "chance": j.task.chance}
            for t, j in judges.items()
        },
        "judge_config": asdict(cfg),
        "views": rates,
    }


def diagnose_local(
    run: LoadedRun, opts: DiagnosticOptions, test: MultiTaskDataset, png: Path
) -> dict[str, Any]:
    """Cluster maps of pixels and every stage, their ARI, and the PNG."""
    res = local_feature_maps(run.encoder, test, opts.num_inputs, opts.k or None, opts.seed)
    draw_local_features(png, res)
    scores = local_feature_scores(res, opts.at)
    return {"k": res["k"], "at": opts.at, "order": list(scores), "ari": scores, "png": str(png)}


def diagnose_gallery(
    run: LoadedRun, opts: DiagnosticOptions, test: MultiTaskDataset, png: Path
) -> dict[str, Any]:
    """The gallery PNG: the trained viewmaker's views if the run has one, else an untrained
    viewmaker's at the run's eps; expert views with the run's settings."""
    channels = channel_counts(test).views
    v = run.config.views
    learned = _trained_viewmaker(run, channels)
    source = "trained"
    if learned is None:
        vm = untrained_viewmaker(channels, v.eps, v.vm_width, v.vm_blocks, opts.seed)
        learned = vm.to(run.device)
        source = "untrained"
    expert = run.views("expert", channels)
    g = make_gallery(
        test, learned, expert, opts.gallery_rows, opts.num_copies, opts.seed, run.device
    )
    info = draw_gallery(png, g)
    return {"viewmaker": source, "eps": v.eps, **info}


# ---------------------------------------------------------------------------------------------
# records
# ---------------------------------------------------------------------------------------------


def diagnose(
    run_dir: str | Path,
    what: str,
    options: DiagnosticOptions | None = None,
    run: LoadedRun | None = None,
    train_set: MultiTaskDataset | None = None,
    test_set: MultiTaskDataset | None = None,
    name: str | None = None,
) -> tuple[Path, dict[str, Any]]:
    """Run diagnostic ``what`` on ``run_dir``; write ``run_dir/eval/NAME.json`` (and
    ``NAME.png`` for ``local`` and ``gallery``).

    Args:
        run_dir: the run; ignored when ``run`` is given (the record goes to ``run.run_dir``).
        run, train_set, test_set: an already loaded run / datasets (default: from run_dir).
        name: result name (default ``diagnostics-WHAT``), a plain file name.

    Returns:
        The JSON path and the record (``empirical.records.write_record``, ``kind`` = ``what``).
    """
    if what not in WHATS:
        raise ValueError(f"what must be one of {', '.join(WHATS)}; got {what!r}")
    opts = options or DiagnosticOptions()
    name = check_name(name or f"diagnostics-{what}")
    loaded = run or load_run(run_dir, opts.device)
    png = record_path(loaded.run_dir, name).with_suffix(".png")

    def train() -> MultiTaskDataset:  # built only by the diagnostics that need it
        return loaded.dataset("train") if train_set is None else train_set

    def compute() -> dict[str, Any]:
        test = loaded.dataset("test") if test_set is None else test_set
        if what == "invariance":
            return diagnose_invariance(loaded, opts, train(), test)
        if what == "dropout-rate":
            return diagnose_dropout_rate(loaded, opts, train(), test)
        if what == "local":
            return diagnose_local(loaded, opts, test, png)
        return diagnose_gallery(loaded, opts, test, png)

    return write_record(loaded, what, name, opts, compute)


def _parser() -> argparse.ArgumentParser:
    return record_parser(
        prog("python -m empirical.diagnostics"),
        "Diagnostics of a run's frozen encoder; writes RUN_DIR/eval/diagnostics-*.",
        "--what",
        {"choices": WHATS, "required": True},
        "result name (default diagnostics-WHAT)",
        DiagnosticOptions,
    )


def main(argv: list[str] | None = None) -> int:
    """Command line; exit status 0 done, 2 bad arguments or a run/suite that cannot be used."""
    return run_record_command(
        _parser(),
        DiagnosticOptions,
        argv,
        lambda args, opts: diagnose(args.run_dir, args.what, opts, name=args.name),
        lambda metrics: [json.dumps(metrics, indent=1, sort_keys=True, default=str)[:4000]],
    )
