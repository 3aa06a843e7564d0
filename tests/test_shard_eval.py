"""Sharded evaluation (dynmri.parallel) with 2 gloo processes on the CPU: ``dynmri reconstruct
--out-dir`` and ``dynmri benchmark`` under torchrun give the outputs and the report of one process,
a bad input stops both ranks with one error line and writes nothing, and a file that fails on one
rank mid-run stops both with the error of rank 0, the summary recording every file."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from typer.testing import CliRunner

from dynmri.cli import app
from dynmri.data.files import Reconstruction
from dynmri.parallel import Context, shard, unshard

WORLD = 2
SRC = Path(__file__).resolve().parents[1] / "src"
TORCHRUN = Path(sys.executable).with_name("torchrun")
needs_torchrun = pytest.mark.skipif(not TORCHRUN.exists(), reason="torchrun is not installed beside this Python")


def cli(*args) -> None:
    res = CliRunner().invoke(app, [str(a) for a in args])
    assert res.exit_code == 0, res.output + str(res.exception)


def torchrun(*args, cwd: Path) -> subprocess.CompletedProcess:
    """``torchrun --nproc-per-node 2 -m dynmri ARGS`` on the CPU, one thread per rank."""
    env = os.environ | {"OMP_NUM_THREADS": "1", "PYTHONPATH": os.pathsep.join([str(SRC), os.environ.get("PYTHONPATH", "")])}
    cmd = [str(TORCHRUN), "--standalone", "--nproc-per-node", str(WORLD), "-m", "dynmri", *map(str, args), "--device", "cpu",
           "--threads", "1"]
    return subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=120, cwd=cwd)


@pytest.fixture(scope="module")
def four_acqs(tmp_path_factory) -> list[Path]:
    tmp = tmp_path_factory.mktemp("acqs")
    for i in range(4):
        cli("simulate", "--data", "phantom", "--accel", 4, "--frames", 4, "--size", 32, "--seed", i, "--out", tmp / f"a{i}.npz")
    return sorted(tmp.glob("*.npz"))


def test_shard_and_unshard_are_round_robin():
    items = list("abcde")
    parts = [[items[i] for i in shard(items, Context(r, 3))] for r in range(3)]
    assert parts == [["a", "d"], ["b", "e"], ["c"]]
    assert unshard(parts) == items
    assert shard(items, Context()) == [0, 1, 2, 3, 4]
    assert unshard([[], []]) == []


@needs_torchrun
def test_reconstruct_under_torchrun_equals_one_process(tmp_path, four_acqs):
    res = torchrun("reconstruct", four_acqs[0].parent / "a*.npz", "--method", "lps", "--iters", 3, "--out-dir", tmp_path / "two",
                   cwd=tmp_path)
    assert res.returncode == 0, res.stderr[-3000:]
    assert res.stdout.count("| total (4 files) |") == 1 and res.stdout.count("wrote") == 4 + 1  # each file once, the summary once
    assert "rank 0 read and checked its share of the inputs in" in res.stdout and "every input" not in res.stdout
    cli("reconstruct", *four_acqs, "--method", "lps", "--iters", 3, "--device", "cpu", "--out-dir", tmp_path / "one")
    for acq in four_acqs:
        a, b = (Reconstruction.load(tmp_path / d / acq.name) for d in ("two", "one"))
        np.testing.assert_allclose(a.recon, b.recon, rtol=1e-6, atol=1e-6)
        assert a.meta["method"] == b.meta["method"] == "lps"
    two, one = (json.loads((tmp_path / d / "reconstruct-summary.json").read_text()) for d in ("two", "one"))
    assert two.pop("world_size") == WORLD and "world_size" not in one
    timed = ("seconds", "reconstruction_seconds", "frames_per_second", "output")
    assert [{k: v for k, v in f.items() if k not in timed} for f in two["files"]] == \
           [{k: v for k, v in f.items() if k not in timed} for f in one["files"]]
    assert [Path(f["output"]).name for f in two["files"]] == [a.name for a in four_acqs]
    assert list(two) == list(one) and two["finished"] == two["of"] == 4
    assert sorted(p.name for p in (tmp_path / "two").iterdir()) == sorted(p.name for p in (tmp_path / "one").iterdir())


BENCH = ("--data", "phantom", "--accel", 4, "--methods", "zero-filled,lps", "--iters", 3, "--frames", 4, "--crop", 32)


@needs_torchrun
def test_benchmark_under_torchrun_reports_the_metrics_of_one_process(tmp_path):
    """3 phantoms on 2 ranks (slices 0, 2 and 1): one report, the metrics of one process."""
    (tmp_path / "tiny.yaml").write_text("n_phantoms: 3\n")
    res = torchrun("benchmark", *BENCH, "--config", tmp_path / "tiny.yaml", "--out", tmp_path / "two", cwd=tmp_path)
    assert res.returncode == 0, res.stderr[-3000:]
    assert res.stdout.count("| method |") == 1 and res.stdout.count("4x lps: PSNR") == 1
    cli("benchmark", *BENCH, "--config", tmp_path / "tiny.yaml", "--device", "cpu", "--out", tmp_path / "one")
    two, one = (json.loads((tmp_path / d / "results.json").read_text()) for d in ("two", "one"))
    assert two["world_size"] == WORLD and two["wall_seconds"] > 0 and "sum of the ranks' compute seconds" in two["timing"]
    assert len(two["rows"]) == len(one["rows"]) == 2
    for a, b in zip(two["rows"], one["rows"], strict=True):
        assert list(a) == list(b) and a["slices"] == b["slices"] == 3
        for k, v in b.items():
            if k not in ("seconds", "frames_per_second"):
                assert a[k] == (v if isinstance(v, str) else pytest.approx(v, rel=1e-6, abs=1e-9)), k
    for label, curve in one["per_frame_psnr"]["4"].items():
        np.testing.assert_allclose(two["per_frame_psnr"]["4"][label], curve, rtol=1e-6)
    assert sorted(p.name for p in (tmp_path / "two").iterdir()) == sorted(p.name for p in (tmp_path / "one").iterdir())
    assert "2 ranks" in (tmp_path / "two" / "results.md").read_text()


def _one_error_line(res: subprocess.CompletedProcess, match: str) -> None:
    """One ``error:`` line; the ranks exited with status 2 (torchrun itself exits 1, and may stop
    with SIGTERM a rank that has not exited yet when the other has), no traceback of dynmri."""
    assert res.returncode != 0
    errors = [line for line in res.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1 and match in errors[0], res.stderr[-3000:]
    assert set(re.findall(r"exitcode\s*:\s*(-?\d+)", res.stderr)) <= {"2", "-15"}, res.stderr[-3000:]
    assert "exitcode  : 2" in res.stderr
    assert "dynmri/" not in res.stderr.split("ChildFailedError")[0], res.stderr[-3000:]


@needs_torchrun
def test_a_bad_input_stops_both_ranks_with_one_error_and_writes_nothing(tmp_path, four_acqs):
    bad = tmp_path / "in"
    bad.mkdir()
    for acq in four_acqs[:3]:
        (bad / acq.name).write_bytes(acq.read_bytes())
    (bad / "a3.npz").write_text("not a zip file")  # file 4: read and checked by rank 1 only
    res = torchrun("reconstruct", bad / "a*.npz", "--out-dir", tmp_path / "out", cwd=tmp_path)
    _one_error_line(res, "error: rank 1: ")
    assert "a3.npz" in res.stderr and not (tmp_path / "out").exists()
    res = torchrun("benchmark", *BENCH[:5], "zero-filled,nope", "--out", tmp_path / "bench", cwd=tmp_path)
    _one_error_line(res, "unknown methods ['nope']")
    assert not (tmp_path / "bench").exists()
    res = torchrun("benchmark", *BENCH, "--auto-tune", "holdout", "--out", tmp_path / "bench", cwd=tmp_path)
    _one_error_line(res, "auto_tune is not sharded over torchrun ranks")  # each rank would tune on its own slices
    assert not (tmp_path / "bench").exists()


def _rank(rank: int, rdv: str, inputs: list[str], out: str, report: str) -> None:
    """One process of a 2-process group reconstructing ``inputs``; the second file (rank 1's first)
    fails while it is reconstructed (after every input was checked)."""
    from dynmri.errors import DataError
    from dynmri.eval import runs
    from dynmri.parallel import session

    torch.set_num_threads(1)
    real = runs.ReconJob.run

    def broken(self, acq, acquisition, *args, **kwargs):
        if Path(acquisition).name == "a1.npz":
            raise DataError(f"{acquisition}: broken on purpose")
        return real(self, acq, acquisition, *args, **kwargs)

    runs.ReconJob.run = broken
    dist.init_process_group("gloo", init_method=f"file://{rdv}", rank=rank, world_size=WORLD)
    try:
        with session(torch.device("cpu")) as ctx:
            runs.reconstruct_files(inputs, out, progress=False, ctx=ctx)
        outcome = "ok"
    except Exception as exc:  # noqa: BLE001  reported to the test
        outcome = f"{type(exc).__name__} {getattr(exc, 'quiet', False)} {exc}"
    try:
        dist.barrier()  # both ranks done before either tears down (gloo aborts a process whose peer left mid-work)
    finally:
        dist.destroy_process_group()
    Path(f"{report}.{rank}").write_text(outcome)


def test_a_file_that_fails_on_one_rank_stops_both(tmp_path, four_acqs):
    out = tmp_path / "out"
    mp.spawn(_rank, args=(str(tmp_path / "rdv"), [str(a) for a in four_acqs], str(out), str(tmp_path / "report")), nprocs=WORLD,
             join=True)
    first, second = ((tmp_path / f"report.{r}").read_text() for r in range(WORLD))
    assert first.startswith("DataError False") and "broken on purpose (stopped at" in first and "1 finished and kept" in first
    assert second.startswith("RankError True")
    summary = json.loads((out / "reconstruct-summary.json").read_text())
    # rank 0 stops after the round of the failure (a2 is not run), as one process stops at a1
    assert [f["status"] for f in summary["files"]] == ["ok", "failed", "not run", "not run"]
    assert summary["world_size"] == WORLD and summary["finished"] == 1
    assert sorted(p.name for p in out.iterdir()) == ["a0.npz", "reconstruct-summary.json"]


@pytest.mark.parametrize("device_fails", [False, True])
def test_every_rank_joins_gloo_whether_or_not_its_device_resolves(monkeypatch, device_fails):
    """A rank whose device fails (``cuda`` with LOCAL_RANK beyond its node's GPUs) must join the
    same process group as the ranks whose device works, to report the error with them: the backend
    cannot depend on the device (NCCL on some ranks and gloo on others never meet)."""
    from dynmri import parallel
    from dynmri.cli.common import sharded
    from dynmri.errors import ParameterError

    class Joined(Exception):
        pass

    def rank_device(spec):
        if device_fails:
            raise ParameterError(f"--device {spec}: no such device")
        return torch.device("cuda", 0)

    def init_process_group(backend, **kwargs):
        joined.append(backend)
        raise Joined

    joined = []
    monkeypatch.setenv("WORLD_SIZE", str(WORLD))
    monkeypatch.setattr(parallel, "rank_device", rank_device)
    monkeypatch.setattr(dist, "init_process_group", init_process_group)
    with pytest.raises(Joined), sharded("cuda"):
        pass
    assert joined == ["gloo"]


def _grid_rank(rank: int, rdv: str, report: str) -> None:
    """One process of a 2-process benchmark grid (2 phantoms, 2 accelerations) whose ``on_row``
    callback, run on rank 0 only as the CLI logs, fails at the first row."""
    import datetime

    from dynmri.config import SimulateConfig
    from dynmri.errors import DataError
    from dynmri.eval.benchmark import method_entries, run_grid

    def on_row(row):
        raise DataError("the log is gone")

    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"file://{rdv}", rank=rank, world_size=WORLD,
                            timeout=datetime.timedelta(seconds=30))  # the old code left rank 1 waiting: fail, not hang
    sim = SimulateConfig(data="phantom", accel=4, frames=4, crop=32, n_phantoms=2)
    try:
        run_grid(sim, [4, 6], method_entries(["zero-filled"]), ctx=Context(rank, WORLD), on_row=on_row if rank == 0 else None)
        outcome = "ok"
    except Exception as exc:  # noqa: BLE001  reported to the test
        outcome = f"{type(exc).__name__} {getattr(exc, 'quiet', False)} {exc}"
    Path(f"{report}.{rank}").write_text(outcome)
    try:
        dist.barrier()
    finally:
        dist.destroy_process_group()


def test_a_callback_that_fails_on_rank_0_stops_every_rank_of_the_grid(tmp_path):
    mp.spawn(_grid_rank, args=(str(tmp_path / "rdv"), str(tmp_path / "report")), nprocs=WORLD, join=True)
    first, second = ((tmp_path / f"report.{r}").read_text() for r in range(WORLD))
    assert first == "DataError False the log is gone"
    assert second.startswith("RankError True")


@pytest.mark.parametrize("world", ["two", "0"])
@pytest.mark.parametrize("command", ["reconstruct", "benchmark"])
def test_a_bad_world_size_is_one_error_and_writes_nothing(tmp_path, four_acqs, command, world):
    args = {"reconstruct": [*four_acqs[:2], "--out-dir", tmp_path / "out"], "benchmark": [*BENCH, "--out", tmp_path / "out"]}[command]
    res = CliRunner().invoke(app, [command, *map(str, args), "--device", "cpu"], env={"WORLD_SIZE": world})
    assert res.exit_code == 2 and f"error: WORLD_SIZE must be an integer >= 1, got '{world}'" in res.output, res.output
    assert not (tmp_path / "out").exists()
