r"""Data-parallel training on :mod:`torch.distributed`: the ranks, their agreement on failures,
the shard of every step's batch and the gradient average.

Launch: ``torchrun --nproc-per-node N -m dynmri train ...`` (one machine) or torchrun's
multi-node options; :func:`session` reads torchrun's environment (``WORLD_SIZE``, ``RANK``,
``LOCAL_RANK``, ``MASTER_ADDR``/``MASTER_PORT``) and joins the process group, NCCL on CUDA and
gloo on the CPU. A process group set up by the caller is used as it is (tests).

The model is not wrapped in ``DistributedDataParallel``: the equivariant losses call the network
two or three times per step and SSDU wraps it, so each rank runs the step as a single process
would on its shard, and :func:`average_gradients` then all-reduces the gradients in one flat
buffer per dtype. With ``W`` ranks each holding ``B`` items of a global batch of ``W B``,

.. math:: \bar g = \frac{1}{W} \sum_{r=1}^{W} \nabla \frac{1}{B} \sum_{i \in r} \ell_i
          = \nabla \frac{1}{W B} \sum_{i} \ell_i,

the gradient of the single-process step on the whole global batch (every loss is a mean over
the batch, and every rank's transform generators, seeded alike, draw the same transforms).

Failing together: every collective step is preceded by :func:`agree`, an all-reduce of a
failure flag, so an error on one rank (bad data, a NaN, a full disk on rank 0) stops every rank
with a :class:`RankError` (the failing rank raises its own error) instead of leaving the others
blocked in a collective. The process group's ``timeout`` (:data:`TIMEOUT`) is the last resort
for a rank that dies without raising.
"""

from __future__ import annotations

import contextlib
import datetime
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from dynmri.errors import DynMRIError

TIMEOUT = datetime.timedelta(minutes=30)
"""How long a collective waits for a rank that neither answers nor fails (a killed process)."""


class RankError(DynMRIError, RuntimeError):
    """Another rank of a distributed run failed (its own error is in its output)."""


@dataclass(frozen=True)
class Context:
    """This process's place in a run: ``rank`` of ``world`` (``1``: no process group)."""

    rank: int = 0
    world: int = 1
    local_rank: int = 0

    @property
    def main(self) -> bool:
        """Rank 0: the one that reads and writes the run folder."""
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world > 1


def launched_world() -> int:
    """The world size torchrun (or any ``env://`` launcher) set in ``WORLD_SIZE`` (1 without)."""
    from dynmri.errors import ParameterError

    raw = os.environ.get("WORLD_SIZE", "1")
    try:
        world = int(raw)
    except ValueError:
        raise ParameterError(f"WORLD_SIZE must be an integer >= 1, got {raw!r}") from None
    if world < 1:
        raise ParameterError(f"WORLD_SIZE must be an integer >= 1, got {raw!r}")
    return world


def training_device(spec: str):
    """The ``torch.device`` of this process: :func:`dynmri.devices.resolve_device`, and under
    torchrun ``auto``/``cuda`` mean ``cuda:LOCAL_RANK`` (an explicit ``cuda:N`` is kept)."""
    import torch

    from dynmri.devices import resolve_device

    device = resolve_device(spec)
    if device.type == "cuda" and spec in ("auto", "cuda") and launched_world() > 1:
        device = resolve_device(f"cuda:{int(os.environ.get('LOCAL_RANK', '0'))}")
    if device.type == "cuda":
        torch.cuda.set_device(device)
    return device


@contextlib.contextmanager
def session(device) -> Iterator[Context]:
    """The :class:`Context` of this process; joins (and afterwards leaves) torchrun's process
    group when ``WORLD_SIZE > 1`` and none is set up yet."""
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        yield Context(dist.get_rank(), dist.get_world_size(), int(os.environ.get("LOCAL_RANK", dist.get_rank())))
        return
    if launched_world() == 1:
        yield Context()
        return
    backend = "nccl" if device.type == "cuda" else "gloo"
    dist.init_process_group(backend, timeout=TIMEOUT, **({"device_id": device} if device.type == "cuda" else {}))
    try:
        yield Context(dist.get_rank(), dist.get_world_size(), int(os.environ.get("LOCAL_RANK", "0")))
    finally:
        dist.destroy_process_group()


def _comm_device(device):
    """Where collectives' tensors live: the CUDA device under NCCL, else the CPU."""
    import torch
    import torch.distributed as dist

    return device if dist.get_backend() == "nccl" else torch.device("cpu")


def agree(ctx: Context, error: BaseException | None, device) -> None:
    """Raise on every rank when any rank failed: ``error`` on the rank that holds it, a
    :class:`RankError` on the others. Without a process group: raise ``error`` if any."""
    if ctx.distributed:
        import torch
        import torch.distributed as dist

        flag = torch.tensor([0.0 if error is None else 1.0], device=_comm_device(device))
        dist.all_reduce(flag)
        failed = int(flag.item())
        if error is None and failed:
            raise RankError(f"rank {ctx.rank}: {failed} other rank(s) of this distributed run failed; their error is in their output")
    if error is not None:
        raise error


def together(ctx: Context, fn: Callable[[], Any], device, *, main_only: bool = False) -> Any:
    """``fn()`` on every rank (``main_only``: on rank 0 alone, others get None), then
    :func:`agree`: an error anywhere raises everywhere."""
    if not ctx.distributed:
        return fn()
    result, error = None, None
    if ctx.main or not main_only:
        try:
            result = fn()
        except Exception as exc:  # noqa: BLE001  any failure must reach the other ranks
            error = exc
    agree(ctx, error, device)
    return result


def share(ctx: Context, obj: Any, device) -> Any:
    """Rank 0's ``obj`` on every rank (pickled; tensors come back on the CPU)."""
    if not ctx.distributed:
        return obj
    import torch.distributed as dist

    box = [obj if ctx.main else None]
    dist.broadcast_object_list(box, src=0, device=_comm_device(device))
    return box[0]


def broadcast_parameters(ctx: Context, module, device) -> None:
    """Rank 0's parameters and buffers on every rank (they start equal: this is a guard)."""
    if not ctx.distributed:
        return
    import torch.distributed as dist

    for t in list(module.parameters()) + list(module.buffers()):
        buf = t.data.to(_comm_device(device))
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

    buf = torch.tensor([0.0 if error is None else 1.0, 0.0 if error is not None else loss], dtype=torch.float64, device=_comm_device(device))
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
    comm = _comm_device(device)
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
