"""Several processes, one result: fine-tuning under ``torchrun`` and extraction shared between ranks.

Launched by ``torchrun`` (``python -m torch.distributed.run``), every process runs the same script:
it loads the same data, builds the same estimator and calls ``fit``. :func:`distributed_context`
reads the launcher's environment (``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``, ``MASTER_ADDR``,
``MASTER_PORT``) and joins the process group: gloo on CPU, nccl on GPUs. Outside ``torchrun`` it
returns a single-process context and everything below is a no-op.

What each rank does, so that N processes compute what one process computes with the same seed
and the same total batch:

- **Training** (:func:`sigxfer.learning.loop.train`): every rank draws the same epoch order,
  augmentation and mixup from ``(seed, epoch)`` and images the whole global batch; each then takes
  its share (:func:`batch_share`, near-equal parts), runs the backbone on it under
  ``DistributedDataParallel`` (rebuilt per phase, since each phase trains other parameters) and
  scales its loss by its share of the batch, so the averaged gradient is that of the whole batch.
  BatchNorm layers in training mode use statistics of the whole batch across ranks
  (:func:`sync_batchnorm`: torch's ``SyncBatchNorm`` on GPUs, an all-reduce version on CPU, where
  torch's refuses to run). Dropout masks are drawn per rank, so with dropout the runs agree in
  distribution, not exactly. Class-weighted losses are normalised per rank (a close approximation).
- **Frozen extraction** (:func:`sigxfer.learning.embeddings.extract_embeddings`): each rank embeds
  a contiguous shard (:func:`shard`) with the engine rank 0 chose, and the shards are gathered so
  every rank holds all embeddings (:func:`gather_rows`).

Running on a GPU cluster (one process per GPU; ``train.py`` builds the estimator with
``device="cuda"`` and calls ``fit``; save the model on rank 0 only)::

    # one machine, 8 GPUs
    torchrun --nproc-per-node 8 train.py
    # 4 machines of 8 GPUs; run on each, with the address of the first one
    torchrun --nnodes 4 --nproc-per-node 8 --rdzv-backend c10d --rdzv-endpoint HOST0:29500 train.py

Each process is pinned to ``cuda:LOCAL_RANK``. The batch size stays the global one: with 8 GPUs
and ``batch_size=256`` each GPU runs 32 cases a step. On CPU, ``torchrun --nproc-per-node 2`` with
``OMP_NUM_THREADS`` set to the cores per process uses gloo.
"""

from __future__ import annotations

import dataclasses
import os

import numpy as np
import torch
import torch.distributed as dist
from torch import nn


