"""Training: settings, the loop, run directories, checkpoints and metrics.

Names load on first use (see :mod:`mixdiag._lazy`), so the CLI reads :class:`TrainConfig`'s
defaults without importing torch.
"""

from .._lazy import lazy_exports

_WHERE = {
    "LoadedRun": ".checkpoint",
    "TrainConfig": ".config",
    "load": ".checkpoint",
    "load_checkpoint": ".checkpoint",
    "save_checkpoint": ".checkpoint",
    "train": ".trainer",
}

__all__ = sorted(_WHERE)

__getattr__, __dir__ = lazy_exports(__name__, _WHERE)
