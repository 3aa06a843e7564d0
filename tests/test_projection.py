"""project_to_limits: a feasible answer for any input (spirals over the slew limit, noise, points
outside the box), nearest among feasible points, with the ramp and echo-time options."""

import numpy as np
import pytest
import torch

import dynmri.sampling.trajectories as tr
from dynmri.config import ScannerLimits
from dynmri.errors import ParameterError, ShapeError
from dynmri.sampling.trajectories import (
    project_steps,
    project_to_limits,
    radial,
    violations,
)

LIM = ScannerLimits()
N = 64


def overslew_spiral(excess: float, shots: int = 4, samples: int = 640) -> torch.Tensor:
    """A spiral whose peak slew is ``1 + excess`` times the limit."""
    return tr.spiral_at_slew(shots, samples, N, LIM, 1 + excess)

def assert_feasible(k, ramp=False, te=None, rtol=1e-6):
    v = violations(k, N, LIM, rtol=rtol, ramp=ramp)
    assert v["gradient_violations"] == v["slew_violations"] == v["outside_box"] == 0, v
    assert v["gradient_ratio"] <= 1 + rtol and v["slew_ratio"] <= 1 + rtol, v
    if te is not None:
        assert torch.equal(k[..., te, :], torch.zeros_like(k[..., te, :]))


def assert_nearest(p, z, feasible_points):
    """The projection is at least as near as any feasible point, and ``<z - p, f - p> <= 0``."""
    for f in feasible_points:
        assert float((p - z).norm()) <= float((f - z).norm()) * (1 + 1e-6)
        assert float(((z - p) * (f - p)).sum()) <= 1e-6 * float((z - p).norm() * (f - p).norm()) + 1e-12


@pytest.mark.parametrize("excess", [0.05, 0.2, 1.0])
def test_spirals_over_the_slew_limit_land_inside_it(excess):
    z = overslew_spiral(excess)
    assert violations(z, N, LIM)["slew_ratio"] == pytest.approx(1 + excess, rel=1e-3)
    p = project_to_limits(z, N, LIM)
    assert p.shape == z.shape and p.dtype == z.dtype
    assert_feasible(p)
    assert violations(p, N, LIM)["slew_ratio"] > 0.999  # the limit is active: not a crude shrink
    slower = overslew_spiral(-0.05)  # the same spiral, fewer revolutions: feasible
    assert_nearest(p, z, [slower, torch.zeros_like(z), 0.9 * p])


@pytest.mark.parametrize("excess", [0.05, 1.0])
def test_ramp_from_rest_and_echo_time(excess):
    z = overslew_spiral(excess)
    p = project_to_limits(z, N, LIM, ramp=True, te=0)
    assert_feasible(p, ramp=True, te=0)
    assert violations(p, N, LIM)["slew_ratio"] <= violations(p, N, LIM, ramp=True)["slew_ratio"]
    free = project_to_limits(z, N, LIM)
    assert float((p - z).norm()) >= float((free - z).norm()) * (1 - 1e-6)  # more constraints, not nearer
    assert_nearest(p, z, [torch.zeros_like(z)])
    mid = project_to_limits(z, N, LIM, te=-320)  # centre of k-space half-way along the readout
    assert_feasible(mid, te=320)


def test_radial_with_noise_is_projected_nearer_than_the_clean_spokes():
    k = radial(6, 256, 1)[0].double()
    z = (k + 0.01 * torch.randn(k.shape, generator=torch.Generator().manual_seed(0), dtype=torch.float64)).clamp(-0.5, 0.49)
    p = project_to_limits(z, N, LIM, te=128)
    assert_feasible(p, te=128)
    assert_nearest(p, z, [k])


@pytest.mark.parametrize("case", ["uniform", "outside-box", "random-walk"])
def test_any_input_lands(case):
    g = torch.Generator().manual_seed(1)
    z = {"uniform": lambda: torch.rand(2, 3, 200, 2, generator=g, dtype=torch.float64) - 0.5,
         "outside-box": lambda: 3 * torch.randn(3, 150, 2, generator=g, dtype=torch.float64),
         "random-walk": lambda: (0.05 * torch.randn(3, 300, 2, generator=g, dtype=torch.float64)).cumsum(1)}[case]()
    for ramp, te in [(False, None), (True, 5)]:
        p = project_to_limits(z, N, LIM, ramp=ramp, te=te)
        assert p.shape == z.shape
        assert_feasible(p, ramp=ramp, te=te)


