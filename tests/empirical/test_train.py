"""Tiny end-to-end runs of the training loop (empirical.train) on an in-test overlay suite.

``tiny_suite`` below is also used by test_resume.py and test_distributed.py, in subprocesses, as
``data.suite=test_train:tiny_suite`` with this folder on PYTHONPATH.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch

from empirical.config import Config, apply_overrides, from_dict
from empirical.data.base import Batch, TaskSpec

HERE = Path(__file__).resolve().parent


class TinySuite:
    """A 4 x 4 class overlay suite of ``n`` 3 x 16 x 16 images (cheap, for the loop's tests).

    Background class: one of 4 fixed random textures (plus per-example noise); overlay class: a
    bright 4 x 4 square in one of 4 quadrants. ``x_clean`` is the image without its square.
    ``jitter``: each read scales the image by a factor drawn from ``rng`` (per-read randomness,
    as overlay suites have). ``nan_after``: reads after this many return NaN images (to test the
    non-finite stop). ``bits``: RandBits-style post-view channels (deterministic per example).
    ``sort_labels``: examples stored sorted by background class (as the natural-photo suites are).
    ``read_indices`` records every index read.
    """

    name = "tiny"

    def __init__(
        self,
        split: str = "train",
        n: int = 64,
        jitter: bool = True,
        nan_after: int = -1,
        bits: int = 0,
        seed: int = 0,
        sort_labels: bool = False,
    ) -> None:
        self.split, self.jitter, self.nan_after, self.bits = split, jitter, nan_after, bits
        self.reads = 0
        size = 16
        self.input_shape = (3, size, size)
        self.tasks = (
            TaskSpec("background", "classification", num_classes=4),
            TaskSpec("overlay", "classification", num_classes=4),
        )
        rng = np.random.default_rng([seed, split == "test"])
        textures = np.random.default_rng(seed + 99).uniform(0.0, 0.6, (4, 3, size, size))
        self.bg = rng.integers(0, 4, n)
        self.ov = rng.integers(0, 4, n)
        if sort_labels:
            self.bg = np.sort(self.bg)
        self.read_indices: list[int] = []
        noise = rng.uniform(0.0, 0.2, (n, 3, size, size))
        self.clean = (textures[self.bg] + noise).astype(np.float32)
        masks = np.zeros((4, 1, size, size), dtype=bool)
        for q in range(4):
            r, c = divmod(q, 2)
            masks[q, :, 2 + 8 * r : 6 + 8 * r, 2 + 8 * c : 6 + 8 * c] = True
        self.masks = masks
        self.code = rng.integers(0, 2, (n, max(bits, 1))).astype(np.float32)[:, :bits]

    def __len__(self) -> int:
        return len(self.bg)

    def batch(self, indices: np.ndarray, rng: np.random.Generator) -> Batch:
        idx = np.asarray(indices, dtype=np.int64)
        self.read_indices.extend(idx.tolist())
        clean = torch.from_numpy(self.clean[idx])
        mask = torch.from_numpy(self.masks[self.ov[idx]])
        x = torch.where(mask, torch.ones_like(clean), clean)
        if self.jitter:
            scale = torch.from_numpy(rng.uniform(0.8, 1.0, (len(idx), 1, 1, 1)).astype(np.float32))
            x, clean = x * scale, clean * scale
        self.reads += 1
        if 0 <= self.nan_after < self.reads:
            x = torch.full_like(x, float("nan"))
        return Batch(
            x=x,
            labels={
                "background": torch.from_numpy(self.bg[idx]),
                "overlay": torch.from_numpy(self.ov[idx]),
            },
            index=torch.from_numpy(idx),
            x_clean=clean,
            overlay_mask=mask,
            post_view_channels=torch.from_numpy(self.code[idx]) if self.bits else None,
        )


def tiny_suite(split: str = "train", **options: object) -> TinySuite:
    return TinySuite(split=split, **options)  # type: ignore[arg-type]


TINY = [
    "data.suite=test_train:tiny_suite",
    "data.knn_bank=32",
    "data.knn_test=32",
    "model.encoder=small_resnet",
    "model.width=4",
    "model.head_hidden=16",
    "model.out_dim=8",
    "views.vm_width=2",
    "views.vm_blocks=1",
    "views.crop_min=0.5",
    "optim.batch_size=16",
    "optim.optimizer=adam",
    "optim.lr=0.003",
    "optim.epochs=2",
    "loss.temperature=0.2",
    "run.device=cpu",
    "run.knn_k=5",
]


def tiny_config(*extra: str) -> Config:
    return apply_overrides(Config(), [*TINY, *extra])


@pytest.fixture(autouse=True)
def _tiny_on_path(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.syspath_prepend(str(HERE))


def read_metrics(run_dir: Path) -> list[dict]:
    return [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]


@pytest.mark.slow
@pytest.mark.parametrize(
    "views", [["views.name=expert"], ["views.name=oracle", "views.p=0.5"], ["views.name=viewmaker"]]
)
def test_tiny_run_writes_run_directory(tmp_path: Path, views: list[str]) -> None:
    from empirical.checkpoint import load_checkpoint
    from empirical.train import train

    cfg = tiny_config(*views)
    summary = train(cfg, tmp_path)
    assert summary["status"] == "completed"
    assert summary["global_step"] == 2 * (64 // 16)
    assert math.isfinite(summary["final_loss"])
    # resolved config saved as JSON and inside the checkpoint, identical to what was run
    assert from_dict(json.loads((tmp_path / "config.json").read_text())) == cfg
    state = load_checkpoint(tmp_path / "last.pt")
    assert from_dict(state["config"]) == cfg
    assert (state["epoch"], state["step"]) == (2, 0)
    metrics = read_metrics(tmp_path)
    steps = [m for m in metrics if m["type"] == "step"]
    epochs = [m for m in metrics if m["type"] == "epoch"]
    assert [m["global_step"] for m in steps] == list(range(1, 9))
    assert all(math.isfinite(m["loss"]) and m["img_per_s"] > 0 for m in steps)
    assert len(epochs) == 2
    assert set(epochs[-1]["knn"]) == {"background", "overlay"}
    assert all(0.0 <= a <= 1.0 for a in epochs[-1]["knn"].values())
    on_disk = json.loads((tmp_path / "summary.json").read_text())
    assert on_disk["status"] == "completed"
    if "views.name=viewmaker" in views:
        assert "viewmaker" in state["models"] and state["vm_optimizer"] is not None


@pytest.mark.slow
def test_step_knn_monitor_records_a_curve(tmp_path: Path) -> None:
    """``run.knn_every_steps=3`` writes a ``knn`` record after steps 3 and 6 (8 steps in two
    epochs of 4); ``run.knn_every=2`` adds one at the end of epoch 2 only, and the epoch the
    epoch monitor skipped records ``{}``, not the last step point's result."""
    from empirical.train import train
    from figures.experiments.common import read_knn_curve

    train(tiny_config("run.knn_every=2", "run.knn_every_steps=3"), tmp_path)
    metrics = read_metrics(tmp_path)
    points = [m for m in metrics if m["type"] == "knn"]
    assert [m["global_step"] for m in points] == [3, 6]
    assert [m["epoch"] for m in points] == [0, 1]
    assert all(set(m["knn"]) == {"background", "overlay"} for m in points)
    epochs = [m for m in metrics if m["type"] == "epoch"]
    assert epochs[0]["knn"] == {}
    assert set(epochs[1]["knn"]) == {"background", "overlay"}
    steps, knn = read_knn_curve(tmp_path)
    assert steps == [3, 6, 8]
    assert knn["overlay"] == [
        points[0]["knn"]["overlay"],
        points[1]["knn"]["overlay"],
        epochs[1]["knn"]["overlay"],
    ]


@pytest.mark.slow
def test_expert_loss_decreases(tmp_path: Path) -> None:
    from empirical.train import train

    cfg = tiny_config("views.name=expert", "optim.epochs=6", "run.knn_every=0")
    summary = train(cfg, tmp_path)
    epochs = [m["loss"] for m in read_metrics(tmp_path) if m["type"] == "epoch"]
    assert summary["status"] == "completed" and len(epochs) == 6
    assert epochs[-1] < epochs[0] - 0.1, epochs


def test_viewmaker_step_reverses_its_gradient() -> None:
    """One step through the loop's step function: the encoder descends the loss and the viewmaker
    ascends it (its gradient is the negative of the plain loss gradient on the same views)."""
    from empirical.compute import Compute
    from empirical.distributed import DistInfo
    from empirical.parts import build_parts
    from empirical.step import loss_terms

    cfg = tiny_config("views.name=viewmaker")
    cpu = torch.device("cpu")
    batch = TinySuite(n=16).batch(np.arange(16), np.random.default_rng(0))
    grads = []
    for reverse in (True, False):
        parts = build_parts(cfg, 3, 3, 8, 4, cpu, DistInfo())
        if not reverse:  # the same views, without gradient reversal
            views = parts.views

            def plain(b: Batch, g: torch.Generator, views=views) -> object:
                pair = views(b, g)
                pair.adversarial = False
                return pair

            parts.views = plain
        loss = loss_terms(parts, batch, cfg, DistInfo(), Compute(cpu, torch.float32, None)).total
        loss.backward()
        assert parts.viewmaker is not None
        grads.append(torch.cat([p.grad.flatten() for p in parts.viewmaker.parameters()]))
        enc = torch.cat([p.grad.flatten() for p in parts.encoder.parameters()])
        grads.append(enc)
    vm_rev, enc_rev, vm_plain, enc_plain = grads
    assert vm_rev.abs().max() > 0
    torch.testing.assert_close(vm_rev, -vm_plain)
    torch.testing.assert_close(enc_rev, enc_plain)


def test_nonfinite_loss_stops_and_keeps_checkpoint(tmp_path: Path) -> None:
    from empirical.train import EXIT_NONFINITE, main

    # 4 steps per epoch; reads 1-4 are epoch 1 (plus one probe read first), read 7 is NaN
    run = tmp_path / "run"
    argv = [*TINY, "data.options.nan_after=6", "run.knn_every=0", "--out", str(run), "--quiet"]
    assert main(argv) == EXIT_NONFINITE
    from empirical.checkpoint import load_checkpoint

    state = load_checkpoint(run / "last.pt")
    assert (state["epoch"], state["step"]) == (1, 0)  # the end-of-epoch-1 checkpoint survives
    assert all(torch.isfinite(v).all() for v in state["models"]["encoder"].values())
    summary = json.loads((run / "summary.json").read_text())
    assert summary["status"] == "nonfinite" and "non-finite loss" in summary["message"]


def test_post_view_channels_reach_the_encoder(tmp_path: Path) -> None:
    from empirical.checkpoint import load_checkpoint
    from empirical.train import train

    cfg = tiny_config("data.options.bits=5", "optim.epochs=1", "run.knn_every=0")
    train(cfg, tmp_path)
    w = load_checkpoint(tmp_path / "last.pt")["models"]["encoder"]
    first_conv = next(v for k, v in w.items() if v.dim() == 4)
    assert first_conv.shape[1] == 3 + 5


def test_lr_factor_exact_values() -> None:
    from empirical.parts import lr_factor

    assert lr_factor(0, 100, 10, "constant") == pytest.approx(0.1)
    assert lr_factor(9, 100, 10, "constant") == 1.0
    assert lr_factor(50, 100, 0, "constant") == 1.0
    assert lr_factor(0, 100, 0, "cosine") == 1.0
    assert lr_factor(50, 100, 0, "cosine") == pytest.approx(0.5)
    assert lr_factor(100, 100, 0, "cosine") == pytest.approx(0.0)


def test_knn_monitor_exact_on_separable_features() -> None:
    """Encoder = identity on one-hot-like inputs: every query's nearest bank items share its
    class, so accuracy is 1; with shuffled bank labels and k=1 it is the matching rate."""
    from empirical.knn import knn_monitor

    class Flat(torch.nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return x.flatten(1)

    def make(labels: np.ndarray) -> Batch:
        x = torch.zeros(len(labels), 4, 1, 1)
        x[torch.arange(len(labels)), torch.from_numpy(labels)] = 1.0
        return Batch(x=x, labels={"c": torch.from_numpy(labels)}, index=torch.arange(len(labels)))

    bank = make(np.array([0, 1, 2, 3] * 3))
    query = make(np.array([3, 2, 1, 0, 0]))
    task = TaskSpec("c", "classification", num_classes=4)
    assert knn_monitor(Flat(), bank, query, (task,), 3, torch.device("cpu")) == {"c": 1.0}
    wrong = Batch(x=bank.x, labels={"c": (bank.labels["c"] + 1) % 4}, index=bank.index)
    assert knn_monitor(Flat(), wrong, query, (task,), 1, torch.device("cpu")) == {"c": 0.0}


@pytest.mark.slow
@pytest.mark.parametrize("gp", [0.0, 0.1])
def test_foster_colour_views_with_gradient_penalty(tmp_path: Path, gp: float) -> None:
    from empirical.train import train

    cfg = tiny_config(
        "views.name=foster",
        f"regulariser.weight={gp}",
        "regulariser.num_samples=4",
        "optim.epochs=1",
        "run.knn_every=0",
    )
    summary = train(cfg, tmp_path)
    assert summary["status"] == "completed" and math.isfinite(summary["final_loss"])


@pytest.mark.slow
def test_spirograph_with_gradient_penalty_reports_regression_knn(tmp_path: Path) -> None:
    from empirical.train import train

    cfg = tiny_config(
        "data.suite=spirograph",
        "data.options.n_train=64",
        "data.options.n_test=32",
        "views.name=spirograph",
        "regulariser.weight=0.01",
        "regulariser.cap=1000",
        "regulariser.num_samples=4",
        "optim.epochs=1",
    )
    summary = train(cfg, tmp_path)
    assert summary["status"] == "completed" and math.isfinite(summary["final_loss"])
    assert set(summary["knn"]) == {"targets"} and summary["knn"]["targets"] <= 1.0


def test_gradient_penalty_needs_differentiable_views(tmp_path: Path) -> None:
    from empirical.config import ConfigError
    from empirical.train import train

    cfg = tiny_config("views.name=expert", "regulariser.weight=0.1", "optim.epochs=1")
    with pytest.raises(ConfigError, match=r"regulariser\.weight"):
        train(cfg, tmp_path)


def test_bf16_autocast_on_cpu_runs(tmp_path: Path) -> None:
    from empirical.train import train

    cfg = tiny_config("run.precision=bf16", "optim.epochs=1", "run.knn_every=0")
    summary = train(cfg, tmp_path)
    assert summary["status"] == "completed" and math.isfinite(summary["final_loss"])
    assert summary["precision"] == "bfloat16"


def test_fp16_on_cpu_is_a_config_error() -> None:
    from empirical.config import ConfigError
    from empirical.parts import resolve_precision

    with pytest.raises(ConfigError, match=r"run\.precision"):
        resolve_precision("fp16", torch.device("cpu"))
    assert resolve_precision("auto", torch.device("cpu")) is None


def test_resuming_a_finished_run_changes_nothing(tmp_path: Path) -> None:
    from empirical.checkpoint import load_checkpoint
    from empirical.train import train

    cfg = tiny_config("optim.epochs=1", "run.knn_every=0")
    first = train(cfg, tmp_path)
    before = load_checkpoint(tmp_path / "last.pt")["models"]["encoder"]
    again = train(cfg, tmp_path, resume=True)
    assert again["final_loss"] == first["final_loss"] and again["status"] == "completed"
    after = load_checkpoint(tmp_path / "last.pt")["models"]["encoder"]
    assert all(torch.equal(before[k], after[k]) for k in before)


def test_datasets_can_be_passed_in(tmp_path: Path) -> None:
    """train(..., datasets=(train, held_out)) uses them instead of building cfg.data."""
    from empirical.train import train

    cfg = tiny_config("data.suite=no-such-suite", "optim.epochs=1")
    summary = train(cfg, tmp_path, datasets=(TinySuite(n=32), TinySuite("test", n=16)))
    assert summary["status"] == "completed" and summary["global_step"] == 2
    assert set(summary["knn"]) == {"background", "overlay"}


def test_training_subset_is_seeded_random_not_a_prefix() -> None:
    from empirical.plan import training_subset

    a = training_subset(3, 1000, 100)
    assert np.array_equal(a, training_subset(3, 1000, 100))  # a pure function of the seed
    assert not np.array_equal(a, training_subset(4, 1000, 100))
    assert len(np.unique(a)) == 100 and np.all(np.diff(a) > 0) and a.max() < 1000
    assert a.max() > 500  # not the first 100 examples
    assert np.array_equal(training_subset(3, 50, 0), np.arange(50))
    assert np.array_equal(training_subset(3, 50, 80), np.arange(50))


def test_train_size_subset_covers_every_class_of_a_class_sorted_suite(tmp_path: Path) -> None:
    """Labels stored sorted (class 0 first): the first 32 of 256 examples are all class 0, a
    random subset of 32 covers the 4 classes; every epoch reads exactly that subset."""
    from empirical.train import train

    train_set = TinySuite(n=256, sort_labels=True)
    assert set(train_set.bg[:32].tolist()) == {0}
    cfg = tiny_config("data.train_size=32", "run.knn_every=0")
    assert train(cfg, tmp_path / "run", datasets=(train_set, None))["status"] == "completed"
    reads = np.array(train_set.read_indices[2:])  # after the 2-example shape probe
    assert len(reads) == 2 * 32  # 2 epochs x 2 steps x batch 16
    assert len(np.unique(reads[:32])) == 32  # each epoch visits each subset example once
    assert set(reads[:32].tolist()) == set(reads[32:].tolist())
    assert set(train_set.bg[reads].tolist()) == {0, 1, 2, 3}


def test_build_parts_and_train_leave_the_global_torch_rng_alone(tmp_path: Path) -> None:
    """build_parts initialises from run.seed in a fork of torch's global RNG: the caller's
    global state is unchanged, and the initial weights depend on run.seed only."""
    from empirical.distributed import DistInfo
    from empirical.parts import build_parts
    from empirical.train import train

    cfg = tiny_config("views.name=viewmaker")
    cpu = torch.device("cpu")
    torch.manual_seed(123)
    before = torch.get_rng_state()
    a = build_parts(cfg, 3, 3, 8, 4, cpu, DistInfo())
    assert torch.equal(torch.get_rng_state(), before)
    torch.rand(5)  # another global state: the same weights
    b = build_parts(cfg, 3, 3, 8, 4, cpu, DistInfo())
    for m in ("encoder", "head", "viewmaker"):
        for (k, ta), tb in zip(
            a.modules()[m].state_dict().items(), b.modules()[m].state_dict().values(), strict=True
        ):
            assert torch.equal(ta, tb), f"{m}.{k}"
    other = build_parts(
        tiny_config("views.name=viewmaker", "run.seed=1"), 3, 3, 8, 4, cpu, DistInfo()
    )
    w = next(iter(a.encoder.parameters()))
    assert not torch.equal(w, next(iter(other.encoder.parameters())))
    before = torch.get_rng_state()
    train(tiny_config("run.knn_every=0", "optim.epochs=1"), tmp_path / "run")
    assert torch.equal(torch.get_rng_state(), before)


def test_channels_last_is_off_by_default_and_refused_on_the_cpu() -> None:
    """run.channels_last (torch's oneDNN CPU kernels give wrong strided-1x1 gradients in that
    format, issue 8): off by default, so the encoder's weights stay contiguous; asking for it on
    the CPU is a ConfigError naming the key, not a silently wrong run."""
    from empirical.config import ConfigError
    from empirical.distributed import DistInfo
    from empirical.parts import build_parts

    cpu = torch.device("cpu")
    parts = build_parts(tiny_config(), 3, 3, 8, 4, cpu, DistInfo())
    convs = [p for p in parts.encoder.parameters() if p.dim() == 4]
    assert convs and all(p.is_contiguous() for p in convs)
    with pytest.raises(ConfigError, match=r"run\.channels_last"):
        build_parts(tiny_config("run.channels_last=true"), 3, 3, 8, 4, cpu, DistInfo())


@pytest.mark.parametrize("name", ["SIGINT", "SIGTERM", "SIGUSR2"])
def test_stop_flag_records_stop_signals(name: str) -> None:
    """SIGUSR2 (Slurm's warning before preemption) stops a run like SIGTERM: the flag records it
    and the previous handler comes back afterwards."""
    import signal

    from empirical.train import StopFlag

    sig = getattr(signal, name)
    before = signal.getsignal(sig)
    flag = StopFlag()
    with flag.installed():
        signal.raise_signal(sig)
    assert flag.signum == sig
    assert signal.getsignal(sig) == before
