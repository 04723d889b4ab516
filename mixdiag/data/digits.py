"""scikit-learn's bundled handwritten digits: 1,797 images of 8x8 pixels, 10 classes.

The data ship inside scikit-learn, so this dataset needs no download and no ``--data-dir``;
it is the default for quick runs and tests. The train/test split is stratified and drawn
with the fixed seed :data:`SPLIT_SEED`, not the run seed, so every run is scored on the
same 359 test images.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from sklearn.datasets import load_digits as _sklearn_digits

from ..errors import DataError
from ._base import Dataset, register_dataset
from ._cache import channel_stats
from .validation import stratified_split

__all__ = ["SPLIT_SEED", "TEST_FRACTION", "load_digits", "stratified_split"]

SPLIT_SEED = 20240101
TEST_FRACTION = 0.2
# The pixels are counts of set bits in 4x4 blocks of a 32x32 bitmap: integers 0..16.
MAX_VALUE = 16


@register_dataset("digits")
def load_digits(data_dir: Path | None, *, seed: int = 0) -> Dataset:
    """Load the digits with the fixed 80/20 stratified split.

    Args:
        data_dir: must be None: the data are embedded in scikit-learn.
        seed: unused (the split is fixed so runs share one test set); accepted like every loader.

    Returns:
        A :class:`Dataset` of ``uint8 (N, 1, 8, 8)`` images holding 0..16 with ``scale=1/16``,
        1,438 training and 359 test images.
    """
    if data_dir is not None:
        raise DataError(f"digits is embedded in scikit-learn and reads no files; drop --data-dir {data_dir}")
    bunch = _sklearn_digits()
    images = bunch.images.astype(np.uint8)[:, None]
    labels = bunch.target.astype(np.int64)
    train, test = stratified_split(labels, TEST_FRACTION, np.random.default_rng(SPLIT_SEED))
    mean, std = channel_stats(images[train], scale=1 / MAX_VALUE)
    return Dataset(
        name="digits",
        x_train=torch.from_numpy(images[train]),
        y_train=torch.from_numpy(labels[train]),
        x_test=torch.from_numpy(images[test]),
        y_test=torch.from_numpy(labels[test]),
        num_classes=10,
        class_names=[str(d) for d in range(10)],
        mean=mean,
        std=std,
        scale=1 / MAX_VALUE,
        augment="crop",  # a mirrored digit is no longer the same digit
        info={"source": "sklearn.datasets.load_digits", "split_seed": SPLIT_SEED, "sizes": {"train": len(train), "test": len(test)}},
    )
