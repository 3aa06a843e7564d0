"""Training: exact resume, the NaN guard, validation without ground truth, the CLI."""

import json
import math
from dataclasses import replace

import pytest
import torch

from dynmri.config import TrainConfig
from dynmri.errors import ParameterError
from dynmri.learn.train import TrainingError, train
from dynmri.models.weights import load_trained
from dynmri.safeload import load_checkpoint

TINY = TrainConfig(data="phantom", n_phantoms=4, phantom_frames=8, phantom_size=32, crop=None, window=4, stride=4,
                   model_cfg={"channels": 4, "cascades": 1}, loss="ddei", epochs=2, steps_per_epoch=3)


def _weights(run):
    return load_checkpoint(run / "checkpoint.pt")["model"]


def test_resume_equals_uninterrupted(tmp_path):
    train(TINY, tmp_path / "full", progress=False)
    # interrupted after epoch 1: stop with an error at the first step of epoch 2, then resume
    with pytest.raises(TrainingError):
        train(TINY, tmp_path / "part", progress=False, fail_at_step=3)  # 3 steps per epoch
    assert load_checkpoint(tmp_path / "part" / "checkpoint.pt", keys=("epoch",))["epoch"] == 1
    train(TINY, tmp_path / "part", progress=False, resume=True)
    a, b = _weights(tmp_path / "full"), _weights(tmp_path / "part")
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_nan_guard_keeps_last_good_checkpoint(tmp_path):
    with pytest.raises(TrainingError, match="loss became nan at epoch 1.*holds no checkpoint"):
        train(TINY, tmp_path / "r", progress=False, fail_at_step=0)
    assert not (tmp_path / "r" / "checkpoint.pt").exists()
    train(TINY, tmp_path / "r", progress=False)  # a folder without a checkpoint holds no run: train afresh
    with pytest.raises(ParameterError, match="already holds a run"):
        train(TINY, tmp_path / "r", progress=False)
    with pytest.raises(TrainingError, match=f"last good checkpoint is {tmp_path / 'r' / 'checkpoint.pt'}"):
        train(replace(TINY, epochs=3), tmp_path / "r", progress=False, resume=True, fail_at_step=6)
    assert load_checkpoint(tmp_path / "r" / "checkpoint.pt", keys=("epoch",))["epoch"] == 2


def test_resume_with_more_epochs_continues_the_cosine_schedule(tmp_path):
    """A finished 2-epoch run resumed with epochs=4 trains epochs 3 and 4 on the cosine schedule
    of 4 epochs (the learning rates of a fresh 4-epoch run from epoch 3 on), deterministically,
    and an interrupted extension resumes exactly."""
    import shutil

    train(TINY, tmp_path / "a", progress=False)
    shutil.copytree(tmp_path / "a", tmp_path / "b")
    shutil.copytree(tmp_path / "a", tmp_path / "c")
    longer = replace(TINY, epochs=4)
    out = train(longer, tmp_path / "a", progress=False, resume=True)
    train(longer, tmp_path / "b", progress=False, resume=True)
    assert [row["epoch"] for row in out["history"]] == [1, 2, 3, 4]
    a, b = _weights(tmp_path / "a"), _weights(tmp_path / "b")
    assert all(torch.equal(a[k], b[k]) for k in a)  # deterministic
    fresh = train(longer, tmp_path / "fresh", progress=False)["history"]
    assert [r["lr"] for r in out["history"][2:]] == [r["lr"] for r in fresh[2:]]
    assert out["history"][2]["lr"] == pytest.approx(TINY.lr_min + (TINY.lr - TINY.lr_min) * (1 + math.cos(math.pi * 3 / 4)) / 2)
    assert json.loads((tmp_path / "a" / "config.json").read_text())["epochs"] == 4
    with pytest.raises(TrainingError):  # the extension interrupted at the first step of epoch 4, then resumed
        train(longer, tmp_path / "c", progress=False, resume=True, fail_at_step=9)
    train(longer, tmp_path / "c", progress=False, resume=True)
    c = _weights(tmp_path / "c")
    assert all(torch.equal(a[k], c[k]) for k in a)
    with pytest.raises(ParameterError, match="resume needs epochs >= 4, got 3"):
        train(replace(TINY, epochs=3), tmp_path / "a", progress=False, resume=True)


