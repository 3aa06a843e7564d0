r"""Devices and numeric precision: one place that turns ``--device`` / ``--precision`` into torch.

``resolve_device("auto")`` is the first CUDA device when one exists, else the CPU; ``"cuda"``
and ``"cuda:N"`` are checked against what this machine has (one :class:`ParameterError` line,
before anything is written). ``autocast(precision, device)`` wraps the *networks* only:
FFTs, NUFFTs and data consistency stay in float32 or better (``docs/conventions.md``), so a
network in bf16 hands float32 images to the physics.

Examples
--------
>>> from dynmri.devices import resolve_device, check_precision
>>> resolve_device("cpu")
device(type='cpu')
>>> check_precision("fp32")
'fp32'
>>> check_precision("fp8")
Traceback (most recent call last):
...
dynmri.errors.ParameterError: precision must be one of fp32, bf16, got 'fp8'
"""

from __future__ import annotations

import contextlib
import re

from dynmri.errors import ParameterError

DEVICES = ("auto", "cpu", "cuda", "cuda:N")
"""What ``--device`` accepts (``N`` a CUDA device index)."""
PRECISIONS = ("fp32", "bf16")
"""What ``--precision`` accepts: ``bf16`` runs the networks under ``torch.autocast``."""

_SPEC = re.compile(r"^(auto|cpu|cuda)(:(\d+))?$")


def check_device_spec(spec: str) -> str:
    """Raise a :class:`ParameterError` unless ``spec`` has the form of a device (no torch import,
    no hardware query: configs validate with it)."""
    m = _SPEC.match(spec) if isinstance(spec, str) else None
    if m is None or (m.group(2) and m.group(1) != "cuda"):
        raise ParameterError(f"device must be one of {', '.join(DEVICES)}, got {spec!r}")
    return spec


def resolve_device(spec="auto"):
    """The ``torch.device`` for ``spec`` (``auto``, ``cpu``, ``cuda``, ``cuda:N``) on this machine;
    a ``torch.device`` is returned as it is (already resolved).

    Raises
    ------
    ParameterError
        The spec is malformed, or names CUDA where this machine has none, or a CUDA index it
        does not have (the message says how many devices there are).
    """
    import torch

    if isinstance(spec, torch.device):
        return spec
    check_device_spec(spec)
    if spec == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if spec == "cpu":
        return torch.device("cpu")
    if not torch.cuda.is_available():
        raise ParameterError(f"device {spec!r}: this machine has no CUDA device (use --device cpu or auto)")
    dev = torch.device(spec)
    count = torch.cuda.device_count()
    if dev.index is not None and dev.index >= count:
        raise ParameterError(f"device {spec!r}: this machine has {count} CUDA device(s), cuda:0 .. cuda:{count - 1}")
    return dev


def check_precision(precision: str) -> str:
    """Raise a :class:`ParameterError` unless ``precision`` is one of :data:`PRECISIONS`."""
    if precision not in PRECISIONS:
        raise ParameterError(f"precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")
    return precision


def autocast(precision: str, device):
    """Context manager for running a network at ``precision`` on ``device``.

    ``fp32`` is a no-op; ``bf16`` is ``torch.autocast(device.type, dtype=torch.bfloat16)``.
    Physics calls inside a network (data consistency) should be wrapped in
    :func:`full_precision` so that FFTs stay in float32.
    """
    import torch

    check_precision(precision)
    if precision == "fp32":
        return contextlib.nullcontext()
    return torch.autocast(torch.device(device).type, dtype=torch.bfloat16)


def full_precision(device):
    """Context manager that turns autocast off (FFTs and data consistency in float32 or better)."""
    import torch

    return torch.autocast(torch.device(device).type, enabled=False)


def peak_memory_mb(device) -> dict:
    """The peak memory so far, in MiB: ``peak_rss_mb``, the process's resident set (``getrusage``;
    absent where the platform has no ``resource`` module), and on a CUDA ``device``
    ``peak_cuda_mb``, the most memory torch allocated on it (training resets it at the start of a
    run). The RSS counts the whole process (not data-loading worker processes), so it is a run's
    peak only when the process runs one; under torchrun both are this rank's figures.

    >>> import torch
    >>> peak_memory_mb(torch.device("cpu"))["peak_rss_mb"] > 0
    True
    """
    import sys

    import torch

    out = {}
    try:
        import resource
    except ImportError:  # Windows
        resource = None
    if resource is not None:
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux, bytes on macOS
        out["peak_rss_mb"] = rss / 2**20 if sys.platform == "darwin" else rss / 2**10
    if torch.device(device).type == "cuda":
        out["peak_cuda_mb"] = torch.cuda.max_memory_allocated(device) / 2**20
    return out
