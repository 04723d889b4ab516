"""Datasets as in-memory tensors, found by name; label corruption; batched augmentation.

Importing this package imports every loader module, which registers its datasets.
"""

from . import chestmnist, chestxray, cifar, digits, ecg_tianchi, idx, imagefolder, multilabel_csv, ptbxl, synthetic  # noqa: F401  (registration)
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