@dataclasses.dataclass(frozen=True)
class DistributedContext:
    """Where this process stands: ``rank`` of ``world_size``, and its device."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    backend: str | None = None

    @property
    def enabled(self) -> bool:
        """More than one process takes part."""
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        """Rank 0: the one that writes files and prints."""
        return self.rank == 0

    @property
    def device(self) -> torch.device:
        return torch.device("cuda", self.local_rank) if self.backend == "nccl" else torch.device("cpu")


def distributed_context(*, backend: str | None = None) -> DistributedContext:
    """The process group this process belongs to, joined from ``torchrun``'s environment if needed.

    Parameters
    ----------
    backend : {"gloo", "nccl"}, optional
        Default: nccl when CUDA is available, else gloo.

    Returns
    -------
    DistributedContext
        ``world_size == 1`` outside a distributed launch.

    Examples
    --------
    >>> distributed_context().world_size  # not launched by torchrun
    1
    """
    if dist.is_available() and dist.is_initialized():
        return DistributedContext(dist.get_rank(), dist.get_world_size(),
                                  int(os.environ.get("LOCAL_RANK", 0)), dist.get_backend())
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1 or not dist.is_available() or "RANK" not in os.environ:
        return DistributedContext()
    backend = backend or ("nccl" if torch.cuda.is_available() else "gloo")
    local_rank = int(os.environ.get("LOCAL_RANK", 0))
    if backend == "nccl":
        torch.cuda.set_device(local_rank)  # "cuda" then means this process's GPU
    dist.init_process_group(backend=backend)
    return DistributedContext(dist.get_rank(), dist.get_world_size(), local_rank, backend)


def _active() -> bool:
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def broadcast_object(obj):
    """Rank 0's ``obj`` on every rank (``obj`` itself in a single process); picklable values only.

    Examples
    --------
    >>> broadcast_object({"engine": "torch"})
    {'engine': 'torch'}
    """
    if not _active():
        return obj
    holder = [obj]
    dist.broadcast_object_list(holder, src=0)
    return holder[0]


def shard(n: int, ctx: DistributedContext) -> slice:
    """This rank's contiguous share of ``n`` cases (near-equal; lower ranks get the extra ones).

    Examples
    --------
    >>> [shard(10, DistributedContext(rank, 3)) for rank in range(3)]
    [slice(0, 4, None), slice(4, 7, None), slice(7, 10, None)]
    """
    base, extra = divmod(n, ctx.world_size)
    start = ctx.rank * base + min(ctx.rank, extra)
    return slice(start, start + base + (ctx.rank < extra))


def batch_share(idx: np.ndarray, ctx: DistributedContext) -> np.ndarray:
    """This rank's part of one global batch of case indices.

    Examples
    --------
    >>> batch_share(np.array([7, 3, 5, 1, 0]), DistributedContext(1, 2)).tolist()
    [1, 0]
    """
    return np.array_split(idx, ctx.world_size)[ctx.rank] if ctx.enabled else idx


def gather_rows(local: np.ndarray, n: int, ctx: DistributedContext) -> np.ndarray:
    """The rows of every rank's :func:`shard`, in rank order: all ``n`` rows, on every rank.

    Examples
    --------
    >>> gather_rows(np.ones((4, 2)), 4, DistributedContext()).shape  # a single process has them all
    (4, 2)
    """
    if not ctx.enabled:
        return local
    size = shard(n, DistributedContext(0, ctx.world_size)).stop  # the largest shard
    padded = torch.zeros((size, *local.shape[1:]), dtype=torch.from_numpy(local[:0]).dtype, device=ctx.device)
    padded[:len(local)] = torch.from_numpy(np.ascontiguousarray(local)).to(ctx.device)
    parts = [torch.empty_like(padded) for _ in range(ctx.world_size)]
    dist.all_gather(parts, padded)
    lengths = [len(range(n)[shard(n, DistributedContext(r, ctx.world_size))]) for r in range(ctx.world_size)]
    rows = [part[:length] for part, length in zip(parts, lengths)]
    return torch.cat(rows).cpu().numpy()


def all_reduce_sum(value: float, ctx: DistributedContext) -> float:
    """Sum of ``value`` over ranks.

    Examples
    --------
    >>> all_reduce_sum(2.5, DistributedContext())
    2.5
    """
    if not ctx.enabled:
        return value
    t = torch.tensor([value], dtype=torch.float64, device=ctx.device)
    dist.all_reduce(t)
    return float(t.item())


def wrap(module: nn.Module, ctx: DistributedContext) -> nn.Module:
    """``module`` under DistributedDataParallel over its trainable parameters (itself if single).

    Examples
    --------
    >>> layer = nn.Linear(2, 2)
    >>> wrap(layer, DistributedContext()) is layer
    True
    """
    if not ctx.enabled:
        return module
    from torch.nn.parallel import DistributedDataParallel

    # Buffers are the BatchNorm statistics, equal on every rank with synchronised BatchNorm.
    return DistributedDataParallel(module, device_ids=[ctx.local_rank] if ctx.backend == "nccl" else None,
                                   broadcast_buffers=False)


class _AllReduceBatchNorm(nn.BatchNorm2d):
    """BatchNorm2d whose training statistics are those of the whole batch across ranks (CPU, gloo).

    Mean first, then the variance about it (two all-reduces, as accurate as one process's
    two-pass); the all-reduce of ``torch.distributed.nn`` carries gradients between ranks.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not (self.training and _active()):
            return super().forward(x)
        from torch.distributed.nn.functional import all_reduce

        c = x.shape[1]
        count = torch.tensor([x.numel() / c], dtype=x.dtype, device=x.device)
        total = all_reduce(torch.cat([x.sum(dim=(0, 2, 3)), count]))
        n = total[-1]
        mean = total[:c] / n
        centred = x - mean.view(1, c, 1, 1)
        var = all_reduce(centred.pow(2).sum(dim=(0, 2, 3))) / n
        if self.track_running_stats:
            with torch.no_grad():
                self.num_batches_tracked.add_(1)
                m = self.momentum if self.momentum is not None else 1.0 / float(self.num_batches_tracked)
                self.running_mean.mul_(1 - m).add_(mean.detach(), alpha=m)
                self.running_var.mul_(1 - m).add_(var.detach() * (n / (n - 1)), alpha=m)
        out = centred * torch.rsqrt(var + self.eps).view(1, c, 1, 1)
        if self.affine:
            out = out * self.weight.view(1, c, 1, 1) + self.bias.view(1, c, 1, 1)
        return out


def _swap_batchnorm(module: nn.Module, make) -> int:
    swapped = 0
    for name, child in module.named_children():
        new = make(child)
        if new is not child:
            new.load_state_dict(child.state_dict())
            new.train(child.training)
            new.requires_grad_(False)
            for (_, p_new), (_, p_old) in zip(new.named_parameters(), child.named_parameters()):
                p_new.requires_grad_(p_old.requires_grad)
            setattr(module, name, new)
            swapped += 1
        else:
            swapped += _swap_batchnorm(child, make)
    return swapped


def _to_synced(ctx: DistributedContext):
    def make(child):
        if type(child) is not nn.BatchNorm2d:
            return child
        cls = nn.SyncBatchNorm if ctx.backend == "nccl" else _AllReduceBatchNorm
        return cls(child.num_features, child.eps, child.momentum, child.affine, child.track_running_stats,
                   device=child.weight.device if child.affine else None)
    return make


def _to_plain(child):
    if isinstance(child, (nn.SyncBatchNorm, _AllReduceBatchNorm)):
        return nn.BatchNorm2d(child.num_features, child.eps, child.momentum, child.affine,
                              child.track_running_stats, device=child.weight.device if child.affine else None)
    return child


def sync_batchnorm(module: nn.Module, ctx: DistributedContext) -> int:
    """Replace ``module``'s BatchNorm2d layers by whole-batch synchronised ones; how many were swapped.

    Weights, statistics and trainability carry over; :func:`unsync_batchnorm` swaps them back
    so the model file and the ONNX export see plain BatchNorm2d. A no-op in a single process.

    Examples
    --------
    >>> model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4))
    >>> sync_batchnorm(model, DistributedContext(0, 2, 0, "gloo")), unsync_batchnorm(model)
    (1, 1)
    """
    return _swap_batchnorm(module, _to_synced(ctx)) if ctx.enabled else 0


def unsync_batchnorm(module: nn.Module) -> int:
    """Undo :func:`sync_batchnorm`."""
    return _swap_batchnorm(module, _to_plain)
