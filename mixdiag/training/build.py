"""Rebuild a run's data and model from its :class:`TrainConfig` (training and analysis share this)."""

from __future__ import annotations

import numpy as np
import torch

from ..data import apply_corruption, hold_out_validation, load_dataset
from ..data._base import Dataset, takes_run_val_fraction
from ..errors import MixdiagError
from ..models import create_model, default_model
from ..models import external
from .config import TrainConfig


def derive_seed(seed: int, *stream: int) -> int:
    """An independent 63-bit seed for one random stream, e.g. ``(seed, epoch, SHUFFLE)``."""
    return int(np.random.SeedSequence([seed, *stream]).generate_state(1, dtype=np.uint64)[0] >> 1)


# Stream ids for derive_seed: one per consumer, so adding a consumer never shifts another.
INIT, SHUFFLE, AUGMENT, MIXING, CORRUPTION, PROBE, VALIDATION = range(7)


def build_dataset(config: TrainConfig) -> Dataset:
    """Load the dataset, hold out its validation split and corrupt its training labels as the config says.

    The validation split is held out before corruption, so its labels are clean like the test split's.
    Loaders registered with ``run_val_fraction`` (imagefolder, multilabel-csv) hold it out themselves.
    """
    options = dict(config.dataset_options)
    if takes_run_val_fraction(config.dataset):
        if "val_fraction" in options:
            raise MixdiagError(f"{config.dataset} takes its validation share from --val-fraction; drop --dataset-option val_fraction")
        options["val_fraction"] = config.val_fraction
    ds = load_dataset(config.dataset, config.data_dir, seed=config.seed, **options)
    if ds.x_val is None and config.val_fraction:
        ds = hold_out_validation(ds, config.val_fraction, derive_seed(config.seed, VALIDATION))
    if ds.multilabel:
        pos_neg = config.corrupt_pos_neg if config.corrupt_pos_neg is not None else config.corrupt_rate
        neg_pos = config.corrupt_neg_pos if config.corrupt_neg_pos is not None else config.corrupt_rate
        if pos_neg or neg_pos:
            ds = apply_corruption(ds, pos_to_neg=pos_neg, neg_to_pos=neg_pos, seed=derive_seed(config.seed, CORRUPTION))
    elif config.corrupt_rate:
        ds = apply_corruption(ds, rate=config.corrupt_rate, seed=derive_seed(config.seed, CORRUPTION))
    return ds


def model_spec(config: TrainConfig, ds: Dataset) -> tuple[str, dict]:
    """The registry name (or external spec) and constructor arguments of the run's model.

    A spec (``torchvision:resnet18``, ``timm:<name>``, ``module:function``) is built by
    :func:`mixdiag.models.external.build_model` for the data's classes and channels; its
    mixing points are added by :func:`with_mix_points` once the model is built.
    """
    name = default_model(ds.ndim) if config.model == "auto" else config.model
    if external.is_spec(name):
        return name, {"num_classes": ds.num_classes, "in_channels": ds.in_channels}
    kwargs = {"in_channels": ds.in_channels, "num_classes": ds.num_classes, "input_size": list(ds.input_shape[1:])}
    return name, kwargs


def build_model(name: str, kwargs: dict, seed: int) -> torch.nn.Module:
    """Create the model with weights initialised from ``seed``, leaving global RNG state untouched."""
    with torch.random.fork_rng(devices=[]):
        torch.default_generator.manual_seed(derive_seed(seed, INIT))
        if external.is_spec(name):
            return external.build_model(name, num_classes=kwargs["num_classes"], in_channels=kwargs["in_channels"])
        return create_model(name, **kwargs)


def with_mix_points(name: str, kwargs: dict, model: torch.nn.Module, config: TrainConfig, ds: Dataset) -> dict:
    """``kwargs`` with the mixing points of an external model (``mix_points``), as the checkpoint records them.

    The points are the module names ``--mix-points`` gives, else found (the input and the
    output of every stage, :func:`mixdiag.models.mixable.mixing_points`) with a probe pass on
    the first training sample. A registry model mixes at its own declared points: unchanged.
    """
    if not external.is_spec(name):
        return kwargs
    from ..models.mixable import mixing_points

    example = ds.normalize(ds.x_train[:1])
    return {**kwargs, "mix_points": list(mixing_points(model, config.method_options.get("points"), example))}
