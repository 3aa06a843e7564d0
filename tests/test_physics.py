"""Shared operator tests: every entry of dynmri.physics.cartesian.PHYSICS is enrolled here."""

import pytest
import torch

from conftest import devices
from dynmri.errors import ShapeError
from dynmri.physics.cartesian import PHYSICS, make_physics, rss
from dynmri.sampling.masks import make_mask
from dynmri.sampling.trajectories import radial

B, N, T, H, W = 2, 3, 4, 16, 32


def _maps(dtype=torch.complex128):
    g = torch.Generator().manual_seed(0)
    m = torch.randn(B, N, H, W, dtype=dtype, generator=g)
    return m / m.abs().pow(2).sum(1, keepdim=True).sqrt()


def _trajectory(mask):
    """Non-Cartesian stand-in for a mask: golden-angle radial, or the Cartesian grid for a full mask."""
    if bool(mask.all()):
        g0, g1 = torch.arange(-H // 2, H // 2) / H, torch.arange(-W // 2, W // 2) / W
        grid = torch.stack(torch.meshgrid(g0, g1, indexing="ij"), dim=-1).reshape(1, H * W, 2)
        return grid[None].expand(T, 1, H * W, 2).double()
    return radial(5, 48, T).double()


M = 5 * 48
# each registered operator: how to build it from a mask, its image and k-space shapes, and the
# accuracy of A^H A = I on a full grid (NUFFTs: finufft tolerance 1e-6, pointwise about 1e-5)
CASES = {
    "cartesian": (lambda mask, dev: PHYSICS["cartesian"](mask, device=dev), (B, 2, T, H, W), (B, 2, T, H, W), 1e-10),
    "cartesian-multicoil": (lambda mask, dev: PHYSICS["cartesian-multicoil"](mask, _maps().to(dev), device=dev), (B, 2, T, H, W), (B, 2, N, T, H, W), 1e-10),
    "cartesian-coilwise": (lambda mask, dev: PHYSICS["cartesian-coilwise"](mask, device=dev), (B, 2, N, T, H, W), (B, 2, N, T, H, W), 1e-10),
    "noncartesian": (lambda mask, dev: PHYSICS["noncartesian"](_trajectory(mask), (H, W), device=dev), (B, 2, T, H, W), (B, 2, T, M), 1e-4),
    "noncartesian-multicoil": (lambda mask, dev: PHYSICS["noncartesian"](_trajectory(mask), (H, W), _maps()[0].to(dev), device=dev), (B, 2, T, H, W), (B, 2, N, T, M), 1e-4),
}


def test_every_operator_is_enrolled():
    assert {c.removesuffix("-multicoil") if c.startswith("non") else c for c in CASES} == set(PHYSICS)


def build(name, device, mask=None):
    mask = make_mask("gaussian", (T, H, W), 4, n=B, seed=0) if mask is None else mask
    return CASES[name][0](mask.to(device), device)


def shape(name):
    return CASES[name][1]


def yshape(name, full=False):
    if full and name.startswith("non"):
        return CASES[name][2][:-1] + (H * W,)
    return CASES[name][2]


def _inner(a, b):
    return torch.sum(a * b).item()


@pytest.mark.parametrize("device", devices())
@pytest.mark.parametrize("name", list(CASES))
def test_adjointness(name, device):
    torch.manual_seed(0)
    physics = build(name, device)
    g = torch.Generator().manual_seed(1)
    x = torch.randn(shape(name), dtype=torch.float64, generator=g).to(device)
    Ax = physics.A(x)
    y = torch.randn(Ax.shape, dtype=torch.float64, generator=g).to(device)
    lhs, rhs = _inner(Ax, y), _inner(x, physics.A_adjoint(y))
    assert abs(lhs - rhs) / abs(lhs) < 1e-5
    assert Ax.shape == yshape(name)


@pytest.mark.parametrize("name", list(CASES))
def test_adjointness_float32(name):
    physics = build(name, "cpu")
    g = torch.Generator().manual_seed(2)
    x = torch.randn(shape(name), generator=g)
    Ax = physics.A(x)
    y = torch.randn(Ax.shape, generator=g)
    lhs, rhs = _inner(Ax.double(), y.double()), _inner(x.double(), physics.A_adjoint(y).double())
    assert abs(lhs - rhs) / abs(lhs) < 1e-5


@pytest.mark.parametrize("name", list(CASES))
def test_gradient_matches_adjoint(name):
    """autograd of 0.5||Ax - y||^2 equals A^H(Ax - y)."""
    physics = build(name, "cpu")
    g = torch.Generator().manual_seed(3)
    x = torch.randn(shape(name), dtype=torch.float64, generator=g, requires_grad=True)
    y = physics.A(torch.randn(shape(name), dtype=torch.float64, generator=g))
    (0.5 * (physics.A(x) - y).pow(2).sum()).backward()
    expected = physics.A_adjoint(physics.A(x.detach()) - y)
    assert torch.allclose(x.grad, expected, atol=1e-10)


@pytest.mark.parametrize("name", list(CASES))
def test_full_mask_is_an_isometry(name):
    physics = build(name, "cpu", mask=torch.ones(B, T, H, W))
    x = torch.randn(shape(name), dtype=torch.float64)
    assert physics.A(x).shape == yshape(name, full=True)
    assert torch.allclose(physics.A_adjoint(physics.A(x)), x, atol=CASES[name][3])


def test_each_frame_uses_its_own_mask():
    mask = torch.zeros(T, H, W)
    for t in range(T):
        mask[t, :, t] = 1
    y = make_physics(mask).A(torch.randn(1, 2, T, H, W))
    for t in range(T):
        nz = y[0, 0, t].abs().sum(0).nonzero().flatten().tolist()
        assert nz == [t]


def test_shape_errors():
    with pytest.raises(ShapeError):
        make_physics(torch.ones(H, W))
    with pytest.raises(ShapeError):
        make_physics(torch.ones(B, T, H, W), torch.ones(B, N, H + 1, W, dtype=torch.complex64))
    with pytest.raises(ShapeError):
        rss(torch.zeros(1, 2, T, H, W))


def test_rss_of_fully_sampled_multicoil_is_magnitude():
    ones = torch.ones(1, T, H, W)
    maps = _maps()[:1]
    x = torch.randn(1, 2, T, H, W, dtype=torch.float64)
    y = make_physics(ones, maps).A(x)
    mag = torch.sqrt(x[:, 0] ** 2 + x[:, 1] ** 2)
    assert torch.allclose(rss(y)[:, 0], mag, atol=1e-10)
