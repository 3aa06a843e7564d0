"""Load weights and checkpoints without running code from the file.

A ``.pt`` file is a pickle, and unpickling can call any Python function: ``torch.load(f,
weights_only=False)`` on a file from someone else runs whatever they put in it. dynmri loads
every ``.pt`` file with :func:`load_checkpoint`, which unpickles with ``weights_only=True``: only
tensors, containers (dict, OrderedDict, list, tuple), numbers, strings, None, torch types and
the few extra types of :func:`allowed_globals` (numpy scalars, which older logs held). A file
that needs anything else, a file that is not a checkpoint (a text file, a truncated download)
or one without the expected keys is refused with one :class:`~dynmri.errors.DataError` naming
the file; nothing in it is executed.

Only the standard library and :mod:`dynmri.errors` are imported at module level.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from pathlib import Path

from dynmri.errors import DataError

__all__ = ["allowed_globals", "load_checkpoint"]


def allowed_globals() -> list:
    """Types a dynmri checkpoint may hold beyond torch's ``weights_only`` defaults.

    numpy scalars (``numpy.float64`` metrics in a training log): the scalar constructor,
    ``numpy.dtype`` and the numeric dtype classes of numpy 2, the constructor under its numpy 2
    and numpy 1 names. They rebuild a number from bytes and a type code; none can call anything
    else.
    """
    import numpy as np

    try:
        from numpy._core.multiarray import scalar
    except ImportError:  # numpy < 2
        from numpy.core.multiarray import scalar
    numeric = "Bool Int8 Int16 Int32 Int64 UInt8 UInt16 UInt32 UInt64 Float16 Float32 Float64 Complex64 Complex128"
    dtypes = getattr(np, "dtypes", None)  # numpy >= 1.25
    classes = [getattr(dtypes, f"{n}DType") for n in numeric.split() if hasattr(dtypes, f"{n}DType")] if dtypes else []
    return [scalar, (scalar, "numpy.core.multiarray.scalar"), (scalar, "numpy._core.multiarray.scalar"), np.dtype, *classes]


def _torch_load(file: Path):
    import torch

    safe = getattr(torch.serialization, "safe_globals", None)  # torch >= 2.5
    if safe is None:
        return torch.load(file, map_location="cpu", weights_only=True)
    with safe(allowed_globals()):
        return torch.load(file, map_location="cpu", weights_only=True)


def _first_line(exc: BaseException) -> str:
    """``Type: first sentence`` of an exception (torch's messages run over several lines)."""
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0].split('. ')[0].rstrip('.')}" if text else type(exc).__name__


def _refusal(file: Path, exc: BaseException) -> DataError:
    """The error for a file whose unpickling needs a global outside the allow-list."""
    import re

    found = re.search(r"GLOBAL (\S+)|but got <class '([^']+)'>", str(exc))
    needs = f" ({found.group(1) or found.group(2)})" if found else ""
    return DataError(f"{file}: refused to load: it holds Python objects other than weights{needs}; loading it could run code")


def _check_header(file: Path) -> None:
    """A ``torch.save`` file is a zip archive (``PK``) or, in the legacy format, a pickle (``0x80``)."""
    try:
        with open(file, "rb") as f:
            head = f.read(2)
    except OSError as exc:
        raise DataError(f"{file}: cannot read ({exc.strerror or exc})") from None
    if not head:
        raise DataError(f"{file}: empty file, not a checkpoint")
    if head != b"PK" and head[:1] != b"\x80":
        raise DataError(f"{file}: not a checkpoint written by torch.save (a text file or another format?)")


def load_checkpoint(path: str | os.PathLike, *, keys: Iterable[str] = ("model", "config")) -> dict:
    """The dict saved in the checkpoint ``path``, loaded without executing code.

    Parameters
    ----------
    path : file written by ``torch.save`` (a run's ``checkpoint.pt`` / ``best.pt`` or a weights file).
    keys : keys the dict must hold; ``"model"`` must map names to tensors and ``"config"`` must be a dict.

    Raises
    ------
    DataError
        The file is missing, is not a checkpoint, is truncated, needs a type outside the
        allow-list (possibly code: it is not run), or lacks one of ``keys``.
    """
    import pickle

    file = Path(path)
    if not file.is_file():
        raise DataError(f"{file}: no such checkpoint file")
    _check_header(file)
    try:
        state = _torch_load(file)
    except pickle.UnpicklingError as exc:
        if "weights only" in str(exc).lower() or "unsupported global" in str(exc).lower():
            raise _refusal(file, exc) from None
        raise DataError(f"{file}: not a dynmri checkpoint or corrupted ({_first_line(exc)})") from None
    except Exception as exc:  # noqa: BLE001  any failure to parse a file is a bad file, whatever torch raises
        raise DataError(f"{file}: not a dynmri checkpoint or corrupted ({_first_line(exc)})") from None
    _check_structure(file, state, tuple(keys))
    return state


def _check_structure(file: Path, state, keys: tuple[str, ...]) -> None:
    import torch

    if not isinstance(state, Mapping):
        raise DataError(f"{file}: not a dynmri checkpoint (holds a {type(state).__name__}, expected a dict)")
    missing = [k for k in keys if k not in state]
    if missing:
        raise DataError(f"{file}: not a dynmri checkpoint (missing {', '.join(missing)})")
    if "model" in keys and not (isinstance(state["model"], Mapping) and all(isinstance(v, torch.Tensor) for v in state["model"].values())):
        raise DataError(f"{file}: not a dynmri checkpoint ('model' is not a state dict of tensors)")
    if "config" in keys and not isinstance(state["config"], Mapping):
        raise DataError(f"{file}: not a dynmri checkpoint ('config' is not a dict)")