def test_float32_stays_feasible_after_rounding_and_feasible_input_is_unchanged():
    z = overslew_spiral(0.2).float()
    p = project_to_limits(z, N, LIM, ramp=True)
    assert p.dtype == torch.float32
    assert_feasible(p, ramp=True)
    assert torch.equal(project_to_limits(p, N, LIM, ramp=True), p)


def test_decimation_scales_the_steps():
    z = overslew_spiral(1.0, samples=161)
    a, b = LIM.steps(N)
    p = project_to_limits(z, N, LIM, decimation=4, ramp=True).double()
    assert float(torch.diff(p, dim=-2).norm(dim=-1).max()) <= 4 * a
    assert float(torch.diff(p, n=2, dim=-2).norm(dim=-1).max()) <= 4 * b
    assert float((p[:, 1] - p[:, 0]).norm(dim=-1).max()) <= 4 * b


@pytest.mark.parametrize("ns", [1, 2, 3])
def test_short_readouts(ns):
    z = torch.tensor([[[0.7, -0.9], [0.3, 0.2], [-0.4, 0.1]][:ns]], dtype=torch.float64)
    p = project_steps(z, 0.1, 0.01, ramp=True)
    assert tr._feasible(p, 0.1, 0.01, ramp=True)
    if ns == 1:  # only the box: the clipped point (from inside)
        assert torch.allclose(p, z.clamp(-0.5, 0.5), atol=1e-5)


def test_bad_input_raises():
    z = torch.zeros(2, 10, 2)
    with pytest.raises(ParameterError, match="te"):
        project_to_limits(z, N, LIM, te=10)
    with pytest.raises(ShapeError, match="n_samples, 2"):
        project_to_limits(torch.zeros(2, 10, 3), N, LIM)
    with pytest.raises(ParameterError, match="NaN"):
        project_to_limits(torch.full((2, 10, 2), float("nan")), N, LIM)
    with pytest.raises(ParameterError, match="precision"):
        project_steps(torch.ones(1, 5, 2), 1e-9, 1e-12, dtype=torch.float16)


def test_newton_system_matches_finite_differences():
    """The banded Hessian and the gradient of the barrier objective (the heart of the solver)."""
    rng = np.random.default_rng(0)
    z = rng.uniform(-0.6, 0.6, (2, 6, 2))
    k = 0.02 * rng.standard_normal((2, 6, 2))
    fams = tr._families(6, 0.2, 0.1, True)
    tinv = 0.3
    g, ab = tr._newton_system(k, z, fams, tinv, None)
    dense = np.zeros((24, 24))
    for d in range(6):
        idx = np.arange(24 - d)
        dense[idx + d, idx] = ab[d, : 24 - d]
        dense[idx, idx + d] = ab[d, : 24 - d]
    h = 1e-6
    for j in range(24):
        e = np.zeros(24)
        e[j] = h
        e = e.reshape(k.shape)
        fd_g = (tr._barrier(k + e, z, fams, tinv) - tr._barrier(k - e, z, fams, tinv)).sum() / (2 * h)
        assert fd_g == pytest.approx(g.ravel()[j], rel=1e-5, abs=1e-7)
        gp, _ = tr._newton_system(k + e, z, fams, tinv, None)
        gm, _ = tr._newton_system(k - e, z, fams, tinv, None)
        np.testing.assert_allclose((gp - gm).ravel() / (2 * h), dense[:, j], rtol=1e-5, atol=1e-6)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_projection_on_cuda_returns_on_cuda():
    z = overslew_spiral(0.2).cuda()
    p = project_to_limits(z, N, LIM)
    assert p.device == z.device
    assert_feasible(p.cpu())


@pytest.mark.parametrize("te", [None, 3])
def test_a_failed_readout_would_be_replaced_by_a_constant_one(monkeypatch, te):
    """The last line of defence: the answer is verified, never returned infeasible."""
    monkeypatch.setattr(tr, "_barrier_projection", lambda z, *args: np.asarray(z) * 1.5)
    z = overslew_spiral(0.2, shots=2, samples=50)
    p = project_to_limits(z, N, LIM, te=te)
    assert_feasible(p, te=te)
    assert torch.equal(p, p[:, :1].expand_as(p))
