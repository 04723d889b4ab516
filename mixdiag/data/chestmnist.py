"""ChestMNIST (MedMNIST): ChestX-ray14 images downscaled to 28, 64, 128 or 224 pixels.

Expected in ``data_dir``: the MedMNIST ``.npz`` file as downloaded, ``chestmnist.npz``
(28x28) or ``chestmnist_{size}.npz`` (MedMNIST+), holding ``{train,val,test}_images``
(``uint8 (N, H, W)``) and ``{train,val,test}_labels`` (``(N, 14)`` 0/1). The labels are
the 14 ChestX-ray14 findings in the same order as :data:`mixdiag.data.chestxray.FINDINGS`.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np
import torch

from ..errors import DataError
from ._base import Dataset, register_dataset
from ._cache import channel_stats, require_dir
from .chestxray import FINDINGS

__all__ = ["load_chestmnist"]

SIZES = (28, 64, 128, 224)
SPLITS = ("train", "val", "test")
LAYOUT = "a folder holding MedMNIST's chestmnist.npz or chestmnist_{size}.npz"


@register_dataset("chestmnist")
def load_chestmnist(data_dir: Path | None, *, seed: int = 0, size: int | None = None) -> Dataset:
    """Load ChestMNIST with its official train/val/test splits.

    Args:
        data_dir: folder holding the ``.npz`` file.
        seed: unused (the splits are fixed); accepted like every loader.
        size: image side, one of 28, 64, 128, 224; None picks the only file present.

    Returns:
        A :class:`Dataset` of ``uint8 (N, 1, size, size)`` images with ``scale=1/255``,
        ``float32 (N, 14)`` labels and a validation split.
    """
    data_dir = require_dir(data_dir, "chestmnist", LAYOUT)
    path = _find_file(data_dir, size)
    try:
        with np.load(path, allow_pickle=False) as npz:
            arrays = {key: npz[key] for key in npz.files}
    except (OSError, ValueError, zipfile.BadZipFile) as err:
        raise DataError(f"chestmnist: cannot read {path}: {err}; download it again") from None

    x, y = {}, {}
    for split in SPLITS:
        x[split], y[split] = _check_split(path, arrays, split, size)
    sides = {x[split].shape[1] for split in SPLITS}
    if len(sides) > 1:
        raise DataError(f"chestmnist: {path.name} mixes image sizes {sorted(sides)} across splits; download it again")

    mean, std = channel_stats(x["train"][:, None], scale=1 / 255)
    return Dataset(
        name="chestmnist",
        x_train=torch.from_numpy(x["train"][:, None]),
        y_train=torch.from_numpy(y["train"]),
        x_test=torch.from_numpy(x["test"][:, None]),
        y_test=torch.from_numpy(y["test"]),
        x_val=torch.from_numpy(x["val"][:, None]),
        y_val=torch.from_numpy(y["val"]),
        num_classes=len(FINDINGS),
        class_names=list(FINDINGS),
        mean=mean,
        std=std,
        scale=1 / 255,
        augment="crop",  # no flips: the heart sits on the left
        multilabel=True,
        info={"source": str(path), "image_size": int(x["train"].shape[1]), "sizes": {s: len(x[s]) for s in SPLITS}},
    )


def _find_file(data_dir: Path, size: int | None) -> Path:
    """The ``.npz`` for ``size``, or the only one present when ``size`` is None."""
    if size is not None and size not in SIZES:
        raise DataError(f"chestmnist: size must be one of {', '.join(map(str, SIZES))}, got {size!r}")
    if size is None:
        found = sorted(data_dir.glob("chestmnist.npz")) + sorted(data_dir.glob("chestmnist_*.npz"))
        if len(found) > 1:
            raise DataError(f"chestmnist: several files in {data_dir} ({', '.join(p.name for p in found)}); choose one with size=")
    else:
        # MedMNIST names the 28-pixel file without a suffix; MedMNIST+ names every size.
        names = [f"chestmnist_{size}.npz"] + (["chestmnist.npz"] if size == 28 else [])
        found = [data_dir / name for name in names if (data_dir / name).is_file()]
    if not found:
        wanted = "chestmnist.npz or chestmnist_{size}.npz" if size is None else f"chestmnist_{size}.npz"
        raise DataError(f"chestmnist: no {wanted} in {data_dir}; pass --data-dir pointing at {LAYOUT}")
    return found[0]


def _check_split(path: Path, arrays: dict[str, np.ndarray], split: str, size: int | None) -> tuple[np.ndarray, np.ndarray]:
    """Validate one split's arrays and return ``(uint8 images (N, H, W), float32 labels (N, 14))``."""
    for key in (f"{split}_images", f"{split}_labels"):
        if key not in arrays:
            raise DataError(f"chestmnist: {path.name} has no array {key!r} (found: {', '.join(sorted(arrays))}); download it again")
    images, labels = arrays[f"{split}_images"], arrays[f"{split}_labels"]
    if images.ndim != 3 or images.shape[1] != images.shape[2] or images.dtype != np.uint8:
        raise DataError(f"chestmnist: {path.name}: {split}_images is {images.dtype} {images.shape}; expected uint8 (N, H, H) grayscale")
    if size is not None and images.shape[1] != size:
        raise DataError(f"chestmnist: {path.name}: {split}_images are {images.shape[1]}x{images.shape[2]}, not size={size}")
    if labels.shape != (len(images), len(FINDINGS)):
        raise DataError(
            f"chestmnist: {path.name}: {split}_labels has shape {labels.shape}; expected ({len(images)}, {len(FINDINGS)}), "
            f"one 0/1 column per finding"
        )
    if not np.isin(labels, (0, 1)).all():
        bad = labels[~np.isin(labels, (0, 1))][0]
        raise DataError(f"chestmnist: {path.name}: {split}_labels holds {bad!r}; labels must be 0 or 1")
    return images, labels.astype(np.float32)
