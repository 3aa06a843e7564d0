"""Safe outputs: atomic writes, no leaked temporary files, one writer per output.

Every output of dynmri (acquisitions, reconstructions, checkpoints, tables, figures, videos)
goes through :func:`atomic_path`:

- a crash or an error while writing never leaves a partial file (the data goes to a hidden
  temporary file beside the target, renamed onto it only on success);
- the temporary file's name holds the writer's process id and host
  (``.{stem}.{pid}-{host}.{random}.tmp{suffix}``): the next write of the same target deletes
  the ones whose process is dead (``kill -9``, power loss), and
  :func:`install_signal_handlers` turns SIGTERM into an exception so that the ``finally``
  clauses delete them at once;
- :func:`exclusive_lock` keeps a second process from writing the same output (a run folder,
  an ``--out`` file) at the same time; a lock left by a killed process is taken over.

Only the standard library is imported here (the CLI imports this module at start-up).
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import os
import re
import secrets
import signal
import socket
import threading
import time
import warnings
from collections.abc import Iterator
from pathlib import Path

from dynmri.errors import DataError

__all__ = ["Terminated", "atomic_path", "exclusive_lock", "install_signal_handlers", "lock_file", "sweep_temporaries", "write_text_atomic"]


# ---------------------------------------------------------------------------------------------
# atomic writes


def _host_tag() -> str:
    """Six hex digits naming this host (hostnames may hold dots, which temp names cannot)."""
    return hashlib.sha1(socket.gethostname().encode()).hexdigest()[:6]


TEMPORARY_TAIL = r"\.(\d+)-([0-9a-f]{6})\.[0-9a-f]{8}\.tmp"
"""What follows the stem in the name of a temporary file of :func:`atomic_path`
(``.{stem}.{pid}-{host}.{random}.tmp{suffix}``); group 1 is the pid, group 2 the host tag."""


def _temp_pattern(path: Path) -> re.Pattern:
    """Names of ``path``'s temporary files; group 1 is the pid, group 2 the host tag.

    The random part is exactly 8 hex digits and the pid digits only, so the temporary files of
    ``a.b.npz`` never match the pattern of ``a.npz``."""
    return re.compile(rf"\.{re.escape(path.stem)}{TEMPORARY_TAIL}{re.escape(path.suffix)}")


def _process_alive(pid: int) -> bool:
    """Whether a process ``pid`` exists on this host (one owned by another user counts)."""
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def sweep_temporaries(path: str | os.PathLike) -> list[Path]:
    """Delete the temporary files of ``path`` left by dead processes of this host.

    Temporary files of live processes (a concurrent writer) and of other hosts (a shared file
    system: their processes cannot be checked from here) are kept. Returns the deleted paths.
    """
    path = Path(path)
    if os.name != "posix" or not path.parent.is_dir():
        return []  # os.kill(pid, 0) would terminate the process on Windows
    pattern, host, swept = _temp_pattern(path), _host_tag(), []
    prefix = f".{path.stem}."
    with os.scandir(path.parent) as entries:
        names = [e.name for e in entries if e.name.startswith(prefix)]
    for name in names:
        m = pattern.fullmatch(name)
        if m and m.group(2) == host and not _process_alive(int(m.group(1))):
            with contextlib.suppress(FileNotFoundError):  # another sweeper was faster
                (path.parent / name).unlink()
                swept.append(path.parent / name)
    return swept


def _create_temporary(path: Path) -> Path:
    """Create an empty hidden file beside ``path`` with the usual permissions (umask)."""
    tag = f"{os.getpid()}-{_host_tag()}"
    for _ in range(100):
        tmp = path.parent / f".{path.stem}.{tag}.{secrets.token_hex(4)}.tmp{path.suffix}"
        try:
            os.close(os.open(tmp, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o666))
        except FileExistsError:
            continue
        return tmp
    raise FileExistsError(errno.EEXIST, "no free temporary file name", str(path))


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; move it onto ``path`` only on success.

    A crash or an exception while writing leaves any previous ``path`` untouched and no
    partial file behind. The suffix of ``path`` stays last in the temporary name (writers such
    as ffmpeg pick the format from it). Temporary files of ``path`` left by dead processes are
    deleted first (:func:`sweep_temporaries`).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    sweep_temporaries(path)
    tmp = _create_temporary(path)
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()


def write_text_atomic(path: str | os.PathLike, text: str) -> None:
    """Write ``text`` to ``path`` atomically."""
    with atomic_path(path) as tmp:
        Path(tmp).write_text(text)


# ---------------------------------------------------------------------------------------------
# signals


class Terminated(SystemExit):
    """The process received SIGTERM.

    Like ``KeyboardInterrupt`` it is no ``Exception``: ``except Exception`` does not swallow it
    and every ``finally`` runs (temporary files, locks). Uncaught, the process exits with
    status ``128 + signum`` (143), as if the signal had killed it. ``signum`` is the signal."""

    def __init__(self, signum: int):
        super().__init__(128 + signum)
        self.signum = signum

    def __str__(self) -> str:
        return f"terminated by signal {self.signum}"


def _on_terminate(signum, frame):
    signal.signal(signum, signal.SIG_DFL)  # a second SIGTERM during the clean-up kills at once
    raise Terminated(signum)


def install_signal_handlers() -> bool:
    """Make SIGTERM raise :class:`Terminated` so that temporary files and locks are cleaned up.

    Idempotent; a handler the application installed itself is left alone, and nothing is done
    outside the main thread (where Python cannot install handlers). Returns whether the handler
    is in place.
    """
    if not hasattr(signal, "SIGTERM") or threading.current_thread() is not threading.main_thread():
        return False
    current = signal.getsignal(signal.SIGTERM)
    if current is _on_terminate:
        return True
    if current not in (signal.SIG_DFL, None):
        return False
    signal.signal(signal.SIGTERM, _on_terminate)
    return True


# ---------------------------------------------------------------------------------------------
# locks

_held = threading.local()  # lock file -> depth, per thread: a thread may re-enter its own lock


def lock_file(target: str | os.PathLike) -> Path:
    """The lock file of ``target`` (a file or a folder, existing or not): ``.{name}.lock``
    beside it, so that locking creates neither the target nor anything inside it."""
    target = Path(target).resolve()
    return target.parent / f".{target.name}.lock"


def _holder(lock: Path) -> str:
    """Who holds ``lock``, as its holder wrote it (``pid 12 on host since 10:32``)."""
    try:
        info = json.loads(lock.read_text() or "{}")
        return f" (pid {info['pid']} on {info['host']}, since {info['since']})"
    except (OSError, ValueError, KeyError, TypeError):
        return ""


def _try_lock(lock: Path) -> int | None:
    """An open descriptor holding ``lock``, or None when another process holds it.

    After ``flock`` succeeds the descriptor must still be the file at ``lock``: a releasing
    holder deletes the file, and a lock on a deleted file protects nothing (then retry)."""
    import fcntl

    for _ in range(100):
        try:
            fd = os.open(lock, os.O_CREAT | os.O_RDWR, 0o666)
        except FileNotFoundError:  # a releasing holder removed the folder it had created
            lock.parent.mkdir(parents=True, exist_ok=True)
            continue
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return None
        except OSError:
            os.close(fd)
            raise
        try:
            same = os.path.samestat(os.fstat(fd), os.stat(lock))
        except FileNotFoundError:
            same = False
        if same:
            return fd
        os.close(fd)
    raise DataError(f"{lock}: the lock file keeps changing; is another program deleting it?")


def _write_holder(fd: int) -> None:
    info = {"pid": os.getpid(), "host": socket.gethostname(), "since": time.strftime("%Y-%m-%d %H:%M:%S")}
    os.ftruncate(fd, 0)
    os.pwrite(fd, json.dumps(info).encode(), 0)


@contextlib.contextmanager
def exclusive_lock(target: str | os.PathLike) -> Iterator[Path]:
    """Hold the only write access to ``target`` (an output file or a run folder) while in the block.

    A second process (or thread) that asks for it is refused at once with a
    :class:`~dynmri.errors.DataError` naming the holder. The lock is an ``flock`` on
    :func:`lock_file`; the system drops it when its process dies, so a lock left by a killed
    process is taken over. The same thread may re-enter a lock it holds (a command that locks
    its ``--out`` and then trains into it). The lock file is deleted on release, and so are the
    folders created to hold it if they are still empty: a block that fails before writing
    anything leaves no trace. On file systems without locks (``flock`` fails) a warning is
    issued and the block runs unlocked.
    Yields the lock file's path.
    """
    lock = lock_file(target)
    depth = getattr(_held, "depth", None)
    if depth is None:
        depth = _held.depth = {}
    if depth.get(lock):
        depth[lock] += 1
        try:
            yield lock
        finally:
            depth[lock] -= 1
        return
    created = _make_folder(lock.parent)
    try:
        fd = _acquire(lock, target)
        depth[lock] = 1
        try:
            yield lock
        finally:
            depth.pop(lock, None)
            if fd is not None:
                _release(lock, fd)
    finally:
        for folder in created:  # deepest first; kept when something was written into it
            with contextlib.suppress(OSError):
                folder.rmdir()


def _make_folder(folder: Path) -> list[Path]:
    """``mkdir -p folder``; returns the folders it created, deepest first."""
    missing = []
    while not folder.exists() and folder.parent != folder:
        missing.append(folder)
        folder = folder.parent
    for f in reversed(missing):
        try:
            f.mkdir(exist_ok=True)
        except OSError as exc:
            raise DataError(f"{f}: cannot create the folder ({exc.strerror or exc})") from exc
    return missing


def _acquire(lock: Path, target) -> int | None:
    try:
        import fcntl  # noqa: F401  (POSIX only)
    except ImportError:
        warnings.warn(f"{target}: file locks are not available on this system; not locked", RuntimeWarning, stacklevel=3)
        return None
    try:
        fd = _try_lock(lock)
    except OSError as exc:
        if exc.errno in (errno.ENOLCK, errno.EOPNOTSUPP, errno.ENOSYS):
            warnings.warn(f"{target}: the file system does not support locks ({exc.strerror}); not locked", RuntimeWarning, stacklevel=3)
            return None
        raise DataError(f"{target}: cannot create the lock file {lock} ({exc.strerror or exc})") from exc
    if fd is None:
        raise DataError(f"{target} is being written by another dynmri process{_holder(lock)}; wait for it to finish or choose another output")
    _write_holder(fd)
    return fd


def _release(lock: Path, fd: int) -> None:
    """Delete the lock file while still holding it, then unlock (see :func:`_try_lock`)."""
    with contextlib.suppress(FileNotFoundError):
        lock.unlink()
    os.close(fd)
