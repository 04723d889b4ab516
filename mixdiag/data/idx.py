"""MNIST and Fashion-MNIST from their published IDX files.

Expected in ``data_dir``, each either plain or gzipped (``.gz``)::

    train-images-idx3-ubyte  train-labels-idx1-ubyte
    t10k-images-idx3-ubyte   t10k-labels-idx1-ubyte

An IDX file is a 4-byte magic number (two zero bytes, a type code, 0x08 for unsigned
bytes, and the number of dimensions), one big-endian ``uint32`` per dimension, then the
values in row-major order. Fashion-MNIST defaults to :data:`FASHION_DEFAULT_DIR`, where
Debian's ``dataset-fashion-mnist`` package installs it.
"""

from __future__ import annotations

import gzip
import zlib
from pathlib import Path

import numpy as np
import torch

from ..errors import DataError
from ._base import Dataset, register_dataset
from ._cache import channel_stats, require_dir, take_limit

__all__ = ["FASHION_CLASSES", "FASHION_DEFAULT_DIR", "read_idx", "load_mnist", "load_fashion_mnist"]

FASHION_DEFAULT_DIR = Path("/usr/share/datasets/fashion-mnist")
FASHION_CLASSES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot")
FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
LAYOUT = "a folder holding train-images-idx3-ubyte, train-labels-idx1-ubyte, t10k-images-idx3-ubyte, t10k-labels-idx1-ubyte (plain or .gz)"
UBYTE = 0x08


@register_dataset("mnist")
def load_mnist(data_dir: Path | None, *, seed: int = 0, limit: int | None = None) -> Dataset:
    """Load MNIST with its official 60,000/10,000 train/test split.

    Args:
        data_dir: folder holding the four IDX files; required.
        seed: seeds the ``limit`` subsets.
        limit: at most this many images per split, drawn at random (quick runs).

    Returns:
        A :class:`Dataset` of ``uint8 (N, 1, 28, 28)`` images with ``scale=1/255``.
    """
    data_dir = require_dir(data_dir, "mnist", LAYOUT)
    return _load("mnist", data_dir, [str(d) for d in range(10)], "crop", seed, limit)  # a mirrored digit is another shape


@register_dataset("fashion-mnist")
def load_fashion_mnist(data_dir: Path | None, *, seed: int = 0, limit: int | None = None) -> Dataset:
    """Load Fashion-MNIST with its official 60,000/10,000 train/test split.

    Args:
        data_dir: folder holding the four IDX files; None uses :data:`FASHION_DEFAULT_DIR`
            when it exists.
        seed: seeds the ``limit`` subsets.
        limit: at most this many images per split, drawn at random (quick runs).

    Returns:
        A :class:`Dataset` of ``uint8 (N, 1, 28, 28)`` images with ``scale=1/255``.
    """
    if data_dir is None and FASHION_DEFAULT_DIR.is_dir():
        data_dir = FASHION_DEFAULT_DIR
    data_dir = require_dir(data_dir, "fashion-mnist", LAYOUT)
    return _load("fashion-mnist", data_dir, list(FASHION_CLASSES), "crop-flip", seed, limit)


def _load(name: str, data_dir: Path, class_names: list[str], augment: str, seed: int, limit: int | None) -> Dataset:
    """Read both splits of an MNIST-layout folder into a :class:`Dataset`."""
    rng = np.random.default_rng(seed)
    x, y, sources = {}, {}, {}
    for split, (image_name, label_name) in FILES.items():
        image_path, label_path = _find(data_dir, name, image_name), _find(data_dir, name, label_name)
        images, labels = read_idx(image_path, ndim=3), read_idx(label_path, ndim=1)
        if len(images) != len(labels):
            raise DataError(
                f"{name}: {image_path} holds {len(images)} images but {label_path} holds {len(labels)} labels; download them again"
            )
        if labels.size and labels.max() >= len(class_names):
            raise DataError(f"{name}: {label_path} holds label {labels.max()}; expected 0..{len(class_names) - 1}")
        keep = take_limit(np.arange(len(labels)), limit, rng)
        x[split], y[split] = images[keep][:, None], labels[keep].astype(np.int64)
        sources[split] = [str(image_path), str(label_path)]
    if x["train"].shape[2:] != x["test"].shape[2:]:
        train_side, test_side = x["train"].shape[2:], x["test"].shape[2:]
        raise DataError(f"{name}: train images are {train_side} but test images are {test_side} pixels; download them again")

    mean, std = channel_stats(x["train"], scale=1 / 255)
    return Dataset(
        name=name,
        x_train=torch.from_numpy(x["train"]),
        y_train=torch.from_numpy(y["train"]),
        x_test=torch.from_numpy(x["test"]),
        y_test=torch.from_numpy(y["test"]),
        num_classes=len(class_names),
        class_names=class_names,
        mean=mean,
        std=std,
        scale=1 / 255,
        augment=augment,
        info={"source": str(data_dir), "files": sources, "sizes": {s: len(y[s]) for s in FILES}},
    )


def _find(data_dir: Path, dataset: str, stem: str) -> Path:
    """``data_dir/stem``, or its gzipped version."""
    for path in (data_dir / stem, data_dir / f"{stem}.gz"):
        if path.is_file():
            return path
    raise DataError(f"{dataset}: {stem} (or {stem}.gz) is missing from {data_dir}; expected {LAYOUT}")


def read_idx(path: Path, ndim: int) -> np.ndarray:
    """Read an unsigned-byte IDX file, gzipped when its name ends in ``.gz``.

    Args:
        path: the file.
        ndim: number of dimensions the file must declare (3 for images, 1 for labels).

    Returns:
        A writable ``uint8`` array of the declared shape.
    """
    try:
        opener = gzip.open if path.suffix == ".gz" else open
        with opener(path, "rb") as f:
            raw = f.read()
    except (OSError, EOFError, zlib.error) as err:
        raise DataError(f"cannot read {path}: {err}; download it again") from None

    header = 4 + 4 * ndim
    if len(raw) < 4 or raw[:2] != b"\0\0" or raw[2] != UBYTE or raw[3] != ndim:
        found = raw[:4].hex() or "missing"
        raise DataError(f"{path} is not an IDX file of {ndim}-D unsigned bytes: its magic number is {found}, expected 000008{ndim:02x}")
    if len(raw) < header:
        raise DataError(f"{path} is truncated inside its header ({len(raw)} of {header} bytes); download it again")
    shape = tuple(int(d) for d in np.frombuffer(raw, dtype=">u4", count=ndim, offset=4))
    expected = header + int(np.prod(shape))
    if len(raw) < expected:
        raise DataError(f"{path} is truncated: {len(raw)} of the {expected} bytes its shape {shape} needs; download it again")
    if len(raw) > expected:
        raise DataError(f"{path} has {len(raw) - expected} bytes beyond what its shape {shape} needs; download it again")
    return np.frombuffer(raw, dtype=np.uint8, offset=header).reshape(shape).copy()
