"""Compressed-sensing methods end to end on a small phantom (8 frames, 32x32)."""

import numpy as np
import pytest
import torch

from dynmri.config import CSConfig
from dynmri.data.phantom import phantom_videos
from dynmri.data.simulate import birdcage_maps, simulate_acquisition
from dynmri.errors import ParameterError, ShapeError
from dynmri.eval.metrics import evaluate
from dynmri.recon.methods import (
    REQUIRES,
    applicable,
    get_method,
    method_names,
)
from dynmri.recon.run import reconstruct_acquisition
from dynmri.sampling.masks import make_mask

FAST = CSConfig(n_iter=40, levels=2)


@pytest.fixture(scope="module")
def acq():
    images = phantom_videos(1, 8, (32, 32), seed=1)
    masks = make_mask("gaussian", (8, 32, 32), 4, seed=0).numpy().astype(np.uint8)
    return simulate_acquisition(images, masks)


@pytest.fixture(scope="module")
def acq_mc():
    images = phantom_videos(1, 6, (32, 32), seed=2)
    masks = make_mask("gaussian", (6, 32, 32), 3, seed=1).numpy().astype(np.uint8)
    return simulate_acquisition(images, masks, coil_maps=birdcage_maps(4, (32, 32))[None])


SINGLE = [m for m in method_names() if REQUIRES[m] == "maps"]


@pytest.mark.parametrize("method", SINGLE)
def test_single_coil_methods_run_and_do_not_lose_to_zero_filled(acq, method):
    zf = evaluate(reconstruct_acquisition(acq, "zero-filled"), acq.target)["psnr"]
    costs = []
    rec = reconstruct_acquisition(acq, method, config=FAST, callback=lambda k, x, c: costs.append(c))
    assert rec.shape == acq.target.shape and np.isfinite(rec).all()
    assert evaluate(rec, acq.target)["psnr"] > zf - 1.0
    assert costs and costs[-1] <= costs[0] + 1e-9  # the objective went down


def test_dynamic_priors_beat_frame_by_frame_on_phantom(acq):
    frame = evaluate(reconstruct_acquisition(acq, "fista-wavelet", config=FAST), acq.target)["psnr"]
    lps = evaluate(reconstruct_acquisition(acq, "lps", config=FAST), acq.target)["psnr"]
    assert lps > frame + 2


def test_fista_and_pogm_reach_the_same_minimum(acq):
    """Same objective value at convergence; POGM is ahead of FISTA early on."""
    costs = {}
    for m in ("fista-wavelet", "pogm-wavelet"):
        costs[m] = []
        reconstruct_acquisition(acq, m, config=CSConfig(n_iter=400, levels=2, tol=0, lam=0.01), callback=lambda k, x, v, c=costs[m]: c.append(v))
    f, p = costs["fista-wavelet"], costs["pogm-wavelet"]
    assert abs(f[-1] - p[-1]) < 1e-5 * f[-1]
    assert p[99] <= f[99]


def test_least_squares_is_cg_sense(acq_mc):
    zf = evaluate(reconstruct_acquisition(acq_mc, "zero-filled"), acq_mc.target)["psnr"]
    ls = evaluate(reconstruct_acquisition(acq_mc, "ls", config=CSConfig(n_iter=30)), acq_mc.target)["psnr"]
    assert ls > zf + 3


@pytest.mark.parametrize("method", ["fista-grouplasso", "fista-owl"])
def test_calibrationless(acq_mc, method):
    no_maps = type(acq_mc)(kspace=acq_mc.kspace, mask=acq_mc.mask, target=acq_mc.target)
    zf = evaluate(reconstruct_acquisition(no_maps, "zero-filled"), acq_mc.target)["psnr"]
    rec = reconstruct_acquisition(no_maps, method, config=CSConfig(n_iter=30, levels=2, lam=0.01))
    assert rec.shape == acq_mc.target.shape
    assert evaluate(rec, acq_mc.target)["psnr"] > zf
    assert applicable(method, True, False) and not applicable(method, False, False)


