"""``python -m empirical.data list | preview``: output, images, and exit status 2 on bad input."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from matplotlib.image import imread

from empirical.data import Batch, TaskSpec, registry
from empirical.data.__main__ import main
from empirical.registry import Registry


def test_list_prints_tasks_chance_and_sizes(capsys: pytest.CaptureFixture[str]) -> None:
    assert (
        main(["list", "overlay-letters-on-natural", "randbits-mnist", "overlay-digits-on-cifar10"])
        == 0
    )
    out = capsys.readouterr().out
    assert "overlay-letters-on-natural" in out
    assert "letter (26 classes, chance 0.038)" in out
    assert "background (10 classes, chance 0.100)" in out
    assert "train 9783, test 2105" in out
    assert "input (1, 32, 32) + 5 post-view channels; train 4000, test 1000" in out
    assert "[needs user data]" in out and "data_dir" in out


def test_preview_overlay_twins_double_the_width(tmp_path: Path) -> None:
    with_twin, plain = tmp_path / "a.png", tmp_path / "b.png"
    assert main(["preview", "overlay-shapes-on-natural", "--out", str(with_twin), "--n", "4"]) == 0
    assert main(["preview", "multidigits", "--out", str(plain), "--n", "4", "--seed", "1"]) == 0
    a, b = imread(with_twin), imread(plain)
    assert with_twin.read_bytes()[:4] == b"\x89PNG"
    assert a.shape[1] == 2 * b.shape[1] and a.shape[0] == b.shape[0]


class _FakeSpectrograms:
    """A stand-in audio suite: ``(B, 1, 64, 40)`` inputs."""

    name, split = "fake-audio", "train"
    tasks = (TaskSpec("digit", "classification", num_classes=10),)
    input_shape = (1, 64, 40)

    def __len__(self) -> int:
        return 8

    def batch(self, indices: np.ndarray, rng: np.random.Generator) -> Batch:
        idx = torch.as_tensor(np.asarray(indices, dtype=np.int64))
        x = torch.linspace(0, 1, 64)[None, None, :, None].expand(len(idx), 1, 64, 40)
        return Batch(x=x.contiguous(), labels={"digit": idx % 10}, index=idx)


def test_preview_draws_spectrograms(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake = Registry[object]("suite")
    fake.register("fake-audio", lambda split: _FakeSpectrograms(), description="x")
    monkeypatch.setattr(registry, "SUITES", fake)
    out = tmp_path / "s.png"
    assert main(["preview", "fake-audio", "--out", str(out), "--n", "1"]) == 0
    img = imread(out)[..., :3]
    # magma colour map, low frequencies at the bottom: the panel's bottom is darker than its top
    col = img[:, img.shape[1] // 2]
    rows = np.flatnonzero(np.abs(col - 1.0).sum(1) > 0.05)  # non-white rows
    top, bottom = col[rows[len(rows) // 4]].sum(), col[rows[3 * len(rows) // 4]].sum()
    assert top > bottom


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["preview", "no-such-suite", "--out", "x.png"], "unknown suite"),
        (["preview", "multidigits", "--out", "x.png", "--n", "0"], "--n must be in"),
        (["preview", "multidigits", "--out", "x.txt"], "--out must end in"),
        (["preview", "multidigits", "--out", "x.png", "-o", "size_a=24"], "impossible sizes"),
        (["preview", "multidigits", "--out", "x.png", "-o", "colour=red"], "unknown option"),
        (["list", "no-such-suite"], "unknown suite"),
    ],
)
def test_bad_arguments_exit_2(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    argv = [str(tmp_path / a) if a.startswith("x.") else a for a in argv]
    assert main(argv) == 2
    assert message in capsys.readouterr().err


@pytest.mark.parametrize("argv", [["preview", "multidigits"], ["preview"], ["frobnicate"]])
def test_malformed_command_lines_exit_2(argv: list[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(argv)
    assert info.value.code == 2


def test_module_entry_point(tmp_path: Path) -> None:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    bad = subprocess.run(
        [
            sys.executable,
            "-m",
            "empirical.data",
            "preview",
            "nope",
            "--out",
            str(tmp_path / "x.png"),
        ],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    assert bad.returncode == 2 and "unknown suite 'nope'" in bad.stderr
