"""``exp_suppression`` (Chen et al. 2021, feature suppression on images): two suites whose one
knob makes one feature easier to use for telling examples apart.

* **DigitOnImage** (``digit-on-fashion``, preset ``digit-on-fashion-cpu``): a Fashion-MNIST
  item with a white MNIST digit drawn in a 3x3 grid, the digit taken from a pool of
  ``data.options.pool_size`` = N unique digit images; probe accuracy of the digit and of the
  image (the item's class) against N. Chen et al. draw the digits on ImageNet images; the
  project's offline stand-in for them, 10 photo crops (``digit-on-natural``, preset
  ``digit-on-natural-cpu``, kept), gave an image task that never beat the untrained encoder
  (train and test crops come from disjoint regions of the same 10 photos): 60-step runs, one
  seed each, image accuracy trained against the mean of 3 untrained initialisations, N = 10:
  0.608 and 0.593 against 0.571, N = 1000: 0.623 and 0.618 against 0.611; on Fashion-MNIST
  items at the same scale, N = 10: 0.708 and 0.688 against 0.545, N = 1000: 0.697 and 0.709
  against 0.586 (docs/cpu_scale_search.md, "DigitOnImage on Fashion-MNIST items").
* **MultiDigits** (``multidigits``, preset ``multidigits-cpu``): two MNIST digits on black, the
  small one of fixed size ``data.options.size_a`` and the large one of size
  ``data.options.size_b``; probe accuracy of both digits against the size of the large one.

Each condition beside its untrained population (the same encoder at 8 seeded
initialisations) and raw pixels, with the gains over the untrained encoder (95% Welch intervals)
and a gate per
suite: a suite none of whose tasks beats the untrained encoder is not a result, and its panel
says so instead of comparing the conditions.

Claims (Chen et al.): more unique digits suppress the image (the image's gain over the untrained
encoder at the largest N minus at the smallest, predicted < 0) and a larger large digit
suppresses the small one (the small digit's gain at the largest size minus at the smallest,
predicted < 0); each the Welch interval of the per-seed change of the trained accuracy against
the per-initialisation change of the untrained one (``figures.stats.gain_difference``). Gains,
not accuracies, because the data change with the knob. A claim is not a result unless its task
beats the untrained encoder at one value at least.

Budget (issue 12: every figure within the 60-minute ``make figures`` on 2 cores; this one about 6
minutes). Measured single-threaded on the 2-core machine while it ran other work (load 5-16, so CPU
seconds, not wall seconds): a training run costs about 6.4 CPU s before its first step, about 0.5 s
a step at batch 256 and 0.29 s at batch 128, a pooled probe evaluation 1.2-4.7 s in a sweep worker.
Unlike the losses figure every condition changes the data, so every value has its own untrained
population and raw-pixel probe: 4 values x 2 suites x 3 seeds = 24 runs, then 8 x 8 = 64 untrained
initialisations (about 2 worker-seconds each) and 8 pixel probes; the numbers that follow were
measured with one twin per run (24 twins), before the populations: about 400 CPU s before any step.
The default config runs :data:`STEPS` steps at batch :data:`BATCH`, about 24 x 17 CPU s more: about
810 CPU s, 6.8 minutes on 2 cores (slightly over the share; 48 steps would fit 6 minutes). 60 is the
fewest steps measured to beat the untrained encoder on both suites (one seed, pooled probe,
untrained -> trained, DigitOnImage still on the photo crops): DigitOnImage N = 10 image 0.613 ->
0.686 (48 steps: 0.632), N = 1000 image 0.619 -> 0.636; MultiDigits with a 20 px large digit: large
digit 0.491 -> 0.721 (48 steps: 0.688), small digit 0.188 -> 0.218. The digit of DigitOnImage falls
below the untrained encoder in these runs (N = 10: 0.277 -> 0.145; N = 1000: 0.496 -> 0.381), as the
overlay digits do in docs/cpu_scale_search.md, and the 10 px small digit stays near chance
(0.15-0.22). In MultiDigits a larger large digit also leaves the small one fewer positions (the two
boxes must fit the canvas), which changes how easy it is to read, trained or not: compare each
size's gain over its own untrained population, not the raw accuracies.

The training subset is :data:`TRAIN_SIZE` = 768 examples (6 steps an epoch at batch 128), not
the CPU scale's 4,096 (32 steps an epoch, so 60 steps gave one kNN point), so that the
per-epoch kNN monitor gives each run a learning curve of 10 points (issue 10: 8 or more) at the
same 60 steps (7,680 examples drawn); each run sees 768 distinct examples 10 times instead of
4,096 about twice, and the kNN bank is those 768 (``data.knn_bank`` is capped at the subset).
The numbers above were measured on the 4,096 subset; the 10 kNN evaluations are not in the
810 CPU s (not measured).
"""