def test_grouplasso_with_one_coil_equals_l1():
    """GroupLASSO across a single coil is plain complex L1 (the same prox)."""
    from dynmri.optim.prox import group_soft_threshold, soft_threshold

    c = torch.randn(1, 2, 1, 3, 64)
    assert torch.allclose(group_soft_threshold(c, 0.2, group_dim=2), soft_threshold(c, 0.2))


def test_bad_parameters(acq):
    with pytest.raises(ParameterError, match="lam"):
        reconstruct_acquisition(acq, "fista-wavelet", config=CSConfig(lam=-1.0))
    with pytest.raises(ParameterError, match="n_iter"):
        reconstruct_acquisition(acq, "pogm-wavelet", config=CSConfig(n_iter=0))
    y = torch.full((1, 2, 8, 32, 32), float("nan"))
    from dynmri.physics.cartesian import make_physics

    with pytest.raises(ParameterError, match="NaN"):
        get_method("fista-wavelet")(y, make_physics(torch.from_numpy(acq.mask[:1]).float()))
    with pytest.raises(ShapeError, match="multi-coil"):
        reconstruct_acquisition(acq, "fista-owl")
    no_maps = type(acq)(kspace=np.stack([acq.kspace] * 2, 1), mask=acq.mask)
    with pytest.raises(ParameterError, match="coil maps"):
        reconstruct_acquisition(no_maps, "fista-wavelet")


@pytest.mark.parametrize("coilwise", [False, True])
def test_fast_normal_operator_and_exact_lipschitz_match_the_operator(coilwise):
    from dynmri.optim.solvers import power_iteration
    from dynmri.physics.cartesian import coilwise_mri, make_physics
    from dynmri.recon.cs import _Problem

    g = torch.Generator().manual_seed(0)
    # a weighted (non-binary) mask: the normal operator is F^H M^2 F, not F^H M F
    mask = make_mask("gaussian", (3, 16, 32), 4, n=2, seed=0).double() * (0.5 + torch.rand(2, 3, 16, 32, generator=g, dtype=torch.float64))
    physics = coilwise_mri(mask) if coilwise else make_physics(mask)
    shape = (2, 2, 4, 3, 16, 32) if coilwise else (2, 2, 3, 16, 32)
    x = torch.randn(shape, dtype=torch.float64, generator=g)
    prob = _Problem(physics.A(x), physics, CSConfig())
    assert prob._mask is not None
    z = torch.randn(shape, dtype=torch.float64, generator=g)
    assert torch.allclose(prob.normal(z), physics.A_adjoint(physics.A(z)), atol=1e-6)  # masks are stored in float32
    normal = lambda v: physics.A_adjoint(physics.A(v))  # noqa: E731
    assert prob.lipschitz == pytest.approx(power_iteration(normal, z, n_iter=300), rel=1e-3)
    assert prob.lipschitz == pytest.approx(float(mask.max()) ** 2, rel=1e-6)


@pytest.mark.parametrize("coilwise, levels", [(False, 1), (False, 3), (True, 2)])
def test_wavelet_domain_normal_operator_matches_the_image_domain_one(coilwise, levels):
    """The first wavelet level in the Fourier domain: Psi A^H A Psi^H, exactly."""
    from dynmri.optim.wavelets import Wavelet
    from dynmri.physics.cartesian import coilwise_mri, make_physics
    from dynmri.recon.cs import _Problem, _WaveletNormal

    g = torch.Generator().manual_seed(1)
    mask = make_mask("gaussian", (3, 32, 64), 4, n=2, seed=0).double()
    physics = coilwise_mri(mask) if coilwise else make_physics(mask)
    shape = (2, 2, 3, 3, 32, 64) if coilwise else (2, 2, 3, 32, 64)
    prob = _Problem(physics.A(torch.randn(shape, dtype=torch.float64, generator=g)), physics, CSConfig())
    W = Wavelet("sym8", levels)
    c = torch.randn(shape, dtype=torch.float64, generator=g)
    assert torch.allclose(_WaveletNormal(W, prob._mask)(c), W(prob.normal(W.adjoint(c))), atol=1e-10)


