"""``exp_local_features`` (Chen, Luo, Li 2021, Sec. 5): instance-level contrastive training still
learns local features on multi-object inputs. K-means maps of the per-location features of every
encoder stage, beside K-means on the raw pixels, and the adjusted Rand index (ARI) of the maps
against the known object masks, per stage, for the trained encoder and the same encoder untrained
(seeded initialisations).

The suite: overlay-shapes-on-fashion (a semi-transparent shape over a Fashion-MNIST item on a black
background, two objects per image), scored against three truth classes: the shape (its overlay
mask), the item (the Fashion-MNIST image's pixels above a small intensity,
``local_features.ITEM_THRESHOLD``, outside the shape) and the black background; K = 3 (with two
classes, shape vs the rest, K-means with K = 2 splits the item from the black background and scores
low whatever the encoder learned). It is chosen because its encoders are trained anyway (the p = 0
runs of ``exp_oracle_dropout``, 3 seeds: no training here, the figure evaluates those runs and their
untrained initialisations) and because a filled shape covers whole cells of the encoder's 16x16 to
4x4 grids, where a digit's thin strokes (the digits overlay, MultiDigits) mostly fall between cells;
MultiDigits would also need new runs.

The runs and their untrained initialisations are evaluated through the one evaluation path
(``figures.sweep``, diagnostic ``local``: ``empirical.diagnostics.local_features``, ARI over
``num_inputs`` test images at the input's resolution); the maps drawn are computed here from the
first seed's trained encoder and the first untrained initialisation on a few images. Whether the
runs are a result is decided by the probe gate of the same runs (the oracle figure's probe; issue
10, section 1): a run set whose tasks do not beat the untrained encoder is not a result, and the ARI
comparison is then not made.
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from figures import baselines, style
from figures.claims import Claim
from figures.experiments import oracle
from figures.experiments.budget import decode_image, encode_image
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
    _sweep,
    gains,
    gated_claim,
    init_seeds,
)
from figures.spec import Config, FigureSpec, Results
from figures.stats import Gate, Interval, gate, paired_interval, welch_interval
from figures.sweep import RUNS_DIR, Evaluation, RunSpec, load_eval

FIGURE = "exp_local_features"
SOURCE_FIGURE = "exp_oracle_dropout"


def local_config() -> Config:
    ocfg = oracle.oracle_config()
    return {
        # the runs reused: exp_oracle_dropout's shapes suite at p = 0 (its seeds, overrides, probe)
        "oracle": {
            "suites": {"shapes": ocfg["suites"]["shapes"]},
            "ps": [0.0],
            "seeds": list(ocfg["seeds"]),
            "overrides": list(ocfg["overrides"]),
            "probe": dict(ocfg["probe"]),
        },
        # the local diagnostic (empirical.diagnostics.DiagnosticOptions): k = 0 -> one cluster per
        # truth class (3: black background, shape, Fashion-MNIST item)
        "local": {"num_inputs": 128, "k": 0, "at": "input", "seed": 0},
        "show": {"rows": 3, "seed": 1},  # the maps drawn: first seed's encoders, `rows` images
        "runs_root": str(RUNS_DIR),
    }


def _local_eval(cfg: Config) -> Evaluation:
    return Evaluation("fig-local", "local", dict(cfg["local"]))


def local_specs(cfg: Config) -> list[RunSpec]:
    """The reused runs of ``exp_oracle_dropout`` (same figure folder, names and hashes), each
    evaluated with its probe and the local diagnostic."""
    evals = (_probe(cfg["oracle"]), _local_eval(cfg))
    return [replace(s, evaluations=evals) for s in oracle.oracle_specs(cfg["oracle"])]


def _trained(run_dir: Path) -> bool:
    try:
        return json.loads((run_dir / "summary.json").read_text()).get("status") == "completed"
    except (FileNotFoundError, json.JSONDecodeError):
        return False


def check_trained(specs: list[RunSpec], root: Path) -> None:
    """This figure trains nothing: every run must be trained already.

    Raises:
        FileNotFoundError: naming each run directory without a completed training.
    """
    missing = [str(s.run_dir(root)) for s in specs if not _trained(s.run_dir(root))]
    if missing:
        raise FileNotFoundError(
            f"{FIGURE} reuses the runs of {SOURCE_FIGURE}, not trained yet: "
            f"{', '.join(missing)} (run python -m figures {SOURCE_FIGURE} first)"
        )


def drawn_maps(run_dir: Path, rows: int, k: int, seed: int) -> dict[str, Any]:
    """Cluster maps of ``rows`` test images for one run (upsampled to the input's size, clusters
    relabelled to the truth class they overlap most, for colour): ``{"inputs": (rows, H, W, 3),
    "truth": (rows, H, W), "maps": {name: (rows, H, W)}}`` arrays, ``pixels`` first."""
    from empirical.diagnostics.local_features import (
        local_feature_maps,
        match_to_truth,
        upsample_labels,
    )
    from empirical.runs import load_run

    run = load_run(run_dir, "cpu")
    res = local_feature_maps(run.encoder, run.dataset("test"), rows, k or None, seed)
    truth = res["truth"]
    size = tuple(truth.shape[1:])
    maps = {
        name: match_to_truth(upsample_labels(labels, size), truth, int(res["k"])).numpy()
        for name, labels in res["maps"].items()
    }
    inputs = res["inputs"][:, :3].permute(0, 2, 3, 1).clamp(0, 1).double().numpy()
    return {"inputs": inputs, "truth": truth.numpy(), "maps": maps}


def shown_images(
    trained: dict[str, Any], untrained: dict[str, Any], stages: list[str]
) -> list[Any]:
    """Per image drawn: its encoded (``budget.encode_image``) input, mask, pixel clustering and
    each stage's map of the trained and the untrained encoder."""
    return [
        {
            "input": encode_image(trained["inputs"][i]),
            "truth": encode_image(trained["truth"][i]),
            "pixels": encode_image(trained["maps"]["pixels"][i]),
            "trained": {s: encode_image(trained["maps"][s][i]) for s in stages},
            "untrained": {s: encode_image(untrained["maps"][s][i]) for s in stages},
        }
        for i in range(len(trained["inputs"]))
    ]