from __future__ import annotations

import textwrap
from typing import Any

import numpy as np

from figures import baselines, style
from figures.baselines import Baselines
from figures.claims import Claim
from figures.experiments.common import (
    CHEN,
    _draw_gains,
    _gain_axes,
    _gate_footnote,
    _gate_text,
    _legend,
    _markers,
    _probe,
    _reference_lines,
    _steps,
    _sweep,
    cpu_scale,
    curves_flatness,
    flatness_text,
    gains,
    gated_claim,
    init_seeds,
    read_probe,
    read_run_curve,
)
from figures.spec import Config, FigureSpec, Results
from figures.stats import Gate, Interval, gain_difference, gate
from figures.sweep import RUNS_DIR, RunSpec

FIGURE = "exp_suppression"
STEPS = 60  # optimiser steps per run (module docstring: the budget)
BATCH = 128
TRAIN_SIZE = 768  # 6 steps an epoch at BATCH: a kNN point every 6 steps, 10 a run
SUITES = ("digit_on_image", "multidigits")


def suppression_config() -> Config:
    """Per suite: preset, the ``data.options`` key swept and its values, fixed options, the
    tasks (the suppressed one first), the claim's direction and axis labels."""
    return {
        "suites": {
            "digit_on_image": {
                "preset": "digit-on-fashion-cpu",
                "option": "pool_size",
                "values": [10, 100, 300, 1000],
                "fixed": {},
                "tasks": ["image", "digit"],
                "xlabel": "unique digits N in the pool",
                "xscale": "log",
                "title": "DigitOnImage",
            },
            "multidigits": {
                "preset": "multidigits-cpu",
                "option": "size_b",
                "values": [10, 14, 18, 22],
                "fixed": {"size_a": 10},
                "tasks": ["digit_a", "digit_b"],
                "xlabel": "size of the large digit (px; small digit 10 px)",
                "xscale": "linear",
                "title": "MultiDigits",
            },
        },
        "seeds": [0, 1, 2],
        "overrides": cpu_scale(STEPS, TRAIN_SIZE, BATCH),
        "probe": {"n_train": 2048, "n_test": 1000, "layer": "pooled"},
        "runs_root": str(RUNS_DIR),
    }


TASK_NAMES = {
    "image": "image (item class)",
    "digit": "digit",
    "digit_a": "small digit",
    "digit_b": "large digit",
}


def check_config(cfg: Config) -> None:
    """Reject a config the figure cannot draw, naming the field and the allowed values.

    Raises:
        ValueError: an unknown suite, fewer than two distinct values, or no tasks.
    """
    unknown = sorted(set(cfg["suites"]) - set(SUITES))
    if unknown:
        raise ValueError(f"exp_suppression: suites must be among {list(SUITES)}; got {unknown}")
    for name, sc in cfg["suites"].items():
        values = list(sc["values"])
        if len(set(values)) < 2 or len(set(values)) != len(values):
            raise ValueError(
                f"exp_suppression: suites.{name}.values must hold two or more distinct values; "
                f"got {values}"
            )
        if not sc["tasks"]:
            raise ValueError(f"exp_suppression: suites.{name}.tasks must name a task")


