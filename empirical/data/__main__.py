"""Command line: list the suites, or draw a labelled grid of examples.

    python -m empirical.data list [SUITE ...]
    python -m empirical.data preview SUITE --out FILE.png [--n 16] [--seed 0] [--split train]
                                     [-o KEY=VALUE ...]

``list`` builds each suite's train and test split with default options and prints its tasks
(with chance levels), input shape and sizes. ``preview`` draws ``n`` random examples with their
labels; overlay suites show each example beside its overlay-free twin (``x_clean``); one-channel
inputs that are not square (spectrograms) are drawn as spectrograms. Bad arguments exit with
status 2 and a message naming what is wrong.
"""

from __future__ import annotations

import argparse
import ast
import io
import math
import sys
from collections.abc import Sequence
from typing import Any

import numpy as np

from empirical.cli import prog
from empirical.data.base import Batch, MultiTaskDataset
from empirical.data.registry import SUITES, build_suite, needs_user_data
from empirical.io import atomic_write_bytes


def _parse_option(text: str) -> tuple[str, Any]:
    if "=" not in text:
        raise argparse.ArgumentTypeError(f"option must look like KEY=VALUE; got {text!r}")
    key, raw = text.split("=", 1)
    try:
        value = ast.literal_eval(raw)
    except (ValueError, SyntaxError):
        value = raw
    return key.strip(), value


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog=prog("python -m empirical.data"), description=__doc__.split("\n")[0]
    )
    sub = p.add_subparsers(dest="command", required=True)
    ls = sub.add_parser("list", help="list suites: tasks, chance levels, sizes")
    ls.add_argument("suites", nargs="*", help="suites to list (default: all)")
    pv = sub.add_parser("preview", help="draw a labelled grid of examples")
    pv.add_argument("suite")
    pv.add_argument("--out", required=True, help="image file to write (.png, .pdf or .svg)")
    pv.add_argument("--n", type=int, default=16, help="examples to draw, 1..256 (default 16)")
    pv.add_argument("--seed", type=int, default=0)
    pv.add_argument("--split", choices=("train", "test"), default="train")
    pv.add_argument(
        "-o", "--option", type=_parse_option, action="append", default=[], metavar="KEY=VALUE"
    )
    return p


def _describe_tasks(ds: MultiTaskDataset) -> str:
    parts = []
    for t in ds.tasks:
        if t.kind == "classification":
            parts.append(f"{t.name} ({t.num_classes} classes, chance {t.chance:.3f})")
        else:
            parts.append(f"{t.name} (regression, dim {t.dim}, chance R^2 0)")
    return ", ".join(parts)


def cmd_list(names: Sequence[str], out: Any = None) -> int:
    out = sys.stdout if out is None else out
    unknown = sorted(set(names) - set(SUITES))
    if unknown:
        raise ValueError(f"unknown suite(s) {unknown}; known suites: {', '.join(sorted(SUITES))}")
    for name in names or sorted(SUITES):
        print(f"{name}{'  [needs user data]' if needs_user_data(name) else ''}", file=out)
        print(f"  {SUITES.describe(name)}", file=out)
        try:
            train, test = build_suite(name, "train"), build_suite(name, "test")
        except (ValueError, FileNotFoundError, OSError, RuntimeError, ImportError) as err:
            # one suite that cannot be built here (missing files or engine) must not hide the rest
            print(f"  unavailable with default options: {err}", file=out)
            continue
        print(f"  tasks: {_describe_tasks(train)}", file=out)
        extra = getattr(train, "post_view_dim", 0)
        bits = f" + {extra} post-view channels" if extra else ""
        print(
            f"  input {tuple(train.input_shape)}{bits}; train {len(train)}, test {len(test)}",
            file=out,
        )
    return 0


def _label_text(batch: Batch, i: int) -> str:
    parts = []
    for key, value in batch.labels.items():
        v = value[i]
        if v.ndim == 0:
            parts.append(f"{key}={int(v)}")
        else:
            parts.append(f"{key}=" + ",".join(f"{float(a):.2g}" for a in v.flatten()[:4]))
    if batch.post_view_channels is not None:
        bits = "".join(str(int(b)) for b in batch.post_view_channels[i][:12])
        parts.append(f"bits={bits}")
    return "\n".join(parts)


def _draw(ax: Any, x: np.ndarray, spectrogram: bool) -> None:
    """``x`` ``(C, H, W)``: RGB image, grey image, or spectrogram (frequency up)."""
    ax.set_xticks([])
    ax.set_yticks([])
    if spectrogram:
        s = x[0]
        s = (s - s.min()) / (s.max() - s.min() + 1e-8)
        ax.imshow(s, origin="lower", aspect="auto", cmap="magma")
    elif x.shape[0] >= 3:
        ax.imshow(np.clip(x[:3].transpose(1, 2, 0), 0, 1), interpolation="nearest")
    else:
        ax.imshow(np.clip(x[0], 0, 1), cmap="gray", vmin=0, vmax=1, interpolation="nearest")


def cmd_preview(
    suite: str, out: str, n: int, seed: int, split: str, options: dict[str, Any]
) -> int:
    from matplotlib.figure import Figure

    if not 1 <= n <= 256:
        raise ValueError(f"--n must be in [1, 256]; got {n}")
    suffix = out.rsplit(".", 1)[-1].lower() if "." in out else ""
    if suffix not in ("png", "pdf", "svg"):
        raise ValueError(f"--out must end in .png, .pdf or .svg; got {out!r}")
    ds = build_suite(suite, split, **options)
    rng = np.random.default_rng(seed)
    idx = np.sort(rng.choice(len(ds), min(n, len(ds)), replace=False))
    batch = ds.batch(idx, rng)
    x = batch.x.numpy()
    clean = None if batch.x_clean is None else batch.x_clean.numpy()
    spectrogram = x.shape[1] == 1 and x.shape[2] != x.shape[3]
    per = 1 if clean is None else 2
    cols = math.ceil(math.sqrt(len(idx)))
    rows = math.ceil(len(idx) / cols)
    fig = Figure(figsize=(1.6 * cols * per, 2.2 * rows))
    axes = fig.subplots(rows, cols * per, squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for i in range(len(idx)):
        r, c = divmod(i, cols)
        ax = axes[r, c * per]
        ax.axis("on")
        _draw(ax, x[i], spectrogram)
        ax.set_title(f"#{int(batch.index[i])}\n{_label_text(batch, i)}", fontsize=6)
        if clean is not None:
            twin = axes[r, c * per + 1]
            twin.axis("on")
            _draw(twin, clean[i], spectrogram)
            twin.set_title("no overlay", fontsize=6)
    fig.suptitle(f"{suite} ({split}, seed {seed})", fontsize=9)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format=suffix, dpi=120)
    atomic_write_bytes(out, buf.getvalue())
    print(f"wrote {out}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        if args.command == "list":
            return cmd_list(args.suites)
        options = dict(args.option)
        return cmd_preview(args.suite, args.out, args.n, args.seed, args.split, options)
    except (ValueError, FileNotFoundError, TypeError) as err:
        print(f"{parser.prog}: error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
