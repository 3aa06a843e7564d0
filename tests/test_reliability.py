"""Hostile and broken files, failed, interrupted and concurrent runs (docs/reliability.md)."""

from __future__ import annotations

import concurrent.futures
import os
import shlex
import signal
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest
import torch

from dynmri.config import TrainConfig
from dynmri.errors import DataError, ParameterError
from dynmri.fileio import (
    atomic_path,
    exclusive_lock,
    install_signal_handlers,
    lock_file,
    write_text_atomic,
)
from dynmri.learn.train import train
from dynmri.models.weights import export_weights, load_trained, shipped_weights, weights_dir
from dynmri.safeload import load_checkpoint

TINY = TrainConfig(data="phantom", n_phantoms=4, phantom_frames=8, phantom_size=32, crop=None, window=4, stride=4,
                   model_cfg={"channels": 4, "cascades": 1}, loss="mc", epochs=1, steps_per_epoch=1)
SRC = str(Path(__file__).resolve().parent.parent / "src")


class _Hostile:
    """Unpickling it runs ``touch MARKER`` (what a malicious .pt file can do)."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {shlex.quote(str(self.marker))}",))


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> Path:
    """A finished one-epoch run (do not modify: copy it)."""
    path = tmp_path_factory.mktemp("runs") / "tiny"
    train(TINY, path, progress=False)
    return path


def _copy(run: Path, dest: Path) -> Path:
    import shutil

    return Path(shutil.copytree(run, dest))


# --------------------------------------------------------------------------- safe loading


def test_hostile_checkpoint_is_refused_everywhere_and_runs_nothing(run, tmp_path):
    marker = tmp_path / "MARKER"
    r = _copy(run, tmp_path / "r")
    for name in ("checkpoint.pt", "best.pt"):
        state = load_checkpoint(r / name, keys=())
        torch.save(state | {"payload": _Hostile(marker)}, r / name)
    with pytest.raises(DataError, match=f"{r / 'best.pt'}: refused to load.*posix.system"):
        load_trained(r)
    with pytest.raises(DataError, match=f"{r / 'best.pt'}: refused to load"):
        load_trained(r / "best.pt")
    with pytest.raises(DataError, match=f"{r / 'checkpoint.pt'}: refused to load"):
        train(TINY, r, progress=False, resume=True)
    with pytest.raises(DataError, match=f"{r / 'checkpoint.pt'}: refused to load"):
        export_weights(r, "x", dest=tmp_path / "w")
    assert not marker.exists() and not (tmp_path / "w").exists()
    torch.load(r / "best.pt", weights_only=False)  # the file is really hostile: an unsafe load runs it
    assert marker.exists()


@pytest.mark.parametrize("kind", ["text", "truncated", "empty", "list", "missing-keys", "bad-config"])
def test_broken_checkpoint_is_one_data_error_naming_the_file(run, tmp_path, kind):
    r = _copy(run, tmp_path / "r")
    raw = (r / "checkpoint.pt").read_bytes()
    state = load_checkpoint(r / "checkpoint.pt", keys=())
    for name in ("checkpoint.pt", "best.pt"):
        file = r / name
        if kind == "text":
            file.write_text("model: crnn\n")
        elif kind == "truncated":
            file.write_bytes(raw[: len(raw) // 2])
        elif kind == "empty":
            file.write_bytes(b"")
        elif kind == "list":
            torch.save([1, 2], file)
        elif kind == "missing-keys":
            torch.save({"config": state["config"]}, file)
        else:
            torch.save(state | {"config": {"no_such_field": 1}}, file)
    for call, name in [(lambda: load_trained(r), "best.pt"), (lambda: train(TINY, r, progress=False, resume=True), "checkpoint.pt"),
                       (lambda: export_weights(r, "x", dest=tmp_path / "w"), "checkpoint.pt")]:
        with pytest.raises(DataError) as err:
            call()
        assert str(err.value).startswith(f"{r / name}: ") and "\n" not in str(err.value), str(err.value)


def test_shipped_weights_load_safely_and_leave_the_global_rng_alone():
    shipped = shipped_weights()
    assert len(shipped) == len(list(weights_dir().glob("*.pt"))) >= 5
    for name, path in shipped.items():
        before = torch.get_rng_state()
        model, cfg = load_trained(path)
        assert torch.equal(torch.get_rng_state(), before), path
        # the CRNNs; LPS-Net: 3 per learned iteration (24 or 48)
        expected = 19_157 if cfg.model == "crnn" else 3 * cfg.model_cfg["iterations"]
        assert sum(p.numel() for p in model.parameters()) == expected, name


def test_numpy_scalars_in_a_log_are_allowed(tmp_path):
    import numpy as np

    torch.save({"model": {"w": torch.ones(2)}, "config": {}, "metrics": {"psnr": np.float64(31.5), "n": np.int64(3)}}, tmp_path / "w.pt")
    assert load_checkpoint(tmp_path / "w.pt")["metrics"] == {"psnr": 31.5, "n": 3}


# --------------------------------------------------------------------------- failed runs leave nothing


@pytest.mark.parametrize("change", [{"loss": "magic"}, {"model": "nonet"}, {"data": "/no/such/data"}, {"schedule": "linear"}])
def test_failed_start_creates_nothing(tmp_path, change):
    with pytest.raises((ParameterError, DataError)):
        train(replace(TINY, **change), tmp_path / "runs" / "x", progress=False)
    assert list(tmp_path.iterdir()) == []


def test_train_leaves_the_global_rng_alone(tmp_path):
    before = torch.get_rng_state()
    train(TINY, tmp_path / "r", progress=False)
    assert torch.equal(torch.get_rng_state(), before)


# --------------------------------------------------------------------------- locks


def test_second_writer_is_refused_and_the_holder_may_reenter(tmp_path):
    target = tmp_path / "runs" / "r"
    with exclusive_lock(target) as lock:
        assert lock == lock_file(target) and lock.is_file()
        with concurrent.futures.ThreadPoolExecutor(1) as pool:  # another writer (a thread here)
            err = pool.submit(train, TINY, target, progress=False).exception()
        assert isinstance(err, DataError) and f"pid {os.getpid()}" in str(err), err
        assert str(err).startswith(f"{target} is being written by another dynmri process")
        assert not target.exists()
        train(TINY, target, progress=False)  # the holder itself (a command that locked its --out) may write
    assert not lock.exists() and (target / "checkpoint.pt").is_file()


def _holder(target: Path) -> subprocess.Popen:
    code = "import sys, time; from dynmri.fileio import exclusive_lock\nwith exclusive_lock(sys.argv[1]):\n    print('locked', flush=True); time.sleep(60)"
    proc = subprocess.Popen([sys.executable, "-c", code, str(target)], stdout=subprocess.PIPE, text=True, env=os.environ | {"PYTHONPATH": SRC})
    assert proc.stdout.readline().strip() == "locked"
    return proc


def test_lock_of_another_process_refuses_then_is_taken_over_when_it_is_killed(tmp_path):
    target = tmp_path / "out.npz"
    proc = _holder(target)
    try:
        with pytest.raises(DataError, match=rf"out.npz is being written by another dynmri process \(pid {proc.pid} on "):
            with exclusive_lock(target):
                pass
    finally:
        proc.kill()
        proc.wait()
    assert lock_file(target).exists()  # a stale lock: its process died with it held
    with exclusive_lock(target) as lock:
        assert f'"pid": {os.getpid()}' in lock.read_text()
    assert not lock.exists()


# --------------------------------------------------------------------------- temporary files


def _writer(target: Path, handlers: bool) -> tuple[subprocess.Popen, Path]:
    """A process in the middle of a slow atomic write of ``target``; prints its temporary file."""
    code = ("import sys, time; from pathlib import Path; from dynmri.fileio import atomic_path, install_signal_handlers\n"
            f"{'install_signal_handlers()' if handlers else ''}\n"
            "with atomic_path(sys.argv[1]) as tmp:\n    tmp.write_bytes(b'partial'); print(tmp, flush=True); time.sleep(60)")
    proc = subprocess.Popen([sys.executable, "-c", code, str(target)], stdout=subprocess.PIPE, text=True, env=os.environ | {"PYTHONPATH": SRC})
    tmp = Path(proc.stdout.readline().strip())
    assert tmp.is_file() and f".out.{proc.pid}-" in tmp.name, tmp
    return proc, tmp


def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.startswith(".out."))


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL])
def test_killed_writer_leaves_no_temporary_file_after_the_next_write(tmp_path, sig):
    target = tmp_path / "out.npz"
    target.write_text("old")
    proc, _ = _writer(target, handlers=True)
    proc.send_signal(sig)
    assert proc.wait(timeout=30) == (128 + sig if sig == signal.SIGTERM else -sig)
    assert target.read_text() == "old"
    if sig == signal.SIGTERM:
        assert _leftovers(tmp_path) == []  # the finally clause ran
    write_text_atomic(target, "new")
    assert target.read_text() == "new" and _leftovers(tmp_path) == []


def test_sweep_keeps_live_writers_and_other_targets(tmp_path):
    from dynmri.fileio import _host_tag

    target = tmp_path / "out.npz"
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True, check=True)
    other = tmp_path / f".out.x.{int(dead.stdout)}-{_host_tag()}.0123abcd.tmp.npz"  # a temporary file of out.x.npz
    other.write_bytes(b"")
    proc, live = _writer(target, handlers=False)
    try:
        write_text_atomic(target, "new")
        assert _leftovers(tmp_path) == sorted([other.name, live.name])  # a live writer's file is its own
    finally:
        proc.kill()
        proc.wait()
    write_text_atomic(target, "newer")
    assert _leftovers(tmp_path) == [other.name]


def test_temporary_names_hold_the_pid_and_the_suffix(tmp_path):
    with atomic_path(tmp_path / "clip.mp4") as tmp:
        assert tmp.name.startswith(f".clip.{os.getpid()}-") and tmp.name.endswith(".tmp.mp4")
        assert tmp.is_file()


def test_install_signal_handlers_is_idempotent():
    previous = signal.getsignal(signal.SIGTERM)
    try:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        assert install_signal_handlers() and install_signal_handlers()
        handler = signal.getsignal(signal.SIGTERM)
        assert install_signal_handlers() and signal.getsignal(signal.SIGTERM) is handler
        signal.signal(signal.SIGTERM, signal.SIG_IGN)  # an application's own choice is left alone
        assert not install_signal_handlers() and signal.getsignal(signal.SIGTERM) == signal.SIG_IGN
    finally:
        signal.signal(signal.SIGTERM, previous)