def suppression_specs(cfg: Config) -> list[RunSpec]:
    """One run per suite, value of its option and seed."""
    check_config(cfg)
    specs = []
    for name, sc in cfg["suites"].items():
        fixed = [f"data.options.{k}={v}" for k, v in sc["fixed"].items()]
        for value in sc["values"]:
            for seed in cfg["seeds"]:
                specs.append(
                    RunSpec(
                        FIGURE,
                        f"{name}-{sc['option']}{value}-s{seed}",
                        sc["preset"],
                        (*cfg["overrides"], *fixed, f"data.options.{sc['option']}={value}"),
                        seed,
                        (_probe(cfg),),
                    )
                )
    return specs


def compute_suppression(cfg: Config) -> Results:
    """Run the sweep with its baselines and collect its results (:func:`read_suppression`)."""
    return read_suppression(cfg, _sweep(cfg, suppression_baselines(cfg)))


def suppression_baselines(cfg: Config) -> baselines.Request:
    """The runs and baselines :func:`compute_suppression` sweeps (``FigureSpec.baselines``)."""
    return baselines.Request(tuple(suppression_specs(cfg)), (_probe(cfg),))


def read_suppression(cfg: Config, base: Baselines) -> Results:
    """Per-seed accuracies per suite and value from the sweep's probe records and baselines,
    and every run's kNN learning curve (its ``metrics.jsonl``).

    Raises:
        FileNotFoundError: a run's or twin's probe record or a run's ``metrics.jsonl`` is
            missing (names the file).
        ValueError: a run's curve has fewer than 2 points, or other steps than the first run's
            (names the run dir).
    """
    specs = suppression_specs(cfg)
    probe = _probe(cfg)
    it = iter(specs)
    out: dict[str, Any] = {}
    times: list[float] = []
    knn_steps: list[int] | None = None
    for name, sc in cfg["suites"].items():
        tasks = sc["tasks"]
        acc: dict[str, dict[str, list[float]]] = {t: {} for t in tasks}
        untrained: dict[str, dict[str, list[float]]] = {t: {} for t in tasks}
        pixels: dict[str, dict[str, float]] = {t: {} for t in tasks}
        knn: dict[str, dict[str, list[list[float]]]] = {t: {} for t in tasks}
        chance: dict[str, float] = {}
        for value in sc["values"]:
            key = value_key(sc["option"], value)
            for t in tasks:
                acc[t][key], untrained[t][key], knn[t][key] = [], [], []
            for _ in cfg["seeds"]:
                spec = next(it)
                r = read_probe(base, spec, probe, tasks)
                knn_steps, curve = read_run_curve(spec.run_dir(base.root), tasks, knn_steps)
                for t in tasks:
                    acc[t][key].append(r.accuracy[t])
                    untrained[t][key] = r.untrained[t]  # the condition's untrained population
                    knn[t][key].append(curve[t])
                chance.update(r.chance)
                times.append(r.seconds)
            px = base.pixel(spec.name)["metrics"]
            for t in tasks:
                pixels[t][key] = px[t]["accuracy"]
        out[name] = {
            "option": sc["option"],
            "values": list(sc["values"]),
            "tasks": list(tasks),
            "accuracy": acc,  # task -> "OPTION=VALUE" -> (len(seeds),)
            "untrained": untrained,  # the same keys -> (inits,): the untrained population
            "pixels": pixels,  # task -> "OPTION=VALUE" -> raw-pixel probe accuracy
            "chance": chance,  # task -> chance accuracy
            "knn": knn,  # task -> "OPTION=VALUE" -> (len(seeds), len(knn_steps)): kNN accuracy
        }
    # knn_steps: the optimiser step of each kNN point (the same in every run)
    return {
        "seeds": cfg["seeds"],
        "inits": init_seeds(base, specs),
        "suites": out,
        "knn_steps": knn_steps or [],
        "run_s": times,
    }


