"""Plumbing the file-based medical loaders share: a memory-mapped row cache and array statistics.

Decoding 112,120 chest X-rays or parsing 24,000 ECG text files takes minutes, so a loader
reads its files once into a ``.npy`` file and every later load maps it instead. The file is
built under a temporary name and renamed into place (:func:`mixdiag._io.atomic_path`), so a
run killed half-way leaves nothing that a later run would trust.
"""

from __future__ import annotations

import hashlib
import os
from concurrent.futures import ThreadPoolExecutor
from math import prod
from pathlib import Path
from typing import Callable, Iterable, Sequence, TypeVar

import numpy as np
import torch

from .._io import atomic_path
from ..errors import DataError

__all__ = [
    "DEFAULT_WORKERS",
    "require_dir",
    "resolve_cache_dir",
    "cache_file",
    "cached_rows",
    "mapped_tensor",
    "take_limit",
    "channel_stats",
]

# Decoding PNGs and parsing text release the GIL for most of their work, so threads scale.
DEFAULT_WORKERS = min(8, os.cpu_count() or 1)

# Part of every cache key: bump it when a loader changes how it turns a file into a row,
# so caches written by the old code are rebuilt instead of trusted.
_CACHE_VERSION = "1"

T = TypeVar("T")


def require_dir(data_dir: Path | None, dataset: str, layout: str) -> Path:
    """Return ``data_dir`` if it is an existing directory.

    Args:
        data_dir: the ``--data-dir`` the user passed, or None.
        dataset: registry name, for the message.
        layout: one-line description of the expected folder contents, for the message.

    Returns:
        ``data_dir`` as a :class:`Path`.
    """
    if data_dir is None:
        raise DataError(f"{dataset} is not downloaded automatically; pass --data-dir pointing at {layout}")
    data_dir = Path(data_dir)
    if data_dir.is_file():  # --data-dir takes files too, for multilabel-csv's table
        raise DataError(f"{dataset}: {data_dir} is a file, not a folder; pass --data-dir pointing at {layout}")
    if not data_dir.is_dir():
        raise DataError(f"{dataset}: data directory {data_dir} does not exist; pass --data-dir pointing at {layout}")
    return data_dir


def resolve_cache_dir(data_dir: Path, cache_dir: str | Path | None) -> Path:
    """Where a loader keeps its caches.

    Args:
        data_dir: the dataset directory.
        cache_dir: the user's ``cache_dir`` option, or None for the default.

    Returns:
        ``cache_dir`` if given, else ``<data_dir>/.mixdiag-cache`` when ``data_dir`` is
        writable (the cache then travels with the data), else ``~/.cache/mixdiag``.
    """
    if cache_dir is not None:
        return Path(cache_dir).expanduser()
    if os.access(data_dir, os.W_OK):
        return data_dir / ".mixdiag-cache"
    return Path.home() / ".cache" / "mixdiag"


def cache_file(cache_dir: Path, prefix: str, key_parts: Iterable[str]) -> Path:
    """Path of the cache identified by ``key_parts`` (e.g. source directory, file list, size).

    Args:
        cache_dir: directory holding the caches.
        prefix: readable start of the file name (dataset, size, row count).
        key_parts: strings that together determine the cached content.

    Returns:
        ``<cache_dir>/<prefix>-<16 hex digits of their SHA-256>.npy``.
    """
    digest = hashlib.sha256()
    for part in (_CACHE_VERSION, *key_parts):
        digest.update(part.encode())
        digest.update(b"\0")  # so ("ab", "c") and ("a", "bc") differ
    return cache_dir / f"{prefix}-{digest.hexdigest()[:16]}.npy"


