"""The one place that knows about torch.distributed: which process this is, and the few
collective operations mixdiag uses.

A process started by ``torchrun`` finds ``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``,
``MASTER_ADDR`` and ``MASTER_PORT`` in its environment; :func:`setup` joins the process
group (gloo on the CPU, NCCL on CUDA) and :func:`teardown` leaves it. A plain process is a
world of one: every function here then works without a process group, so library code
calls them unconditionally.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Iterable

import torch
import torch.distributed as dist

from ._device import resolve_device
from .errors import MixdiagError

__all__ = [
    "World",
    "setup",
    "teardown",
    "world",
    "launched",
    "all_reduce_sum",
    "all_gather_objects",
    "broadcast_object",
    "broadcast_tensors",
    "barrier",
]


@dataclass(frozen=True)
class World:
    """This process's place among the processes of a run.

    Attributes:
        rank: 0 .. size − 1; rank 0 writes the run's files.
        size: number of processes.
        local_rank: index of this process on its machine (its CUDA device).
    """

    rank: int = 0
    size: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def launched() -> bool:
    """Whether this process was started by a launcher (``torchrun``) as one of several."""
    return int(os.environ.get("WORLD_SIZE", "1")) > 1


def world() -> World:
    """The current world: the process group's when one is joined, else a world of one."""
    if dist.is_available() and dist.is_initialized():
        return World(dist.get_rank(), dist.get_world_size(), int(os.environ.get("LOCAL_RANK", dist.get_rank())))
    return World()


def setup(device: str | torch.device | None = "auto") -> tuple[World, torch.device]:
    """Join the process group when launched by ``torchrun``, and pick this process's device.

    Returns ``(world, device)``. Under a launcher with CUDA, each process takes the GPU of
    its local rank; ``device="cpu"`` keeps every process on the CPU (gloo).
    """
    device = resolve_device(device)
    if not launched():
        return World(), device
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    if device.type == "cuda":
        if local_rank >= torch.cuda.device_count():
            raise MixdiagError(
                f"local rank {local_rank} has no GPU ({torch.cuda.device_count()} visible); "
                "start at most one process per GPU with torchrun --nproc_per_node"
            )
        device = torch.device("cuda", local_rank)
        torch.cuda.set_device(device)
    if not dist.is_initialized():
        dist.init_process_group(backend="nccl" if device.type == "cuda" else "gloo")
    return world(), device


def teardown() -> None:
    """Leave the process group, if one was joined.

    Once per process, at its end: joining again within the same ``torchrun`` job is not
    reliable (with torch 2.13 the third join hung), so library functions join and stay.
    """
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def _active() -> bool:
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def all_reduce_sum(tensor: torch.Tensor) -> torch.Tensor:
    """Sum ``tensor`` over all processes, in place; returns it (unchanged in a world of one)."""
    if _active():
        dist.all_reduce(tensor, op=dist.ReduceOp.SUM)
    return tensor


def all_gather_objects(obj) -> list:
    """Every process's ``obj`` (picklable: plain data or CPU tensors), in rank order."""
    if not _active():
        return [obj]
    out = [None] * dist.get_world_size()
    dist.all_gather_object(out, obj)
    return out


def broadcast_object(obj, src: int = 0):
    """Rank ``src``'s ``obj`` on every process."""
    if not _active():
        return obj
    box = [obj]
    dist.broadcast_object_list(box, src=src)
    return box[0]


def broadcast_tensors(tensors: Iterable[torch.Tensor], src: int = 0) -> None:
    """Overwrite every tensor, in place, with rank ``src``'s (on the backend's device)."""
    if _active():
        for tensor in tensors:
            dist.broadcast(tensor, src=src)


def barrier() -> None:
    """Wait until every process gets here."""
    if _active():
        dist.barrier()
