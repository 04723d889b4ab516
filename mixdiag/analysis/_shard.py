"""How an analysis shares its rows among the processes of a run and combines their results.

The analyses stream rows through the model in batches. Each process takes a contiguous run
of whole batches of the single-process sequence (:func:`share`), so every sample meets the
model in the same batch as it would in one process; what the processes computed is then
combined by elementwise sums (:func:`sum_across`) or taken from rank 0 (:func:`from_main`).
In a world of one every function here does nothing, so the analyses call them
unconditionally. The collectives come from :mod:`mixdiag.distributed`.
"""

from __future__ import annotations

import contextlib
from typing import Iterator, TypeVar

import numpy as np
import torch

from .. import distributed
from ..distributed import World
from ..errors import MixdiagError

T = TypeVar("T")

# Bytes reduced per collective: a chunk is copied to the device first when the backend
# needs it there (NCCL reduces CUDA tensors only), which bounds the device memory it takes.
_REDUCE_BYTES = 64 * 1024**2


def analysis_world(shard: bool) -> World:
    """The processes an analysis shares its work with: the joined process group's when
    ``shard``, else this process alone."""
    return distributed.world() if shard else World()


def share(n: int, batch_size: int, world: World) -> slice:
    """This process's rows of ``n`` rows processed in batches of ``batch_size``: a contiguous
    run of whole batches, the first processes taking one batch more when they do not divide.

    >>> share(10, 3, World(rank=1, size=2))
    slice(6, 10, None)
    """
    per, extra = divmod(-(-n // batch_size), world.size)
    first = world.rank * per + min(world.rank, extra)
    last = first + per + (world.rank < extra)
    return slice(min(first * batch_size, n), min(last * batch_size, n))


def sum_across(array: np.ndarray, world: World, device: torch.device) -> None:
    """Sum the C-contiguous ``array`` elementwise over the processes, in place, through
    ``device`` (the model's, which the process group's backend serves).

    Summing arrays that are zero except in each process's own rows gathers them exactly:
    ``x + 0 = x`` for every float.
    """
    if world.size == 1:
        return
    flat = torch.from_numpy(array).view(-1)  # view() fails rather than copy a strided array
    step = max(1, _REDUCE_BYTES // flat.element_size())
    for start in range(0, len(flat), step):
        host = flat[start : start + step]
        reduced = distributed.all_reduce_sum(host.to(device))
        if reduced is not host:
            host.copy_(reduced)


def from_main(obj: T, world: World) -> T:
    """Rank 0's ``obj`` (picklable) on every process."""
    return distributed.broadcast_object(obj) if world.size > 1 else obj


@contextlib.contextmanager
def together(world: World) -> Iterator[None]:
    """Run a block on every process; a :class:`MixdiagError` raised in it on any process is
    raised on all of them, so that none waits forever in the next collective for a process
    that gave up. Other exceptions are bugs: they end the process and the launcher (torchrun)
    stops the others."""
    error = None
    try:
        yield
    except MixdiagError as exc:
        error = exc
    if world.size > 1:
        messages = [m for m in distributed.all_gather_objects(None if error is None else str(error)) if m is not None]
        if error is None and messages:
            raise MixdiagError(messages[0])
    if error is not None:
        raise error
