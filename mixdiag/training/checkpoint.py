"""Checkpoints: plain data and tensors only, written atomically, loaded without running code.

A checkpoint alone is enough to rebuild the model and its data for analysis: it carries
the run's :class:`TrainConfig`, the model's registry name and constructor arguments, and
the weights. It is loaded with ``torch.load(..., weights_only=True)``, which refuses any
pickle that would construct arbitrary objects, so a shared checkpoint cannot run code.
"""

from __future__ import annotations

import hashlib
import pickle
import re
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import torch

from .._device import resolve_device
from .._io import atomic_path, run_checkpoint
from ..errors import CheckpointError
from .build import build_dataset, build_model
from .config import TrainConfig

FORMAT = "mixdiag-checkpoint"
VERSION = 1
_REQUIRED = ("format", "version", "config", "model_name", "model_kwargs", "model", "epoch")
_TYPES = {"version": int, "config": dict, "model_name": str, "model_kwargs": dict, "model": dict, "epoch": int}


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
    if path.name == "best.pt" and not path.exists() and (path.parent / "last.pt").is_file():
        raise CheckpointError(
            f"{path.parent.parent} has no best.pt: it was trained without a validation split (val_fraction 0), "
            "and best.pt is chosen on validation data only; use last.pt"
        )
    if not path.is_file():
        raise CheckpointError(f"checkpoint {path} does not exist; pass the path of a .pt file written by mixdiag train")
    damaged = f"checkpoint {path} is truncated or not a PyTorch file; retrain or copy it again"
    try:
        # torch warns about pickle protocols it did not write; the error below says all.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            state = torch.load(path, map_location=map_location, weights_only=True)
    except PermissionError as exc:
        raise CheckpointError(f"cannot read checkpoint {path}: permission denied; check the file's permissions") from exc
    except pickle.UnpicklingError as exc:
        text = str(exc)
        if "Weights only load failed" not in text:
            raise CheckpointError(damaged) from exc
        # Name what the pickle asked for, but not torch's advice to allowlist it.
        named = re.search(r"GLOBAL ([\w.]+)", text)
        operand = re.search(r"Unsupported operand \d+", text)
        reason = f"it calls for {named.group(1)}" if named else operand.group(0) if operand else "unknown pickle content"
        raise CheckpointError(
            f"checkpoint {path} refused: it holds more than tensors and plain data ({reason}), and loading it could run code; "
            "load only checkpoints written by mixdiag train"
        ) from exc
    # torch's zip and pickle readers fail on damaged files with many exception types
    # (KeyError for a text file, OSError for a cut-off zip, RuntimeError for a foreign zip);
    # to the user they all mean the same.
    except Exception as exc:
        raise CheckpointError(damaged) from exc
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise CheckpointError(f"{path} is not a mixdiag checkpoint; pass a file from <run>/checkpoints/")
    missing = [k for k in _REQUIRED if k not in state]
    if missing:
        raise CheckpointError(f"checkpoint {path} lacks {', '.join(missing)}; it was not written by mixdiag train")
    wrong = [k for k, kind in _TYPES.items() if not isinstance(state[k], kind) or isinstance(state[k], bool)]
    if wrong:
        raise CheckpointError(f"checkpoint {path} has malformed {', '.join(wrong)}; it was not written by mixdiag train")
    if state["version"] > VERSION:
        raise CheckpointError(f"checkpoint {path} has format version {state['version']}; upgrade mixdiag to read it")
    return state


def restore_weights(model: torch.nn.Module, state: dict, path: str | Path) -> None:
    """Load the checkpoint's weights into ``model``, refusing weights of another architecture."""
    try:
        model.load_state_dict(state["model"])
    except (RuntimeError, TypeError, AttributeError) as exc:
        raise CheckpointError(f"checkpoint {path} does not fit model {state['model_name']}; it was saved from a different model") from exc


def check_validation(state: dict, rebuilt: Optional[dict], path: str | Path) -> None:
    """Refuse a rebuilt dataset whose held-out validation split is not the one the run trained with.

    Args:
        state: the checkpoint; its ``validation`` is the record written at training time
            (missing in checkpoints from before validation splits were held out: none).
        rebuilt: ``info["validation"]`` of the dataset rebuilt from the checkpoint's config.
        path: the checkpoint, for the message.
    """
    recorded = state.get("validation")
    if recorded != rebuilt:
        raise CheckpointError(
            f"{path}: the validation split rebuilt from its settings ({_described(rebuilt)}) is not the one it was trained with "
            f"({_described(recorded)}); the dataset's files or mixdiag's split changed: restore them or retrain"
        )


def _described(validation: Optional[dict]) -> str:
    if validation is None:
        return "none held out"
    sizes = validation["sizes"]
    return f"{sizes['val']} of {sizes['train'] + sizes['val']} training samples, digest {validation['indices_sha256'][:12]}"


def file_sha256(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


@dataclass
class LoadedRun:
    """What :func:`load` returns: the trained model, its data, and the run's settings.

    Its repr is one short line (run, method, model, epoch, dataset sizes); the weights and
    the raw checkpoint are in ``model`` and ``checkpoint``.
    """

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

    def __repr__(self) -> str:
        # The dataclass repr would print every weight and the whole checkpoint.
        fields = f"run={self.name!r}, method={self.method!r}, model={self.model_name!r}, epoch={self.epoch}, data={_sizes(self.dataset)}"
        return f"LoadedRun({fields})"


def _sizes(dataset) -> str:
    """``'digits: train 1294, val 144, test 359'``, or ``'not loaded'``."""
    if dataset is None:
        return "'not loaded'"
    splits = ("train", "val", "test") if dataset.x_val is not None else ("train", "test")
    return repr(f"{dataset.name}: " + ", ".join(f"{split} {len(dataset.split(split)[0])}" for split in splits))


def load(ckpt: str | Path, device: str = "auto", with_data: bool = True) -> LoadedRun:
    """Load a checkpoint: the model in eval mode on ``device`` and, by default, its dataset.

    ``ckpt`` is a checkpoint file or a run directory (its ``checkpoints/last.pt``).

    >>> run = load("runs/digits-erm/checkpoints/last.pt")  # doctest: +SKIP
    >>> run.model, run.dataset.x_train.shape  # doctest: +SKIP
    """
    dev = resolve_device(device)
    ckpt = run_checkpoint(ckpt)
    state = load_checkpoint(ckpt)
    config = TrainConfig.from_dict(state["config"]).validate()
    try:
        model = build_model(state["model_name"], state["model_kwargs"], config.seed)
    except TypeError as exc:
        name = state["model_name"]
        raise CheckpointError(f"checkpoint {ckpt} gives {name} arguments it does not take; it was not written by mixdiag train") from exc
    restore_weights(model, state, ckpt)
    model.to(dev).eval()
    dataset = build_dataset(config) if with_data else None
    if dataset is not None:
        check_validation(state, dataset.info.get("validation"), ckpt)
    return LoadedRun(model, dataset, config, state["model_name"], int(state["epoch"]), Path(ckpt), state)
