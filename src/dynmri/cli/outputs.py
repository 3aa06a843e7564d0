"""What a command checks about the paths it will write, before any work, and the locks it holds.

Every output path is checked before anything is read, computed or created
(:func:`check_output_file`, :func:`check_output_folder`):

- its suffix (files), and that it is not an existing folder (files) or an existing file (folders);
- that its parent exists or can be created: no ancestor is a file and the nearest existing
  one is writable;
- that it is none of the command's inputs (acquisition, reference, model, config, data), also
  through a symbolic link, a hard link or another spelling such as ``./a.npz``; a folder output
  may not be an input folder nor contain an input under a name the command writes.

While writing, each output is locked (:func:`locked`, :func:`dynmri.fileio.exclusive_lock`): a
second dynmri process writing the same output is refused at once. Nothing here creates a file
or a folder that outlives the command.
"""

from __future__ import annotations

import contextlib
import fnmatch
import os
from collections.abc import Iterable, Sequence
from pathlib import Path

from dynmri.errors import DataError, ParameterError

Inputs = Iterable[tuple[str, "str | os.PathLike | None"]]
"""``(role, path)`` pairs, e.g. ``("acquisition", "acq.npz")``; None and paths that do not exist
(``phantom``, a shipped weights name) are skipped."""


def _existing(inputs: Inputs) -> list[tuple[str, Path]]:
    return [(role, Path(p)) for role, p in inputs if p is not None and str(p) and os.path.lexists(p)]


def _same(a: Path, b: Path) -> bool:
    """Whether ``a`` and ``b`` name the same file: the same resolved path (links followed), or
    the same inode (a hard link)."""
    if a.resolve() == b.resolve():
        return True
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


def _check_parent(path: Path, option: str) -> None:
    """The nearest existing ancestor of ``path`` must be a writable folder (no ancestor a file)."""
    ancestor = path.absolute().parent
    while not os.path.lexists(ancestor) and ancestor.parent != ancestor:
        ancestor = ancestor.parent
    if not ancestor.is_dir():
        raise DataError(f"{option} {path}: {ancestor} is a file, not a folder")
    if not os.access(ancestor, os.W_OK | os.X_OK):
        raise DataError(f"{option} {path}: cannot write in {ancestor} (permission denied)")


def _check_not_input(path: Path, inputs: list[tuple[str, Path]], option: str) -> None:
    for role, inp in inputs:
        if _same(path, inp):
            raise DataError(f"{option} {path} is the {role} {inp}: writing it would destroy the input; choose another output")


def check_output_file(path: str | os.PathLike, suffixes: Sequence[str], inputs: Inputs = (), option: str = "--out") -> Path:
    """Check the output file ``path`` of a command before any work (see the module doc).

    Parameters
    ----------
    path : the output file.
    suffixes : the allowed suffixes (lower case, with the dot), e.g. ``(".npz", ".h5")``.
    inputs : ``(role, path)`` pairs of what the command reads.
    option : the option's name, for the messages.

    Raises
    ------
    ParameterError
        Unsupported suffix.
    DataError
        A folder, inside a file, in a folder that cannot be written, or one of the inputs.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in suffixes:
        raise ParameterError(f"{option} {path}: unsupported file type {suffix or '(no suffix)'}; use {', '.join(suffixes)}")
    if path.is_dir():
        raise DataError(f"{option} {path}: is a folder; give a file name, e.g. {path / ('out' + suffixes[0])}")
    _check_parent(path, option)
    _check_not_input(path, _existing(inputs), option)
    return path


def check_output_folder(path: str | os.PathLike, writes: Sequence[str] = (), inputs: Inputs = (), option: str = "--out") -> Path:
    """Check the output folder ``path`` of a command before any work (see the module doc).

    ``writes`` are the names (``fnmatch`` patterns, e.g. ``recon-*.npz``) the command writes in
    the folder: an input there would be overwritten. Raises a :class:`DataError` when ``path`` is
    an existing file, lies inside a file or an unwritable folder, is an input folder, or holds an
    input under one of ``writes``.
    """
    path = Path(path)
    if os.path.lexists(path) and not path.is_dir():
        raise DataError(f"{option} {path}: exists and is not a folder; choose a new output folder")
    _check_parent(path, option)
    existing = _existing(inputs)
    _check_not_input(path, existing, option)
    folder = path.resolve()
    for role, inp in existing:
        rel = inp.resolve().relative_to(folder).as_posix() if inp.resolve().is_relative_to(folder) else None
        if rel is not None and any(fnmatch.fnmatch(rel, w) for w in writes):
            raise DataError(f"{option} {path} would overwrite the {role} {inp} (the command writes {rel} there); choose another output folder")
    return path


@contextlib.contextmanager
def locked(*targets: str | os.PathLike | None):
    """Hold :func:`dynmri.fileio.exclusive_lock` on every non-None target (outputs of one command)."""
    from dynmri.fileio import exclusive_lock

    with contextlib.ExitStack() as stack:
        for target in targets:
            if target is not None:
                stack.enter_context(exclusive_lock(target))
        yield
