"""From a user's image files, their labels and their splits to a :class:`Dataset` over a mapped cache.

The ``imagefolder`` and ``multilabel-csv`` loaders differ in how they find files, labels and
splits; from there on they share this: draw the missing splits, apply ``limit``, decode the
kept files once in split order, and hand out each split as a slice of the mapped cache, so
no split is ever copied into memory.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import numpy as np
import torch

from ._base import Dataset
from ._cache import channel_stats
from ._images import load_images
from ._splits import SPLITS, plan_splits

__all__ = ["ImageFiles", "ImageOptions", "image_dataset"]

# Mean and std come from at most this many evenly spaced training images: the full set
# would read the whole cache from disk on every load, and with 10,000 images the standard
# error of a channel's mean is at most 0.5% of its range (per-image means lie in [0, 1]).
_STATS_IMAGES = 10_000


@dataclass(frozen=True)
class ImageFiles:
    """What a layout found: one entry per image file.

    Args:
        paths: the image files.
        labels: ``int64 (N,)`` class indices, or ``float32 (N, L)`` 0/1 labels.
        class_names: one name per class or label.
        assigned: ``(N,)`` split the layout puts each file in (``"train"`` when it gives none).
        strata: ``(N,)`` stratum of each file for the drawn splits.
        stratified_on: what the strata are (``"class"``, ``"rarest positive label"``).
        groups: ``(N,)`` patient of each file, or None.
        given_by: what fixes the given splits, for the record.
    """

    paths: list[Path]
    labels: np.ndarray
    class_names: list[str]
    assigned: np.ndarray
    strata: np.ndarray
    stratified_on: str
    groups: Optional[np.ndarray]
    given_by: str


@dataclass(frozen=True)
class ImageOptions:
    """The options both layouts take (see their loaders' docstrings)."""

    image_size: int
    channels: int
    test_fraction: float
    val_fraction: float
    split_seed: int
    limit: Optional[int]
    augment: str
    cache_dir: Path
    workers: int


def image_dataset(name: str, files: ImageFiles, options: ImageOptions, source: Path, fix: str) -> Dataset:
    """Split, limit (:func:`mixdiag.data._splits.plan_splits`), decode and map ``files``.

    Args:
        name: registry name.
        files: what the layout found.
        options: the loader's options, checked.
        source: the folder or table the files came from, for the record.
        fix: what to do about an unreadable image, for the message.

    Returns:
        A :class:`Dataset` of ``uint8`` images (``scale=1/255``) whose splits are slices of
        one memory-mapped cache; ``info`` records the source, the split and the cache.
    """
    splits, record = plan_splits(
        files.assigned,
        files.strata,
        files.groups,
        stratified_on=files.stratified_on,
        test_fraction=options.test_fraction,
        val_fraction=options.val_fraction,
        seed=options.split_seed,
        limit=options.limit,
        dataset=name,
        given_by=files.given_by,
    )
    # Files in split order, so every split is one contiguous slice of the cache.
    order = np.concatenate([splits[split] for split in SPLITS])
    images, cache = load_images(
        [files.paths[i] for i in order],
        dataset=name,
        image_size=options.image_size,
        channels=options.channels,
        cache_dir=options.cache_dir,
        workers=options.workers,
        fix=fix,
    )
    x, y, start = {}, {}, 0
    for split in SPLITS:
        n = len(splits[split])
        x[split], y[split] = images[start : start + n], torch.from_numpy(files.labels[splits[split]])
        start += n
    step = max(1, math.ceil(len(x["train"]) / _STATS_IMAGES))
    mean, std = channel_stats(x["train"][::step].numpy(), scale=1 / 255)
    has_val = len(splits["val"]) > 0
    return Dataset(
        name=name,
        x_train=x["train"],
        y_train=y["train"],
        x_test=x["test"],
        y_test=y["test"],
        x_val=x["val"] if has_val else None,
        y_val=y["val"] if has_val else None,
        num_classes=len(files.class_names),
        class_names=list(files.class_names),
        mean=mean,
        std=std,
        scale=1 / 255,
        augment=options.augment,
        multilabel=files.labels.ndim == 2,
        info={
            "source": str(source),
            "image_size": options.image_size,
            "channels": options.channels,
            "cache": str(cache),
            "sizes": {split: len(idx) for split, idx in splits.items() if split != "val" or has_val},
            **record,
        },
    )