def test_resume_refuses_other_changes_with_the_keys_that_differ(tmp_path):
    train(TINY, tmp_path / "r", progress=False)
    with pytest.raises(ParameterError, match=r"these keys differ: loss \('ddei' -> 'mc'\), lr \(0.001 -> 0.01\)$"):
        train(replace(TINY, lr=0.01, loss="mc", epochs=3), tmp_path / "r", progress=False, resume=True)
    assert load_checkpoint(tmp_path / "r" / "checkpoint.pt", keys=("epoch",))["epoch"] == 2


def test_history_validation_and_loading(tmp_path):
    out = train(TINY, tmp_path / "r", progress=False)
    row = out["history"][-1]
    assert {"train_loss", "val_holdout_nmse", "val_psnr", "lr", "frames_per_second", "peak_rss_mb"} <= set(row)
    assert 10 < row["peak_rss_mb"] < 64 * 2**10  # MiB: a process that imported torch, and no KiB/bytes mix-up
    assert 0 < row["val_holdout_nmse"] < 2
    model, cfg = load_trained(tmp_path / "r")
    assert cfg.model == "crnn" and sum(p.numel() for p in model.parameters()) > 0
    lines = (tmp_path / "r" / "metrics.csv").read_text().splitlines()
    assert lines[0].startswith("epoch") and len(lines) == 3
    with pytest.raises(Exception, match="schedule"):
        train(TrainConfig(schedule="linear"), tmp_path / "x")


def test_export_weights_ships_the_last_epoch(tmp_path):
    from dynmri.models.weights import export_weights

    train(TINY, tmp_path / "r", progress=False)
    path = export_weights(tmp_path / "r", "tiny-ddei", dest=tmp_path / "w")
    info = json.loads(path.with_suffix(".json").read_text())
    assert info["epoch"] == TINY.epochs and len(info["history"]) == TINY.epochs
    assert info["retrain"] == f"dynmri train --config {path.with_suffix('.yaml')} --out runs/tiny-ddei --threads 1"
    from dynmri.config import load_config

    assert load_config(TrainConfig, path.with_suffix(".yaml")) == TrainConfig(**info["config"])  # the exact run
    model, cfg = load_trained(path)
    last = load_checkpoint(tmp_path / "r" / "checkpoint.pt")["model"]
    assert all(torch.equal(model.state_dict()[k], v) for k, v in last.items())
    with pytest.raises(Exception, match="no checkpoint"):
        export_weights(tmp_path / "nothing", "x", dest=tmp_path / "w")
    with pytest.raises(Exception, match="invalid weights name"):
        export_weights(tmp_path / "r", "../x", dest=tmp_path / "w")


def test_cli_two_epochs_on_phantom(tmp_path):
    from typer.testing import CliRunner

    from dynmri.cli.app import app

    cfg = tmp_path / "t.yaml"
    cfg.write_text("n_phantoms: 4\nphantom_frames: 8\nphantom_size: 32\nwindow: 4\nmodel_cfg: {channels: 4, cascades: 1}\n")
    res = CliRunner().invoke(app, ["train", "--config", str(cfg), "--crop", "0", "--loss", "mc", "--epochs", "2", "--out", str(tmp_path / "run")])
    assert res.exit_code == 0, res.output
    assert "trained crnn with mc for 2 epochs" in res.output
    assert json.loads((tmp_path / "run" / "config.json").read_text())["loss"] == "mc"
    res = CliRunner().invoke(app, ["train", "--loss", "magic", "--out", str(tmp_path / "run2")])
    assert res.exit_code == 2 and "unknown loss" in res.output
    res = CliRunner().invoke(app, ["models"])
    assert "crnn" in res.output and "parameters" in res.output
    res = CliRunner().invoke(app, ["train", "--loss", "ddei", "--loss-opt", "noequals", "--out", str(tmp_path / "run3")])
    assert res.exit_code == 2 and "KEY=VALUE" in res.output


