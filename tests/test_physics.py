"""The MRI operators: classes and capabilities, the PHYSICS registry, the operator of an
acquisition, per-frame masks, shape errors, RSS. Adjointness, gradients, dtypes, devices and
isometries of every operator: tests/test_operators.py."""

import numpy as np
import pytest
import torch
from deepinv.physics import DynamicMRI, LinearPhysics

from dynmri.errors import ParameterError, ShapeError
from dynmri.physics import (
    PHYSICS,
    CoilwiseMRI,
    DynamicMultiCoilMRI,
    DynamicSingleCoilMRI,
    MRIOperator,
    NonCartesianMRI,
    coilwise_mri,
    dynamic_mri,
    dynamic_multicoil_mri,
    get_physics,
    make_physics,
    noncartesian_mri,
    rss,
)
from dynmri.sampling.trajectories import radial

B, N, T, H, W = 2, 3, 4, 16, 32


def _maps(dtype=torch.complex128):
    g = torch.Generator().manual_seed(0)
    m = torch.randn(B, N, H, W, dtype=dtype, generator=g)
    return m / m.abs().pow(2).sum(1, keepdim=True).sqrt()


def _operators():
    mask = torch.ones(B, T, H, W)
    return {
        "cartesian": dynamic_mri(mask),
        "cartesian-multicoil": dynamic_multicoil_mri(mask, _maps()),
        "cartesian-coilwise": coilwise_mri(mask),
        "noncartesian": noncartesian_mri(radial(4, 16, T), (H, W)),
        "noncartesian-multicoil": noncartesian_mri(radial(4, 16, T), (H, W), _maps()[0]),
    }


# capabilities declared by each operator: (class, multicoil, coilwise, noncartesian)
DECLARED = {
    "cartesian": (DynamicSingleCoilMRI, False, False, False),
    "cartesian-multicoil": (DynamicMultiCoilMRI, True, False, False),
    "cartesian-coilwise": (CoilwiseMRI, True, True, False),
    "noncartesian": (NonCartesianMRI, False, False, True),
    "noncartesian-multicoil": (NonCartesianMRI, True, False, True),
}


@pytest.mark.parametrize("name", list(DECLARED))
def test_every_operator_is_a_class_with_declared_capabilities(name):
    op = _operators()[name]
    cls, multicoil, coilwise, noncartesian = DECLARED[name]
    assert type(op) is cls
    assert isinstance(op, LinearPhysics) and isinstance(op, MRIOperator)
    assert (op.multicoil, op.coilwise, op.noncartesian) == (multicoil, coilwise, noncartesian)
    assert PHYSICS.meta(name.removesuffix("-multicoil") if name.startswith("non") else name)["operator"] is cls


def test_single_coil_is_a_deepinv_dynamic_mri():
    assert issubclass(DynamicSingleCoilMRI, DynamicMRI)


def test_fourier_normal_mask_only_where_the_normal_operator_is_fourier_diagonal():
    """ifftshift(M^2) for single-coil and coil-wise Cartesian (the fast path of compressed
    sensing), None with coil maps, for the NUFFT and for odd image sides."""
    mask = (torch.rand(B, T, H, W, generator=torch.Generator().manual_seed(0)) > 0.5).float()
    expected = torch.fft.ifftshift(mask, dim=(-2, -1))
    assert torch.equal(dynamic_mri(mask).fourier_normal_mask(), expected)
    assert torch.equal(coilwise_mri(mask).fourier_normal_mask(), expected[:, None])
    for name in ("cartesian-multicoil", "noncartesian", "noncartesian-multicoil"):
        assert _operators()[name].fourier_normal_mask() is None, name
    assert dynamic_mri(torch.ones(T, H + 1, W)).fourier_normal_mask() is None


