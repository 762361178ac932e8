"""Watching a run: a progress bar on stderr, metrics as JSON lines, and the loss curve as a PNG."""

from __future__ import annotations

import json
import math
import os
import sys
import time
from typing import IO, Any


class Progress:
    """A one-line progress bar on stderr (redrawn in place on a terminal, one line per update otherwise).

    Args:
        total: Number of steps of the run.
        start: Steps already done (when resuming).
        enabled: Print nothing when False (every process but rank 0).
        stream: Where to write; stderr by default.
        min_interval: Seconds between redraws on a terminal.
    """

    def __init__(self, total: int, *, start: int = 0, enabled: bool = True, stream: IO[str] | None = None,
                 min_interval: float = 0.2, desc: str = "") -> None:
        self.total, self.start, self.enabled, self.desc = total, start, enabled, desc
        self.stream = stream if stream is not None else sys.stderr
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self.min_interval = min_interval
        self.t0 = time.monotonic()
        self.last_draw = 0.0

    def update(self, step: int, force: bool = False, **fields: Any) -> None:
        """Show ``step`` of ``total`` with ``fields`` (``loss=…, lr=…, tok_s=…``)."""
        if not self.enabled:
            return
        now = time.monotonic()
        if self.tty and not force and now - self.last_draw < self.min_interval and step < self.total:
            return
        self.last_draw = now
        line = self.format(step, now, fields)
        if self.tty:
            self.stream.write("\r" + line + "\x1b[K")
        else:
            self.stream.write(line + "\n")
        self.stream.flush()

    def format(self, step: int, now: float, fields: dict[str, Any]) -> str:
        width = 24
        frac = min(max(step / self.total, 0.0), 1.0) if self.total else 1.0
        filled = int(frac * width)
        bar = "█" * filled + ("▌" if filled < width and frac * width - filled >= 0.5 else "")
        elapsed = now - self.t0
        done = step - self.start
        eta = elapsed / done * (self.total - step) if done > 0 else float("nan")
        parts = [f"{self.desc}{frac * 100:3.0f}% |{bar:<{width}}| {step}/{self.total}"]
        for key, value in fields.items():
            parts.append(f"{key} {format_number(value)}")
        parts.append(f"{format_duration(elapsed)}<{format_duration(eta)}")
        return "  ".join(parts)

    def close(self) -> None:
        if self.enabled and self.tty:
            self.stream.write("\n")
            self.stream.flush()


def format_number(value: Any) -> str:
    if isinstance(value, float):
        if value == 0 or math.isnan(value):
            return f"{value:g}"
        if abs(value) >= 1e4:
            return f"{value / 1e3:.1f}k"
        if abs(value) < 1e-2:
            return f"{value:.2e}"
        return f"{value:.4g}"
    return str(value)


def format_duration(seconds: float) -> str:
    if math.isnan(seconds) or math.isinf(seconds):
        return "?"
    seconds = int(seconds)
    hours, rest = divmod(seconds, 3600)
    return f"{hours}:{rest // 60:02d}:{rest % 60:02d}" if hours else f"{rest // 60:02d}:{rest % 60:02d}"


class MetricsLog:
    """Append-only JSON lines (``metrics.jsonl``); on resume, records past the resumed step are dropped."""

    def __init__(self, path: str, *, enabled: bool = True, resume_step: int | None = None) -> None:
        self.path, self.enabled = path, enabled
        if not enabled:
            return
        if resume_step is None:
            open(path, "w", encoding="utf-8").close()
        elif os.path.exists(path):
            kept = [r for r in read_jsonl(path) if r.get("step", 0) <= resume_step]
            with open(path, "w", encoding="utf-8") as f:
                f.writelines(json.dumps(r) + "\n" for r in kept)

    def write(self, **record: Any) -> None:
        if not self.enabled:
            return
        with open(self.path, "a", encoding="utf-8") as f:
            f.write(json.dumps(record) + "\n")


def read_jsonl(path: str) -> list[dict[str, Any]]:
    """The records of a JSON-lines file (a half-written last line is skipped)."""
    records = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            try:
                records.append(json.loads(line))
            except json.JSONDecodeError:
                continue
    return records


def plot_loss_curve(metrics_path: str, png_path: str, *, title: str = "MLM loss") -> bool:
    """Draw training loss (and held-out loss, if logged) against steps. Needs matplotlib (extra ``train``).

    Returns:
        Whether the PNG was written (False without matplotlib or without records).
    """
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    records = read_jsonl(metrics_path)
    train = [(r["step"], r["loss"]) for r in records if "loss" in r]
    held = [(r["step"], r["eval_loss"]) for r in records if "eval_loss" in r]
    if not train and not held:
        return False
    fig, ax = plt.subplots(figsize=(7, 4), dpi=100)
    if train:
        ax.plot(*zip(*train), label="training loss (masked tokens)", linewidth=1)
    if held:
        ax.plot(*zip(*held), "o-", label="held-out loss", linewidth=1.5)
    unigram = [r["unigram_loss"] for r in records if "unigram_loss" in r]
    if unigram:
        ax.axhline(unigram[-1], color="grey", linestyle="--", linewidth=1, label="unigram baseline (held-out)")
    ax.set_xlabel("update")
    ax.set_ylabel("cross-entropy (nats)")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(png_path)
    plt.close(fig)
    return True