def test_sliding_window_blends_exactly():
    from dynmri.models import get_model
    from dynmri.physics.cartesian import make_physics
    from dynmri.recon.network import sliding_window
    from dynmri.sampling.masks import make_mask

    mask = make_mask("gaussian", (10, 16, 16), 4, seed=0)
    physics = make_physics(mask)
    y = physics.A(torch.randn(1, 2, 10, 16, 16))
    net = get_model("crnn", channels=4, cascades=1).eval()  # identity on zero-filled at init
    with torch.no_grad():
        out = sliding_window(net, y, lambda a, b: make_physics(mask[:, a:b]), 10, window=4, overlap=2)
    assert torch.allclose(out, physics.A_adjoint(y), atol=1e-6)
    with pytest.raises(Exception, match="overlap"):
        sliding_window(net, y, lambda a, b: make_physics(mask[:, a:b]), 10, window=4, overlap=4)


def test_reconstruct_and_benchmark_with_a_trained_network(tmp_path):
    from typer.testing import CliRunner

    from dynmri.cli.app import app
    from dynmri.data.files import Reconstruction

    train(TINY, tmp_path / "run", progress=False)
    runner = CliRunner()
    acq = tmp_path / "acq.npz"
    assert runner.invoke(app, ["simulate", "--frames", "10", "--size", "32", "--accel", "4", "--out", str(acq)]).exit_code == 0
    res = runner.invoke(app, ["reconstruct", str(acq), "--model", str(tmp_path / "run"), "--out", str(tmp_path / "r.npz")])
    assert res.exit_code == 0, res.output
    assert "frames/s" in res.output and Reconstruction.load(tmp_path / "r.npz").recon.shape == (1, 10, 32, 32)
    res = runner.invoke(app, ["reconstruct", str(acq), "--model", "no-such-weights", "--out", str(tmp_path / "x.npz")])
    assert res.exit_code == 2 and "not a run folder" in res.output
    res = runner.invoke(app, ["benchmark", "--accel", "4", "--methods", "zero-filled", "--models", str(tmp_path / "run"),
                              "--frames", "4", "--crop", "32", "--out", str(tmp_path / "b")])
    assert res.exit_code == 0, res.output
    assert "| crnn-ddei | 4 |" in res.output
    listed = runner.invoke(app, ["weights"]).output
    assert "crnn-ddei-sunnybrook-8x" in listed and "ddei at 8" in listed
    res = runner.invoke(app, ["reconstruct", str(acq), "--model", "crnn-ddei-sunnybrook-8x", "--out", str(tmp_path / "s.npz")])
    assert res.exit_code == 0, res.output  # a shipped name works like a run folder


def test_holdout_hides_whole_sampled_lines():
    from dynmri.data.datasets import DynamicWindowDataset
    from dynmri.data.phantom import phantom_videos
    from dynmri.learn.data import holdout_masks

    ds = DynamicWindowDataset(phantom_videos(1, 4, (16, 32)), window=4, acceleration=2)
    hold = holdout_masks(ds, 0.5, seed=0)[0]
    mask = ds[0][2]
    assert torch.all(hold <= mask)  # only sampled points
    assert torch.equal(hold, hold[:, :1].expand_as(hold))  # whole lines
    assert 0 < hold.sum() < mask.sum()


@pytest.mark.parametrize("seed", [0, 3])
def test_training_seed_never_moves_test_slices_into_training(seed):
    from dynmri.data.sources import load_source, test_split
    from dynmri.learn.data import _split
    from dynmri.learn.train import TrainConfig

    cfg = TrainConfig(data="phantom", seed=seed, n_phantoms=10, phantom_frames=4, phantom_size=32)
    _, train, val = _split(cfg)
    src = load_source("phantom", frames=4, size=(32, 32), n_phantoms=10, seed=seed)
    assert sorted(train + val) == sorted(test_split(src)["train"])
    assert not set(train + val) & set(test_split(src)["test"])


# --------------------------------------------------------------------------- devices, DataLoader (issue 15)


def _epoch_dataset(monkeypatch, calls: list):
    """Training sets whose ``set_epoch`` calls are recorded in ``calls``."""
    import dynmri.learn.data as data

    original = data.training_datasets

    def with_epochs(cfg):
        tr, va = original(cfg)
        real = tr.set_epoch

        def record(epoch):
            calls.append(epoch)
            real(epoch)

        tr.set_epoch = record
        return tr, va

    monkeypatch.setattr(data, "training_datasets", with_epochs)


