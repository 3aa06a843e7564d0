"""The data side of training (dynmri.learn.data, dynmri.data.datasets, dynmri.data.streaming):
seeded per-(epoch, item) draws, streamed sources, multi-coil, noisy and non-Cartesian items,
their batch operators and hold-out splits, and the shipped example configurations."""

import pickle
from pathlib import Path

import numpy as np
import pytest
import torch

from dynmri.config import TrainConfig, load_config
from dynmri.data.datasets import DynamicWindowDataset
from dynmri.data.phantom import phantom_videos
from dynmri.errors import ParameterError
from dynmri.learn.data import (
    ItemwiseNonCartesianMRI,
    batch_physics,
    holdout_masks,
    split_item,
    training_datasets,
)

CONFIGS = Path(__file__).resolve().parents[1] / "src" / "dynmri" / "configs"
TINY = dict(n_phantoms=6, phantom_frames=8, phantom_size=16, crop=None, window=4, stride=4)


def _same(a, b) -> bool:
    return all(torch.equal(u, v) for u, v in zip(a, b, strict=True))


# ------------------------------------------------------------------------ seeded draws
def test_training_draws_depend_on_seed_epoch_and_item_only():
    videos = phantom_videos(2, 8, (16, 16))
    ds = DynamicWindowDataset(videos, window=4, acceleration=4, fresh_masks=True, snr=20)
    twin = pickle.loads(pickle.dumps(ds))  # what a DataLoader worker or another rank holds
    backwards = [twin[i] for i in reversed(range(len(twin)))][::-1]
    assert all(_same(ds[i], backwards[i]) for i in range(len(ds)))  # any order of access
    ds.set_epoch(3)
    twin.set_epoch(3)
    assert _same(ds[1], twin[1]) and not torch.equal(ds[1][2], backwards[1][2])
    assert not hasattr(ds, "_draws")  # no per-access counter: workers and ranks draw alike


def test_accel_mix_draws_each_training_mask_at_one_of_its_accelerations():
    """Mixed-acceleration training: each (epoch, item) mask samples 1/4 or 1/8 of the lines,
    both occur, a twin dataset draws the same, and validation stays at ``accel``."""
    cfg = TrainConfig(**(TINY | {"phantom_size": 32}), accel=16.0, accel_mix=[4.0, 8.0]).validate()
    tr, val = training_datasets(cfg)
    rates = set()
    for epoch in range(3):
        tr.set_epoch(epoch)
        rates |= {round(1 / tr.sampling(i).float().mean().item()) for i in range(len(tr))}
    assert rates == {4, 8}
    assert {round(1 / val.sampling(i).float().mean().item()) for i in range(len(val))} == {16}
    twin = pickle.loads(pickle.dumps(tr))
    assert all(torch.equal(tr.sampling(i), twin.sampling(i)) for i in range(len(tr)))


@pytest.mark.parametrize("changes, match", [
    ({"accel_mix": []}, "accel_mix needs at least one acceleration"),
    ({"accel_mix": [4.0], "trajectory": "radial-golden"}, "accel_mix needs .* Cartesian masks"),
    ({"accel_mix": [4.0, 1.0]}, "acceleration must be > 1, got 1.0"),
    ({"accel_mix": ["8"]}, r"accel_mix must be"),
])
def test_bad_accel_mix_is_refused(changes, match):
    with pytest.raises(ParameterError, match=match):
        TrainConfig(**changes).validate()


def test_dataloader_workers_draw_what_the_main_process_draws():
    tr, _ = training_datasets(TrainConfig(**TINY))
    tr.set_epoch(2)
    loader = torch.utils.data.DataLoader(tr, batch_size=2, num_workers=2, multiprocessing_context="fork")
    here = torch.utils.data.default_collate([tr[i] for i in range(2)])
    assert _same(next(iter(loader)), here)


def test_in_memory_windows_equal_add_smooth_phase_of_the_whole_video():
    from dynmri._complex import np_to_channels
    from dynmri.data.simulate import add_smooth_phase

    videos = phantom_videos(3, 9, (20, 20))
    ds = DynamicWindowDataset(videos, window=4, stride=2, seed=5, crop=(2, 18, 0, 16), slices=[2, 0])
    ref = add_smooth_phase(videos[[2, 0]][..., 2:18, 0:16], seed=5)
    for i in range(len(ds)):
        j, t0 = ds.index[i]
        assert torch.equal(ds[i][0], np_to_channels(ref[j : j + 1, t0 : t0 + 4])[0])


# ------------------------------------------------------------------------ streaming
def test_streamed_training_data_equals_loaded_training_data(tmp_path):
    arr = np.abs(phantom_videos(6, 8, (16, 16))).astype(np.float32)
    np.savez(tmp_path / "v.npz", cine=arr)
    cfg = dict(TINY, data=str(tmp_path / "v.npz"), val_fraction=0.3)
    loaded = training_datasets(TrainConfig(**cfg))
    streamed = training_datasets(TrainConfig(**cfg, stream=True))
    assert type(streamed[0].store).__name__ == "NpzStore" and type(loaded[0].store).__name__ == "ArrayStore"
    for a, b in zip(loaded, streamed, strict=True):
        assert a.slices == b.slices and len(a) == len(b)
        assert all(_same(a[i], b[i]) for i in range(len(a)))