def read_local(cfg: Config, specs: list[RunSpec], twins: Any) -> Results:
    """The figure's results from the runs' records (``twins``: ``figures.baselines.Baselines``).

    Raises:
        FileNotFoundError: a record that is not there (its path in the message).
    """
    probe, local = _probe(cfg["oracle"]), _local_eval(cfg)
    root = twins.root
    stages: list[str] = []
    ari: dict[str, list[list[float]]] = {"trained": [], "untrained": []}
    pixels: list[float] = []
    tasks: list[str] = []
    acc: dict[str, dict[str, list[float]]] = {"trained": {}, "untrained": {}}
    scored, suite = 0, ""
    for spec in specs:
        rec = load_eval(spec.run_dir(root), local)
        names = [n for n in rec["metrics"]["order"] if n != "pixels"]
        if not stages:
            stages = names
            ari = {"trained": [[] for _ in stages], "untrained": [[] for _ in stages]}
        for i, name in enumerate(stages):
            ari["trained"][i].append(rec["metrics"]["ari"][name]["ari"])
        pixels.append(rec["metrics"]["ari"]["pixels"]["ari"])
        scored = int(rec["metrics"]["ari"]["pixels"]["n"])
        suite = rec["config"]["data"]["suite"]
        p_rec = load_eval(spec.run_dir(root), probe)["metrics"]
        tasks = tasks or list(p_rec)
        for t in tasks:
            acc["trained"].setdefault(t, []).append(p_rec[t]["accuracy"])
    # the untrained population of the runs' encoder (one: the runs differ only by seed)
    for u in twins.untrained_population(specs[0].name, local):
        for i, name in enumerate(stages):
            ari["untrained"][i].append(u["metrics"]["ari"][name]["ari"])
    for u in twins.untrained_population(specs[0].name, probe):
        for t in tasks:
            acc["untrained"].setdefault(t, []).append(u["metrics"][t]["accuracy"])
    first = specs[0]
    show = cfg["show"]
    k = int(cfg["local"]["k"])
    trained_maps = drawn_maps(first.run_dir(root), show["rows"], k, show["seed"])
    # the untrained row: the population's first initialisation (its seeds are disjoint from
    # the trained ones, so no untrained encoder is a trained run's own starting point)
    shown_init = twins.populations[first.name][0]
    untrained_maps = drawn_maps(shown_init.run_dir(root), show["rows"], k, show["seed"])
    return {
        "seeds": [s.seed for s in specs],
        "inits": init_seeds(twins, specs),
        "suite": suite,
        "stages": stages,  # the encoder's stages, in order
        "ari": ari,  # trained -> (stages, seeds); untrained -> (stages, inits)
        "ari_pixels": float(np.mean(pixels)),  # K-means on raw pixels (the same for every run)
        "scored_images": scored,
        "probe": acc,  # trained -> task -> per seed; untrained -> per init (the gate)
        # the maps drawn: the first seed's trained encoder and the first untrained
        # initialisation on a few test images
        "show": {
            "seed": first.seed,
            "init": shown_init.seed,
            "images": shown_images(trained_maps, untrained_maps, stages),
        },
    }


