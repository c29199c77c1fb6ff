"""Process-group set-up for DistributedDataParallel runs launched by ``torchrun``.

``torchrun --nproc_per_node=N -m emorl_eval.train ...`` sets ``RANK``, ``WORLD_SIZE``,
``LOCAL_RANK``, ``MASTER_ADDR`` and ``MASTER_PORT``; without them the run is a single process.
The backend is NCCL on CUDA and gloo on CPU.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as dist

from emorl_eval.errors import ConfigError


@dataclass
class DistContext:
    """Where this process sits in the run.

    Attributes:
        rank / world_size / local_rank: as set by torchrun (0 / 1 / 0 for a single process).
        device: the device this rank trains on.
        owns_group: whether this context initialised the process group (and must destroy it).
    """

    rank: int
    world_size: int
    local_rank: int
    device: torch.device
    owns_group: bool = False

    @property
    def is_main(self) -> bool:
        """Rank 0: the process that logs and writes checkpoints."""
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1

    def barrier(self) -> None:
        if self.distributed:
            dist.barrier()

    def mean(self, values: torch.Tensor) -> torch.Tensor:
        """Element-wise mean of ``values`` over ranks (identity for one process)."""
        if not self.distributed:
            return values
        values = values.clone()
        dist.all_reduce(values, op=dist.ReduceOp.SUM)
        return values / self.world_size

    def gather_cat(self, values: torch.Tensor) -> torch.Tensor:
        """Concatenate equally-shaped ``[n, ...]`` tensors of all ranks along dim 0, in rank order."""
        if not self.distributed:
            return values
        parts = [torch.empty_like(values) for _ in range(self.world_size)]
        dist.all_gather(parts, values.contiguous())
        return torch.cat(parts, dim=0)

    def gather_objects(self, obj: Any) -> list[Any]:
        """``[obj of rank 0, obj of rank 1, ...]`` on every rank."""
        if not self.distributed:
            return [obj]
        out: list[Any] = [None] * self.world_size
        dist.all_gather_object(out, obj)
        return out

    def close(self) -> None:
        if self.owns_group and dist.is_initialized():
            dist.destroy_process_group()
            self.owns_group = False


def resolve_device(name: str, local_rank: int = 0) -> torch.device:
    """``auto`` -> ``cuda`` when available else ``cpu``; ``cuda`` -> ``cuda:LOCAL_RANK``; one-line
    :class:`ConfigError` for CUDA on a machine without it (see :mod:`emorl_eval.devices`)."""
    from emorl_eval.devices import resolve_device as resolve

    device = resolve(name, local_rank)
    if device.type == "cuda":
        torch.cuda.set_device(device)
    return device


def setup(device_name: str) -> DistContext:
    """Join the torchrun process group when ``WORLD_SIZE > 1``; pick this rank's device."""
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    device = resolve_device(device_name, local_rank)
    owns = False
    if world_size > 1 and not dist.is_initialized():
        dist.init_process_group(backend="nccl" if device.type == "cuda" else "gloo")
        owns = True
    return DistContext(rank, world_size, local_rank, device, owns)
