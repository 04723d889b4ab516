"""NIH ChestX-ray14: 112,120 frontal chest X-rays with 14 text-mined findings.

Expected layout of ``data_dir`` (as published by the NIH Clinical Center)::

    Data_Entry_2017.csv (or Data_Entry_2017_v2020.csv)
    train_val_list.txt, test_list.txt
    images/*.png  or  images_001/images/*.png ... images_012/images/*.png

The official test list is the test split; the validation split is drawn by patient from
the official train/val list, so no patient's images sit on both sides. Every image is
decoded once, converted to grayscale, resized and cached as ``uint8``; later loads map
the cache (see :mod:`mixdiag.data._cache`).
"""

from __future__ import annotations

from functools import partial
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from ..errors import DataError
from ._base import Dataset, register_dataset
from ._cache import DEFAULT_WORKERS, cache_file, cached_rows, channel_stats, require_dir, resolve_cache_dir, take_limit
from ._images import decode_image

__all__ = ["FINDINGS", "load_chestxray14"]

# The standard label order of the ChestX-ray14 benchmark (Wang et al., 2017).
FINDINGS = (
    "Atelectasis",
    "Cardiomegaly",
    "Effusion",
    "Infiltration",
    "Mass",
    "Nodule",
    "Pneumonia",
    "Pneumothorax",
    "Consolidation",
    "Edema",
    "Emphysema",
    "Fibrosis",
    "Pleural_Thickening",
    "Hernia",
)
NO_FINDING = "No Finding"
LAYOUT = "the NIH ChestX-ray14 folder (Data_Entry_2017*.csv, train_val_list.txt, test_list.txt, images/ or images_0XX/images/)"
COLUMNS = ("Image Index", "Finding Labels", "Patient ID")


@register_dataset("chestxray14")
def load_chestxray14(
    data_dir: Path | None,
    *,
    seed: int = 0,
    image_size: int = 224,
    val_fraction: float = 0.1,
    limit: int | None = None,
    cache_dir: str | Path | None = None,
    workers: int = DEFAULT_WORKERS,
) -> Dataset:
    """Load ChestX-ray14 as 14 multi-label targets ("No Finding" is all zeros).

    Args:
        data_dir: folder in the NIH layout (see the module docstring).
        seed: seeds the patient-level validation split and the ``limit`` subsets.
        image_size: side of the square grayscale images after resizing.
        val_fraction: share of the train/val patients moved to the validation split.
        limit: at most this many images per split, drawn at random (quick runs).
        cache_dir: where the decoded images are cached; default ``<data_dir>/.mixdiag-cache``,
            or ``~/.cache/mixdiag`` when ``data_dir`` is read-only.
        workers: threads decoding images when the cache is built.

    Returns:
        A :class:`Dataset` of ``uint8 (N, 1, image_size, image_size)`` images with
        ``scale=1/255``, ``float32 (N, 14)`` labels and a validation split.
    """
    data_dir = require_dir(data_dir, "chestxray14", LAYOUT)
    if isinstance(image_size, bool) or not isinstance(image_size, int) or image_size < 1:
        raise DataError(f"chestxray14: image_size must be a positive number of pixels, got {image_size!r}")
    if not 0 < val_fraction < 1:
        raise DataError(f"chestxray14: val_fraction must lie strictly between 0 and 1, got {val_fraction!r}")

    entries, labels_csv = _read_entries(data_dir)
    trainval = _read_list(data_dir / "train_val_list.txt")
    test = _read_list(data_dir / "test_list.txt")
    overlap = sorted(set(trainval) & set(test))
    if overlap:
        raise DataError(f"chestxray14: image {overlap[0]} is in both train_val_list.txt and test_list.txt; restore the official lists")

    # One canonical order (train/val list, then test list) so that without `limit` the cache
    # covers the same images whatever the seed, and every seed reuses it.
    names = np.array(trainval + test)
    missing = [name for name in names if name not in entries.index]
    if missing:
        raise DataError(f"chestxray14: image {missing[0]} is in the split lists but not in {labels_csv.name} ({len(missing)} such images)")
    labels = np.stack(entries.loc[names, "labels"].to_numpy())
    patients = entries.loc[names, "Patient ID"].to_numpy()

    rng = np.random.default_rng(seed)
    n_trainval = len(trainval)
    trainval_patients = np.unique(patients[:n_trainval])
    n_val = max(1, round(val_fraction * len(trainval_patients)))
    val_patients = rng.choice(trainval_patients, size=n_val, replace=False)
    is_val = np.isin(patients[:n_trainval], val_patients)
    splits = {
        "train": take_limit(np.flatnonzero(~is_val), limit, rng),
        "val": take_limit(np.flatnonzero(is_val), limit, rng),
        "test": take_limit(np.arange(n_trainval, len(names)), limit, rng),
    }

    keep = np.sort(np.concatenate(list(splits.values())))
    paths = _image_paths(data_dir, names[keep])
    cache_path = cache_file(
        resolve_cache_dir(data_dir, cache_dir),
        f"chestxray14-{image_size}px-{len(keep)}",
        [str(data_dir.resolve()), str(image_size), *names[keep]],
    )
    images = cached_rows(cache_path, paths, partial(_decode, size=image_size), (1, image_size, image_size), np.uint8, workers)

    x = {split: np.asarray(images[np.searchsorted(keep, idx)]) for split, idx in splits.items()}
    y = {split: torch.from_numpy(labels[idx]) for split, idx in splits.items()}
    mean, std = channel_stats(x["train"], scale=1 / 255)
    return Dataset(
        name="chestxray14",
        x_train=torch.from_numpy(x["train"]),
        y_train=y["train"],
        x_test=torch.from_numpy(x["test"]),
        y_test=y["test"],
        x_val=torch.from_numpy(x["val"]),
        y_val=y["val"],
        num_classes=len(FINDINGS),
        class_names=list(FINDINGS),
        mean=mean,
        std=std,
        scale=1 / 255,
        augment="crop",  # no flips: the heart sits on the left
        multilabel=True,
        info={
            "source": str(data_dir),
            "labels_csv": labels_csv.name,
            "image_size": image_size,
            "cache": str(cache_path),
            "sizes": {split: len(idx) for split, idx in splits.items()},
            "patients": {"train_val": len(trainval_patients), "val": n_val},
        },
    )


