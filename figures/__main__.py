"""``python -m figures list | all | claims [--readme] | NAME [NAME ...] [--force]``
``[--executor slurm --partition P --time MIN --gpus N --cpus N]``.

After drawing figures, ``results/claims.json`` and ``results/claims.md`` are rewritten from the
cached results of every figure that tests claims (``figures.claims``); ``claims`` only rewrites
them, and ``claims --readme`` prints the README's "What these runs show" section from them.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import time
from pathlib import Path

from figures import executors
from figures.registry import FIGURES, make_figure


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m figures", description=__doc__)
    parser.add_argument("what", nargs="+", help="'list', 'all', 'claims', or figure names")
    parser.add_argument("--force", action="store_true", help="recompute cached results")
    parser.add_argument(
        "--readme", action="store_true", help="claims: print the README section from them"
    )
    _cluster_arguments(parser)
    args = parser.parse_args(argv)
    try:
        executor = _executor(args)
    except (ValueError, RuntimeError, ImportError) as e:  # bad options, no Slurm, no submitit
        print(f"error: {e}", file=sys.stderr)
        return 2
    if args.what == ["claims"]:
        return _claims(readme=args.readme)
    if args.what == ["list"]:
        for name, spec in sorted(FIGURES.items()):
            print(f"{name:32s} {spec.description}")
        return 0
    names = sorted(FIGURES) if args.what == ["all"] else args.what
    unknown = [n for n in names if n not in FIGURES]
    if unknown:
        print(
            f"error: unknown figure(s) {', '.join(unknown)}; known: {', '.join(sorted(FIGURES))}",
            file=sys.stderr,
        )
        return 2
    with executors.using(executor) if executor is not None else contextlib.nullcontext():
        for name in names:
            t0 = time.perf_counter()
            paths = make_figure(name, force=args.force)
            print(f"{name}: {', '.join(str(p) for p in paths)} ({time.perf_counter() - t0:.1f} s)")
    if any(FIGURES[n].claims is not None for n in names):
        _claims(readme=False)
    return 0


SLURM_FLAGS = {
    "partition": "--partition",
    "time": "--time",
    "gpus": "--gpus",
    "cpus": "--cpus",
    "max_parallel": "--max-parallel",
    "jobs_dir": "--jobs-dir",
}


def _cluster_arguments(parser: argparse.ArgumentParser) -> None:
    g = parser.add_argument_group(
        "sweeps on a cluster",
        "the experiment figures' training runs as Slurm jobs (submitit): one array job per "
        "sweep; a preempted or timed-out run is requeued and resumes from its checkpoint",
    )
    g.add_argument(
        "--executor",
        choices=executors.EXECUTORS,
        default="local",
        help="local: worker processes (FEATUREDROP_JOBS); slurm: one job per run",
    )
    g.add_argument("--partition", help="Slurm partition (default: the cluster's default)")
    g.add_argument("--time", type=int, metavar="MIN", help="time limit per job in minutes (60)")
    g.add_argument("--gpus", type=int, metavar="N", help="GPUs per job (1)")
    g.add_argument("--cpus", type=int, metavar="N", help="CPUs per job (4)")
    g.add_argument("--max-parallel", type=int, metavar="N", help="jobs running at once (all)")
    g.add_argument("--jobs-dir", type=Path, help="submitit logs (results/submitit)")


def _executor(args: argparse.Namespace) -> executors.Executor | None:
    """The Slurm executor of ``--executor slurm`` and its options, None for local.

    Raises:
        ValueError: a Slurm option without ``--executor slurm``, or out of range.
        RuntimeError: submitit finds no Slurm here.
    """
    given = [flag for key, flag in SLURM_FLAGS.items() if getattr(args, key) is not None]
    if args.executor != "slurm":
        if given:
            raise ValueError(f"{', '.join(given)} need(s) --executor slurm")
        return None
    defaults = executors.SlurmOptions()
    options = executors.SlurmOptions(
        partition=args.partition or "",
        time_min=defaults.time_min if args.time is None else args.time,
        gpus=defaults.gpus if args.gpus is None else args.gpus,
        cpus=defaults.cpus if args.cpus is None else args.cpus,
        max_parallel=defaults.max_parallel if args.max_parallel is None else args.max_parallel,
    )
    folder = args.jobs_dir or Path("results") / executors.SUBMITIT_DIR
    return executors.slurm_executor(options, folder)


def _claims(readme: bool) -> int:
    """Rewrite results/claims.json and .md from the cached results (and print the README
    section with ``readme``)."""
    from figures import claims
    from figures.registry import RESULTS_DIR

    entries, skipped = claims.collect(RESULTS_DIR)
    json_path, md_path = claims.write(entries, skipped)
    counts = claims.document(entries, skipped)["counts"]
    shown = ", ".join(f"{n} {v}" for v, n in counts.items())
    print(f"claims: {json_path}, {md_path} ({len(entries)} claims: {shown})", file=sys.stderr)
    for name, why in sorted(skipped.items()):
        print(f"claims: {name} left out: {why}", file=sys.stderr)
    if readme:
        print(claims.readme_section(claims.load(json_path)), end="")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