def test_set_epoch_is_called_every_epoch_and_on_resume(tmp_path, monkeypatch):
    calls = []
    _epoch_dataset(monkeypatch, calls)
    train(TINY, tmp_path / "r", progress=False)
    assert calls == [0, 1]
    calls.clear()
    train(replace(TINY, epochs=3), tmp_path / "r", progress=False, resume=True)
    assert calls == [2]
    state = load_checkpoint(tmp_path / "r" / "checkpoint.pt", keys=("epoch",))
    assert state["epoch"] == 3 and "draws" not in state  # the epoch alone seeds the masks


def test_worker_processes_and_batches_give_the_same_run(tmp_path):
    """workers=2 loads the very batches workers=0 loads (fresh masks drawn from (seed, epoch,
    item)); batch 2 trains (and resumes exactly)."""
    two = replace(TINY, batch_size=2, epochs=2)
    train(two, tmp_path / "w0", progress=False)
    train(replace(two, workers=2), tmp_path / "w2", progress=False)
    a, b = _weights(tmp_path / "w0"), _weights(tmp_path / "w2")
    assert all(torch.equal(a[k], b[k]) for k in a)
    with pytest.raises(TrainingError):
        train(two, tmp_path / "part", progress=False, fail_at_step=3)
    train(replace(two, workers=1), tmp_path / "part", progress=False, resume=True)  # workers are not part of a run's identity
    c = _weights(tmp_path / "part")
    assert all(torch.equal(a[k], c[k]) for k in a)


def test_a_worker_that_dies_is_one_training_error(tmp_path, monkeypatch):
    """A DataLoader worker killed mid-epoch (e.g. for memory) stops training with a TrainingError
    naming the last good checkpoint, not a traceback."""
    import os

    import dynmri.learn.data as data

    original = data.training_datasets

    class Dying(torch.utils.data.Dataset):
        def __init__(self, ds):
            self.ds = ds

        def __len__(self):
            return len(self.ds)

        def __getitem__(self, i):
            if torch.utils.data.get_worker_info() is not None:
                os._exit(3)
            return self.ds[i]

        def __getattr__(self, name):
            return getattr(self.ds, name)

    monkeypatch.setattr(data, "training_datasets", lambda cfg: (Dying(original(cfg)[0]), original(cfg)[1]))
    with pytest.raises(TrainingError, match="a data-loading worker died.*--resume"):
        train(replace(TINY, workers=1), tmp_path / "r", progress=False)
    assert not (tmp_path / "r" / "checkpoint.pt").exists()


def test_bf16_trains_the_network_under_autocast_and_resumes_in_fp32(tmp_path):
    """bf16 (CPU autocast here) trains; precision and device are not part of a run's identity."""
    out = train(replace(TINY, precision="bf16", epochs=1), tmp_path / "r", progress=False)
    assert math.isfinite(out["history"][-1]["train_loss"]) and math.isfinite(out["history"][-1]["val_holdout_nmse"])
    out = train(replace(TINY, precision="fp32", device="cpu"), tmp_path / "r", progress=False, resume=True)
    assert [row["epoch"] for row in out["history"]] == [1, 2]
    assert json.loads((tmp_path / "r" / "config.json").read_text())["precision"] == "fp32"


def test_unknown_devices_are_refused_before_anything_is_written(tmp_path):
    with pytest.raises(ParameterError, match="device must be one of"):
        train(replace(TINY, device="tpu"), tmp_path / "r", progress=False)
    if torch.cuda.device_count() <= 3:
        with pytest.raises(ParameterError, match="device 'cuda:3'"):
            train(replace(TINY, device="cuda:3"), tmp_path / "r", progress=False)
    assert not (tmp_path / "r").exists()


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_training_resumes_on_the_cpu_and_back(tmp_path):
    """A checkpoint written on CUDA loads on the CPU (and the reverse); every tensor of the run
    lives on the device while training."""
    train(replace(TINY, device="cuda", epochs=1), tmp_path / "r", progress=False)
    train(replace(TINY, device="cpu", epochs=2), tmp_path / "r", progress=False, resume=True)
    out = train(replace(TINY, device="cuda", precision="bf16", epochs=3), tmp_path / "r", progress=False, resume=True)
    assert [row["epoch"] for row in out["history"]] == [1, 2, 3]
    model, _ = load_trained(tmp_path / "r")
    assert all(p.device.type == "cpu" for p in model.parameters())