def local_baselines(cfg: Config) -> baselines.Request:
    """The runs (trained by the figure they belong to) and baselines :func:`compute_local`
    sweeps (``FigureSpec.baselines``)."""
    specs = local_specs(cfg)
    return baselines.Request(tuple(specs), specs[0].evaluations)


def compute_local(cfg: Config) -> Results:
    request = local_baselines(cfg)
    specs = list(request.specs)
    check_trained(specs, Path(cfg["runs_root"]))
    base = _sweep(cfg, request)
    return read_local(cfg, specs, base)


def local_gate(res: Results) -> Gate:
    """The probe gate of the reused runs (per task, trained seeds against the untrained
    population, Welch)."""
    acc = res["probe"]
    return gate({t: welch_interval(acc["trained"][t], acc["untrained"][t]) for t in acc["trained"]})


def ari_gains(res: Results) -> list[Interval]:
    """Per stage: the ARI of the trained encoder minus the untrained population's (Welch)."""
    return gains(res["ari"]["trained"], res["ari"]["untrained"])


def _tile(ax: Any, image: Any, title: str | None, ylabel: str | None) -> None:
    a = np.asarray(image)
    if a.ndim == 2:  # a label map: one colour per class (truth classes after matching)
        ax.imshow(a, cmap="tab10", vmin=0, vmax=9, interpolation="nearest")
    else:
        ax.imshow(a, interpolation="nearest")
    ax.set_xticks([])
    ax.set_yticks([])
    for s in ax.spines.values():
        s.set_visible(False)
    if title:
        ax.set_title(title, fontsize=7)
    if ylabel:
        ax.set_ylabel(ylabel, fontsize=7)


TILE_IN = 0.72  # side of one gallery tile, inches
PANELS_IN = 4.2  # width of the ARI and gain panels, inches
OVERHEAD_IN = 0.95  # height of the suptitle, the tiles' column titles and the gate footnote
MIN_HEIGHT_IN = 4.6  # the figure's least height (the two panels, their legend and labels)
PIXELS_LABEL = "K-means on raw pixels"  # the dotted baseline here: a clustering, not a probe


def _draw_gallery(sub: Any, show: Any, stages: list[str], filler: float) -> None:
    """Rows of tiles in the (sub)figure ``sub``: per image drawn a trained and an untrained row of
    input, object mask, pixel clustering and each stage's map; square tiles in square cells
    (rows as tight as columns); ``filler`` (in tile heights) is empty space left under them."""
    rows = len(show["images"])
    cols = 3 + len(stages)  # input, truth, pixels, stages
    grid = sub.add_gridspec(
        2 * rows + 1, cols, height_ratios=[1.0] * (2 * rows) + [max(filler, 1e-3)]
    )
    titles = ["input", "object mask", "K-means pixels", *stages]
    for i in range(rows):
        im = show["images"][i]
        for j, which in enumerate(("trained", "untrained")):
            r = 2 * i + j
            tiles = [im["input"], im["truth"], im["pixels"], *(im[which][s] for s in stages)]
            for c, tile in enumerate(tiles):
                ax = sub.add_subplot(grid[r, c])
                _tile(
                    ax, decode_image(tile), titles[c] if r == 0 else None, which if c == 0 else None
                )


