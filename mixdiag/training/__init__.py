"""Training: settings, the loop, run directories, checkpoints and metrics."""

from .checkpoint import LoadedRun, load, load_checkpoint, save_checkpoint
from .config import TrainConfig
from .trainer import train

__all__ = ["LoadedRun", "TrainConfig", "load", "load_checkpoint", "save_checkpoint", "train"]
