"""The ``featuredrop`` console script is each module entry point under one name (empirical.cli).

Every check runs the installed console script (``.venv/bin/featuredrop``, from
``[project.scripts]``) beside ``python -m MODULE`` and compares what they print and return.
"""

from __future__ import annotations

import os
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import pytest

from empirical import cli

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = Path(sys.executable).parent / "featuredrop"
ENV = {**os.environ, "COLUMNS": "100"}  # argparse wraps help to the terminal width


def _run(args: list[str], cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, capture_output=True, text=True, timeout=300, cwd=cwd, env=ENV)


def _both(
    name: str, module: str, *args: str
) -> tuple[subprocess.CompletedProcess[str], subprocess.CompletedProcess[str]]:
    """``featuredrop NAME ARGS`` and ``python -m MODULE ARGS``, run side by side."""
    assert SCRIPT.exists(), f"{SCRIPT} missing: reinstall the project (pip install -e .)"
    cmds = (
        [str(SCRIPT), name, *args],
        [sys.executable, "-m", module.removesuffix(".__main__"), *args],
    )
    procs = [
        subprocess.Popen(
            c, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT, env=ENV
        )
        for c in cmds
    ]
    done = []
    for cmd, proc in zip(cmds, procs, strict=True):
        out, err = proc.communicate(timeout=300)
        done.append(subprocess.CompletedProcess(cmd, proc.returncode, out, err))
    return done[0], done[1]


def _featuredrop(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    assert SCRIPT.exists(), f"{SCRIPT} missing: reinstall the project (pip install -e .)"
    return _run([str(SCRIPT), *args], cwd)


def test_subcommands_are_the_documented_seven() -> None:
    assert list(cli.SUBCOMMANDS) == [
        "train",
        "evaluate",
        "diagnose",
        "report",
        "data",
        "figures",
        "bench",
    ]


@pytest.mark.slow
@pytest.mark.parametrize("name", list(cli.SUBCOMMANDS))
def test_help_is_the_modules_help(name: str) -> None:
    """The same help, but for the program name (argparse rewraps the usage lines around it)."""
    module = cli.SUBCOMMANDS[name].module
    script, direct = _both(name, module, "--help")
    assert script.returncode == 0, script.stderr
    assert direct.returncode == 0, direct.stderr
    assert script.stdout.startswith(f"usage: featuredrop {name} ")
    module_prog = "python -m " + module.removesuffix(".__main__")
    assert direct.stdout.startswith(f"usage: {module_prog} ")
    as_module = script.stdout.replace(f"featuredrop {name}", module_prog)
    assert as_module.split() == direct.stdout.split()


def test_usage_names_the_featuredrop_subcommand(capsys: pytest.CaptureFixture[str]) -> None:
    """``featuredrop train --help`` says ``featuredrop train``, not ``python -m empirical.train``;
    the module run directly keeps its own name."""
    from empirical import train

    with pytest.raises(SystemExit) as done:
        cli.main(["train", "--help"])
    assert done.value.code == 0
    assert capsys.readouterr().out.startswith("usage: featuredrop train [-h]")
    with pytest.raises(SystemExit):
        train.main(["--help"])
    assert capsys.readouterr().out.startswith("usage: python -m empirical.train [-h]")


@pytest.mark.slow
def test_bad_config_key_exits_2_through_both(tmp_path: Path) -> None:
    args = ("--out", str(tmp_path / "run"), "optim.no_such_key=1")
    script, direct = _both("train", "empirical.train", *args)
    assert script.returncode == direct.returncode == 2
    assert script.stderr == direct.stderr
    assert "no_such_key" in script.stderr
    assert not (tmp_path / "run").exists()


def test_missing_run_directory_exits_2_through_both(tmp_path: Path) -> None:
    missing = str(tmp_path / "absent")
    script, direct = _both("report", "empirical.report", missing)
    assert script.returncode == direct.returncode == 2
    assert script.stderr == direct.stderr and "absent" in script.stderr


def test_argparse_errors_keep_their_status() -> None:
    """An argparse error inside a subcommand (SystemExit 2) passes through unchanged."""
    script, direct = _both("report", "empirical.report")  # RUN_DIR is required
    assert script.returncode == direct.returncode == 2
    assert "RUN_DIR" in script.stderr


def test_no_or_unknown_subcommand_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main([]) == 2
    assert "a subcommand is required" in capsys.readouterr().err
    assert cli.main(["trian"]) == 2
    err = capsys.readouterr().err
    assert "unknown subcommand 'trian'" in err and "train" in err
    assert cli.main(["--help"]) == 0
    out = capsys.readouterr().out
    assert all(f"  {name} " in out for name in cli.SUBCOMMANDS)


def test_version_prints_version_and_commit() -> None:
    proc = _featuredrop("--version")
    assert proc.returncode == 0, proc.stderr
    line = proc.stdout.strip()
    assert line.startswith(f"featuredrop {metadata.version('featuredrop')} (git commit ")
    if (ROOT / ".git").exists():
        head = _run(["git", "-C", str(ROOT), "rev-parse", "HEAD"]).stdout.strip()
        assert len(head) == 40 and head in line
    else:
        assert "git commit unknown" in line


def test_git_commit_reads_head_and_marks_changes(tmp_path: Path) -> None:
    assert cli.git_commit(tmp_path) == "unknown"  # not a checkout
    git = ["git", "-C", str(tmp_path), "-c", "user.name=t", "-c", "user.email=t@t"]
    for cmd in (["init", "-q"], ["add", "f.txt"], ["commit", "-q", "-m", "one"]):
        if cmd[0] == "add":
            (tmp_path / "f.txt").write_text("a\n")
        subprocess.run([*git, *cmd], check=True, capture_output=True)
    head = subprocess.run([*git, "rev-parse", "HEAD"], capture_output=True, text=True).stdout
    assert cli.git_commit(tmp_path) == head.strip()
    (tmp_path / "f.txt").write_text("b\n")
    assert cli.git_commit(tmp_path) == f"{head.strip()}+modified"


def test_bench_needs_the_source_checkout(tmp_path: Path) -> None:
    """Like ``python -m``, the script looks in the working directory; ``benchmarks`` is found from
    the checkout's root and named in the error elsewhere."""
    outside = _featuredrop("bench", "--help", cwd=tmp_path)
    assert outside.returncode == 2
    assert "benchmarks is not installed" in outside.stderr
    inside = _featuredrop("bench", "--help")
    assert inside.returncode == 0 and "usage: featuredrop bench" in inside.stdout