def test_compressed_sensing_takes_the_fast_path_from_the_declared_mask():
    from dynmri.recon.cs import _shifted_mask

    mask = torch.ones(1, T, H, W)
    ops = _operators()
    assert _shifted_mask(dynamic_mri(mask), torch.zeros(B, 2, T, H, W)).shape == (B, T, H, W)
    assert _shifted_mask(coilwise_mri(mask), torch.zeros(B, 2, N, T, H, W)).shape == (B, 1, T, H, W)
    assert _shifted_mask(ops["cartesian-multicoil"], torch.zeros(B, 2, N, T, H, W)) is None
    assert _shifted_mask(ops["noncartesian"], torch.zeros(B, 2, T, 64)) is None


def test_fourier_normal_mask_gives_the_normal_operator():
    mask = (torch.rand(1, T, H, W, generator=torch.Generator().manual_seed(1)) > 0.5).float()
    x = torch.randn(1, 2, T, H, W, dtype=torch.float64)
    for op, xx in ((dynamic_mri(mask), x), (coilwise_mri(mask), x[:, :, None].expand(-1, -1, N, -1, -1, -1))):
        z = torch.fft.ifft2(op.fourier_normal_mask() * torch.fft.fft2(torch.complex(xx[:, 0], xx[:, 1])))
        assert torch.allclose(torch.stack((z.real, z.imag), dim=1), op.A_adjoint(op.A(xx)), atol=1e-12)


def test_get_physics_builds_by_name_and_names_the_choices():
    mask = torch.ones(T, H, W)
    assert isinstance(get_physics("cartesian", mask=mask), DynamicSingleCoilMRI)
    assert isinstance(get_physics("cartesian-coilwise", mask=mask), CoilwiseMRI)
    with pytest.raises(ParameterError, match="valid: cartesian, cartesian-multicoil, cartesian-coilwise, noncartesian"):
        get_physics("spiral", mask=mask)
    with pytest.raises(ParameterError, match="unknown option 'maps'"):
        get_physics("cartesian", mask=mask, maps=None)


@pytest.mark.parametrize("kind", ["single", "maps", "coilwise", "noncartesian"])
def test_acquisition_physics_picks_the_registered_operator(kind):
    from dynmri.data.files import Acquisition
    from dynmri.recon.methods import _slice_inputs, acquisition_physics

    S, Tn, n = 1, 3, 16
    rng = np.random.default_rng(0)
    target = rng.standard_normal((S, Tn, n, n)).astype(np.complex64)
    fields = {"target": target, "meta": {"source": "test"}}
    if kind == "noncartesian":
        k = radial(4, 16, Tn).numpy()
        fields |= {"kspace": np.zeros((S, Tn, 64), np.complex64), "trajectory": k}
    else:
        coils = (N,) if kind != "single" else ()
        fields |= {"kspace": np.zeros((S, *coils, Tn, n, n), np.complex64), "mask": np.ones((S, Tn, n, n), np.uint8)}
        if kind == "maps":
            fields["coil_maps"] = np.ones((S, N, n, n), np.complex64) / np.sqrt(N)
    acq = Acquisition(**fields)
    _, mask, maps = _slice_inputs(acq, 0, "cpu")
    op = acquisition_physics(acq, mask, maps, "cpu", 1)
    expected = {"single": DynamicSingleCoilMRI, "maps": DynamicMultiCoilMRI, "coilwise": CoilwiseMRI, "noncartesian": NonCartesianMRI}[kind]
    assert type(op) is expected
    frames = op.nufft.frames if kind == "noncartesian" else op.mask.shape[2]
    assert frames == Tn - 1  # frames t0:t1 only


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
    with pytest.raises(ShapeError):
        coilwise_mri(torch.ones(T, H, W)).A(torch.zeros(1, 2, T, H, W))


def test_rss_of_fully_sampled_multicoil_is_magnitude():
    ones = torch.ones(1, T, H, W)
    maps = _maps()[:1]
    x = torch.randn(1, 2, T, H, W, dtype=torch.float64)
    y = make_physics(ones, maps).A(x)
    mag = torch.sqrt(x[:, 0] ** 2 + x[:, 1] ** 2)
    assert torch.allclose(rss(y)[:, 0], mag, atol=1e-10)
