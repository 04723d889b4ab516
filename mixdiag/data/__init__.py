"""Datasets as tensors (in memory, or mapped from a decoded cache), found by name; label corruption; batched augmentation.

Importing this package imports every loader module, which registers its datasets.
"""

from . import (  # noqa: F401  (registration)
    chestmnist,
    chestxray,
    cifar,
    digits,
    ecg_tianchi,
    idx,
    imagefolder,
    multilabel_csv,
    ptbxl,
    synthetic,
)
from ._base import Dataset, list_datasets, load_dataset, register_dataset
from .augment import augment_batch
from .corruption import apply_corruption, corrupt_labels, corrupt_multilabel
from .validation import hold_out_validation

__all__ = [
    "Dataset",
    "register_dataset",
    "list_datasets",
    "load_dataset",
    "apply_corruption",
    "corrupt_labels",
    "corrupt_multilabel",
    "augment_batch",
    "hold_out_validation",
]
