"""One process or many: the environment that ``torchrun`` sets up, and the few collectives training needs.

Under ``torchrun --nproc-per-node N`` (``WORLD_SIZE > 1`` in the environment) the process group is
created with NCCL when CUDA is available and gloo otherwise; each process takes the GPU of its
``LOCAL_RANK``. Without ``torchrun`` everything here is a no-op on one process.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as dist


@dataclass
class Dist:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    device: torch.device = torch.device("cpu")
    initialized_here: bool = False

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    def barrier(self) -> None:
        if self.enabled:
            dist.barrier()

    def all_reduce_sum(self, values: list[float]) -> list[float]:
        """Sum a few numbers over all processes (in float64)."""
        if not self.enabled:
            return list(values)
        backend_device = self.device if dist.get_backend() == "nccl" else torch.device("cpu")
        tensor = torch.tensor(values, dtype=torch.float64, device=backend_device)
        dist.all_reduce(tensor)
        return tensor.tolist()

    def all_gather_object(self, obj: Any) -> list[Any]:
        if not self.enabled:
            return [obj]
        out: list[Any] = [None] * self.world_size
        dist.all_gather_object(out, obj)
        return out

    def broadcast_object(self, obj: Any) -> Any:
        """Rank 0's value on every process."""
        if not self.enabled:
            return obj
        box = [obj]
        dist.broadcast_object_list(box, src=0)
        return box[0]

    def close(self) -> None:
        if self.initialized_here and dist.is_initialized():
            dist.destroy_process_group()


def setup(device: str | None = None) -> Dist:
    """Read the ``torchrun`` environment and start the process group if there is more than one process.

    Args:
        device: "cpu", "cuda", "cuda:1", or None for the GPU of this process when there is one.
    """
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    from ..torch.devices import default_device, resolve_device

    dev = default_device() if device is None else resolve_device(device)  # ValueError for a device we lack
    if dev.type == "cuda" and dev.index is None:
        dev = torch.device("cuda", local_rank if world_size > 1 else torch.cuda.current_device())
    if dev.type == "cuda":
        torch.cuda.set_device(dev)
    initialized_here = False
    if world_size > 1 and not dist.is_initialized():
        dist.init_process_group(backend="nccl" if dev.type == "cuda" else "gloo")
        initialized_here = True
    return Dist(rank=rank, world_size=world_size, local_rank=local_rank, device=dev,
                initialized_here=initialized_here)