def test_streamed_multicoil_cmrxrecon_takes_its_coil_maps_from_the_data(tmp_path):
    import h5py

    kx, ky, nc, sl, t = 16, 16, 3, 2, 6
    for p in ("P001", "P002", "P003", "P004"):
        k = np.random.default_rng(int(p[-1])).standard_normal((kx, ky, nc, sl, t)).astype(np.float32) * (1 + 0j)
        data = k.transpose(4, 3, 2, 1, 0)
        comp = np.empty(data.shape, dtype=[("real", "<f4"), ("imag", "<f4")])
        comp["real"], comp["imag"] = data.real, data.imag
        path = tmp_path / "MultiCoil" / "Cine" / "TrainingSet" / "FullSample" / p / "cine_sax.mat"
        path.parent.mkdir(parents=True)
        with h5py.File(path, "w", userblock_size=512) as f:
            f.create_dataset("kspace_full", data=comp)
    cfg = dict(data=str(tmp_path), stream=True, window=4, stride=2, crop=None, accel=4)
    tr, va = training_datasets(TrainConfig(**cfg, coils=nc))
    x, y, mask, maps = tr[0]
    assert maps.shape == (nc, kx, ky) and y.shape == (2, nc, 4, kx, ky)
    coils = tr.store.read_coils(tr.slices[0], 0, 4)
    avg = coils.mean(axis=1)
    np.testing.assert_allclose(maps.numpy(), avg / np.sqrt((np.abs(avg) ** 2).sum(0)), rtol=1e-4, atol=1e-6)
    assert torch.allclose(batch_physics(tr, mask[None], maps[None]).A(x[None])[0], y)
    with pytest.raises(ParameterError, match="the data has 3 coils"):
        training_datasets(TrainConfig(**cfg, coils=8))


# ------------------------------------------------------------------------ multi-coil
def test_multicoil_items_physics_noise_and_holdout():
    tr, va = training_datasets(TrainConfig(**TINY, coils=4, snr=25))
    x, y, mask, maps = tr[0]
    assert y.shape == (2, 4, 4, 16, 16) and maps.shape == (4, 16, 16) and maps.is_complex()
    assert torch.allclose(maps.abs().pow(2).sum(0), torch.ones(16, 16), atol=1e-5)  # birdcage, normalised
    clean = batch_physics(tr, mask[None], maps[None]).A(x[None])[0]
    noise = (y - clean) * mask  # only sampled entries are noisy
    assert torch.equal(y - clean, noise)
    snr = 10 * torch.log10(clean.pow(2).sum() / noise.pow(2).sum())
    assert abs(float(snr) - 25) < 1.0
    assert torch.equal(tr[0][1], y)  # noise seeded per (epoch, item)
    hidden = holdout_masks(va, 0.3, seed=0)[0]
    item = [t[None] for t in va[0]]
    y_keep, p_keep, y_hold, p_hold = split_item(va, item[1], item[2:], hidden)
    hold = (item[2] * hidden[None])[:, None, None]  # whole lines of every coil
    assert torch.equal(y_hold, item[1] * hold) and torch.equal(y_keep + y_hold, item[1])
    clean = batch_physics(va, *item[2:]).A(item[0])
    assert torch.allclose(p_hold.A(item[0]), clean * hold, atol=1e-6) and torch.allclose(p_keep.A(item[0]), clean - clean * hold, atol=1e-6)


def test_explicit_coil_maps_of_the_wrong_size_are_refused():
    from dynmri.errors import ShapeError

    with pytest.raises(ShapeError, match="coil_maps"):
        DynamicWindowDataset(phantom_videos(1, 4, (16, 16)), window=4, coil_maps=np.ones((1, 2, 8, 8), np.complex64))


# ------------------------------------------------------------------------ non-Cartesian
def test_radial_items_follow_the_golden_angle_from_their_start_frame():
    from dynmri.sampling.trajectories import make_trajectory

    tr, _ = training_datasets(TrainConfig(**dict(TINY, stride=2), trajectory="radial-golden"))
    full = make_trajectory("radial-golden", 16, 8.0, 8)
    for i in range(3):
        _, t0 = tr.index[i]
        x, y, k = tr[i]
        assert torch.equal(k, full[t0 : t0 + 4]) and y.shape == (2, 4, k.shape[1] * k.shape[2])
    with pytest.raises(ParameterError, match="unknown trajectory 'zigzag'"):
        training_datasets(TrainConfig(**TINY, trajectory="zigzag"))