def cached_rows(
    path: Path,
    items: Sequence[T],
    read_row: Callable[[T], np.ndarray],
    row_shape: tuple[int, ...],
    dtype: np.dtype | type,
    workers: int = 1,
) -> np.ndarray:
    """Stack ``read_row(item)`` for every item, reading the files only if no cache exists yet.

    Args:
        path: cache file from :func:`cache_file`; an existing one of the right shape and
            dtype is mapped and returned without calling ``read_row``.
        items: what ``read_row`` takes, one per row (file paths, usually).
        read_row: returns one row of shape ``row_shape``; raises :class:`DataError` for a
            bad file, which leaves no cache behind.
        row_shape: shape of one row.
        dtype: storage dtype of the cache.
        workers: threads calling ``read_row``.

    Returns:
        A read-only memory-mapped array of shape ``(len(items), *row_shape)``.
    """
    shape = (len(items), *row_shape)
    dtype = np.dtype(dtype)
    if path.exists():
        try:
            cached = np.load(path, mmap_mode="r")
        except (OSError, ValueError):  # not a readable .npy (e.g. a foreign file): rebuild it
            cached = None
        if cached is not None and cached.shape == shape and cached.dtype == dtype:
            return cached
    with atomic_path(path) as tmp:
        out = np.lib.format.open_memmap(tmp, mode="w+", dtype=dtype, shape=shape)
        pool = ThreadPoolExecutor(max(1, workers))
        try:
            for i, row in enumerate(pool.map(read_row, items)):
                out[i] = row
        finally:
            # On a bad file, skip the queued reads instead of waiting for the whole dataset.
            pool.shutdown(wait=True, cancel_futures=True)
        out.flush()
        del out
    return np.load(path, mmap_mode="r")


def mapped_tensor(rows: np.memmap) -> torch.Tensor:
    """A tensor over the same file as the memory-mapped ``rows``, read page by page on demand.

    ``torch.from_numpy`` warns on the read-only map :func:`cached_rows` returns, and on a
    writable one it would let an in-place op write into the cache. Mapping the file privately
    (copy-on-write) gives a tensor whose rows are read from disk when indexed and whose
    writes never reach the file.

    Args:
        rows: a C-ordered array returned by :func:`cached_rows`.

    Returns:
        A tensor of ``rows``' shape and dtype backed by the cache file, not by a copy in memory.
    """
    dtype = torch.from_numpy(np.zeros(0, dtype=rows.dtype)).dtype
    if rows.offset % rows.dtype.itemsize:  # .npy headers are padded to 64 bytes, so this holds for every cache
        raise DataError(f"cache {rows.filename} has a header of {rows.offset} bytes, not a whole number of items; delete it")
    storage = torch.UntypedStorage.from_file(str(rows.filename), shared=False, nbytes=rows.offset + rows.nbytes)
    return torch.empty(0, dtype=dtype).set_(storage, rows.offset // rows.dtype.itemsize, rows.shape)


def take_limit(indices: np.ndarray, limit: int | None, rng: np.random.Generator) -> np.ndarray:
    """At most ``limit`` of ``indices``, drawn at random, in their original order.

    Args:
        indices: sorted sample indices of one split.
        limit: the ``limit`` option (max samples per split), or None for all.
        rng: the loader's seeded generator.

    Returns:
        ``indices`` itself, or a sorted random subset of ``limit`` of them.
    """
    if limit is None:
        return indices
    if isinstance(limit, bool) or not isinstance(limit, (int, np.integer)) or limit < 1:
        raise DataError(f"limit must be a positive number of samples per split, got {limit!r}")
    if len(indices) <= limit:
        return indices
    return np.sort(rng.choice(indices, size=int(limit), replace=False))


def channel_stats(x: np.ndarray, scale: float = 1.0) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Per-channel mean and standard deviation of ``x * scale`` over samples and positions.

    Args:
        x: ``(N, C, ...)`` array of any dtype.
        scale: the dataset's ``scale``, so the statistics match :meth:`Dataset.normalize`.

    Returns:
        ``(mean, std)``, one float per channel; a constant channel gets std 1 so that
        normalising it does not divide by zero.
    """
    axes = (0,) + tuple(range(2, x.ndim))
    total = np.zeros(x.shape[1])
    total_sq = np.zeros(x.shape[1])
    # float64 copies of a whole training set would not fit in memory: ~16M values at a time.
    step = max(1, (1 << 24) // max(1, prod(x.shape[1:])))
    for start in range(0, len(x), step):
        block = x[start : start + step].astype(np.float64) * scale
        total += block.sum(axis=axes)
        total_sq += np.square(block).sum(axis=axes)
    count = len(x) * prod(x.shape[2:])
    mean = total / count
    std = np.sqrt(np.maximum(total_sq / count - mean**2, 0.0))
    std = np.where(std > 0, std, 1.0)
    return tuple(float(m) for m in mean), tuple(float(s) for s in std)
