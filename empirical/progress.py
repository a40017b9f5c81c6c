"""Progress display for the training loop: a tqdm bar (loss, img/s, ETA) or plain log lines."""

from __future__ import annotations

import sys
import time
from collections.abc import Mapping
from typing import TextIO

from tqdm import tqdm


def format_seconds(s: float) -> str:
    s = max(0, round(s))
    return f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}"


def format_parts(parts: Mapping[str, float]) -> str:
    """`` (contrastive 1.2345 penalty 0.0100)`` for ``parts``; "" when empty."""
    if not parts:
        return ""
    return " (" + " ".join(f"{k} {v:.4f}" for k, v in parts.items()) + ")"


class Progress:
    """One epoch's progress: ``update(loss, img_per_s, parts)`` after every step.

    ``parts``: named components of the loss shown after it (e.g. ``contrastive`` and
    ``penalty`` of a gradient-penalty run), ``{}`` for none.

    With ``quiet`` (or when ``enabled`` is False, e.g. on ranks other than 0) there is no bar;
    ``quiet`` prints a plain line every ``log_every`` steps and at the end of the epoch.
    """

    def __init__(
        self,
        epoch: int,
        epochs: int,
        start_step: int,
        total_steps: int,
        *,
        quiet: bool,
        log_every: int,
        enabled: bool = True,
        stream: TextIO | None = None,
    ) -> None:
        self.epoch, self.epochs = epoch, epochs
        self.step, self.total = start_step, total_steps
        self.quiet, self.log_every, self.enabled = quiet, log_every, enabled
        self.stream = stream or sys.stderr
        self.start_time, self.start_step = time.perf_counter(), start_step
        self.bar: tqdm | None = None
        if enabled and not quiet:
            self.bar = tqdm(
                total=total_steps,
                initial=start_step,
                desc=f"epoch {epoch + 1}/{epochs}",
                unit="step",
                file=self.stream,
                dynamic_ncols=True,
                leave=True,
            )

    def update(
        self, loss: float, img_per_s: float, parts: Mapping[str, float] | None = None
    ) -> None:
        self.step += 1
        if not self.enabled:
            return
        parts = parts or {}
        if self.bar is not None:
            shown = {"loss": f"{loss:.4f}", **{k: f"{v:.4f}" for k, v in parts.items()}}
            self.bar.set_postfix(shown, img_s=f"{img_per_s:.0f}", refresh=False)
            self.bar.update(1)
        elif self.step % self.log_every == 0 or self.step == self.total:
            done = self.step - self.start_step
            elapsed = time.perf_counter() - self.start_time
            eta = elapsed / max(done, 1) * (self.total - self.step)
            print(
                f"epoch {self.epoch + 1}/{self.epochs} step {self.step}/{self.total} "
                f"loss {loss:.4f}{format_parts(parts)} {img_per_s:.0f} img/s "
                f"eta {format_seconds(eta)}",
                file=self.stream,
                flush=True,
            )

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()

    def log(self, message: str) -> None:
        if self.enabled:
            if self.bar is not None:
                self.bar.write(message, file=self.stream)
            else:
                print(message, file=self.stream, flush=True)