@pytest.mark.parametrize("method", ["fista-wavelet", "pogm-wavelet"])
def test_coefficient_domain_iteration_equals_the_image_domain_one(acq, method):
    from dynmri import cs
    from dynmri.optim.solvers import get_solver
    from dynmri.physics.cartesian import make_physics

    y = torch.from_numpy(np.stack((acq.kspace.real, acq.kspace.imag), 1)).double()
    physics = make_physics(torch.from_numpy(acq.mask).double())
    cfg = CSConfig(n_iter=30, levels=2, tol=0)
    solver = get_solver("fista" if method == "fista-wavelet" else "pogm")
    fast = get_method(method)(y, physics, config=cfg)
    slow = cs._synthesis(y, physics, cfg, False, None, solver, method, transform=lambda W: (W, W.adjoint))
    assert torch.allclose(fast, slow, atol=1e-9)


def test_admm_x_update_solves_the_normal_equation(acq):
    """Fast path: x = (A^H A + rho_t D_t^H D_t + rho_w I)^-1 (A^H y + b), exactly (float64)."""
    from dynmri.optim.linops import TemporalDifference
    from dynmri.physics.cartesian import make_physics
    from dynmri.recon.cs import _admm_x_update, _Problem

    y = torch.from_numpy(np.stack((acq.kspace.real, acq.kspace.imag), 1)).double()
    physics = make_physics(torch.from_numpy(acq.mask).double())
    prob, Dt = _Problem(y, physics, CSConfig()), TemporalDifference()
    assert prob._mask is not None
    b = torch.randn(prob.x0.shape, dtype=torch.float64, generator=torch.Generator().manual_seed(3))
    x = _admm_x_update(prob, Dt, 0.7, 0.02)(b.clone(), prob.x0)
    lhs = physics.A_adjoint(physics.A(x)) + 0.7 * Dt.A_adjoint(Dt.A(x)) + 0.02 * x
    assert torch.allclose(lhs, prob.x0 + b, atol=1e-9)


def test_admm_and_condatvu_ttv_minimise_the_same_objective(acq, acq_mc):
    """admm-wavelet-ttv (exact x-update; CG x-update with coil maps) reaches the objective of
    condatvu-wavelet-ttv run ten times longer (speed is measured in benchmarks/compare_peers.py)."""
    for data in (acq, acq_mc):
        costs = {}
        for m, n in (("admm-wavelet-ttv", 300), ("condatvu-wavelet-ttv", 3000)):
            costs[m, n] = []
            reconstruct_acquisition(data, m, config=CSConfig(n_iter=n, levels=2, tol=0), callback=lambda k, x, v, c=costs[m, n]: c.append(v))
        admm, cv = costs["admm-wavelet-ttv", 300], costs["condatvu-wavelet-ttv", 3000]
        assert admm[-1] <= cv[-1] * (1 + 1e-4)


def test_condatvu_ttv_is_unchanged_by_the_shared_setup(acq):
    """condatvu-wavelet-ttv after moving its set-up into _ttv_problem: the iteration written out."""
    from dynmri.optim.linops import TemporalDifference
    from dynmri.optim.prox import modulus, project_linf, soft_threshold
    from dynmri.optim.wavelets import Wavelet
    from dynmri.physics.cartesian import make_physics
    from dynmri.recon.cs import _Problem

    y = torch.from_numpy(np.stack((acq.kspace.real, acq.kspace.imag), 1)).double()
    physics = make_physics(torch.from_numpy(acq.mask).double())
    cfg = CSConfig(n_iter=15, levels=2, tol=0)
    prob, W, Dt = _Problem(y, physics, cfg), Wavelet("sym8", 2), TemporalDifference()
    lam = cfg.lam * float(modulus(W(prob.x0)).max())
    mu = cfg.lam_ttv * float(modulus(Dt.A(prob.x0)).max())
    tau = 0.99 / (prob.lipschitz / 2 + cfg.sigma * 4)
    x, u = prob.x0, torch.zeros_like(Dt.A(prob.x0))
    for _ in range(cfg.n_iter):
        x_new = W.adjoint(soft_threshold(W(x - tau * (prob.grad(x) + Dt.A_adjoint(u))), tau * lam))
        u = project_linf(u + cfg.sigma * Dt.A(2 * x_new - x), mu)
        x = x_new
    assert torch.allclose(get_method("condatvu-wavelet-ttv")(y, physics, config=cfg), x, atol=1e-12)