def plot_local(res: Results, cfg: Config) -> Any:
    import matplotlib.pyplot as plt

    stages = list(res["stages"])
    show = res["show"]
    rows = len(show["images"])
    cols = 3 + len(stages)
    # square tile cells, so that rows are as tight as columns: 2 * rows cells of TILE_IN, plus
    # the suptitle, column titles and gate footnote (OVERHEAD_IN); the panels need at least
    # MIN_HEIGHT_IN, what the gallery does not fill is left empty under it
    gallery_h = TILE_IN * 2 * rows
    height = max(gallery_h + OVERHEAD_IN, MIN_HEIGHT_IN)
    filler = (height - OVERHEAD_IN - gallery_h) / TILE_IN
    width = TILE_IN * cols + 0.3 + PANELS_IN
    fig = plt.figure(figsize=(width, height), layout="constrained")
    subs: Any = fig.subfigures(1, 2, width_ratios=[width - PANELS_IN, PANELS_IN], wspace=0.0)
    left, right = subs
    _draw_gallery(left, show, stages, filler)
    grid = right.add_gridspec(2, 1)
    g = local_gate(res)
    faded = 1.0 if g.open else style.FADED
    x = np.arange(len(stages))
    color = style.SEQUENCE[0]
    ax = right.add_subplot(grid[0])
    _markers(ax, x, res["ari"]["trained"], color, "trained encoder", faded)
    px = [res["ari_pixels"]] * len(stages)
    _reference_lines(ax, x, res["ari"]["untrained"], px, color, "ari")
    ax.set_xticks(x, stages)
    ax.set_ylabel("ARI of the K-means map\nagainst the object mask")
    ax.set_title(f"{res.get('suite') or 'overlay suite'}: {res['scored_images']} test images")
    _legend(ax, pixels_label=PIXELS_LABEL)
    if not g.open:
        style.gate_note(ax, _gate_text(g, "stages"))
    ax = right.add_subplot(grid[1])
    _draw_gains(ax, x, ari_gains(res), color, "ARI gain", "gain:ari")
    _gain_axes(ax)
    ax.set_ylabel("ARI gain over untrained encoder\n(mean, 95% interval)")
    ax.set_xticks(x, stages)
    ax.set_xlabel("encoder stage")
    ax.set_title("trained minus untrained (Welch, 95%)")
    _gate_footnote(fig)
    fig.suptitle(
        "Local features: K-means (one cluster per object class) of per-location features\n"
        f"(maps: trained seed {show['seed']}, untrained init {show['init']}; "
        f"ARI: mean $\\pm$ sd over {len(res['seeds'])} seeds; "
        "dashed: untrained encoder, dotted: K-means on raw pixels)",
        fontsize=9,
    )
    return fig


def _per_seed_mean(values: Any) -> np.ndarray:
    """(stages, seeds or inits) -> (seeds or inits,): the mean over the encoder's stages."""
    return np.asarray(values, dtype=float).mean(0)


def claims_local(res: Results, cfg: Config) -> list[Claim]:
    """Chen et al.: contrastive training learns local features that segment the objects, better
    than an untrained encoder and than clustering raw pixels (ARI, mean over the stages)."""
    g = local_gate(res)
    trained = _per_seed_mean(res["ari"]["trained"])
    untrained = _per_seed_mean(res["ari"]["untrained"])
    pixels = np.full_like(trained, float(res["ari_pixels"]))
    suite = res.get("suite") or "an overlay suite"
    out = []
    for what, other, ref in (
        ("untrained", "the same encoder untrained (seeded initialisations)", untrained),
        ("pixels", "K-means on the raw pixels", pixels),
    ):
        out.append(
            gated_claim(
                g,
                id=f"chen2021.local.trained-beats-{what}",
                figure=FIGURE,
                paper=CHEN,
                claim="An instance-level contrastive objective learns local features: K-means of "
                f"its per-location features segments the objects of {suite} better than "
                f"{other}.",
                effect=f"ARI against the object mask, mean over the encoder's stages, trained "
                f"minus {other}",
                measured=welch_interval(trained, ref)
                if what == "untrained"
                else paired_interval(trained, ref),
                predicted_sign=1,
            )
        )
    return out


EXP_LOCAL_FEATURES = FigureSpec(
    FIGURE,
    "deep: K-means maps of each encoder stage and their ARI vs object masks, trained/untrained",
    compute_local,
    plot_local,
    local_config,
    claims_local,
    reads=(SOURCE_FIGURE,),
    baselines=local_baselines,
)
