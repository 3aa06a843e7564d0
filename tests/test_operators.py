"""Shared operator tests: ONE list of operator cases, every PHYSICS entry (single- and multi-coil
non-Cartesian too) and every regularisation operator of dynmri.optim.linops, and the tests
every case must pass: adjointness (float64, float32), autograd gradient = adjoint, dtype and
device preserved, and (where it holds) the isometry A^H A = I. Where CUDA exists, adjointness,
gradient and device run there too (non-Cartesian on cufinufft, skipped with the reason when it is
not installed)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pytest
import torch
from deepinv.physics import LinearPhysics

from dynmri.learn.data import ItemwiseNonCartesianMRI
from dynmri.optim import linops
from dynmri.physics import PHYSICS
from dynmri.sampling.masks import make_mask
from dynmri.sampling.trajectories import radial

B, N, T, H, W = 2, 3, 4, 16, 32
M = 5 * 48  # radial(5 spokes, 48 samples) per frame

DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])  # CUDA rows only where it exists: no always-skipped test
COMPLEX = {torch.float32: torch.complex64, torch.float64: torch.complex128}


def _mask(full: bool) -> torch.Tensor:
    return torch.ones(B, T, H, W) if full else make_mask("gaussian", (T, H, W), 4, n=B, seed=0)


def _maps(dtype) -> torch.Tensor:
    """Coil maps ``(B, N, H, W)`` in the complex dtype of ``dtype``, with sum_n |S_n|^2 = 1."""
    g = torch.Generator().manual_seed(0)
    m = torch.randn(B, N, H, W, dtype=torch.complex128, generator=g)
    return (m / m.abs().pow(2).sum(1, keepdim=True).sqrt()).to(COMPLEX[dtype])


def _trajectory(full: bool, dtype) -> torch.Tensor:
    """Golden-angle radial, or the Cartesian grid (where the NUFFT is the centred FFT) when ``full``."""
    if full:
        g0, g1 = torch.arange(-H // 2, H // 2) / H, torch.arange(-W // 2, W // 2) / W
        grid = torch.stack(torch.meshgrid(g0, g1, indexing="ij"), dim=-1).reshape(1, H * W, 2)
        return grid[None].expand(T, 1, H * W, 2).to(dtype)
    return radial(5, 48, T).to(dtype)


def _itemwise(dev, dtype, full: bool) -> ItemwiseNonCartesianMRI:
    """A training batch of B non-Cartesian items, each with its own trajectory (kx, ky swapped for
    the second; the same grid when ``full``) and coil maps (learn.data.batch_physics)."""
    maps = _maps(dtype).to(dev)
    trajs = [_trajectory(full, dtype) if full or b % 2 == 0 else _trajectory(full, dtype).flip(-1) for b in range(B)]
    return ItemwiseNonCartesianMRI([PHYSICS["noncartesian"](k, (H, W), maps[b], device=dev) for b, k in enumerate(trajs)])


@dataclass(frozen=True)
class Case:
    """One operator: ``build(device, dtype, full)``, its input and output shapes (``y_full``:
    the output with a full mask / grid) and, when ``A^H A = I`` holds (a full mask for the MRI
    operators), the absolute tolerance of that identity."""

    name: str
    build: Callable[[str, torch.dtype, bool], LinearPhysics]
    x_shape: tuple
    y_shape: tuple
    y_full: tuple | None = None
    isometry: float | None = None
    registry: str | None = None  # the PHYSICS entry it enrols
    cls: type | None = None  # the linops class it enrols


# NUFFT: finufft's forward and adjoint share one spreading kernel, so they are adjoint to
# rounding; A^H A = I on the full grid holds to the plan's eps (1e-12 in float64, here ~3e-11).
CASES = [
    Case("cartesian", lambda dev, dt, full: PHYSICS["cartesian"](_mask(full).to(dev), device=dev),
         (B, 2, T, H, W), (B, 2, T, H, W), isometry=1e-10, registry="cartesian"),
    Case("cartesian-multicoil", lambda dev, dt, full: PHYSICS["cartesian-multicoil"](_mask(full).to(dev), _maps(dt).to(dev), device=dev),
         (B, 2, T, H, W), (B, 2, N, T, H, W), isometry=1e-10, registry="cartesian-multicoil"),
    Case("cartesian-coilwise", lambda dev, dt, full: PHYSICS["cartesian-coilwise"](_mask(full).to(dev), device=dev),
         (B, 2, N, T, H, W), (B, 2, N, T, H, W), isometry=1e-10, registry="cartesian-coilwise"),
    Case("noncartesian", lambda dev, dt, full: PHYSICS["noncartesian"](_trajectory(full, dt), (H, W), device=dev),
         (B, 2, T, H, W), (B, 2, T, M), (B, 2, T, H * W), isometry=1e-9, registry="noncartesian"),
    Case("noncartesian-multicoil", lambda dev, dt, full: PHYSICS["noncartesian"](_trajectory(full, dt), (H, W), _maps(dt)[0].to(dev), device=dev),
         (B, 2, T, H, W), (B, 2, N, T, M), (B, 2, N, T, H * W), isometry=1e-9, registry="noncartesian"),
    Case("noncartesian-itemwise", lambda dev, dt, full: _itemwise(dev, dt, full),
         (B, 2, T, H, W), (B, 2, N, T, M), (B, 2, N, T, H * W), isometry=1e-9, cls=ItemwiseNonCartesianMRI),
    Case("temporal-difference", lambda dev, dt, full: linops.TemporalDifference(),
         (B, 2, T, H, W), (B, 2, T - 1, H, W), cls=linops.TemporalDifference),
    Case("temporal-fourier", lambda dev, dt, full: linops.TemporalFourier(),
         (B, 2, T, H, W), (B, 2, T, H, W), isometry=1e-12, cls=linops.TemporalFourier),
    Case("wavelet", lambda dev, dt, full: linops.WaveletOperator("sym8", levels=3),
         (B, 2, T, H, W), (B, 2, T, H, W), isometry=1e-10, cls=linops.WaveletOperator),
    Case("wavelet-undecimated", lambda dev, dt, full: linops.WaveletOperator("db4", levels=2, undecimated=True),
         (B, 2, N, T, H, W), (B, 2, N, T, 7, H, W), isometry=1e-12, cls=linops.WaveletOperator),
]
IDS = [c.name for c in CASES]


def _adjoint_error(op, x: torch.Tensor, y: torch.Tensor) -> float:
    """``|<A x, y> - <x, A^H y>| / (||A x|| ||y||)`` in float64: relative to the Cauchy-Schwarz
    bound, so random cancellations in the inner product cannot inflate it."""
    Ax, Ahy = op.A(x).double(), op.A_adjoint(y).double()
    lhs, rhs = torch.sum(Ax * y.double()), torch.sum(x.double() * Ahy)
    return float((lhs - rhs).abs() / (Ax.norm() * y.double().norm()))


def _skip_without_backend(case: Case, device: str) -> None:
    """Non-Cartesian rows on CUDA need mri-nufft's cufinufft backend (skipped, with the reason, without it)."""
    if device != "cpu" and (case.registry == "noncartesian" or case.cls is ItemwiseNonCartesianMRI):
        from dynmri.physics.nufft import CUFINUFFT_HINT, _cufinufft_available

        if not _cufinufft_available():
            pytest.skip(f"non-Cartesian on CUDA needs cufinufft: {CUFINUFFT_HINT}")


