"""Diagnostics of a trained run, written next to its evaluation results (issue 5).

``python -m empirical.diagnostics RUN_DIR --what invariance|dropout-rate|local|gallery [options]``
loads the run (``empirical.features.load_run``), runs one diagnostic inside the frozen-encoder
check of ``empirical.evaluate`` and writes ``RUN_DIR/eval/NAME.json`` atomically (``NAME`` =
``--name``, default ``diagnostics-WHAT``), in the record format of ``empirical.evaluate``
(``schema``, ``name``, ``kind``, ``config``, ``seed``, ``options``, ``code_version``,
``encoder_sha256``, ``metrics``, ...), so that ``python -m empirical.report`` aggregates it over
seeds like any evaluation. ``local`` and ``gallery`` also write ``RUN_DIR/eval/NAME.png``.

- ``invariance``: conditional variance (fresh views, and alpha-only where the views have alpha)
  and the R^2 of alpha from the representation (``invariance.py``);
- ``dropout-rate``: judges trained on the run's overlay suite (cached in
  ``RUN_DIR/eval/judges/``), the rate of identity (control), expert, untrained viewmakers at each
  ``--eps`` and the run's trained viewmaker (``dropout_rate.py``);
- ``local``: K-means maps of every encoder stage and of the pixels, ARI vs the known
  segmentation (``local_features.py``);
- ``gallery``: inputs, viewmaker views (the run's trained viewmaker, else an untrained one),
  perturbations, expert views (``gallery.py``).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import time
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from empirical.checkpoint import load_checkpoint, save_checkpoint
from empirical.data.base import MultiTaskDataset
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
from empirical.evaluate import code_version, frozen, view_channels, weights_hash
from empirical.features import LAYERS, LoadedRun, load_run
from empirical.io import atomic_write_json
from empirical.views.base import ViewGenerator

SCHEMA_VERSION = 1
WHATS = ("invariance", "dropout-rate", "local", "gallery")
DEFAULT_EPS: tuple[float, ...] = (0.05, 0.1, 0.2)


@dataclass(frozen=True)
class DiagnosticOptions:
    """Options of one diagnostic; validated on construction (ValueError naming the field).

    Attributes:
        views: invariance: ``run`` (the run's training views, with its trained viewmaker) or a
            ``views.name`` (``expert``, ``foster``, ``spirograph``, ``oracle``, ``identity``).
        layer: invariance: ``prepool``, ``pooled`` (default; Foster's h) or ``projection``.
        num_inputs: test inputs (invariance, dropout-rate), images (local) or gallery rows.
        num_copies: invariance: copies per input; dropout-rate: views per input; gallery: views.
        num_train: invariance: training examples for the alpha probe.
        eps: dropout-rate: L1 budgets of the untrained viewmakers.
        judge_steps: dropout-rate: Adam steps of each judge.
        judge_augment: dropout-rate: ``none`` or ``expert`` (see ``JudgeConfig``).
        k: local: clusters per image (0 = the number of truth classes).
        at: local: score at the ``input``'s resolution or the ``features``'.
        batch_size: examples per forward pass.
        seed: seed of the reads, views, directions, judges and clusterings.
        device: ``cpu``, ``cuda`` or ``auto``.
    """

    views: str = "run"
    layer: str = "pooled"
    num_inputs: int = 256
    num_copies: int = 8
    num_train: int = 1024
    eps: tuple[float, ...] = DEFAULT_EPS
    judge_steps: int = 400
    judge_augment: str = "none"
    k: int = 0
    at: str = "input"
    batch_size: int = 128
    seed: int = 0
    device: str = "cpu"

    def __post_init__(self) -> None:
        if self.layer not in LAYERS:
            raise ValueError(f"layer must be one of {', '.join(LAYERS)}; got {self.layer!r}")
        for name in ("num_inputs", "num_copies", "num_train", "judge_steps", "batch_size"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1; got {getattr(self, name)}")
        if not self.eps or any(not e > 0 for e in self.eps):
            raise ValueError(f"eps must be positive numbers; got {self.eps}")
        if self.judge_augment not in ("none", "expert"):
            raise ValueError(
                f"judge_augment must be 'none' or 'expert'; got {self.judge_augment!r}"
            )
        if self.k < 0 or self.k == 1:
            raise ValueError(f"k must be 0 (automatic) or >= 2; got {self.k}")
        if self.at not in ("input", "features"):
            raise ValueError(f"at must be 'input' or 'features'; got {self.at!r}")
        if self.seed < 0:
            raise ValueError(f"seed must be >= 0; got {self.seed}")
        if self.device not in ("cpu", "cuda", "auto"):
            raise ValueError(f"device must be cpu, cuda or auto; got {self.device!r}")


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
    """Conditional variance (fresh views; alpha only where available) and R^2 of alpha."""
    views = run.views(opts.views, view_channels(test))

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
    return out


def has_alpha(views: ViewGenerator, dataset: MultiTaskDataset, device: torch.device) -> bool:
    """Whether ``views`` report differentiable parameters alpha (and can re-render them)."""
    batch = dataset.batch(np.arange(min(2, len(dataset))), np.random.default_rng(0)).to(device)
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


def judge_path(run: LoadedRun, task: str, cfg: JudgeConfig) -> Path:
    """Cache file of a judge: keyed by the suite, its options and the judge's config."""
    key = json.dumps(
        {"suite": run.config.data.suite, "options": run.config.data.options, **asdict(cfg)},
        sort_keys=True,
    )
    digest = hashlib.sha256(key.encode()).hexdigest()[:12]
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
    probe = test.batch(np.arange(min(2, len(test))), np.random.default_rng(0))
    if probe.x_clean is None:
        raise ValueError(f"dropout-rate needs an overlay suite; {test.name!r} has no x_clean")
    cfg = JudgeConfig(steps=opts.judge_steps, augment=opts.judge_augment, seed=opts.seed)
    tasks = [t.name for t in train.tasks if t.kind == "classification"]
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
    channels = view_channels(test)
    v = run.config.views
    learned = _trained_viewmaker(run, channels)
    source = "trained"
    if learned is None:
        vm = untrained_viewmaker(channels, v.eps, v.vm_width, v.vm_blocks, opts.seed)
        learned = vm.to(run.device)
        source = "untrained"
    expert = run.views("expert", channels)
    g = make_gallery(test, learned, expert, opts.num_inputs, opts.num_copies, opts.seed, run.device)
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
        run, train_set, test_set: an already loaded run / datasets (default: from run_dir).
        name: result name (default ``diagnostics-WHAT``), a plain file name.

    Returns:
        The JSON path and the record (``empirical.evaluate``'s format, ``kind`` = ``what``).
    """
    if what not in WHATS:
        raise ValueError(f"what must be one of {', '.join(WHATS)}; got {what!r}")
    opts = options or DiagnosticOptions()
    name = name or f"diagnostics-{what}"
    if "/" in name or name.startswith("."):
        raise ValueError(f"name must be a plain file name; got {name!r}")
    run_dir = Path(run_dir)
    t0 = time.perf_counter()
    run = run or load_run(run_dir, opts.device)
    test = run.dataset("test") if test_set is None else test_set
    loaded = run

    def train() -> MultiTaskDataset:  # built only by the diagnostics that need it
        return loaded.dataset("train") if train_set is None else train_set

    png = run_dir / "eval" / f"{name}.png"
    modules: dict[str, nn.Module] = {"encoder": run.encoder, "head": run.head}
    with frozen(modules):
        if what == "invariance":
            metrics = diagnose_invariance(run, opts, train(), test)
        elif what == "dropout-rate":
            metrics = diagnose_dropout_rate(run, opts, train(), test)
        elif what == "local":
            metrics = diagnose_local(run, opts, test, png)
        else:
            metrics = diagnose_gallery(run, opts, test, png)
    record = {
        "schema": SCHEMA_VERSION,
        "name": name,
        "kind": what,
        "run_dir": str(run_dir),
        "config": run.config.to_dict(),
        "seed": run.config.run.seed,
        "options": asdict(opts),
        "code_version": code_version(),
        "encoder_sha256": weights_hash(modules),
        "created_utc": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "elapsed_s": time.perf_counter() - t0,
        "metrics": metrics,
    }
    path = atomic_write_json(run_dir / "eval" / f"{name}.json", record)
    return path, record


def _floats(text: str) -> tuple[float, ...]:
    return tuple(float(v) for v in text.split(",") if v)


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m empirical.diagnostics",
        description="Diagnostics of a run's frozen encoder; writes RUN_DIR/eval/diagnostics-*.",
    )
    d = DiagnosticOptions()
    p.add_argument("run_dir", metavar="RUN_DIR")
    p.add_argument("--what", choices=WHATS, required=True)
    p.add_argument("--name", help="result name (default diagnostics-WHAT)")
    p.add_argument("--views", default=d.views, help="invariance: run (default) or a views.name")
    p.add_argument("--layer", choices=LAYERS, default=d.layer, help="invariance layer")
    p.add_argument("--num-inputs", type=int, default=d.num_inputs)
    p.add_argument("--num-copies", type=int, default=d.num_copies, help="copies / views per input")
    p.add_argument("--num-train", type=int, default=d.num_train, help="invariance: alpha probe")
    p.add_argument("--eps", type=_floats, default=d.eps, help="dropout-rate: e.g. 0.05,0.1,0.2")
    p.add_argument("--judge-steps", type=int, default=d.judge_steps)
    p.add_argument("--judge-augment", choices=("none", "expert"), default=d.judge_augment)
    p.add_argument("--k", type=int, default=d.k, help="local: clusters (0 = truth classes)")
    p.add_argument("--at", choices=("input", "features"), default=d.at, help="local: ARI grid")
    p.add_argument("--batch-size", type=int, default=d.batch_size)
    p.add_argument("--seed", type=int, default=d.seed)
    p.add_argument("--device", choices=("cpu", "cuda", "auto"), default=d.device)
    p.add_argument("--threads", type=int, default=0, help="torch CPU threads (0 = default)")
    return p


def main(argv: list[str] | None = None) -> int:
    """Command line; exit status 0 done, 2 bad arguments or a run/suite that cannot be used."""
    args = _parser().parse_args(argv)
    try:
        opts = DiagnosticOptions(
            views=args.views,
            layer=args.layer,
            num_inputs=args.num_inputs,
            num_copies=args.num_copies,
            num_train=args.num_train,
            eps=args.eps,
            judge_steps=args.judge_steps,
            judge_augment=args.judge_augment,
            k=args.k,
            at=args.at,
            batch_size=args.batch_size,
            seed=args.seed,
            device=args.device,
        )
        if args.threads > 0:
            torch.set_num_threads(args.threads)
        path, record = diagnose(args.run_dir, args.what, opts, name=args.name)
    except (ValueError, FileNotFoundError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(f"wrote {path}")
    print(json.dumps(record["metrics"], indent=1, sort_keys=True, default=str)[:4000])
    return 0
