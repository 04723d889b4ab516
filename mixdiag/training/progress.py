"""What ``mixdiag train`` tells a person while it runs: one line per epoch and a closing summary.

Plain lines on stderr, written whether or not stderr is a terminal, so a run under nohup, a
scheduler or CI shows its progress in its log. The trainer calls :class:`EpochLog` on rank 0
only; ``quiet`` silences it.
"""

from __future__ import annotations

import math
import sys
from pathlib import Path
from typing import Optional, TextIO

__all__ = ["EpochLog", "best_epoch", "format_duration"]

_SHORT = {"accuracy": "acc", "macro_auc": "macro AUC"}


def format_duration(seconds: float) -> str:
    """``4.2 s``, ``3m 05s`` or ``2h 01m``."""
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, secs = divmod(round(seconds), 60)
    if minutes < 60:
        return f"{minutes}m {secs:02d}s"
    return f"{minutes // 60}h {minutes % 60:02d}m"


def best_epoch(history: list[dict], selected_on: Optional[str]) -> Optional[dict]:
    """The record ``best.pt`` holds: the first epoch with the highest ``selected_on`` metric
    (the trainer replaces ``best.pt`` only on a strict improvement); None without one."""
    best = None
    for record in history:
        score = record.get(selected_on, math.nan) if selected_on else math.nan
        if not math.isnan(score) and (best is None or score > best[selected_on]):
            best = record
    return best


class EpochLog:
    """Prints the per-epoch lines and the summary of one training run.

    Args:
        epochs: the run's total number of epochs.
        headline: the metric key without split, e.g. ``accuracy`` or ``macro_auc``.
        selected_on: the metric that picks ``best.pt`` (``val_accuracy``), or None when the
            run has no validation split and so no ``best.pt``.
        enabled: False prints nothing (``quiet``, or a process other than rank 0).
        stream: where the lines go; stderr by default.
    """

    def __init__(self, epochs: int, headline: str, selected_on: Optional[str], enabled: bool = True, stream: Optional[TextIO] = None):
        self.epochs, self.headline, self.selected_on, self.enabled = epochs, headline, selected_on, enabled
        self.stream = stream

    def _print(self, text: str) -> None:
        if self.enabled:
            print(text, file=self.stream or sys.stderr, flush=True)

    def _metrics(self, record: dict) -> str:
        splits = ("val", "test") if self.selected_on else ("test",)
        name = _SHORT.get(self.headline, self.headline)
        return "  ".join(f"{split} {name} {record[f'{split}_{self.headline}']:.4f}" for split in splits)

    def epoch(self, record: dict, improved: bool) -> None:
        """One line: epoch/total, lr, train loss, headline metric(s), epoch time, and ``*best``."""
        width = len(str(self.epochs))
        line = (
            f"epoch {record['epoch']:>{width}}/{self.epochs}  lr {record['lr']:.4g}  train loss {record['train_loss']:.4f}  "
            f"{self._metrics(record)}  {format_duration(record['epoch_seconds'])}"
        )
        self._print(line + ("  *best" if improved else ""))

    def summary(self, history: list[dict], trained: int, seconds: float, paths: dict[str, Path]) -> None:
        """The closing lines: last and best epoch with their metrics, wall time and output paths.

        Args:
            history: every epoch's record, resumed ones included.
            trained: epochs this call trained (fewer than ``len(history)`` after a resume).
            seconds: wall time of this call.
            paths: label -> path of each output; ``best.pt`` is replaced by the reason it is missing.
        """
        resumed = f", resumed after epoch {len(history) - trained}" if trained < len(history) else ""
        lines = [f"trained {trained} epoch{'s' * (trained != 1)} in {format_duration(seconds)}{resumed}"]
        if history:
            lines.append(f"  last: epoch {history[-1]['epoch']}  {self._metrics(history[-1])}")
        best = best_epoch(history, self.selected_on)
        if best is not None:
            lines.append(f"  best: epoch {best['epoch']}  {self._metrics(best)}  (best.pt, selected on {self.selected_on})")
        elif self.selected_on is None:
            lines.append("  best: none (no validation split, val_fraction 0): the run keeps only last.pt")
        width = max(map(len, paths))
        lines += [f"  {label:<{width}}  {path}" for label, path in paths.items()]
        self._print("\n".join(lines))
