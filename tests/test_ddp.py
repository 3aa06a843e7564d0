"""Data-parallel training (dynmri.learn.parallel) with 2 gloo processes on the CPU: the same
weights as one process with the same global batch, rank 0 alone writes, ranks fail together,
resume across world sizes at the same global batch, ``python -m dynmri train`` under torchrun."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from dynmri.config import TrainConfig
from dynmri.errors import ParameterError
from dynmri.learn.train import train
from dynmri.safeload import load_checkpoint

# 2 training phantoms x 3 windows; global batch 2 = 2 ranks x 1 or 1 process x 2
CFG = TrainConfig(data="phantom", n_phantoms=4, phantom_frames=8, phantom_size=32, crop=None, window=4, stride=2,
                  model_cfg={"channels": 4, "cascades": 1}, loss="ddei", epochs=2, steps_per_epoch=2, batch_size=1)
WORLD = 2


def _rank(rank: int, rdv: str, jobs: list, report: str) -> None:
    """One process of a 2-process group that trains every ``(cfg, out, fail_rank)`` of ``jobs``
    in turn (one start-up for all); writes each outcome (``ok`` or the error's type) to ``report.RANK``."""
    import dynmri.learn.data as data
    from dynmri.errors import DataError

    torch.set_num_threads(1)
    working = data.batch_physics

    def broken(ds, *sampling):
        raise DataError("broken batch")

    dist.init_process_group("gloo", init_method=f"file://{rdv}", rank=rank, world_size=WORLD)
    outcomes = []
    try:
        for cfg, out, fail_rank in jobs:
            data.batch_physics = broken if rank == fail_rank else working
            try:
                train(cfg, out, progress=False)
                outcomes.append("ok")
            except Exception as exc:  # noqa: BLE001  reported to the test
                outcomes.append(type(exc).__name__)
        dist.barrier()  # both ranks done before either tears down (gloo aborts a process whose peer left mid-work)
    finally:
        dist.destroy_process_group()
    Path(f"{report}.{rank}").write_text(" ".join(outcomes))


@pytest.fixture(scope="module")
def ddp_runs(tmp_path_factory) -> Path:
    """Two runs of 2 processes: ``ddp`` (CFG) and ``bad`` (rank 1 fails at its first batch)."""
    tmp = tmp_path_factory.mktemp("ddp")
    jobs = [(CFG, str(tmp / "ddp"), None), (CFG, str(tmp / "bad"), 1)]
    mp.spawn(_rank, args=(str(tmp / "rdv"), jobs, str(tmp / "report")), nprocs=WORLD, join=True)
    return tmp


def _outcomes(tmp: Path) -> list[list[str]]:
    """Per job, the outcome of each rank."""
    per_rank = [(tmp / f"report.{r}").read_text().split() for r in range(WORLD)]
    return [list(job) for job in zip(*per_rank, strict=True)]


def test_two_processes_equal_one_with_the_same_global_batch(ddp_runs, tmp_path, monkeypatch):
    assert _outcomes(ddp_runs)[0] == ["ok", "ok"]
    ddp = tmp_path / "ddp"
    shutil.copytree(ddp_runs / "ddp", ddp)
    one = replace(CFG, batch_size=WORLD)
    train(one, tmp_path / "one", progress=False)
    a, b = (load_checkpoint(tmp_path / d / "checkpoint.pt", keys=("model", "history", "world_size")) for d in ("ddp", "one"))
    assert a["world_size"] == WORLD and b["world_size"] == 1
    assert all(torch.allclose(a["model"][k], b["model"][k], rtol=1e-4, atol=1e-5) for k in a["model"])
    assert a["history"][-1]["train_loss"] == pytest.approx(b["history"][-1]["train_loss"], rel=1e-4)
    assert a["history"][-1]["val_holdout_nmse"] == pytest.approx(b["history"][-1]["val_holdout_nmse"], rel=1e-4)
    assert json.loads((ddp / "config.json").read_text())["world_size"] == WORLD
    assert sorted(p.name for p in ddp.iterdir()) == ["best.pt", "checkpoint.pt", "config.json", "curves.png", "metrics.csv"]
    # resume: another world size at the same global batch is allowed, another global batch is refused
    with pytest.raises(ParameterError, match=r"global batch .* = 1 x 2 = 2; got 1 x 1 = 1"):
        train(replace(CFG, epochs=3), ddp, progress=False, resume=True)
    train(replace(one, epochs=3), ddp, progress=False, resume=True)
    train(replace(one, epochs=3), tmp_path / "one", progress=False, resume=True)
    a, b = (load_checkpoint(tmp_path / d / "checkpoint.pt")["model"] for d in ("ddp", "one"))
    assert all(torch.allclose(a[k], b[k], rtol=1e-4, atol=1e-5) for k in a)


def test_an_error_on_one_rank_stops_both(ddp_runs):
    assert _outcomes(ddp_runs)[1] == ["RankError", "DataError"]
    assert not (ddp_runs / "bad" / "checkpoint.pt").exists()


def test_python_m_dynmri_train_under_torchrun(tmp_path):
    """The standard launch; until the training set has ``set_epoch`` both ranks refuse it with
    one error line each (and write nothing), after that they train."""
    from dynmri.data.datasets import DynamicWindowDataset

    torchrun = Path(sys.executable).with_name("torchrun")
    if not torchrun.exists():
        pytest.skip("torchrun is not installed beside this Python")
    args = [str(torchrun), "--standalone", "--nproc-per-node", str(WORLD), "-m", "dynmri", "train", "--data", "phantom", "--model", "crnn",
            "--loss", "mc", "--epochs", "1", "--steps-per-epoch", "1", "--crop", "0", "--window", "4", "--device", "cpu", "--threads", "1",
            "--out", str(tmp_path / "run")]
    env = os.environ | {"OMP_NUM_THREADS": "1"}
    cfg = tmp_path / "tiny.yaml"
    cfg.write_text("n_phantoms: 4\nphantom_frames: 8\nphantom_size: 32\nmodel_cfg: {channels: 4, cascades: 1}\n")
    res = subprocess.run([*args, "--config", str(cfg)], capture_output=True, text=True, env=env, timeout=120)
    if hasattr(DynamicWindowDataset, "set_epoch"):
        assert res.returncode == 0, res.stderr[-2000:]
        assert json.loads((tmp_path / "run" / "config.json").read_text())["world_size"] == WORLD
        assert res.stdout.count("trained crnn with mc") == 1  # rank 0 reports
    else:
        assert res.returncode != 0
        assert res.stderr.count("error: workers > 0 and distributed training need a training set with set_epoch") == WORLD, res.stderr[-2000:]
        assert not (tmp_path / "run").exists()
