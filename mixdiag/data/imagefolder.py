"""A folder of images, one sub-folder per class: torchvision's ImageFolder layout.

Either ``root/<class>/**/*.png`` (every file goes to the training pool and the test and
validation splits are drawn from it, stratified by class), or ``root/train/<class>/...``
with optional ``root/test/<class>/...`` and ``root/val/<class>/...`` (a split without its
folder is drawn from ``train/``). Class names are the sorted folder names of ``root`` (or
``root/train``), as in torchvision, so class indices match ``torchvision.datasets.ImageFolder``.
Folders and files whose names start with a dot (``.ipynb_checkpoints``) are skipped. The
loader writes nothing into the folder, so torchvision still reads it as before.
A top-level ``train`` folder always means the split layout, never a class named "train".
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import DataError
from ._base import Dataset, register_dataset
from ._cache import DEFAULT_WORKERS, require_dir, resolve_cache_dir
from ._image_dataset import ImageFiles, ImageOptions, image_dataset
from ._images import IMAGE_EXTENSIONS, check_image_options, is_image

__all__ = ["load_imagefolder"]

LAYOUT = "a folder of class folders (root/<class>/*.png|jpg...), or root/train/<class>/... with optional root/test/ and root/val/"
_FIX = "replace or delete the file"


@register_dataset("imagefolder", run_val_fraction=True)
def load_imagefolder(
    data_dir: Path | None,
    *,
    seed: int = 0,
    image_size: int = 32,
    channels: int = 3,
    test_fraction: float = 0.2,
    val_fraction: float = 0.1,
    split_seed: int = 0,
    augment: str = "crop-flip",
    limit: int | None = None,
    cache_dir: str | Path | None = None,
    workers: int = DEFAULT_WORKERS,
) -> Dataset:
    """Load a folder of class folders as a single-label image dataset.

    Args:
        data_dir: the root folder (see the module docstring for the two layouts).
        seed: the run's seed; the split does not follow it (see ``split_seed``).
        image_size: side of the square the images are resized to.
        channels: 1 (grayscale) or 3 (RGB); images are converted with PIL.
        test_fraction: share of each class drawn as the test split when there is no ``test/``.
        val_fraction: share of each class's remaining training images drawn as the validation
            split when there is no ``val/``; 0 for none. A run passes its ``--val-fraction``.
        split_seed: seeds the drawn splits and ``limit``. Not the run's seed on purpose: runs
            of every seed are trained and tested on the same images and share one cache.
        augment: the training augmentation (``crop-flip``, ``crop``, ``none``).
        limit: at most this many images per split, drawn at random (quick runs).
        cache_dir: where the decoded images are cached; default ``.mixdiag-cache`` beside
            ``data_dir`` (in its parent), or ``~/.cache/mixdiag`` when the parent is read-only.
        workers: threads decoding images when the cache is built.

    Returns:
        A :class:`Dataset` of ``uint8 (N, channels, image_size, image_size)`` images mapped
        from the cache, ``int64`` class indices, and a validation split unless ``val_fraction``
        is 0 and there is no ``val/``; ``info["split"]`` records how the splits were made.
    """
    root = require_dir(data_dir, "imagefolder", LAYOUT)
    check_image_options("imagefolder", image_size, channels, augment)
    files = find_files(root)
    options = ImageOptions(
        image_size=image_size,
        channels=channels,
        test_fraction=test_fraction,
        val_fraction=val_fraction,
        split_seed=split_seed,
        limit=limit,
        augment=augment,
        # Beside the folder, not in it: torchvision's ImageFolder would take any folder in it for a class.
        cache_dir=resolve_cache_dir(root.resolve().parent, cache_dir),
        workers=workers,
    )
    return image_dataset("imagefolder", files, options, root, _FIX)


def find_files(root: Path) -> ImageFiles:
    """Every image under ``root`` with its class and the split its folder gives.

    Args:
        root: the dataset folder.

    Returns:
        The files, class indices and names, and splits (all ``"train"`` without ``train/``).
    """
    if not (root / "train").is_dir():
        classes = _class_folders(root)
        folders = {"train": root}
        given_by = "no split folders"
    else:
        extra = [d.name for d in _subfolders(root) if d.name not in ("train", "val", "test")]
        if extra:
            raise DataError(
                f"imagefolder: {root} has train/ and also {extra[0]}/; beside train/ only test/ and val/ may sit "
                f"(each holding class folders): move {extra[0]}/ into one of them"
            )
        classes = _class_folders(root / "train")
        folders = {split: root / split for split in ("train", "val", "test") if (root / split).is_dir()}
        given_by = " and ".join(f"{split}/" for split in folders) + " folders"
    paths, labels, assigned = [], [], []
    for split, folder in folders.items():
        for class_dir in _subfolders(folder):
            if class_dir.name not in classes:
                raise DataError(
                    f"imagefolder: {class_dir} is a class that {root / 'train'} does not have; "
                    f"add {root / 'train' / class_dir.name}/ with its training images or remove the folder"
                )
            images = _images_in(class_dir)
            paths += images
            labels += [classes.index(class_dir.name)] * len(images)
            assigned += [split] * len(images)
    labels = np.array(labels, dtype=np.int64)
    return ImageFiles(paths, labels, classes, np.array(assigned), strata=labels, stratified_on="class", groups=None, given_by=given_by)


def _subfolders(folder: Path) -> list[Path]:
    """The non-hidden sub-folders of ``folder``, sorted by name."""
    return sorted((d for d in folder.iterdir() if d.is_dir() and not d.name.startswith(".")), key=lambda d: d.name)


def _class_folders(folder: Path) -> list[str]:
    """The sorted class names of ``folder`` (raises when it has none)."""
    classes = [d.name for d in _subfolders(folder)]
    if not classes:
        raise DataError(f"imagefolder: no class folders in {folder}; put each class's images in {folder}/<class>/ ({LAYOUT})")
    return classes


def _images_in(class_dir: Path) -> list[Path]:
    """The images anywhere below ``class_dir``, sorted, skipping hidden folders (raises when there are none)."""
    images = sorted(p for p in class_dir.rglob("*") if is_image(p) and not _hidden(p.relative_to(class_dir)))
    if not images:
        raise DataError(
            f"imagefolder: class folder {class_dir} has no images ({', '.join(IMAGE_EXTENSIONS)}); add images or remove the folder"
        )
    return images


def _hidden(relative: Path) -> bool:
    """Whether a path below a class folder passes through a dot-folder (``.ipynb_checkpoints``)."""
    return any(part.startswith(".") for part in relative.parts)
