"""What an analysis measures: a model, its inputs, and what the outputs record about them.

The analyses (:func:`~mixdiag.analysis.report.eta2`, :func:`~mixdiag.analysis.conflict.conflict`)
take three kinds of subject, and :func:`subject_of` turns each into one :class:`Subject`:

* a mixdiag run: a checkpoint path or a :class:`~mixdiag.training.LoadedRun`, measured on a
  split of its own dataset;
* a network trained elsewhere, with a dataset: an :class:`ExternalRun` from
  :func:`load_model` (``mixdiag eta2 --model SPEC --weights W.pt --dataset NAME``);
* any ``nn.Module`` with inputs (a tensor, numpy array, Dataset or DataLoader), already as
  the model takes them.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional

import numpy as np
import torch
from torch import nn

from .._device import resolve_device
from ..errors import MixdiagError
from .sources import Source, as_source

__all__ = ["ExternalRun", "Subject", "head", "load_model", "subject_of"]


@dataclass
class ExternalRun:
    """A network trained elsewhere and the dataset to measure it on: what :func:`load_model` returns.

    Attributes:
        model: the network, in eval mode.
        dataset: a :class:`~mixdiag.data.Dataset`.
        spec: where the network comes from (``torchvision:resnet50``, ...).
        weights: the state dict file loaded, or None (random initialisation).
        weights_sha256: its SHA-256, or None.
    """

    model: nn.Module
    dataset: object
    spec: str
    weights: Optional[Path] = None
    weights_sha256: Optional[str] = None

    @property
    def name(self) -> str:
        """The weights file's stem, else the spec's model name."""
        return self.weights.stem if self.weights is not None else self.spec.rpartition(":")[2]

    def settings(self, split: str, n: int) -> dict:
        """What an analysis output records of the model and the data it measured."""
        return {"run": self.name, "method": self.name, "model": self.spec, "model_source": self.spec,
                "weights": None if self.weights is None else str(self.weights), "weights_sha256": self.weights_sha256,
                "dataset": self.dataset.name, "split": split, "n": int(n)}


def load_model(spec: str, *, weights: str | Path | None = None, dataset: str = "digits", data_dir: str | Path | None = None,
               dataset_options: Optional[dict] = None, strict: bool = True, seed: int = 0, device: str = "auto") -> ExternalRun:
    """A network trained elsewhere, built for ``dataset`` and loaded with ``weights``.

    Args:
        spec: ``torchvision:<name>``, ``timm:<name>`` or ``module:function`` (see
            :mod:`mixdiag.models.external`: how classes and channels are set).
        weights: a state dict file (``torch.save(model.state_dict(), PATH)``); None keeps
            the random initialisation.
        dataset, data_dir, dataset_options, seed: the dataset, as for :func:`mixdiag.load_dataset`.
        strict: every key of the weights must match the model.
        device: where the model is put.

    Returns:
        An :class:`ExternalRun`, its model in eval mode.
    """
    from ..data import load_dataset
    from ..models.external import build_model, load_weights
    from ..training.checkpoint import file_sha256

    ds = load_dataset(dataset, data_dir, seed=seed, **(dataset_options or {}))
    model = build_model(spec, num_classes=ds.num_classes, in_channels=ds.in_channels)
    sha = None
    if weights is not None:
        weights = Path(weights)
        load_weights(model, weights, strict=strict)
        sha = file_sha256(weights)
    model.to(resolve_device(device)).eval()
    return ExternalRun(model, ds, spec, weights, sha)


@dataclass
class Subject:
    """One model and its inputs, as an analysis reads them.

    Attributes:
        model: the network.
        x: its inputs (anything :func:`~mixdiag.analysis.sources.as_source` reads).
        y: the labels of ``x`` when known (a run's split, or the ``labels`` given), else None.
        transform: batch → model input, or None.
        settings: what the outputs record: ``run``, ``method``, ``model``, ``dataset``,
            ``split``, ``n`` and how the model was obtained.
        device: where the model runs.
        dataset: the run's :class:`~mixdiag.data.Dataset`, or None for a bare module.
    """

    model: nn.Module
    x: object
    y: Optional[object]
    transform: Optional[Callable[[torch.Tensor], torch.Tensor]]
    settings: dict
    device: torch.device
    dataset: Optional[object] = None

    @property
    def run(self) -> str:
        return self.settings["run"]

    @property
    def method(self) -> str:
        return self.settings["method"]


def _model_device(model: nn.Module, device: str) -> torch.device:
    first = next(iter(model.parameters()), None)
    return first.device if first is not None and device == "auto" else resolve_device(device)


def subject_of(ckpt, data=None, *, labels=None, split: str = "train", name: Optional[str] = None,
               transform: Optional[Callable] = None, device: str = "auto") -> Subject:
    """The :class:`Subject` of a checkpoint, a loaded run, an :class:`ExternalRun` or a module with ``data``.

    Args:
        ckpt: a checkpoint path, a :class:`~mixdiag.training.LoadedRun`, an
            :class:`ExternalRun` or an ``nn.Module``.
        data: the inputs of a module (required then, refused otherwise).
        labels: the labels of ``data`` (a module's conflict analysis needs them).
        split: the split of a run's dataset.
        name: the run and method name of a module (default its class name).
        transform: batch → model input for a module's ``data`` (default: none).
        device: where the model runs; ``auto`` keeps a module where it is.
    """
    if isinstance(ckpt, nn.Module):
        if data is None:
            raise MixdiagError(f"measuring a {type(ckpt).__name__} needs its inputs: pass data= (a tensor, array, Dataset or DataLoader)")
        name = name or type(ckpt).__name__
        n = len(as_source(data))
        settings = {"run": name, "method": name, "model": type(ckpt).__name__, "model_source": "module", "dataset": "given data",
                    "split": None, "n": n}
        y = None if labels is None else np.asarray(labels)
        if y is not None and len(y) != n:
            raise MixdiagError(f"labels has {len(y)} rows but the data {n}; pass one label row per sample")
        return Subject(ckpt, data, y, transform, settings, _model_device(ckpt, device))
    if data is not None:
        raise MixdiagError("data= goes with a model (nn.Module); a run is measured on its own dataset: pick split= instead")
    if isinstance(ckpt, ExternalRun):
        x, y = ckpt.dataset.split(split)
        return Subject(ckpt.model, x, y, ckpt.dataset.normalize, ckpt.settings(split, len(x)), _model_device(ckpt.model, "auto"),
                       ckpt.dataset)
    from ..training.checkpoint import LoadedRun, load
    from .report import run_settings

    run = ckpt if isinstance(ckpt, LoadedRun) else load(ckpt, device=device)
    x, y = run.dataset.split(split)
    return Subject(run.model, x, y, run.dataset.normalize, run_settings(run, split, len(x)), next(run.model.parameters()).device,
                   run.dataset)


class _Head(Source):
    def __init__(self, source: Source, n: int):
        self.source, self.n = source, n

    def __len__(self) -> int:
        return self.n

    def batches(self, batch_size, indices=None):
        return self.source.batches(batch_size, np.arange(self.n) if indices is None else indices)


def head(x, limit: int):
    """The first ``limit`` rows of ``x``: a slice of a tensor or array, else a view of its source."""
    if isinstance(x, (torch.Tensor, np.ndarray)):
        return x[:limit]
    source = as_source(x)
    return source if limit >= len(source) else _Head(source, limit)