def value_key(option: str, value: Any) -> str:
    """The results' key of one value of a suite's option (``pool_size=100``: a row label of
    results/summary.md)."""
    return f"{option}={value:g}" if isinstance(value, (int, float)) else f"{option}={value}"


def grid(panel: Results, key: str, task: str) -> list[Any]:
    """``panel[key][task]`` (``accuracy``: per seed; ``untrained``: per initialisation;
    ``pixels``: numbers)
    at each of the suite's values, in order."""
    return [panel[key][task][value_key(panel["option"], v)] for v in panel["values"]]


def suite_gains(panel: Results) -> dict[str, list[Interval]]:
    """Task -> the gain interval at each value of one suite's results."""
    return {
        t: gains(grid(panel, "accuracy", t), grid(panel, "untrained", t)) for t in panel["tasks"]
    }


def suite_gate(panel: Results) -> Gate:
    return gate(
        {
            f"{panel['option']}={v} {t}": g
            for t, per_v in suite_gains(panel).items()
            for v, g in zip(panel["values"], per_v, strict=True)
        }
    )


def claim_gate(panel: Results) -> Gate:
    """The gate of a suite's claim: the suppressed task's (the first) gains at every value. A
    task that no value lets the encoder learn cannot be seen suppressed."""
    task = panel["tasks"][0]
    per_v = suite_gains(panel)[task]
    return gate(
        {f"{panel['option']}={v} {task}": g for v, g in zip(panel["values"], per_v, strict=True)}
    )


def suppression_flatness(res: Results) -> dict[str, Any]:
    """The flatness criterion over every suite, value and task (:func:`curves_flatness`)."""
    curves = [
        panel["knn"][t][value_key(panel["option"], v)]
        for panel in res["suites"].values()
        for t in panel["tasks"]
        for v in panel["values"]
    ]
    return curves_flatness(res["knn_steps"], curves)


def plot_suppression(res: Results, cfg: Config) -> Any:
    """Per suite (a row): accuracy of both tasks against the knob with the untrained encoder
    and raw pixels, and the gains over the untrained encoder."""
    names = list(res["suites"])
    fig, axes = style.subplots(len(names), 2, width=4.0, height=4.0)
    colors = (style.WEAK, style.STRONG)  # the suppressed task first
    for row, name in enumerate(names):
        panel = res["suites"][name]
        sc = cfg["suites"][name]
        g = suite_gate(panel)
        alpha = 1.0 if g.open else style.FADED
        x = np.asarray(panel["values"], dtype=float)
        ax = axes[row, 0]
        for i, task in enumerate(panel["tasks"]):
            c = colors[i % len(colors)]
            label = TASK_NAMES.get(task, task)
            _markers(ax, x, grid(panel, "accuracy", task), c, label, alpha)
            _reference_lines(
                ax, x, grid(panel, "untrained", task), grid(panel, "pixels", task), c, task
            )
        chance = sorted(set(panel["chance"].values()))
        for ch in chance:
            ax.axhline(ch, label="chance" if ch == chance[0] else None, **style.CHANCE)
        ax.set_ylim(0.0, 1.02)
        ax.set_ylabel("linear probe accuracy")
        ax.set_title(f"{sc['title']}: probe accuracy")
        _legend(ax)
        if not g.open:
            style.gate_note(ax, _gate_text(g, f"values of {panel['option']}"))
        ax = axes[row, 1]
        for i, (task, per_v) in enumerate(suite_gains(panel).items()):
            c = colors[i % len(colors)]
            _draw_gains(ax, x, per_v, c, TASK_NAMES.get(task, task), f"gain:{name}:{task}")
        _gain_axes(ax)
        ax.set_title(f"{sc['title']}: trained minus untrained")
        _legend(ax, baselines_too=False)
        for a in axes[row]:
            a.set_xlabel(sc["xlabel"])
            a.set_xscale(sc["xscale"])
            a.set_xticks(x)
            a.set_xticklabels([f"{v:g}" for v in x])
            a.minorticks_off()
    _gate_footnote(fig)
    summary = "; ".join(_summary(res["suites"][n], cfg["suites"][n]) for n in names)
    fig.suptitle(
        "Feature suppression on images (Chen et al. 2021): an easier feature suppresses the "
        f"other\n(mean $\\pm$ sd over {len(res['seeds'])} seeds, {_steps(cfg)} steps)\n"
        + textwrap.fill(summary, 90)
        + "\n"
        + textwrap.fill(flatness_text(suppression_flatness(res)), 90, break_on_hyphens=False),
        fontsize=9,
    )
    return fig


