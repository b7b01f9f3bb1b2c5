"""torch.distributed glue: start the process group under ``torchrun`` and wrap models in DDP.

``torchrun --nproc_per_node=N script.py`` sets ``WORLD_SIZE``, ``RANK`` and ``MASTER_ADDR``; :func:`setup`
then joins the group with gloo on CPU or NCCL on GPU (each process on GPU ``LOCAL_RANK``). A plain
``python script.py`` is a world of one and nothing is initialised.
"""

from __future__ import annotations

import logging
import os

import torch
import torch.distributed as dist
from torch import nn

log = logging.getLogger(__name__)


def setup() -> tuple[int, int]:
    """Join the process group if launched by torchrun; return (rank, world_size)."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1 or not dist.is_available():
        return 0, 1
    backend = "nccl" if torch.cuda.is_available() else "gloo"
    if backend == "nccl":
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
    dist.init_process_group(backend=backend)
    log.info("joined process group: rank %d of %d (%s)", dist.get_rank(), world, backend)
    return dist.get_rank(), dist.get_world_size()


def rank() -> int:
    return dist.get_rank() if dist.is_available() and dist.is_initialized() else 0


def is_main_process() -> bool:
    return rank() == 0


def wrap(model: nn.Module) -> nn.Module:
    """DistributedDataParallel around ``model`` (its parameters are broadcast from rank 0)."""
    p = next(model.parameters())
    device_ids = [p.device.index] if p.device.type == "cuda" else None
    return nn.parallel.DistributedDataParallel(model, device_ids=device_ids)


def barrier() -> None:
    if dist.is_available() and dist.is_initialized():
        dist.barrier()
