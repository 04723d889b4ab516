"""Image files to a memory-mapped ``uint8`` tensor: what the file-based image loaders share.

Every image is decoded once (in worker threads), converted, resized and written to a
``.npy`` cache (:func:`mixdiag.data._cache.cached_rows`); every load maps that file, so a
folder of 100,000 224x224 images is read from disk batch by batch instead of held in memory.
"""

from __future__ import annotations

import os
from functools import partial
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
from PIL import Image

from ..errors import DataError
from ._cache import cache_file, cached_rows, mapped_tensor

__all__ = ["IMAGE_EXTENSIONS", "is_image", "check_image_options", "decode_image", "load_images"]

# torchvision's IMG_EXTENSIONS, compared in lower case as torchvision does.
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".ppm", ".bmp", ".pgm", ".tif", ".tiff", ".webp")
_MODES = {1: "L", 3: "RGB"}
# The kinds of mixdiag.data.augment that apply to images; "crop" leaves orientation alone (X-rays).
IMAGE_AUGMENTATIONS = ("crop-flip", "crop", "none")


def is_image(path: Path) -> bool:
    """Whether ``path`` is an image file by its name; hidden files (``._x.png`` from macOS) are not."""
    return path.suffix.lower() in IMAGE_EXTENSIONS and not path.name.startswith(".") and path.is_file()


def check_image_options(dataset: str, image_size: int, channels: int, augment: str) -> None:
    """Raise :class:`DataError` unless ``image_size`` is a positive int, ``channels`` 1 or 3 and ``augment`` an image augmentation."""
    if isinstance(image_size, bool) or not isinstance(image_size, int) or image_size < 1:
        raise DataError(f"{dataset}: image_size must be a positive number of pixels, got {image_size!r}")
    if channels not in _MODES or isinstance(channels, bool):
        raise DataError(f"{dataset}: channels must be 1 (grayscale) or 3 (RGB), got {channels!r}")
    if augment not in IMAGE_AUGMENTATIONS:
        raise DataError(f"{dataset}: augment must be one of {', '.join(IMAGE_AUGMENTATIONS)}, got {augment!r}")


def decode_image(path: Path, size: int, channels: int, dataset: str, fix: str) -> np.ndarray:
    """One image as ``uint8 (channels, size, size)``.

    Args:
        path: the image file.
        size: side of the square it is resized to (bilinear).
        channels: 1 (PIL's ``L``: ITU-R 601-2 luma) or 3 (``RGB``; grayscale is repeated).
        dataset: registry name, for the message.
        fix: what the user should do about an unreadable file, for the message.

    Returns:
        The decoded pixels; a file PIL cannot read raises :class:`DataError` naming it.
    """
    try:
        with Image.open(path) as image:
            pixels = image.convert(_MODES[channels]).resize((size, size), Image.Resampling.BILINEAR)
    except (OSError, SyntaxError, ValueError) as err:  # what PIL raises for truncated or foreign files
        raise DataError(f"{dataset}: cannot read image {path}: {err}; {fix}") from None
    array = np.asarray(pixels, dtype=np.uint8)
    return array[None] if channels == 1 else array.transpose(2, 0, 1)


def load_images(
    paths: Sequence[Path], *, dataset: str, image_size: int, channels: int, cache_dir: Path, workers: int, fix: str
) -> tuple[torch.Tensor, Path]:
    """Decode ``paths`` once into a cache and map it.

    The cache key holds every path with its size and modification time, and the image
    options, so a changed, added or removed file (or another ``image_size``) builds a new cache.

    Args:
        paths: image files, in the order of the returned rows.
        dataset: registry name, for the cache file name and messages.
        image_size, channels: as in :func:`decode_image`.
        cache_dir: where the cache lives (:func:`mixdiag.data._cache.resolve_cache_dir`).
        workers: threads decoding images while the cache is built.
        fix: what to do about an unreadable image, for the message.

    Returns:
        ``(images, cache_path)``: a ``uint8 (len(paths), channels, image_size, image_size)``
        tensor backed by the cache file, and that file.
    """
    stamps = []
    for path in paths:
        st = os.stat(path)
        stamps.append(f"{Path(path).resolve()}\t{st.st_size}\t{st.st_mtime_ns}")
    path = cache_file(cache_dir, f"{dataset}-{image_size}px-{channels}ch-{len(paths)}", [str(image_size), str(channels), *stamps])
    decode = partial(decode_image, size=image_size, channels=channels, dataset=dataset, fix=fix)
    rows = cached_rows(path, list(paths), decode, (channels, image_size, image_size), np.uint8, workers)
    return mapped_tensor(rows), path