def _summary(panel: Results, sc: Config) -> str:
    """One phrase from the numbers: the change of the suppressed task's gain over the untrained
    encoder from the smallest to the largest value, or why it is not compared."""
    if not suite_gate(panel).open:
        return f"{sc['title']}: not a result"
    task = panel["tasks"][0]
    lo, hi = _ends(panel)
    return (
        f"{sc['title']}: {TASK_NAMES.get(task, task)} gain {gain_change(panel).mean:+.3f} from "
        f"{panel['option']} = {panel['values'][lo]:g} to {panel['values'][hi]:g}"
    )


def gain_change(panel: Results) -> Interval:
    """The suppressed task's (the first) gain over the untrained encoder at the largest value
    minus at the smallest: ``(acc_hi - untrained_hi) - (acc_lo - untrained_lo)``, each seed
    (init) paired across the two values (``figures.stats.gain_difference``). The data change
    with the value (and with them what an untrained encoder reads: the small digit has fewer
    places beside a larger one), so the gain, not the accuracy, is compared."""
    task = panel["tasks"][0]
    lo, hi = _ends(panel)
    acc = np.asarray(grid(panel, "accuracy", task), dtype=float)
    unt = np.asarray(grid(panel, "untrained", task), dtype=float)
    return gain_difference(acc[hi], unt[hi], acc[lo], unt[lo])


def _ends(panel: Results) -> tuple[int, int]:
    values = list(panel["values"])
    return int(np.argmin(values)), int(np.argmax(values))


CLAIMS = {
    "digit_on_image": (
        "chen2021.suppression.more-unique-digits-suppress-image",
        "In DigitOnImage, more unique digits (a larger pool N) suppress the image feature.",
    ),
    "multidigits": (
        "chen2021.suppression.larger-digit-suppresses-small-digit",
        "In MultiDigits, a larger large digit suppresses the small digit.",
    ),
}


def claims_suppression(res: Results, cfg: Config) -> list[Claim]:
    """Chen et al.: per suite, the suppressed task's (the first) gain over the untrained encoder
    falls from the smallest to the largest value of the knob (:func:`gain_change`); not a
    result unless that task beats the untrained encoder at some value (:func:`claim_gate`)."""
    out = []
    for name, panel in res["suites"].items():
        cid, text = CLAIMS[name]
        task = panel["tasks"][0]
        lo, hi = _ends(panel)
        g = claim_gate(panel)
        out.append(
            gated_claim(
                g,
                id=cid,
                figure=FIGURE,
                paper=CHEN,
                claim=text,
                effect=f"{task} gain over the untrained encoder at {panel['option']} = "
                f"{panel['values'][hi]:g} minus at {panel['values'][lo]:g}",
                measured=gain_change(panel),
                predicted_sign=-1,
                notes=(flatness_text(suppression_flatness(res)),),
            )
        )
    return out


EXP_SUPPRESSION = FigureSpec(
    FIGURE,
    "deep: DigitOnImage accuracy vs unique digits N, MultiDigits small digit vs large size",
    compute_suppression,
    plot_suppression,
    suppression_config,
    claims_suppression,
    suppression_specs,
    baselines=suppression_baselines,
)
