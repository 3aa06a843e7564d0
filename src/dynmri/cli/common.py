"""What every command shares: one error line and exit status 2 for expected failures
(:func:`friendly_errors`), the input files of many-file commands (:func:`expand_inputs`), torch
threads, and parsers of list options. The checks of output
paths and the locks are in :mod:`dynmri.cli.outputs`."""

from __future__ import annotations

import contextlib
import functools
import re

import typer

from dynmri.errors import os_error_message as _os_message
from dynmri.fileio import TEMPORARY_TAIL

# a temporary file of dynmri.fileio.atomic_path: ".{stem}.{pid}-{host}.{random}.tmp{suffix}"
_TEMPORARY = re.compile(r"(^|[\s/'\"(])\.([^/\s'\"]+?)" + TEMPORARY_TAIL)


def user_paths(text: str) -> str:
    """``text`` with the hidden temporary files of :func:`dynmri.fileio.atomic_path` replaced by
    the files they stand for (``out/.r.12-ab12cd.0f3e2a1b.tmp.npz`` -> ``out/r.npz``), so that a
    message names the user's path."""
    while True:
        new = _TEMPORARY.sub(r"\1\2", text)
        if new == text:
            return text
        text = new


def _fail(msg: str, code: int = 2):
    _error_line(msg)
    raise typer.Exit(code)


def _error_line(msg: str) -> None:
    typer.echo(f"error: {' '.join(user_paths(msg).split())}", err=True)


def friendly_errors(fn):
    """Turn expected failures into one clear line (``error: ...`` on stderr) and exit status 2:
    every :class:`~dynmri.errors.DynMRIError` and every operating-system error (missing file,
    permission, disk full, ...), naming the user's paths, never a hidden temporary file. A quiet
    :class:`dynmri.parallel.RankError` (a rank other than 0 of a sharded command, whose error
    rank 0 prints) exits with status 2 and prints nothing."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        from dynmri.errors import DynMRIError

        try:
            return fn(*args, **kwargs)
        except DynMRIError as exc:
            if getattr(exc, "quiet", False):  # another rank of a distributed run, rank 0 prints the error
                raise typer.Exit(2) from None
            _fail(str(exc))
        except OSError as exc:
            _fail(_os_message(exc))

    return wrapper


def expand_inputs(paths, kind: str = "an input") -> list:
    """The input files of a many-file command: each path as given, or, when it does not exist and
    holds a glob character (``*``, ``?``, ``[``, e.g. a quoted ``'data/*.npz'``), the files it
    matches, sorted. Every one must be a readable file (one :class:`~dynmri.errors.DataError`
    otherwise, naming it); nothing is read."""
    import glob
    import os
    from pathlib import Path

    from dynmri.errors import DataError

    out = []
    for p in map(str, paths):
        if not os.path.lexists(p) and any(c in p for c in "*?["):
            matches = sorted(m for m in glob.glob(p) if not os.path.isdir(m))
            if not matches:
                raise DataError(f"{p}: no file matches this pattern")
            out.extend(Path(m) for m in matches)
        else:
            out.append(Path(p))
    for p in out:
        if not p.exists():
            raise DataError(f"{p}: file not found")
        if p.is_dir():
            raise DataError(f"{p}: is a folder, not {kind} file")
        if not os.access(p, os.R_OK):
            raise DataError(f"{p}: cannot read (permission denied)")
    return out


def set_threads(threads: int | None):
    """``torch.set_num_threads(threads)`` when given (``threads >= 1``)."""
    if threads is None:
        return
    if threads < 1:
        from dynmri.errors import ParameterError

        raise ParameterError(f"--threads must be >= 1, got {threads}")
    import torch

    torch.set_num_threads(threads)


def floats(spec: str | None) -> tuple[float, ...] | None:
    """``"4,8,16"`` (commas or spaces) -> ``(4.0, 8.0, 16.0)``; None stays None."""
    from dynmri.errors import ParameterError

    if spec is None:
        return None
    try:
        return tuple(float(v) for v in spec.replace(" ", ",").split(",") if v)
    except ValueError:
        raise ParameterError(f"expected comma-separated numbers, got {spec!r}") from None


def names(spec: str | None) -> tuple[str, ...] | None:
    """``"a, b,"`` -> ``("a", "b")``; None stays None."""
    return None if spec is None else tuple(s.strip() for s in spec.split(",") if s.strip())


def default(value) -> str:
    """``(default: VALUE)`` for the help of an option whose default comes from a config class."""
    if isinstance(value, tuple):
        value = ",".join(f"{v:g}" if isinstance(v, float) else str(v) for v in value)
    elif isinstance(value, float):
        value = f"{value:g}"
    return f"(default: {value})"


def sharded(spec: str) -> contextlib.AbstractContextManager:
    """``with sharded(--device) as (ctx, device):`` the :class:`dynmri.parallel.Context` of a
    many-process command and this rank's device (``cuda:LOCAL_RANK`` for ``auto``/``cuda``,
    :func:`dynmri.parallel.rank_device`) under ``torchrun``; without it ``(Context(), spec)``,
    untouched. An error raised in the block (on every rank together: :func:`dynmri.parallel.collect`)
    is one ``error:`` line, printed by rank 0 before the ranks leave together with exit status 2.
    A device that cannot be used fails the same way. The process group is gloo whatever the
    device (the ranks only exchange small pickled results, and a rank whose device failed must
    join the same backend as the others to report it)."""
    from dynmri import parallel

    if parallel.launched_world() == 1:
        return contextlib.nullcontext((parallel.Context(), spec))
    return _sharded(spec)


@contextlib.contextmanager
def _sharded(spec: str):
    import torch

    from dynmri import parallel
    from dynmri.errors import DynMRIError

    error = None
    try:
        device = parallel.rank_device(spec)
    except DynMRIError as exc:
        device, error = torch.device("cpu"), exc
    with parallel.session(device, backend="gloo") as ctx:
        try:
            parallel.collect(ctx, None, error)
            yield ctx, str(device)
        except (DynMRIError, OSError) as exc:  # raised on every rank together (dynmri.parallel.raise_together)
            if ctx.main:
                _error_line(str(exc) if isinstance(exc, DynMRIError) else _os_message(exc))
            with contextlib.suppress(Exception):  # torchrun stops the other ranks when one exits: rank 0 prints first
                torch.distributed.barrier()
            raise typer.Exit(2) from None
