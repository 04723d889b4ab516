"""What `mixdiag list` prints, readable without importing torch or any loader.

The registries fill when their modules import torch (several seconds); `mixdiag list` reads
this table instead. tests/cli/test_startup.py checks that it names exactly what is
registered, and exactly the options each dataset loader takes.
"""

from __future__ import annotations

from typing import NamedTuple


class DatasetEntry(NamedTuple):
    what: str
    layout: str
    options: tuple[str, ...]


_CACHE = ("cache_dir", "workers")
_IMAGE_OPTIONS = ("image_size", "channels", "test_fraction", "val_fraction", "split_seed", "augment", "limit", *_CACHE)

DATASETS = {
    "chestmnist": DatasetEntry(
        "MedMNIST chest X-rays, 14 findings, multi-label", "chestmnist.npz or chestmnist_{size}.npz in --data-dir; official train/val/test", ("size",)
    ),
    "chestxray14": DatasetEntry(
        "NIH ChestX-ray14, 14 findings, multi-label",
        "the NIH release in --data-dir; official test list, validation drawn by patient",
        ("image_size", "val_fraction", "limit", *_CACHE),
    ),
    "cifar10": DatasetEntry("CIFAR-10, 32x32 colour images, 10 classes", "cifar-10-batches-py/ (python pickles) in --data-dir; official 50k/10k", ("limit",)),
    "digits": DatasetEntry("scikit-learn's 8x8 digits, 10 classes (the default)", "embedded; fixed stratified 80/20 split", ()),
    "ecg-tianchi": DatasetEntry(
        "Hefei (Tianchi) 8-lead ECGs, arrhythmias, multi-label",
        "the competition files in --data-dir; seeded train/val/test split",
        ("label_file", "arrhythmia_file", "derive_limb_leads", "downsample", "val_fraction", "test_fraction", "limit", *_CACHE),
    ),
    "fashion-mnist": DatasetEntry(
        "Fashion-MNIST, 28x28 grey images, 10 classes", "IDX files in --data-dir (default /usr/share/datasets/fashion-mnist); official 60k/10k", ("limit",)
    ),
    "imagefolder": DatasetEntry(
        "your images, one folder per class, single-label",
        "--data-dir holds <class>/ folders, or train/<class>/ with optional test/ and val/; missing splits drawn by class",
        _IMAGE_OPTIONS,
    ),
    "mnist": DatasetEntry("MNIST, 28x28 grey digits, 10 classes", "IDX files in --data-dir; official 60k/10k", ("limit",)),
    "multilabel-csv": DatasetEntry(
        "your images listed in a CSV with their labels, multi-label",
        "--data-dir is the CSV (or its folder): a path column, 0/1 label columns or |-separated findings, "
        "optional split and patient columns; missing splits drawn by patient or rarest label",
        ("path_column", "label_columns", "findings_column", "split_column", "patient_column", *_IMAGE_OPTIONS),
    ),
    "ptbxl": DatasetEntry(
        "PTB-XL 12-lead ECGs, diagnostic classes, multi-label",
        "the PhysioNet release in --data-dir; folds 1-8 train, 9 val, 10 test",
        ("sampling_rate", "level", "limit", *_CACHE),
    ),
    "synthetic-multilabel": DatasetEntry(
        "generated gratings, multi-label with correlated label pairs",
        "generated from the seed, no files",
        ("n_train", "n_test", "num_labels", "rho", "prevalence", "image_size", "noise"),
    ),
}

MODELS = ("preact-resnet18", "preact-resnet1d18", "preact-resnet1d32", "preact-resnet20", "preact-resnet32", "preact-resnet56")

METHODS = ("erm", "flow", "flow-consistency", "manifold", "mixup")


def dataset_lines() -> list[str]:
    """One line per dataset (name, what, layout, ``--dataset-option`` names), then what ``limit`` does."""
    width = max(map(len, DATASETS))
    lines = [f"{name:<{width}}  {e.what}; {e.layout}; options: {', '.join(e.options) or 'none'}" for name, e in DATASETS.items()]
    return lines + [
        "(limit=N keeps at most N samples of every split, the test split included, drawn at random with --seed;"
        " imagefolder and multilabel-csv draw their splits and limits with split_seed, so every --seed shares them.)"
    ]
