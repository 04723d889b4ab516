"""The dataset every loader returns, and the registry that finds loaders by name.

Data stay as tensors: images as ``(N, C, H, W)``, signals as ``(N, C, L)``, in whatever
storage dtype the source has (``uint8`` for images keeps ChestX-ray14 at 224x224 in
memory); the image-layout loaders (imagefolder, multilabel-csv) hand out tensors mapped from
a decoded cache on disk, which training and analysis index batch by batch.
:meth:`Dataset.normalize` turns a batch into normalised ``float32`` on the training device,
so the conversion costs nothing per epoch on the host.
"""

from __future__ import annotations

import fnmatch
import inspect
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Optional

import torch

from ..errors import DataError, MixdiagError

__all__ = ["Dataset", "register_dataset", "list_datasets", "load_dataset", "takes_run_val_fraction"]


@dataclass
class Dataset:
    """Train/test (and optional validation) tensors plus what a model needs to know.

    Args:
        name: registry name of the loader that produced it.
        x_train, x_test: inputs, ``(N, C, H, W)`` or ``(N, C, L)``; any dtype.
        y_train, y_test: ``int64 (N,)`` class indices, or ``float32 (N, L)`` 0/1 labels
            when ``multilabel``.
        num_classes: number of classes, or of labels when ``multilabel``.
        class_names: one readable name per class or label.
        mean, std: per-channel statistics applied after ``scale`` by :meth:`normalize`.
        scale: factor applied to the stored values before normalising (1/255 for uint8).
        augment: ``"crop-flip"``, ``"crop"`` (no flip: digits, X-rays keep their
            orientation), ``"shift"`` (1-D random circular shift) or ``"none"``.
        x_val, y_val: optional validation split (threshold selection, model selection).
        corrupted: bool mask over the training labels that were corrupted
            (``(N,)`` or ``(N, L)``), or None when no corruption was applied.
        info: free-form provenance (source directory, split sizes, ...) for ``config.json``.
    """

    name: str
    x_train: torch.Tensor
    y_train: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor
    num_classes: int
    class_names: list[str]
    mean: tuple[float, ...]
    std: tuple[float, ...]
    scale: float = 1.0
    augment: str = "none"
    multilabel: bool = False
    x_val: Optional[torch.Tensor] = None
    y_val: Optional[torch.Tensor] = None
    corrupted: Optional[torch.Tensor] = None
    info: dict = field(default_factory=dict)

    @property
    def in_channels(self) -> int:
        return int(self.x_train.shape[1])

    @property
    def input_shape(self) -> tuple[int, ...]:
        """Shape of one sample, without the batch dimension."""
        return tuple(int(s) for s in self.x_train.shape[1:])

    @property
    def ndim(self) -> int:
        """Spatial dimensions of a sample: 2 for images, 1 for signals."""
        return self.x_train.dim() - 2

    def split(self, name: str) -> tuple[torch.Tensor, torch.Tensor]:
        """Return ``(x, y)`` of ``"train"``, ``"test"`` or ``"val"``."""
        if name == "train":
            return self.x_train, self.y_train
        if name == "test":
            return self.x_test, self.y_test
        if name == "val":
            if self.x_val is None:
                raise MixdiagError(
                    f"dataset {self.name!r} has no validation split (a run trained with --val-fraction 0 holds none out); "
                    "use --split train or test"
                )
            return self.x_val, self.y_val
        raise MixdiagError(f"unknown split {name!r}; use train, test or val")

    def normalize(self, x: torch.Tensor) -> torch.Tensor:
        """Map a stored batch to normalised float32 on the batch's device."""
        x = x.float()
        if self.scale != 1.0:
            x = x * self.scale
        shape = (1, -1) + (1,) * (x.dim() - 2)
        mean = torch.tensor(self.mean, dtype=x.dtype, device=x.device).view(shape)
        std = torch.tensor(self.std, dtype=x.dtype, device=x.device).view(shape)
        return (x - mean) / std

    def validate(self) -> "Dataset":
        """Check shapes and label types; raise :class:`DataError` naming the first problem."""
        for split in ("train", "test") + (("val",) if self.x_val is not None else ()):
            x, y = self.split(split)
            if x.dim() not in (3, 4):
                raise DataError(f"{self.name}: {split} inputs have shape {tuple(x.shape)}; expected (N, C, L) or (N, C, H, W)")
            if x.shape[0] != y.shape[0]:
                raise DataError(f"{self.name}: {split} has {x.shape[0]} inputs but {y.shape[0]} labels")
            if x.shape[0] == 0:
                raise DataError(f"{self.name}: the {split} split is empty")
            if tuple(x.shape[1:]) != self.input_shape:
                raise DataError(f"{self.name}: {split} inputs have shape {tuple(x.shape[1:])}, train has {self.input_shape}")
            if self.multilabel:
                if y.dim() != 2 or y.shape[1] != self.num_classes:
                    raise DataError(f"{self.name}: {split} labels have shape {tuple(y.shape)}; expected (N, {self.num_classes})")
            elif y.dim() != 1 or y.dtype != torch.int64:
                raise DataError(f"{self.name}: {split} labels must be int64 class indices of shape (N,)")
            elif int(y.min()) < 0 or int(y.max()) >= self.num_classes:
                raise DataError(f"{self.name}: {split} labels fall outside 0..{self.num_classes - 1}")
        if len(self.mean) != self.in_channels or len(self.std) != self.in_channels:
            raise DataError(f"{self.name}: mean/std have {len(self.mean)} entries for {self.in_channels} channels")
        if len(self.class_names) != self.num_classes:
            raise DataError(f"{self.name}: {len(self.class_names)} class names for {self.num_classes} classes")
        return self


