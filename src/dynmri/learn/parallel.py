r"""Data-parallel training on :mod:`torch.distributed`: the shard of every step's batch, the
gradient average and the mean loss of a step. The ranks, the process group and failing together
are :mod:`dynmri.parallel` (shared with the sharded evaluation); their names are re-exported here.

Launch: ``torchrun --nproc-per-node N -m dynmri train ...`` (one machine) or torchrun's
multi-node options (:func:`dynmri.parallel.session`).

The model is not wrapped in ``DistributedDataParallel``: the equivariant losses call the network
two or three times per step and SSDU wraps it, so each rank runs the step as a single process
would on its shard, and :func:`average_gradients` then all-reduces the gradients in one flat
buffer per dtype. With ``W`` ranks each holding ``B`` items of a global batch of ``W B``,

.. math:: \bar g = \frac{1}{W} \sum_{r=1}^{W} \nabla \frac{1}{B} \sum_{i \in r} \ell_i
          = \nabla \frac{1}{W B} \sum_{i} \ell_i,

the gradient of the single-process step on the whole global batch (every loss is a mean over
the batch, and every rank's transform generators, seeded alike, draw the same transforms).

Failing together: every collective step is preceded by :func:`~dynmri.parallel.agree`, an
all-reduce of a failure flag (:func:`step_status` carries it with the loss), so an error on one
rank (bad data, a NaN, a full disk on rank 0) stops every rank with a :class:`RankError` (the
failing rank raises its own error) instead of leaving the others blocked in a collective.
"""

from __future__ import annotations

from dynmri.parallel import (
    TIMEOUT,
    Context,
    RankError,
    agree,
    comm_device,
    launched_world,
    session,
    share,
    together,
)
from dynmri.parallel import rank_device as training_device

__all__ = ["TIMEOUT", "Context", "RankError", "agree", "average_gradients", "broadcast_parameters", "launched_world", "session",
           "share", "shard_batches", "step_status", "together", "training_device"]


def broadcast_parameters(ctx: Context, module, device) -> None:
    """Rank 0's parameters and buffers on every rank (they start equal: this is a guard)."""
    if not ctx.distributed:
        return
    import torch.distributed as dist

    for t in list(module.parameters()) + list(module.buffers()):
        buf = t.data.to(comm_device(device))
        dist.broadcast(buf, src=0)
        t.data.copy_(buf)


def step_status(ctx: Context, loss: float, error: BaseException | None, device) -> float:
    """The mean loss of a step over the ranks, after :func:`agree` on ``error`` (one all-reduce
    carries both); a NaN on any rank makes the mean NaN on every rank."""
    if not ctx.distributed:
        if error is not None:
            raise error
        return loss
    import torch
    import torch.distributed as dist

    buf = torch.tensor([0.0 if error is None else 1.0, 0.0 if error is not None else loss], dtype=torch.float64, device=comm_device(device))
    dist.all_reduce(buf)
    failed, total = int(buf[0].item()), float(buf[1].item())
    if error is not None:
        raise error
    if failed:
        raise RankError(f"rank {ctx.rank}: {failed} other rank(s) of this distributed run failed; their error is in their output")
    return total / ctx.world


def average_gradients(ctx: Context, params: list, device) -> None:
    r"""Replace every gradient by its mean over the ranks (one flat all-reduce per dtype; a
    parameter without a gradient counts as zero, and keeps none when it has none here: every
    rank runs the same graph)."""
    if not ctx.distributed:
        return
    import torch
    import torch.distributed as dist

    by_dtype: dict = {}
    for p in params:
        by_dtype.setdefault(p.dtype, []).append(p)
    comm = comm_device(device)
    for group in by_dtype.values():
        flat = torch.cat([(p.grad if p.grad is not None else torch.zeros_like(p)).reshape(-1) for p in group]).to(comm)
        dist.all_reduce(flat)
        flat = flat.div_(ctx.world).to(device)
        offset = 0
        for p in group:
            n = p.numel()
            if p.grad is not None:
                p.grad.copy_(flat[offset : offset + n].view_as(p))
            offset += n


def shard_batches(perm: list[int], batch: int, ctx: Context, steps: int | None) -> list[list[int]]:
    """This rank's part of every step: the permutation cut into global batches of
    ``batch * world`` items (the last, incomplete one is kept by a single process and dropped
    by several, which must hold equal shares), at most ``steps`` of them; rank ``r`` takes items
    ``r * batch .. (r + 1) * batch - 1`` of each.

    >>> shard_batches(list(range(7)), 2, Context(1, 2), None)
    [[2, 3]]
    >>> shard_batches(list(range(7)), 2, Context(), 3)
    [[0, 1], [2, 3], [4, 5]]
    """
    size = batch * ctx.world
    stop = len(perm) if ctx.world == 1 else len(perm) - len(perm) % size
    steps_all = [perm[i : i + size] for i in range(0, stop, size)]
    if steps:
        steps_all = steps_all[:steps]
    return [s[ctx.rank * batch : (ctx.rank + 1) * batch] for s in steps_all]
