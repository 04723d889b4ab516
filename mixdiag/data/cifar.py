"""CIFAR-10 from the published "python version" archive, unpacked.

Expected: ``data_dir`` is the unpacked ``cifar-10-batches-py`` folder or its parent::

    cifar-10-batches-py/data_batch_1 ... data_batch_5, test_batch, batches.meta

Each batch is a pickled dict with ``b"data"`` (``uint8 (10000, 3072)``: the red, green
and blue 32x32 planes of one image per row) and ``b"labels"`` (10,000 ints in 0..9);
``batches.meta`` holds ``b"label_names"``.
"""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import torch

from ..errors import DataError
from ._base import Dataset, register_dataset
from ._cache import channel_stats, require_dir, take_limit

__all__ = ["load_cifar10"]

FOLDER = "cifar-10-batches-py"
TRAIN_BATCHES = tuple(f"data_batch_{i}" for i in range(1, 6))
TEST_BATCH = "test_batch"
META = "batches.meta"
NUM_CLASSES = 10
SHAPE = (3, 32, 32)
LAYOUT = f"the unpacked {FOLDER} folder (data_batch_1..5, test_batch, batches.meta) or its parent"


@register_dataset("cifar10")
def load_cifar10(data_dir: Path | None, *, seed: int = 0, limit: int | None = None) -> Dataset:
    """Load CIFAR-10 with its official 50,000/10,000 train/test split.

    Args:
        data_dir: the ``cifar-10-batches-py`` folder or the folder containing it.
        seed: seeds the ``limit`` subsets.
        limit: at most this many images per split, drawn at random (quick runs).

    Returns:
        A :class:`Dataset` of ``uint8 (N, 3, 32, 32)`` images with ``scale=1/255``.
    """
    data_dir = require_dir(data_dir, "cifar10", LAYOUT)
    if (data_dir / FOLDER).is_dir():
        data_dir = data_dir / FOLDER
    class_names = _read_class_names(data_dir / META)
    rng = np.random.default_rng(seed)
    x, y = {}, {}
    for split, names in (("train", TRAIN_BATCHES), ("test", (TEST_BATCH,))):
        batches = [_read_batch(data_dir / name) for name in names]
        images = np.concatenate([b[0] for b in batches])
        labels = np.concatenate([b[1] for b in batches])
        keep = take_limit(np.arange(len(labels)), limit, rng)
        x[split], y[split] = images[keep], labels[keep]

    mean, std = channel_stats(x["train"], scale=1 / 255)
    return Dataset(
        name="cifar10",
        x_train=torch.from_numpy(x["train"]),
        y_train=torch.from_numpy(y["train"]),
        x_test=torch.from_numpy(x["test"]),
        y_test=torch.from_numpy(y["test"]),
        num_classes=NUM_CLASSES,
        class_names=class_names,
        mean=mean,
        std=std,
        scale=1 / 255,
        augment="crop-flip",
        info={"source": str(data_dir), "sizes": {s: len(y[s]) for s in ("train", "test")}},
    )


class _ArraysOnly(pickle.Unpickler):
    """An unpickler that builds dicts, lists, bytes and numpy arrays, and nothing else.

    Pickle is the format CIFAR-10 is published in, and a plain unpickler runs whatever
    code a doctored file names; a real batch names only these numpy internals.
    """

    ALLOWED = {
        ("_codecs", "encode"),
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
        ("numpy.core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "_reconstruct"),
        ("numpy.core.numeric", "_frombuffer"),
        ("numpy._core.numeric", "_frombuffer"),
    }

    def find_class(self, module, name):
        if (module, name) not in self.ALLOWED:
            raise pickle.UnpicklingError(f"it calls for {module}.{name}, which a CIFAR-10 batch never does, so it was refused")
        return super().find_class(module, name)


def _unpickle(path: Path) -> dict:
    """The dict pickled in one file of the archive."""
    if not path.is_file():
        raise DataError(f"cifar10: {path.name} is missing from {path.parent}; expected {LAYOUT}")
    try:
        with open(path, "rb") as f:
            # The archive was written by Python 2, so its str keys arrive as bytes.
            content = _ArraysOnly(f, encoding="bytes").load()
    except Exception as err:  # a damaged pickle can raise almost anything
        raise DataError(f"cifar10: cannot unpickle {path}: {type(err).__name__}: {err}; download the archive again") from None
    if not isinstance(content, dict):
        raise DataError(f"cifar10: {path} holds a {type(content).__name__}, expected a dict; download the archive again")
    return content


def _read_batch(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """Images ``uint8 (N, 3, 32, 32)`` and labels ``int64 (N,)`` of one batch file."""
    content = _unpickle(path)
    if b"data" not in content or b"labels" not in content:
        raise DataError(f"cifar10: {path} lacks the b'data' or b'labels' entry; download the archive again")
    data = content[b"data"]
    row = int(np.prod(SHAPE))
    if not isinstance(data, np.ndarray) or data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != row:
        described = f"{data.dtype} {data.shape}" if isinstance(data, np.ndarray) else type(data).__name__
        raise DataError(f"cifar10: {path} holds images as {described}; expected uint8 (N, {row})")
    try:
        labels = np.asarray(content[b"labels"], dtype=np.int64)
    except (TypeError, ValueError):
        labels = None
    if labels is None or labels.shape != (len(data),):
        raise DataError(f"cifar10: {path} holds {len(data)} images but its labels are not a list of {len(data)} integers")
    if labels.size and (labels.min() < 0 or labels.max() >= NUM_CLASSES):
        raise DataError(f"cifar10: {path} holds labels outside 0..{NUM_CLASSES - 1}; download the archive again")
    return data.reshape(-1, *SHAPE), labels


def _read_class_names(path: Path) -> list[str]:
    """The 10 class names in ``batches.meta``."""
    names = _unpickle(path).get(b"label_names")
    if not isinstance(names, list) or len(names) != NUM_CLASSES or not all(isinstance(n, bytes) for n in names):
        raise DataError(f"cifar10: {path} lacks a list of {NUM_CLASSES} b'label_names'; download the archive again")
    return [n.decode() for n in names]