_LOADERS: dict[str, Callable[..., Dataset]] = {}
_RUN_VAL_FRACTION: set[str] = set()


def register_dataset(name: str, *, run_val_fraction: bool = False):
    """Register ``fn(data_dir: Path | None, *, seed: int, **options) -> Dataset`` under ``name``.

    Args:
        name: the name ``--dataset`` and :func:`load_dataset` take.
        run_val_fraction: the loader takes a ``val_fraction`` option and a run passes it its
            ``--val-fraction``, so the loader holds out the validation split itself (as slices
            of a memory-mapped cache) instead of :func:`mixdiag.data.hold_out_validation`
            copying the training tensor.
    """

    def decorator(fn):
        if name in _LOADERS:
            warnings.warn(f"dataset {name!r} registered twice; the later one wins", stacklevel=2)
        _LOADERS[name] = fn
        _RUN_VAL_FRACTION.discard(name)
        if run_val_fraction:
            _RUN_VAL_FRACTION.add(name)
        return fn

    return decorator


def takes_run_val_fraction(name: str) -> bool:
    """Whether a run hands its ``--val-fraction`` to the loader of ``name`` (see :func:`register_dataset`)."""
    return name in _RUN_VAL_FRACTION


def list_datasets(pattern: str = "*") -> list[str]:
    """Names of the registered datasets matching a shell-style ``pattern``."""
    return sorted(n for n in _LOADERS if fnmatch.fnmatch(n, pattern))


def load_dataset(name: str, data_dir: str | Path | None = None, *, seed: int = 0, **options) -> Dataset:
    """Build the dataset ``name``; options are passed to its loader.

    >>> ds = load_dataset("digits")
    >>> ds.x_train.shape[1:], ds.num_classes
    (torch.Size([1, 8, 8]), 10)
    """
    if name not in _LOADERS:
        raise MixdiagError(f"unknown dataset {name!r}; choose one of: {', '.join(list_datasets())}")
    loader = _LOADERS[name]
    accepted = [p for p in inspect.signature(loader).parameters if p not in ("data_dir", "seed")]
    unknown = sorted(set(options) - set(accepted))
    if unknown:
        raise MixdiagError(f"dataset {name!r} has no option {', '.join(unknown)}; its options are: {', '.join(accepted) or 'none'}")
    path = Path(data_dir).expanduser() if data_dir is not None else None
    return loader(path, seed=seed, **options).validate()