def _read_entries(data_dir: Path) -> tuple[pd.DataFrame, Path]:
    """Read the Data_Entry CSV: one row per image with its patient and 14-label vector.

    Args:
        data_dir: the dataset folder.

    Returns:
        ``(table, csv_path)``; ``table`` is indexed by image name with columns
        ``Patient ID`` and ``labels`` (a ``float32 (14,)`` array per row).
    """
    csvs = sorted(data_dir.glob("Data_Entry_2017*.csv"))
    if not csvs:
        raise DataError(f"chestxray14: no Data_Entry_2017*.csv in {data_dir}; pass --data-dir pointing at {LAYOUT}")
    # Sorted names put the 2020 revision (Data_Entry_2017_v2020.csv) after the original.
    path = csvs[-1]
    table = pd.read_csv(path, dtype=str, keep_default_na=False)
    for column in COLUMNS:
        if column not in table.columns:
            raise DataError(f"chestxray14: {path.name} has no column {column!r}; use the official NIH file")
    index = {finding: i for i, finding in enumerate(FINDINGS)}
    vectors = []
    for image, findings in zip(table["Image Index"], table["Finding Labels"]):
        vector = np.zeros(len(FINDINGS), dtype=np.float32)
        for finding in findings.split("|"):
            finding = finding.strip()
            if finding == NO_FINDING:
                continue
            if finding not in index:
                raise DataError(
                    f"chestxray14: unknown finding {finding!r} for image {image} in {path.name}; "
                    f"expected {NO_FINDING!r} or one of: {', '.join(FINDINGS)}"
                )
            vector[index[finding]] = 1.0
        vectors.append(vector)
    table["labels"] = vectors
    return table.set_index("Image Index")[["Patient ID", "labels"]], path


def _read_list(path: Path) -> list[str]:
    """Image names of an official split list, one per line."""
    if not path.is_file():
        raise DataError(f"chestxray14: split list {path.name} not found in {path.parent}; it ships with the NIH download ({LAYOUT})")
    return [line.strip() for line in path.read_text().splitlines() if line.strip()]


def _image_paths(data_dir: Path, names: np.ndarray) -> list[Path]:
    """Find each image under ``images/`` or ``images_0XX/images/`` (the official archives)."""
    folders = [data_dir / "images", *sorted(data_dir.glob("images_*/images"))]
    found: dict[str, Path] = {}
    for folder in folders:
        if folder.is_dir():
            for path in folder.iterdir():
                found.setdefault(path.name, path)
    missing = [name for name in names if name not in found]
    if missing:
        raise DataError(
            f"chestxray14: image {missing[0]} is listed but not found under images/ or images_0XX/images/ "
            f"({len(missing)} missing); extract every images_0XX archive into {data_dir}"
        )
    return [found[name] for name in names]


def _decode(path: Path, size: int) -> np.ndarray:
    """One image as ``uint8 (1, size, size)`` grayscale; some NIH PNGs are RGBA."""
    return decode_image(path, size, 1, "chestxray14", "re-extract it from its archive")
