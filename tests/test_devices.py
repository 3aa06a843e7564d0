"""dynmri.devices (--device / --precision), and the commands that take them: benchmark, demo,
learn-trajectory. Every test here runs on any machine: CUDA is simulated by monkeypatching
``torch.cuda`` where only the checks are exercised, and ``--device cpu`` is checked to keep
everything on the CPU even where CUDA exists. The CUDA-only tests of the operators live in
tests/test_operators.py and tests/test_noncartesian.py (``pytest -k cuda``)."""

from __future__ import annotations

import json

import pytest
import torch
from typer.testing import CliRunner

from dynmri.cli import app
from dynmri.devices import (
    autocast,
    check_device_spec,
    check_precision,
    full_precision,
    resolve_device,
)
from dynmri.errors import ParameterError

runner = CliRunner()


def _cuda(monkeypatch, count: int) -> None:
    """Pretend this machine has ``count`` CUDA devices (0: none)."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: count > 0)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: count)


# --------------------------------------------------------------------------- resolve_device


@pytest.mark.parametrize("spec", ["gpu", "cuda:", "cuda:x", "cpu:0", "auto:1", "CUDA", "", "cuda:-1"])
def test_malformed_device_specs_are_one_parameter_error(spec):
    with pytest.raises(ParameterError, match="device must be one of auto, cpu, cuda, cuda:N"):
        check_device_spec(spec)
    with pytest.raises(ParameterError, match="device must be one of"):
        resolve_device(spec)


def test_without_cuda_auto_is_the_cpu_and_cuda_is_refused(monkeypatch):
    _cuda(monkeypatch, 0)
    assert resolve_device("auto") == torch.device("cpu") and resolve_device("cpu") == torch.device("cpu")
    for spec in ("cuda", "cuda:0", "cuda:3"):
        with pytest.raises(ParameterError, match=f"device '{spec}': this machine has no CUDA device"):
            resolve_device(spec)


def test_with_cuda_auto_is_the_first_device_and_indices_are_checked(monkeypatch):
    _cuda(monkeypatch, 2)
    assert resolve_device("auto") == torch.device("cuda")
    assert resolve_device("cuda") == torch.device("cuda") and resolve_device("cuda:1") == torch.device("cuda", 1)
    assert resolve_device("cpu") == torch.device("cpu")  # the CPU stays reachable
    with pytest.raises(ParameterError, match=r"device 'cuda:2': this machine has 2 CUDA device\(s\), cuda:0 \.\. cuda:1"):
        resolve_device("cuda:2")


def test_precisions():
    assert [check_precision(p) for p in ("fp32", "bf16")] == ["fp32", "bf16"]
    for bad in ("fp16", "float32", "BF16", ""):
        with pytest.raises(ParameterError, match="precision must be one of fp32, bf16"):
            check_precision(bad)


# --------------------------------------------------------------------------- autocast, full_precision


def test_autocast_bf16_runs_networks_in_bf16_and_full_precision_keeps_ffts_in_float32():
    lin = torch.nn.Linear(8, 8)
    x = torch.randn(4, 8, generator=torch.Generator().manual_seed(0))
    with autocast("fp32", "cpu"):
        assert lin(x).dtype == torch.float32
    with autocast("bf16", torch.device("cpu")):
        assert lin(x).dtype == torch.bfloat16
        with full_precision("cpu"):
            assert lin(x).dtype == torch.float32
            z = torch.fft.fft2(torch.randn(2, 8, 8, generator=torch.Generator().manual_seed(1)))
            assert z.dtype == torch.complex64
        assert lin(x).dtype == torch.bfloat16  # autocast resumes after the physics
    assert lin(x).dtype == torch.float32
    with pytest.raises(ParameterError, match="precision must be one of"):
        autocast("fp16", "cpu")


def test_a_network_in_bf16_hands_float32_images_to_the_physics():
    """The shipped CRNN under bf16 autocast: its data-consistency physics sees float32, and the
    output is close to the fp32 one (bf16 has 8 mantissa bits)."""
    from dynmri.models.weights import load_trained, shipped_weights
    from dynmri.physics import get_physics
    from dynmri.sampling.masks import make_mask

    model = load_trained(shipped_weights()["crnn-ddei-sunnybrook-8x"])[0].eval()
    physics = get_physics("cartesian", mask=make_mask("gaussian", (6, 32, 32), 8, n=1, seed=0))
    seen = []
    a, ah = physics.A, physics.A_adjoint
    physics.A = lambda x, **kw: seen.append(x.dtype) or a(x, **kw)
    physics.A_adjoint = lambda y, **kw: seen.append(y.dtype) or ah(y, **kw)
    y = physics.A(torch.randn(1, 2, 6, 32, 32, generator=torch.Generator().manual_seed(0)))
    with torch.no_grad():
        ref = model(y, physics)
        with autocast("bf16", "cpu"):
            out = model(y, physics)
    assert seen and set(seen) == {torch.float32}, set(seen)
    assert out.shape == ref.shape and float((out.float() - ref).norm() / ref.norm()) < 0.05


# --------------------------------------------------------------------------- the commands


def test_bf16_benchmark_of_a_network_runs_on_the_cpu(tmp_path):
    out = tmp_path / "b"
    res = runner.invoke(app, ["benchmark", "--data", "phantom", "--accel", "8", "--methods", "zero-filled", "--models", "crnn-ddei-sunnybrook-8x",
                              "--frames", "4", "--crop", "32", "--device", "cpu", "--precision", "bf16", "--out", str(out)])
    assert res.exit_code == 0, res.output
    results = json.loads((out / "results.json").read_text())
    assert results["device"] == "cpu" and results["precision"] == "bf16"
    rows = {r["method"]: r for r in results["rows"]}
    assert set(rows) == {"zero-filled", "crnn-ddei group=compose"}
    assert rows["crnn-ddei group=compose"]["psnr"] > rows["zero-filled"]["psnr"]
    assert "networks in bf16" in (out / "results.md").read_text()


def test_benchmark_and_demo_honour_device_cpu(tmp_path, monkeypatch):
    """Device-agnostic: ``--device cpu`` keeps every reconstruction on the CPU, CUDA or not."""
    import dynmri.eval.benchmark as engine

    devices, run = [], engine.run_method

    def spy(*args, device="cpu", **kwargs):
        devices.append(device)
        return run(*args, device=device, **kwargs)

    monkeypatch.setattr(engine, "run_method", spy)
    res = runner.invoke(app, ["benchmark", "--data", "phantom", "--accel", "4", "--methods", "zero-filled,ls", "--frames", "3",
                              "--crop", "32", "--iters", "2", "--device", "cpu", "--out", str(tmp_path / "b")])
    assert res.exit_code == 0, res.output
    assert devices == ["cpu", "cpu"]
    assert json.loads((tmp_path / "b" / "results.json").read_text())["device"] == "cpu"


def test_learn_trajectory_honours_device_cpu(tmp_path, monkeypatch):
    """Device-agnostic: every NUFFT of ``learn-trajectory --device cpu`` is planned on the CPU."""
    import dynmri.physics.nufft as nufft

    devices, make = set(), nufft._make_op

    def spy(samples, shape, device):
        devices.add(str(device))
        return make(samples, shape, device)

    monkeypatch.setattr(nufft, "_make_op", spy)
    res = runner.invoke(app, ["learn-trajectory", "--data", "phantom", "--steps", "2", "--batch", "2", "--no-compare", "--device", "cpu",
                              "--out", str(tmp_path / "lt")])
    assert res.exit_code == 0, res.output
    assert devices == {"cpu"}
    assert json.loads((tmp_path / "lt" / "summary.json").read_text())["config"]["device"] == "cpu"


def test_learn_trajectory_auto_falls_back_to_the_cpu_without_cufinufft(monkeypatch):
    """``auto`` on a CUDA machine without mri-nufft's GPU backend learns on the CPU; ``cuda`` is
    refused with what to install."""
    import dynmri.physics.nufft as nufft
    from dynmri.learn.trajectory import trajectory_device

    _cuda(monkeypatch, 1)
    monkeypatch.setattr(nufft, "_cufinufft_available", lambda: False)
    assert trajectory_device("auto") == torch.device("cpu")
    with pytest.raises(ParameterError, match="cufinufft.*pip install"):
        trajectory_device("cuda")
    monkeypatch.setattr(nufft, "_cufinufft_available", lambda: True)
    assert trajectory_device("auto") == torch.device("cuda")