def test_a_radial_batch_of_different_trajectories_and_coil_maps_is_one_blockwise_operator():
    tr, _ = training_datasets(TrainConfig(**dict(TINY, stride=1), trajectory="radial-golden", coils=2))
    idx = [0, 3]
    items = [tr[i] for i in idx]
    x, y, k, maps = torch.utils.data.default_collate(items)
    assert not torch.equal(k[0], k[1])
    physics = batch_physics(tr, k, maps)
    assert isinstance(physics, ItemwiseNonCartesianMRI) and physics.noncartesian and physics.multicoil
    assert torch.allclose(physics.A(x), y, atol=1e-5)
    u, v = torch.randn_like(x), torch.randn_like(y)
    assert torch.allclose((physics.A(u) * v).sum(), (u * physics.A_adjoint(v)).sum(), rtol=1e-4)
    first = physics.A_dagger_dcomp(y)[:1]
    assert torch.allclose(first, batch_physics(tr, k[:1], maps[:1]).A_dagger_dcomp(y[:1]), atol=1e-5)


def test_radial_holdout_hides_whole_spokes():
    _, va = training_datasets(TrainConfig(**TINY, trajectory="radial-golden", val_fraction=0.4))
    hidden = holdout_masks(va, 0.3, seed=1)
    x, y, k = (t[None] for t in va[0])
    S, Ns = k.shape[2:4]
    assert hidden[0].shape == (4, round(0.3 * S))
    y_keep, p_keep, y_hold, p_hold = split_item(va, y, (k,), hidden[0])
    assert y_keep.shape[-1] + y_hold.shape[-1] == S * Ns
    assert torch.allclose(p_keep.A(x), y_keep, atol=1e-5) and torch.allclose(p_hold.A(x), y_hold, atol=1e-5)
    spokes = y.reshape(1, 2, 4, S, Ns)
    assert torch.equal(y_hold.reshape(1, 2, 4, -1, Ns)[:, :, 0], spokes[:, :, 0, hidden[0][0]])


# ------------------------------------------------------------------------ shipped configs
@pytest.mark.parametrize("name", ["train-crnn-ddei-multicoil.yaml", "train-crnn-ddei-radial.yaml"])
def test_shipped_example_config_trains_one_tiny_epoch(tmp_path, name):
    from dynmri.learn.train import train

    shipped = load_config(TrainConfig, CONFIGS / name)
    cfg = load_config(TrainConfig, CONFIGS / name, n_phantoms=5, phantom_frames=6, phantom_size=16, crop=16, window=4, stride=2,
                      epochs=1, steps_per_epoch=2, batch_size=2, model_cfg=dict(shipped.model_cfg, channels=4, cascades=2))
    out = train(cfg, tmp_path / "run", progress=False)
    row = out["history"][0]
    assert np.isfinite(row["train_loss"]) and np.isfinite(row["val_holdout_nmse"])
    assert (tmp_path / "run" / "best.pt").exists()


@pytest.mark.parametrize("flags", [["--coils", "4", "--snr", "30"], ["--trajectory", "radial-golden"]], ids=["multicoil", "radial"])
def test_multicoil_and_radial_training_from_the_cli(tmp_path, flags):
    """``dynmri train --coils N --snr D`` and ``--trajectory radial-golden`` end to end (flags over
    the config file; one tiny epoch)."""
    import json

    from typer.testing import CliRunner

    from dynmri.cli import app

    small = tmp_path / "small.yaml"
    small.write_text("model_cfg: {channels: 4, cascades: 2, dc_init: 0.04}\nloss: mc\nn_phantoms: 5\nphantom_frames: 6\n"
                     "phantom_size: 16\ncrop: 16\nwindow: 4\nstride: 2\nepochs: 1\nsteps_per_epoch: 2\nbatch_size: 2\n")
    res = CliRunner().invoke(app, ["train", "--config", str(small), "--data", "phantom", "--out", str(tmp_path / "run"), *flags])
    assert res.exit_code == 0, res.output
    cfg = json.loads((tmp_path / "run" / "config.json").read_text())
    assert (cfg["coils"], cfg["snr"]) == (4, 30.0) if "--coils" in flags else cfg["trajectory"] == "radial-golden"
    assert (tmp_path / "run" / "best.pt").exists()


def test_cmrxrecon_config_is_ready_for_a_gpu():
    cfg = load_config(TrainConfig, CONFIGS / "train-crnn-ddei-cmrxrecon.yaml")
    assert cfg.stream and cfg.coils == 10 and cfg.device == "auto" and cfg.model_cfg == {"channels": 64, "cascades": 2}


def test_a_crnn_trains_on_radial_data_with_gradient_data_consistency(tmp_path):
    """With NUFFT physics the CRNN's data consistency is a gradient step (no Fourier mask); it is
    stable when its step starts below 1 / ||A||^2 (the radial example config's dc_init)."""
    from dynmri.learn.train import train

    cfg = TrainConfig(**dict(TINY, phantom_size=24), trajectory="radial-golden", epochs=2, steps_per_epoch=4, batch_size=2,
                      model_cfg={"channels": 6, "cascades": 2, "dc_init": 0.04}, loss="mc")
    hist = train(cfg, tmp_path / "run", progress=False)["history"]
    assert all(np.isfinite(r["train_loss"]) for r in hist)
    assert hist[-1]["val_holdout_nmse"] < 0.5 and hist[-1]["val_psnr"] > 15
