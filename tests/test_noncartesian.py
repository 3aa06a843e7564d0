"""Non-Cartesian physics, trajectories, density compensation, scanner limits, learn-trajectory."""

import math

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from dynmri.cli.app import app
from dynmri.errors import ParameterError, ShapeError
from dynmri.physics.nufft import FrameNUFFT, NonCartesianMRI, density
from dynmri.sampling.trajectories import (
    GOLDEN_ANGLE,
    ScannerLimits,
    check_trajectory,
    make_trajectory,
    nyquist_spokes,
    project_to_limits,
    radial,
    spiral,
    spokes_for,
    tiny_golden_angle,
    violations,
)

runner = CliRunner()


def test_cartesian_grid_equals_the_centred_orthonormal_fft():
    """Pins the scale (mri-nufft's 1/sqrt(4HW) corrected), the sign and the axis order."""
    H, W = 8, 12
    g0, g1 = torch.arange(-H // 2, H // 2) / H, torch.arange(-W // 2, W // 2) / W
    k = torch.stack(torch.meshgrid(g0, g1, indexing="ij"), dim=-1).reshape(1, 1, H * W, 2).double()
    x = torch.randn(1, 2, 1, H, W, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    y = NonCartesianMRI(k, (H, W)).A(x)
    z = torch.complex(x[:, 0], x[:, 1])
    ref = torch.fft.fftshift(torch.fft.fft2(torch.fft.ifftshift(z, dim=(-2, -1)), norm="ortho"), dim=(-2, -1))
    assert torch.allclose(torch.complex(y[:, 0], y[:, 1]), ref.reshape(1, 1, -1), atol=1e-5)


def _fd_check(which):
    k = radial(3, 16, 1).double().requires_grad_(True)
    nufft = FrameNUFFT(k, (16, 16))
    g = torch.Generator().manual_seed(1)
    img = torch.randn(2, 1, 16, 16, dtype=torch.complex128, generator=g)
    w = torch.randn(2, 1, 48, dtype=torch.complex128, generator=g)

    def loss(kk):
        nufft.k = kk
        nufft.refresh()
        if which == "forward":
            return (nufft.op(img) * w).real.sum()
        return (nufft.adj_op(w) * img.conj()).imag.sum()

    loss(k).backward()
    grad = k.grad.clone()
    base = k.detach().clone()
    for idx in [(0, 0, 3, 0), (0, 1, 10, 1), (0, 2, 7, 0)]:
        e = 1e-4  # central differences: O(e^2) error, well above finufft's 1e-6 noise
        kp, km = base.clone(), base.clone()
        kp[idx] += e
        km[idx] -= e
        fd = (loss(kp) - loss(km)) / (2 * e)
        assert grad[idx].item() == pytest.approx(fd.item(), rel=1e-3, abs=1e-3)


@pytest.mark.parametrize("which", ["forward", "adjoint"])
def test_trajectory_gradient_matches_finite_differences(which):
    _fd_check(which)


def test_radial_angles_counts_and_range():
    k = radial(25, 256, 4)
    assert k.shape == (4, 25, 256, 2)
    assert float(k.min()) >= -0.5 and float(k.max()) < 0.5
    ang = torch.atan2(k[..., -1, 0], k[..., -1, 1]).reshape(-1)  # last sample direction
    step = torch.remainder(ang[1:] - ang[:-1], math.pi)
    assert torch.allclose(step.double(), torch.full_like(step, GOLDEN_ANGLE).double(), atol=1e-5)
    tiny = radial(3, 16, 2, angle="tiny-golden")
    a = torch.atan2(tiny[..., -1, 0], tiny[..., -1, 1]).reshape(-1)
    assert float(torch.remainder(a[1] - a[0], math.pi)) == pytest.approx(tiny_golden_angle(7), abs=1e-5)
    assert math.degrees(tiny_golden_angle(7)) == pytest.approx(23.628, abs=1e-3)
    assert nyquist_spokes(128) == 202 and spokes_for(8, 128) == 25
    with pytest.raises(ParameterError, match="angle"):
        radial(3, 16, angle="silver")


def test_spiral_matches_radial_sample_count_and_rotates_per_frame():
    r = make_trajectory("radial-golden", 128, 8, 2)
    s = make_trajectory("spiral", 128, 8, 2)
    assert s.shape[1] * s.shape[2] == r.shape[1] * r.shape[2]
    assert not torch.allclose(s[0], s[1])
    assert spiral(3, 100, 1).shape == (1, 3, 100, 2)


def _blob_error(nufft, w, n=32):
    yy, xx = torch.meshgrid(torch.arange(n) - n / 2, torch.arange(n) - n / 2, indexing="ij")
    g = torch.exp(-(yy**2 + xx**2) / (2 * 5.0**2)).double()
    rec = nufft.adj_op(nufft.op(g.to(torch.complex128)[None, None]) * w[None]).real[0, 0]
    a = (rec * g).sum() / (rec * rec).sum()  # best scaling: judges the shape of the weights
    return float((a * rec - g).norm() / g.norm())


def test_density_compensation_makes_the_adjoint_of_a_constant_constant():
    k = radial(24, 64, 1)
    nufft = FrameNUFFT(k.double(), (32, 32))
    img = torch.ones(1, 1, 32, 32, dtype=torch.complex128)
    plain = nufft.adj_op(nufft.op(img)).real[0, 0]
    plain = plain / plain.mean()
    assert float((plain[8:24, 8:24] - 1).abs().mean()) > 0.1
    for method in ("voronoi", "pipe"):
        w = density(k, (32, 32), method).double()
        assert w.shape == (1, 24 * 64) and bool((w > 0).all())
        rec = nufft.adj_op(nufft.op(img) * w[None]).real[0, 0]
        assert float((rec[8:24, 8:24] - 1).abs().mean()) < 0.08, method  # plain adjoint: > 0.1
    ones = torch.ones(1, 24 * 64, dtype=torch.float64)
    assert _blob_error(nufft, density(k, (32, 32), "voronoi").double()) < 0.05
    # mri-nufft's finufft Pipe weights are not a radial ramp (why Voronoi is the default)
    assert 0.05 < _blob_error(nufft, density(k, (32, 32), "pipe").double()) < _blob_error(nufft, ones)
    with pytest.raises(ParameterError, match="density method"):
        density(k, (32, 32), "cells")


def test_voronoi_cells_are_closed_and_stable_unlike_mri_nufft():
    """mri-nufft 1.5.1's voronoi leaves a spiral's outer cells open (huge weights); dynmri's
    guard ring closes them, and the weights of radial move little under a tiny perturbation."""
    import warnings

    from mrinufft.density import voronoi

    from dynmri.physics.nufft import voronoi_areas

    pts = make_trajectory("spiral", 64, 8, 1)[0].double().numpy().reshape(-1, 2)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        theirs = np.asarray(voronoi(pts))
    ours = voronoi_areas(pts, 64)
    assert theirs.max() / np.median(theirs) > 1e3
    assert ours.max() / np.median(ours) < 10
    g = (np.arange(16) - 8) / 16
    grid = np.stack(np.meshgrid(g, g, indexing="ij"), -1).reshape(-1, 2)
    inner = np.abs(grid).max(1) < 0.4
    assert np.allclose(voronoi_areas(grid, 16)[inner] * 256, 1.0)  # a full grid: w = 1 inside
    k = radial(8, 64, 1)[0].double().numpy().reshape(-1, 2)
    moved = k + 1e-5 * np.random.default_rng(0).standard_normal(k.shape)
    a, b = voronoi_areas(k, 32), voronoi_areas(moved, 32)
    assert abs(a.sum() - b.sum()) / a.sum() < 1e-3


def test_trajectory_checks():
    for bad, match in [(torch.zeros(3, 4), "must be"), (torch.full((2, 3, 2), 0.7), "radians"),
                       (torch.full((2, 3, 2), float("nan")), "NaN")]:
        with pytest.raises((ShapeError, ParameterError), match=match):
            check_trajectory(bad)
    physics = NonCartesianMRI(radial(3, 8, 2), (8, 8))
    with pytest.raises(ShapeError, match="image must be"):
        physics.A(torch.zeros(1, 2, 3, 8, 8))


LIM = ScannerLimits()


def test_projection_is_feasible_nearest_and_leaves_feasible_trajectories_alone():
    k = radial(6, 128, 1)[0]
    assert violations(k, 64, LIM)["slew_violations"] == 0
    assert torch.equal(project_to_limits(k, 64, LIM), k)
    z = (k + 0.01 * torch.randn(k.shape, generator=torch.Generator().manual_seed(0))).clamp(-0.5, 0.49)
    v = violations(z, 64, LIM)
    assert v["slew_violations"] > 0
    p = project_to_limits(z, 64, LIM)
    v = violations(p, 64, LIM)
    assert v["gradient_violations"] == v["slew_violations"] == v["outside_box"] == 0
    assert float((p - z).norm()) <= float((k.double() - z).norm())  # nearer than a known feasible point


def test_learn_trajectory_cli_end_to_end(tmp_path):
    out = tmp_path / "learned"
    res = runner.invoke(app, ["learn-trajectory", "--data", "phantom", "--steps", "8", "--batch", "2", "--out", str(out)])
    assert res.exit_code == 0, res.output
    for f in ("trajectory.npz", "evolution.gif", "loss.png", "waveforms.png", "summary.json", "comparison.md"):
        assert (out / f).is_file(), f
    from dynmri.data.files import read_arrays

    arrays, meta = read_arrays(out / "trajectory.npz")
    k = torch.from_numpy(arrays["trajectory"])
    v = violations(k, 64, ScannerLimits(**{f: meta["config"][f] for f in ("gmax", "smax", "raster", "fov")}))
    assert v["gradient_violations"] == v["slew_violations"] == v["outside_box"] == 0
    assert "| learned |" in res.output and "| radial-golden |" in res.output
    # the learned file drives the simulator, rotated frame to frame
    acq = tmp_path / "acq.npz"
    res = runner.invoke(app, ["simulate", "--size", "64", "--frames", "3", "--trajectory", str(out / "trajectory.npz"), "--out", str(acq)])
    assert res.exit_code == 0, res.output
    res = runner.invoke(app, ["learn-trajectory", "--decimation", "3", "--out", str(tmp_path / "x")])
    assert res.exit_code == 2 and "power of 2" in res.output


def test_simulate_and_reconstruct_noncartesian(tmp_path):
    from dynmri.data.files import Acquisition, Reconstruction
    from dynmri.eval.metrics import evaluate

    acq_path = tmp_path / "r.npz"
    res = runner.invoke(app, ["simulate", "--trajectory", "radial-golden", "--size", "32", "--frames", "4", "--accel", "4", "--out", str(acq_path)])
    assert res.exit_code == 0, res.output
    acq = Acquisition.load(acq_path)
    assert acq.noncartesian and acq.kspace.shape == (1, 4, spokes_for(4, 32) * 64)
    assert acq.meta["achieved_acceleration"] == pytest.approx(4, rel=0.05)
    psnr = {}
    for method in ("zero-filled", "dcomp-adjoint", "ls", "lps"):
        out = tmp_path / f"{method}.npz"
        res = runner.invoke(app, ["reconstruct", str(acq_path), "--method", method, "--iters", "20", "--out", str(out)])
        assert res.exit_code == 0, res.output
        psnr[method] = evaluate(Reconstruction.load(out).recon, acq.target)["psnr"]
    assert psnr["zero-filled"] == pytest.approx(psnr["dcomp-adjoint"])  # gridding is the zero-filled of non-Cartesian
    assert psnr["lps"] > psnr["ls"] > psnr["dcomp-adjoint"] + 3
    res = runner.invoke(app, ["reconstruct", str(acq_path), "--method", "fista-grouplasso", "--out", str(tmp_path / "g.npz")])
    assert res.exit_code == 2 and "non-Cartesian" in res.output
    # bad trajectory files
    np.savez(tmp_path / "bad.npz", trajectory=np.full((3, 8, 2), 2.0, np.float32))
    res = runner.invoke(app, ["simulate", "--size", "32", "--trajectory", str(tmp_path / "bad.npz"), "--out", str(tmp_path / "b.npz")])
    assert res.exit_code == 2 and "radians" in res.output
    np.savez(tmp_path / "nokey.npz", k=np.zeros((3, 8, 2), np.float32))
    res = runner.invoke(app, ["simulate", "--size", "32", "--trajectory", str(tmp_path / "nokey.npz"), "--out", str(tmp_path / "b.npz")])
    assert res.exit_code == 2 and "no 'trajectory'" in res.output
    # a k-space that does not match its trajectory
    bad = Acquisition(kspace=acq.kspace[..., :-1], target=acq.target, trajectory=acq.trajectory, meta=acq.meta)
    with pytest.raises(ShapeError, match="does not match the trajectory"):
        bad.save(tmp_path / "bad-acq.npz")


@pytest.mark.parametrize("name", ["crnn", "unet", "cascade", "dual-unet-resnet3d"])
def test_networks_run_on_the_nufft_physics(name):
    from dynmri.models import get_model

    T = 4
    physics = NonCartesianMRI(radial(6, 32, T), (16, 16))
    x = torch.randn(1, 2, T, 16, 16, generator=torch.Generator().manual_seed(0))
    y = physics.A(x)
    cfg = {"crnn": {"channels": 4, "cascades": 1}, "unet": {"chans": 4}, "cascade": {"n": 1, "chans": 4}, "dual-unet-resnet3d": {"frames": T, "chans": 4}}[name]
    model = get_model(name, **cfg)
    out = model(y, physics)
    assert out.shape == x.shape
    out.pow(2).sum().backward()  # trainable through the NUFFT
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in model.parameters())


@pytest.mark.parametrize("loss_name", ["supervised-l2", "mc", "ei-rotate", "ei-time", "ddei", "ssdu"])
def test_training_paradigms_run_on_the_nufft_physics(loss_name):
    from dynmri.learn.losses import get_loss
    from dynmri.models import get_model

    T = 4
    physics = NonCartesianMRI(radial(6, 32, T), (16, 16))
    x = torch.randn(1, 2, T, 16, 16, generator=torch.Generator().manual_seed(0))
    y = physics.A(x)
    loss = get_loss(loss_name, seed=0)
    net = loss.adapt_model(get_model("crnn", channels=4, cascades=1))
    if loss_name == "ssdu":  # splits a Cartesian mask: refused with a clear message, never silently unsplit
        with pytest.raises(ParameterError, match="Cartesian sampling mask"):
            loss(physics.A_adjoint(y), x, y, physics, net)
        return
    value = loss(net(y, physics, **loss.train_kwargs), x, y, physics, net)
    assert torch.isfinite(value)
    value.backward()
    assert any(p.grad is not None for p in net.parameters())


# --------------------------------------------------------------------------- CUDA (cufinufft)


def _cuda_nufft() -> bool:
    from dynmri.physics.nufft import _cufinufft_available

    return torch.cuda.is_available() and _cufinufft_available()


needs_cuda_nufft = pytest.mark.skipif(not _cuda_nufft(), reason="needs a CUDA device and mri-nufft's cufinufft backend (cufinufft, cupy)")


def test_nufft_backend_follows_the_device_and_names_what_to_install_for_cuda(monkeypatch):
    """Runs anywhere: the backend choice happens before any CUDA call."""
    import dynmri.physics.nufft as nufft

    assert nufft.nufft_backend("cpu") == nufft.nufft_backend(torch.device("cpu")) == "finufft"
    monkeypatch.setattr(nufft, "_cufinufft_available", lambda: False)
    with pytest.raises(ParameterError, match=r"'cuda:1' need mri-nufft's cufinufft backend .*not installed: pip install cufinufft"):
        nufft.nufft_backend("cuda:1")
    monkeypatch.setattr(nufft, "_cufinufft_available", lambda: True)
    assert nufft.nufft_backend("cuda") == "cufinufft"
    with pytest.raises(ParameterError, match="run on cpu or cuda, got device 'meta'"):
        nufft.nufft_backend("meta")


def _pair(dtype, coils: bool):
    """The same operator on the CPU and on CUDA, and a random image and k-space (CPU)."""
    T, n = 3, 24
    k = radial(5, 2 * n, T).to(dtype)
    g = torch.Generator().manual_seed(0)
    maps = torch.randn(4, n, n, dtype=COMPLEX[dtype], generator=g) if coils else None
    cpu, gpu = NonCartesianMRI(k, (n, n), maps), NonCartesianMRI(k, (n, n), maps, device="cuda")
    x = torch.randn(2, 2, T, n, n, dtype=dtype, generator=g)
    y = torch.randn(cpu.A(x).shape, dtype=dtype, generator=g)
    return cpu, gpu, x, y


COMPLEX = {torch.float32: torch.complex64, torch.float64: torch.complex128}


def _close(a, b, dtype) -> bool:
    return float((a.cpu() - b).norm() / b.norm()) < (1e-10 if dtype == torch.float64 else 1e-4)


@needs_cuda_nufft
@pytest.mark.parametrize("coils", [False, True], ids=["single-coil", "multicoil"])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=["float32", "float64"])
def test_cuda_nufft_matches_the_cpu_one(dtype, coils):
    """cufinufft on CUDA tensors: same scale, sign, axis order and dtype as finufft; outputs stay on the GPU."""
    cpu, gpu, x, y = _pair(dtype, coils)
    Ax, Ahy = gpu.A(x.cuda()), gpu.A_adjoint(y.cuda())
    assert Ax.is_cuda and Ahy.is_cuda and Ax.dtype == Ahy.dtype == dtype
    assert _close(Ax, cpu.A(x), dtype) and _close(Ahy, cpu.A_adjoint(y), dtype)
    assert _close(gpu.A_dagger_dcomp(y.cuda()), cpu.A_dagger_dcomp(y), dtype)
    assert _close(gpu.A_adjoint_A(x.cuda()), cpu.A_adjoint_A(x), dtype)  # the Toeplitz kernel planned on the GPU


