"""Checkpoints: plain data and tensors only, written atomically, loaded without running code.

A checkpoint alone is enough to rebuild the model and its data for analysis: it carries
the run's :class:`TrainConfig`, the model's registry name and constructor arguments, and
the weights. It is loaded with ``torch.load(..., weights_only=True)``, which refuses any
pickle that would construct arbitrary objects, so a shared checkpoint cannot run code.
"""

from __future__ import annotations

import hashlib
import pickle
import zipfile
from dataclasses import dataclass
from pathlib import Path

import torch

from .._device import resolve_device
from .._io import atomic_path
from ..errors import CheckpointError
from .build import build_dataset, build_model
from .config import TrainConfig

FORMAT = "mixdiag-checkpoint"
VERSION = 1
_REQUIRED = ("format", "version", "config", "model_name", "model_kwargs", "model", "epoch")


def save_checkpoint(path: str | Path, state: dict) -> None:
    """Write ``state`` (see :func:`load_checkpoint` for its keys) atomically to ``path``."""
    with atomic_path(path) as tmp:
        torch.save({"format": FORMAT, "version": VERSION, **state}, tmp)


def load_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> dict:
    """Read a mixdiag checkpoint safely; raise :class:`CheckpointError` naming what is wrong.

    Returns the dict saved by the trainer, with at least ``config`` (a TrainConfig dict),
    ``model_name``, ``model_kwargs``, ``model`` (state dict) and ``epoch``.
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint {path} does not exist; pass the path of a .pt file written by mixdiag train")
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise CheckpointError(f"checkpoint {path} holds objects other than tensors and plain data, refused for safety ({first})") from exc
    except (RuntimeError, EOFError, zipfile.BadZipFile, OSError, ValueError) as exc:
        raise CheckpointError(f"checkpoint {path} is truncated or not a PyTorch file; retrain or copy it again") from exc
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise CheckpointError(f"{path} is not a mixdiag checkpoint; pass a file from <run>/checkpoints/")
    missing = [k for k in _REQUIRED if k not in state]
    if missing:
        raise CheckpointError(f"checkpoint {path} lacks {', '.join(missing)}; it was not written by mixdiag train")
    if state["version"] > VERSION:
        raise CheckpointError(f"checkpoint {path} has format version {state['version']}; upgrade mixdiag to read it")
    return state


def file_sha256(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


@dataclass
class LoadedRun:
    """What :func:`load` returns: the trained model, its data, and the run's settings."""

    model: torch.nn.Module
    dataset: object
    config: TrainConfig
    model_name: str
    epoch: int
    path: Path
    checkpoint: dict

    @property
    def name(self) -> str:
        """The run's name: its directory when the checkpoint sits in ``<run>/checkpoints/``."""
        return self.path.parent.parent.name if self.path.parent.name == "checkpoints" else self.path.stem

    @property
    def method(self) -> str:
        return self.config.method


def load(ckpt: str | Path, device: str = "auto", with_data: bool = True) -> LoadedRun:
    """Load a checkpoint: the model in eval mode on ``device`` and, by default, its dataset.

    >>> run = load("runs/digits-erm/checkpoints/last.pt")  # doctest: +SKIP
    >>> run.model, run.dataset.x_train.shape  # doctest: +SKIP
    """
    dev = resolve_device(device)
    state = load_checkpoint(ckpt)
    config = TrainConfig.from_dict(state["config"])
    model = build_model(state["model_name"], state["model_kwargs"], config.seed)
    try:
        model.load_state_dict(state["model"])
    except RuntimeError as exc:
        raise CheckpointError(f"checkpoint {ckpt} does not fit model {state['model_name']}; it was saved from a different model") from exc
    model.to(dev).eval()
    dataset = build_dataset(config) if with_data else None
    return LoadedRun(model, dataset, config, state["model_name"], int(state["epoch"]), Path(ckpt), state)
