"""Inputs to analyse, read batch by batch: a tensor, a numpy array, a Dataset or a DataLoader.

:func:`as_source` wraps what a user has into a :class:`Source`: its length and its rows in
batches, all of them or a subset given by index. Nothing is loaded whole:

* a tensor or numpy array is sliced (a numpy slice becomes a tensor one batch at a time, so
  a memory-mapped array stays on disk);
* a ``torch.utils.data.Dataset`` (map-style) is read item by item, only the items asked for;
  an item is the input ``x``, or a tuple or list whose first element is ``x`` (``(x, y)``);
* a ``DataLoader`` is iterated in its own order and batch size, and the rows of a subset are
  picked out of its batches as they pass; so its order must be the same on every pass (no
  ``shuffle=True``: an index names the same sample only then). Its batches are ``x`` or
  ``(x, y, ...)``.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Iterator, Optional

import numpy as np
import torch

from ..errors import MixdiagError

__all__ = ["Source", "as_source", "first_input"]


class Source(ABC):
    """Rows of inputs read in batches. Subclasses give ``__len__`` and :meth:`batches`."""

    @abstractmethod
    def __len__(self) -> int: ...

    @abstractmethod
    def batches(self, batch_size: int, indices: Optional[np.ndarray] = None) -> Iterator[torch.Tensor]:
        """The rows ``indices`` (default all, in order) as tensors of up to ``batch_size`` rows, in that order."""


def _tensor(value, what: str) -> torch.Tensor:
    if isinstance(value, torch.Tensor):
        return value
    if isinstance(value, np.ndarray):
        return torch.from_numpy(np.ascontiguousarray(value))
    raise MixdiagError(f"{what} is a {type(value).__name__}, not a tensor or array; yield x or (x, y) with x a tensor")


def _input_of(item, what: str) -> torch.Tensor:
    """``x`` of an item or batch that is ``x`` or ``(x, y, ...)``."""
    if isinstance(item, (tuple, list)):
        if not item:
            raise MixdiagError(f"{what} is empty; yield x or (x, y)")
        item = item[0]
    return _tensor(item, what)


def _chunks(n: int, batch_size: int, indices: Optional[np.ndarray]):
    rows = np.arange(n) if indices is None else np.asarray(indices, dtype=np.int64)
    for start in range(0, len(rows), batch_size):
        yield rows[start : start + batch_size]


class ArraySource(Source):
    """A tensor, a numpy array, or any object sliced like one (``x[i:j]``, ``x[index array]``)."""

    def __init__(self, x):
        self.x = x

    def __len__(self) -> int:
        return len(self.x)

    def batches(self, batch_size: int, indices: Optional[np.ndarray] = None) -> Iterator[torch.Tensor]:
        if indices is None:  # plain slices: views, no gather
            for start in range(0, len(self.x), batch_size):
                yield _tensor(self.x[start : start + batch_size], "the data")
            return
        index = torch.as_tensor if isinstance(self.x, torch.Tensor) else np.asarray
        for rows in _chunks(len(self.x), batch_size, indices):
            yield _tensor(self.x[index(rows)], "the data")


class DatasetSource(Source):
    """A map-style ``torch.utils.data.Dataset``: only the items asked for are read."""

    def __init__(self, dataset):
        self.dataset = dataset

    def __len__(self) -> int:
        return len(self.dataset)

    def batches(self, batch_size: int, indices: Optional[np.ndarray] = None) -> Iterator[torch.Tensor]:
        for rows in _chunks(len(self.dataset), batch_size, indices):
            yield torch.stack([_input_of(self.dataset[int(i)], f"item {int(i)} of the dataset") for i in rows])


class LoaderSource(Source):
    """A ``DataLoader`` over a sized dataset, iterated in its own (fixed) order and batch size."""

    def __init__(self, loader):
        from torch.utils.data import IterableDataset, SequentialSampler

        if isinstance(loader.dataset, IterableDataset):
            raise MixdiagError("a DataLoader over an IterableDataset has no length to sample from; pass a map-style Dataset or a tensor")
        if loader.batch_sampler is None:
            raise MixdiagError("the DataLoader has batch_size=None and yields single samples; give it a batch_size")
        if not isinstance(loader.sampler, SequentialSampler):
            raise MixdiagError(
                f"the DataLoader draws its samples with a {type(loader.sampler).__name__}: their order would change between "
                "passes; build it with shuffle=False (or pass its dataset)"
            )
        self.loader = loader

    def __len__(self) -> int:
        return len(self.loader.dataset)

    def batches(self, batch_size: int, indices: Optional[np.ndarray] = None) -> Iterator[torch.Tensor]:
        wanted = None if indices is None else np.asarray(indices, dtype=np.int64)
        if wanted is not None and np.any(np.diff(wanted) <= 0):
            raise MixdiagError("rows of a DataLoader are read in its order: pass increasing indices")
        start = 0
        for batch in self.loader:
            x = _input_of(batch, "a batch of the DataLoader")
            stop = start + len(x)
            if wanted is None:
                yield x
            else:
                lo, hi = np.searchsorted(wanted, [start, stop])
                if hi > lo:
                    yield x[torch.as_tensor(wanted[lo:hi] - start)]
                if hi == len(wanted):
                    return
            start = stop


def as_source(data) -> Source:
    """``data`` as a :class:`Source`.

    Args:
        data: a :class:`Source`, a tensor or numpy array ``(N, ...)``, a map-style
            ``torch.utils.data.Dataset`` or a ``DataLoader`` (module docstring).

    Raises:
        MixdiagError: for anything else.
    """
    from torch.utils.data import DataLoader

    if isinstance(data, Source):
        return data
    if isinstance(data, (torch.Tensor, np.ndarray)):
        return ArraySource(data)
    if isinstance(data, DataLoader):
        return LoaderSource(data)
    if hasattr(data, "__getitem__") and hasattr(data, "__len__"):
        return DatasetSource(data)
    raise MixdiagError(
        f"cannot read inputs from a {type(data).__name__}; pass a tensor, a numpy array, a torch Dataset or a DataLoader yielding x or (x, y)"
    )


def first_input(source: Source) -> torch.Tensor:
    """A batch of one: the first row of ``source``."""
    if len(source) == 0:
        raise MixdiagError("the data hold no sample; pass at least one")
    return next(iter(source.batches(1, np.zeros(1, dtype=np.int64))))
