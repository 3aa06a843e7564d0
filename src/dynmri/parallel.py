r"""Many processes on :mod:`torch.distributed`: this process's rank, joining torchrun's process
group, and failing together. Used by data-parallel training (:mod:`dynmri.learn.parallel`) and by
the sharded many-file ``reconstruct`` and ``benchmark`` (:mod:`dynmri.eval`).

Launch: ``torchrun --nproc-per-node N -m dynmri COMMAND ...`` (one machine) or torchrun's
multi-node options; :func:`session` reads torchrun's environment (``WORLD_SIZE``, ``RANK``,
``LOCAL_RANK``, ``MASTER_ADDR``/``MASTER_PORT``) and joins the process group, NCCL on CUDA and
gloo on the CPU. A process group set up by the caller is used as it is (tests).
``torch.distributed`` is imported inside the functions: ``import dynmri`` stays light.

Sharding: :func:`shard` gives rank ``r`` of ``W`` the items ``r, r + W, r + 2W, ...`` (round
robin by index), :func:`unshard` puts the ranks' results back in item order.

Failing together: every collective step is preceded by :func:`agree` (an all-reduce of a failure
flag: training) or is :func:`exchange` (an all-gather of every rank's result and error message:
evaluation), so an error on one rank stops every rank instead of leaving the others blocked in a
collective. :func:`raise_together` then raises on rank 0 the one error a user reads (its own, or
the failing rank's message) and on the other ranks a *quiet* :class:`RankError`, which the CLI
turns into exit status 2 without a second ``error:`` line. The process group's ``timeout``
(:data:`TIMEOUT`) is the last resort for a rank that dies without raising.

Examples
--------
>>> shard(["a", "b", "c", "d", "e"], Context(1, 2))
[1, 3]
>>> unshard([["a", "c", "e"], ["b", "d"]])
['a', 'b', 'c', 'd', 'e']
"""

from __future__ import annotations

import contextlib
import datetime
import os
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from dynmri.errors import DynMRIError

TIMEOUT = datetime.timedelta(minutes=30)
"""How long a collective waits for a rank that neither answers nor fails (a killed process)."""


class RankError(DynMRIError, RuntimeError):
    """Another rank of a distributed run failed (its own error is in its output, or, with
    ``quiet``, in rank 0's: the CLI then exits with status 2 and prints nothing more)."""

    def __init__(self, message: str, quiet: bool = False):
        super().__init__(message)
        self.quiet = quiet


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


def rank_device(spec: str):
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
def session(device, backend: str | None = None) -> Iterator[Context]:
    """The :class:`Context` of this process; joins (and afterwards leaves) torchrun's process
    group when ``WORLD_SIZE > 1`` and none is set up yet, with ``backend`` (default: NCCL when
    ``device`` is CUDA, else gloo; every rank must pass the same)."""
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        yield Context(dist.get_rank(), dist.get_world_size(), int(os.environ.get("LOCAL_RANK", dist.get_rank())))
        return
    if launched_world() == 1:
        yield Context()
        return
    backend = backend or ("nccl" if device.type == "cuda" else "gloo")
    dist.init_process_group(backend, timeout=TIMEOUT, **({"device_id": device} if backend == "nccl" else {}))
    try:
        yield Context(dist.get_rank(), dist.get_world_size(), int(os.environ.get("LOCAL_RANK", "0")))
        # every rank done with its collectives before any tears the group down: gloo aborts a
        # process (SIGABRT at exit) whose peer left while its last work was still in flight
        dist.barrier()
    finally:
        dist.destroy_process_group()


def comm_device(device):
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

        flag = torch.tensor([0.0 if error is None else 1.0], device=comm_device(device))
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
    dist.broadcast_object_list(box, src=0, device=comm_device(device))
    return box[0]


# --------------------------------------------------------------------------- sharded work
def shard(items: Sequence, ctx: Context) -> list[int]:
    """The indices of ``items`` this rank works on: ``rank, rank + world, ...`` (all of them
    without a process group)."""
    return list(range(ctx.rank, len(items), ctx.world))


def unshard(parts: Sequence[Sequence]) -> list:
    """The results of every rank (``parts[r]``: rank ``r``'s, in the order of :func:`shard`)
    merged back into item order."""
    world = len(parts)
    out: list = [None] * sum(len(p) for p in parts)
    for r, part in enumerate(parts):
        out[r::world] = list(part)
    return out


def error_message(exc: BaseException) -> str:
    """What a user reads of ``exc``: a dynmri error's message, an OS error's ``path: reason``,
    else ``Type: message``."""
    from dynmri.errors import os_error_message

    if isinstance(exc, DynMRIError):
        return str(exc)
    if isinstance(exc, OSError):
        return os_error_message(exc)
    return f"{type(exc).__name__}: {exc}"


def exchange(ctx: Context, obj: Any, error: BaseException | None) -> tuple[list, list[tuple[int, str]]]:
    """``(objects, failures)``: every rank's ``obj`` in rank order and ``(rank, message)`` of every
    rank that holds an ``error``, on every rank (one ``all_gather_object``; pickled, so keep
    ``obj`` small; under NCCL it travels through the current CUDA device, which
    :func:`rank_device` sets). Without a process group: ``([obj], [(0, message)] or [])``."""
    mine = (obj, None if error is None else error_message(error))
    if ctx.distributed:
        import torch.distributed as dist

        got: list = [None] * ctx.world
        dist.all_gather_object(got, mine)
    else:
        got = [mine]
    return [o for o, _ in got], [(r, m) for r, (_, m) in enumerate(got) if m is not None]


def any_rank(ctx: Context, flag: bool) -> bool:
    """Whether ``flag`` holds on any rank, on every rank (:func:`exchange` of one bool; ``flag``
    itself without a process group)."""
    if not ctx.distributed:
        return bool(flag)
    flags, _ = exchange(ctx, bool(flag), None)
    return any(flags)


def raise_together(ctx: Context, error: BaseException | None, failures: Sequence[tuple[int, str]]) -> None:
    """After :func:`exchange`, when any rank failed: rank 0 raises its own ``error`` or a
    :class:`RankError` with the first failing rank's message (the one line a user reads); the
    other ranks raise a quiet :class:`RankError` (their own error when it is not a
    :class:`~dynmri.errors.DynMRIError` or an ``OSError``: a bug shows its traceback)."""
    if not failures:
        return
    if ctx.main:
        if error is not None:
            raise error
        rank, message = failures[0]
        raise RankError(f"rank {rank}: {message}")
    if error is not None and not isinstance(error, (DynMRIError, OSError)):
        raise error
    raise RankError(f"rank {ctx.rank}: stopped; rank 0 reports the error", quiet=True) from error


def collect(ctx: Context, obj: Any, error: BaseException | None) -> list:
    """Every rank's ``obj`` in rank order (:func:`exchange`), or :func:`raise_together` on every
    rank when any failed."""
    objs, failures = exchange(ctx, obj, error)
    raise_together(ctx, error, failures)
    return objs


def settle(ctx: Context, fn: Callable[[], Any], *, main_only: bool = False) -> Any:
    """``fn()`` on every rank (``main_only``: rank 0 alone, others get None), then
    :func:`collect`: an error anywhere raises everywhere, with one message (rank 0's)."""
    result, error = None, None
    if ctx.main or not main_only:
        try:
            result = fn()
        except Exception as exc:  # noqa: BLE001  any failure must reach the other ranks
            if not ctx.distributed:
                raise
            error = exc
    collect(ctx, None, error)
    return result