def _randn(shape, dtype, seed: int, device="cpu") -> torch.Tensor:
    return torch.randn(shape, dtype=dtype, generator=torch.Generator().manual_seed(seed)).to(device)


def test_every_operator_is_enrolled():
    assert {c.registry for c in CASES if c.registry} == set(PHYSICS)
    assert {c.cls.__name__ for c in CASES if c.cls} == set(linops.__all__) | {"ItemwiseNonCartesianMRI"}  # + learn.data's batch operator
    for case in CASES:
        assert isinstance(case.build("cpu", torch.float64, False), LinearPhysics), case.name


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_adjointness_float64(case, device):
    """<A x, y> = <x, A^H y> to (nearly) machine precision, and the output shape."""
    _skip_without_backend(case, device)
    op = case.build(device, torch.float64, False)
    x = _randn(case.x_shape, torch.float64, 1, device)
    assert tuple(op.A(x).shape) == case.y_shape
    y = _randn(case.y_shape, torch.float64, 2, device)
    assert _adjoint_error(op, x, y) < 1e-14  # measured: below 1e-17


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_adjointness_float32(case):
    op = case.build("cpu", torch.float32, False)
    x, y = _randn(case.x_shape, torch.float32, 3), _randn(case.y_shape, torch.float32, 4)
    assert _adjoint_error(op, x, y) < 1e-6  # measured: below 3e-9


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_gradient_is_the_adjoint(case, device):
    """autograd of 0.5 ||A x - y||^2 equals A^H (A x - y)."""
    _skip_without_backend(case, device)
    op = case.build(device, torch.float64, False)
    x = _randn(case.x_shape, torch.float64, 5, device).requires_grad_(True)
    y = op.A(_randn(case.x_shape, torch.float64, 6, device))
    (0.5 * (op.A(x) - y).pow(2).sum()).backward()
    expected = op.A_adjoint(op.A(x.detach()) - y)
    assert torch.allclose(x.grad, expected, atol=1e-10)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_dtype_is_preserved(case, dtype):
    op = case.build("cpu", dtype, False)
    Ax = op.A(_randn(case.x_shape, dtype, 7))
    assert Ax.dtype == dtype
    assert op.A_adjoint(Ax).dtype == dtype


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_device_is_preserved(case, device):
    _skip_without_backend(case, device)
    op = case.build(device, torch.float32, False)
    Ax = op.A(_randn(case.x_shape, torch.float32, 8, device))
    assert Ax.device.type == device
    assert op.A_adjoint(Ax).device.type == device


@pytest.mark.parametrize("case", [c for c in CASES if c.isometry is not None], ids=[c.name for c in CASES if c.isometry is not None])
def test_full_sampling_is_an_isometry(case):
    """A^H A = I: the MRI operators with a full mask (non-Cartesian: the full Cartesian grid),
    the unitary linops, the Parseval undecimated wavelet frame."""
    op = case.build("cpu", torch.float64, True)
    x = _randn(case.x_shape, torch.float64, 9)
    Ax = op.A(x)
    assert tuple(Ax.shape) == (case.y_full or case.y_shape)
    assert torch.allclose(op.A_adjoint(Ax), x, atol=case.isometry)
