"""TensorBoard event files of a run (``mixdiag train --tensorboard``), in ``RUN/tensorboard/``.

Step = epoch. Every epoch logs its numeric metrics as ``<split>/<metric>`` (``train/loss``,
``val/accuracy``, ``test/macro_auc``, per-label AUC as ``test/auc/<label>``), ``lr`` and
``epoch_seconds``, and, on tracked epochs, ``eta2/<hidden state>``.

The checkpoint's history is the truth, as for ``metrics.jsonl``: a resumed run starts a new
event file that purges every earlier step (``purge_step=1``) and writes the history again
before it goes on, so the curves hold each epoch once, whether the kill came before or
after the last epoch's events were written.
"""

from __future__ import annotations

from pathlib import Path

from ..errors import MixdiagError

__all__ = ["TENSORBOARD_DIR", "TensorBoardLog", "require_tensorboard"]

TENSORBOARD_DIR = "tensorboard"


def require_tensorboard():
    """torch's ``SummaryWriter``, or a one-line error naming the extra that installs it."""
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:
        raise MixdiagError("--tensorboard needs the tensorboard package: pip install 'mixdiag[tensorboard]'") from None
    return SummaryWriter


class TensorBoardLog:
    """Writes a run's curves; ``history`` and ``track`` are what the checkpoint holds so far."""

    def __init__(self, run_dir: Path, history: list[dict], track: list[dict]):
        writer_class = require_tensorboard()
        self._writer = writer_class(log_dir=str(run_dir / TENSORBOARD_DIR), purge_step=1 if history else None)
        for record in history:
            self.epoch(record, [row for row in track if row["epoch"] == record["epoch"]])

    def epoch(self, record: dict, track_rows: list[dict]) -> None:
        """Log one epoch's record and the η² rows measured at its end (empty when untracked)."""
        step = record["epoch"]
        for tag, value in _scalars(record):
            self._writer.add_scalar(tag, value, step)
        for row in track_rows:
            self._writer.add_scalar(f"eta2/{row['module']}", row["eta2"], step)
        self._writer.flush()

    def close(self) -> None:
        self._writer.close()


def _scalars(record: dict):
    """``(tag, value)`` of every number in a metrics record; a label without AUC (None) is skipped."""
    for key, value in record.items():
        if key == "epoch":
            continue
        split, _, metric = key.partition("_")
        if isinstance(value, dict):
            yield from ((f"{split}/auc/{label}", auc) for label, auc in value.items() if auc is not None)
        elif split in ("train", "val", "test") and metric:
            yield f"{split}/{metric}", value
        else:
            yield key, value
