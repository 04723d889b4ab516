"""Everything needed to rebuild a run's data, model and mixing: one plain dataclass."""

from __future__ import annotations

import dataclasses
import typing
from dataclasses import dataclass, field
from typing import Optional, Union

from ..errors import MixdiagError

SCHEDULES = ("cosine", "step", "constant")


@dataclass
class TrainConfig:
    """Settings of one training run; stored as ``config.json`` and inside every checkpoint.

    Args:
        dataset: registry name (``mixdiag list datasets``).
        data_dir: where the dataset's files are; None for embedded or default locations.
        dataset_options: loader options (e.g. ``{"rho": 0.9}`` for synthetic-multilabel).
        val_fraction: share of the training data held out, seeded and stratified, as the
            validation split that selects ``best.pt`` (:mod:`mixdiag.data.validation`);
            0: none, and the run keeps only ``last.pt``. Only for datasets without a
            validation split of their own; chestmnist, chestxray14, ptbxl and ecg-tianchi
            keep theirs, and imagefolder and multilabel-csv take it as their loader's
            ``val_fraction`` (they hold the split out of their mapped cache themselves).
        model: registry name, ``"auto"`` (PreAct-ResNet-32, or its 1-D twin for signals), or a
            network mixdiag did not write: ``torchvision:<name>``, ``timm:<name>`` or
            ``module:function`` (:mod:`mixdiag.models.external`), mixed through forward hooks.
        init: a state dict the model starts from (``weights_only=True``); None: random init.
        init_strict: every key of ``init`` must match; False loads what matches and warns.
        method: mixing method name (``erm``, ``mixup``, ``manifold``, ``flow``, ``flow-consistency``).
        method_options: method options (``alpha``, ``per_sample``, ``points``, ``weights``,
            ``beta``, ``gamma``); missing ones take the method's defaults.
        epochs, lr, momentum, weight_decay: SGD settings.
        batch_size: samples per optimizer step over all processes of a run; each of N
            processes takes ``batch_size / N``.
        schedule: ``cosine`` (default), ``step`` (×0.1 at ``milestones``, fractions of the
            run) or ``constant``.
        seed: seeds every generator of the run (data order, augmentation, mixing, init).
        corrupt_rate: single-label symmetric flip rate; for multi-label data the default
            for both ``corrupt_pos_neg`` and ``corrupt_neg_pos``.
        corrupt_pos_neg, corrupt_neg_pos: multi-label corruption rates (1→0, 0→1).
        augment: True to use the dataset's augmentation (crop, flip, shift).
        device: ``auto`` (CUDA when available), ``cpu`` or ``cuda[:N]``.
        sync_bn: in a multi-process run, BatchNorm normalises over the global batch
            (``nn.SyncBatchNorm``, CUDA only) instead of each process's own share.
        track_eta2: compute per-block η² on a probe subset every this many epochs (0: never).
        track_probe_size, track_k: probe size and k for that tracking.
    """

    dataset: str = "digits"
    data_dir: Optional[str] = None
    dataset_options: dict = field(default_factory=dict)
    val_fraction: float = 0.1
    model: str = "auto"
    init: Optional[str] = None
    init_strict: bool = True
    method: str = "erm"
    method_options: dict = field(default_factory=dict)
    epochs: int = 30
    batch_size: int = 64
    lr: float = 0.05
    momentum: float = 0.9
    weight_decay: float = 5e-4
    schedule: str = "cosine"
    milestones: tuple = (0.5, 0.75)
    seed: int = 0
    corrupt_rate: float = 0.0
    corrupt_pos_neg: Optional[float] = None
    corrupt_neg_pos: Optional[float] = None
    augment: bool = True
    device: str = "auto"
    sync_bn: bool = False
    track_eta2: int = 0
    track_probe_size: int = 1000
    track_k: int = 10

    def validate(self) -> "TrainConfig":
        """Raise :class:`MixdiagError` naming the first option of the wrong type or out of range."""
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if not _has_type(value, _HINTS[f.name]):
                raise MixdiagError(f"setting {f.name} must be {_type_name(_HINTS[f.name])}, got {value!r}")
        checks = [
            (self.epochs >= 1, f"--epochs must be at least 1, got {self.epochs}"),
            (self.batch_size >= 2, f"--batch-size must be at least 2 (mixing pairs samples), got {self.batch_size}"),
            (self.lr > 0, f"--lr must be positive, got {self.lr}"),
            (0 <= self.momentum < 1, f"--momentum must be in [0, 1), got {self.momentum}"),
            (self.weight_decay >= 0, f"--weight-decay must be non-negative, got {self.weight_decay}"),
            (self.schedule in SCHEDULES, f"--schedule must be one of {', '.join(SCHEDULES)}, got {self.schedule!r}"),
            (0 <= self.val_fraction < 1, f"--val-fraction must be in [0, 1) (0: no validation split), got {self.val_fraction}"),
            (0 <= self.corrupt_rate < 1, f"--corrupt-rate must be in [0, 1), got {self.corrupt_rate}"),
            (self.track_eta2 >= 0, f"--track-eta2 must be 0 (off) or a positive number of epochs, got {self.track_eta2}"),
            (self.track_probe_size >= 2, f"--track-probe-size must be at least 2, got {self.track_probe_size}"),
            (self.track_k >= 2, f"--track-k must be at least 2, got {self.track_k}"),
            (self.seed >= 0, f"--seed must be non-negative, got {self.seed}"),
        ]
        for rate, opt in ((self.corrupt_pos_neg, "--corrupt-pos-neg"), (self.corrupt_neg_pos, "--corrupt-neg-pos")):
            checks.append((rate is None or 0 <= rate < 1, f"{opt} must be in [0, 1), got {rate}"))
        for ok, message in checks:
            if not ok:
                raise MixdiagError(message)
        return self

    def to_dict(self) -> dict:
        d = dataclasses.asdict(self)
        d["milestones"] = list(self.milestones)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "TrainConfig":
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(d) - names)
        if unknown:
            raise MixdiagError(f"config has unknown settings {', '.join(unknown)}; was it written by a newer mixdiag?")
        d = {**_BEFORE_ADDED, **d}
        if "milestones" in d:
            d["milestones"] = tuple(d["milestones"])
        return cls(**d)


_HINTS = typing.get_type_hints(TrainConfig)
# Settings whose default changed what a run does when they were added: a config saved
# before then gets the value that rebuilds the run as it was trained.
_BEFORE_ADDED = {"val_fraction": 0.0}


def _has_type(value, hint) -> bool:
    """isinstance for the annotations TrainConfig uses: an int is a float, a bool is not a number."""
    if typing.get_origin(hint) is Union:
        return any(_has_type(value, h) for h in typing.get_args(hint))
    if hint is type(None):
        return value is None
    if hint in (int, float):
        return isinstance(value, int if hint is int else (int, float)) and not isinstance(value, bool)
    if hint is tuple:  # to_dict and JSON give lists
        return isinstance(value, (tuple, list))
    return isinstance(value, hint)


def _type_name(hint) -> str:
    args = typing.get_args(hint)
    if args:
        return " or ".join(_type_name(a) for a in args)
    return "None" if hint is type(None) else hint.__name__