@needs_cuda_nufft
def test_cuda_nufft_on_the_cartesian_grid_is_the_centred_fft():
    H, W = 8, 12
    g0, g1 = torch.arange(-H // 2, H // 2) / H, torch.arange(-W // 2, W // 2) / W
    k = torch.stack(torch.meshgrid(g0, g1, indexing="ij"), dim=-1).reshape(1, 1, H * W, 2).double()
    x = torch.randn(1, 2, 1, H, W, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    y = NonCartesianMRI(k, (H, W), device="cuda").A(x.cuda()).cpu()
    z = torch.complex(x[:, 0], x[:, 1])
    ref = torch.fft.fftshift(torch.fft.fft2(torch.fft.ifftshift(z, dim=(-2, -1)), norm="ortho"), dim=(-2, -1))
    assert torch.allclose(torch.complex(y[:, 0], y[:, 1]), ref.reshape(1, 1, -1), atol=1e-8)


@needs_cuda_nufft
@pytest.mark.parametrize("which", ["forward", "adjoint"])
def test_cuda_trajectory_and_image_gradients_match_the_cpu_ones(which):
    grads = {}
    for dev in ("cpu", "cuda"):
        k = radial(3, 16, 2).double().to(dev).requires_grad_(True)
        k2 = (k.detach() * 0.9).requires_grad_(True)  # refresh() re-plans on the new samples
        g = torch.Generator().manual_seed(1)
        img = torch.randn(2, 2, 16, 16, dtype=torch.complex128, generator=g).to(dev).requires_grad_(True)
        w = torch.randn(2, 2, 48, dtype=torch.complex128, generator=g).to(dev)
        nufft = FrameNUFFT(k, (16, 16))
        nufft.k = k2
        nufft.refresh()
        out = (nufft.op(img) * w).real.sum() if which == "forward" else (nufft.adj_op(w) * img.conj()).imag.sum()
        out.backward()
        assert k2.grad.device.type == img.grad.device.type == dev
        grads[dev] = (k2.grad.cpu(), img.grad.cpu())
    for a, b in zip(grads["cuda"], grads["cpu"], strict=True):
        assert torch.allclose(a, b, rtol=1e-8, atol=1e-8)


@needs_cuda_nufft
def test_cuda_learn_trajectory_and_noncartesian_reconstruction(tmp_path):
    from dynmri.config import CSConfig, LearnTrajectoryConfig, SimulateConfig
    from dynmri.data.acquire import simulate_from_config
    from dynmri.learn.trajectory import learn_trajectory
    from dynmri.recon.run import run_method

    res = learn_trajectory(LearnTrajectoryConfig(steps=3, batch=2, device="cuda"))
    assert np.isfinite(res["losses"]).all() and res["trajectory"].shape[-1] == 2
    acq = simulate_from_config(SimulateConfig(trajectory="radial-golden", accel=4, frames=4, size=32))
    for method in ("zero-filled", "lps"):
        gpu = run_method(acq, method, CSConfig(n_iter=3), device="cuda")[0]
        cpu = run_method(acq, method, CSConfig(n_iter=3), device="cpu")[0]
        assert np.linalg.norm(gpu - cpu) / np.linalg.norm(cpu) < 1e-3, method


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("coils", [0, 3])
def test_toeplitz_normal_equals_the_two_nuffts(dtype, coils):
    """``A_adjoint_A`` (Toeplitz embedding, two FFTs) equals ``A_adjoint(A(x))`` to the NUFFT's
    accuracy, single- and multi-coil, on an odd-sized non-square image, in both precisions."""
    g = torch.Generator().manual_seed(3)
    cdt = torch.complex64 if dtype == torch.float32 else torch.complex128
    maps = torch.randn(coils, 20, 17, dtype=cdt, generator=g) if coils else None
    physics = NonCartesianMRI(radial(n_spokes=5, n_samples=40, frames=3).to(dtype), (20, 17), coil_maps=maps)
    x = torch.randn(2, 2, 3, 20, 17, dtype=dtype, generator=g, requires_grad=True)
    fast, exact = physics.A_adjoint_A(x), physics.A_adjoint(physics.A(x)).detach()
    tol = 1e-5 if dtype == torch.float32 else 1e-10
    assert fast.dtype == dtype and float((fast.detach() - exact).norm() / exact.norm()) < tol
    (gx,) = torch.autograd.grad(fast.square().sum(), x)  # self-adjoint: grad of |N x|^2 is 2 N N x
    assert float((gx - 2 * physics.A_adjoint_A(fast.detach())).norm() / gx.norm()) < 10 * tol
    with pytest.raises(ShapeError, match="normal needs"):
        physics.nufft.normal(torch.zeros(1, 1, 20, 17, dtype=cdt))  # one frame would broadcast over three


def test_toeplitz_normal_follows_the_trajectory():
    """A trajectory that requires grad takes the exact path (its gradient is kept), and a
    trajectory changed in place (``refresh``) gets a new kernel."""
    k = radial(n_spokes=5, n_samples=32, frames=2).double()
    physics = NonCartesianMRI(k.clone().requires_grad_(True), (16, 16))
    x = torch.randn(1, 2, 2, 16, 16, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    physics.A_adjoint_A(x).square().sum().backward()
    assert physics.nufft.k.grad is not None and physics.nufft.k.grad.abs().sum() > 0
    physics = NonCartesianMRI(k.clone(), (16, 16))
    with torch.inference_mode():  # a kernel first built here still serves autograd afterwards
        physics.A_adjoint_A(x)
    xg = x.clone().requires_grad_(True)
    physics.A_adjoint_A(xg).sum().backward()
    assert xg.grad is not None
    before = physics.A_adjoint_A(x)
    with torch.no_grad():
        physics.nufft.k.mul_(0.5)
    physics.nufft.refresh()
    after, exact = physics.A_adjoint_A(x), physics.A_adjoint(physics.A(x))
    assert float((after - before).norm()) > 1e-3 and float((after - exact).norm() / exact.norm()) < 1e-10


def test_training_windows_take_the_samples_per_spoke():
    """``n_samples`` reaches the training trajectories: radial matched to Cartesian 8x on 32 x 32
    (4 spokes of 32 samples, :func:`matching_cartesian`) has the samples per frame of its mask."""
    from dynmri.config import TrainConfig, load_config
    from dynmri.learn.data import training_datasets
    from dynmri.sampling.trajectories import matching_cartesian

    accel, n_samples = matching_cartesian(8, 32)
    cfg = load_config(TrainConfig, data="phantom", phantom_size=32, phantom_frames=12, n_phantoms=3, crop=None,
                      trajectory="radial-golden", accel=accel, n_samples=n_samples)
    train_ds, _ = training_datasets(cfg)
    k = train_ds.sampling(0)
    assert tuple(k.shape) == (12, 4, 32, 2) and k.shape[1] * k.shape[2] == 32 * 32 // 8


def test_kernels_and_lipschitz_are_reused_only_for_the_same_trajectory(monkeypatch):
    """Operators on the same samples share their Toeplitz kernels (training builds one per window);
    LPS-Net's power iterations are remembered per operator, and forgotten when it is refreshed."""
    from dynmri.models.lpsnet import lipschitz
    from dynmri.physics import nufft

    planned, make_op = [], nufft._make_op
    monkeypatch.setattr(nufft, "_make_op", lambda samples, shape, device: planned.append(shape) or make_op(samples, shape, device))
    monkeypatch.setattr(nufft, "_KERNELS", nufft._KernelCache(2**20))  # a cold cache
    k = radial(n_spokes=5, n_samples=31, frames=2)
    a, b = NonCartesianMRI(k.clone(), (16, 16)), NonCartesianMRI(k.clone(), (16, 16))
    other = NonCartesianMRI(radial(n_spokes=6, n_samples=31, frames=2), (16, 16))
    ka, kb = a.nufft.toeplitz_kernel("cpu", torch.complex64), b.nufft.toeplitz_kernel("cpu", torch.complex64)
    ko = other.nufft.toeplitz_kernel("cpu", torch.complex64)
    assert planned.count((32, 32)) == 4 and torch.equal(ka, kb) and not torch.equal(ka, ko)  # a's 2 frames, other's 2
    x0 = torch.zeros(1, 2, 2, 16, 16)
    first = lipschitz(a, x0)
    assert torch.equal(lipschitz(a, x0), first)
    with torch.no_grad():
        a.nufft.k.mul_(0.5)  # half the k-space extent: a different operator, a different norm
    a.nufft.refresh()
    exact = lipschitz(NonCartesianMRI(a.nufft.k.clone(), (16, 16)), x0)
    assert torch.equal(lipschitz(a, x0), exact) and not torch.equal(exact, first)
