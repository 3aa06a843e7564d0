r"""Dynamic Cartesian MRI forward operators (deepinv ``LinearPhysics``).

Shapes (``B`` batch, ``N`` coils, ``T`` frames, ``H x W`` image; real/imag at dim 1):

- image ``x``: ``(B, 2, T, H, W)``
- single-coil k-space ``y``: ``(B, 2, T, H, W)``
- multi-coil k-space ``y``: ``(B, 2, N, T, H, W)``
- mask: ``(B, T, H, W)`` or ``(T, H, W)`` in {0, 1}
- coil maps: ``(B, N, H, W)`` complex, normalised so that :math:`\sum_n |S_n|^2 = 1`

.. math::

    y_t = M_t F x_t \quad\text{(single coil)}, \qquad
    y_{n,t} = M_t F (S_n \odot x_t) \quad\text{(multi-coil)},

with :math:`F` the centred orthonormal 2D FFT (``norm="ortho"``, ``ifftshift`` before and
``fftshift`` after), so :math:`A^H A = M` for one coil and a full mask gives :math:`A^H A = I`.

Examples
--------
>>> import torch
>>> from dynmri.physics.cartesian import make_physics
>>> mask = torch.ones(4, 8, 8); mask[:, :, ::2] = 0
>>> physics = make_physics(mask)
>>> physics.A(torch.randn(1, 2, 4, 8, 8)).shape
torch.Size([1, 2, 4, 8, 8])
"""

from __future__ import annotations

import warnings

import torch

from dynmri.errors import ShapeError


def _as_physics_mask(mask: torch.Tensor) -> torch.Tensor:
    """``(T, H, W)`` or ``(B, T, H, W)`` -> ``(B, 1, T, H, W)`` (deepinv duplicates to 2 channels)."""
    if mask.ndim == 3:
        mask = mask[None]
    if mask.ndim != 4:
        raise ShapeError(f"mask must be (T, H, W) or (B, T, H, W), got shape {tuple(mask.shape)}")
    return mask[:, None].float()


def _multicoil_class():
    from deepinv.physics import MultiCoilMRI
    from deepinv.utils.mixins import MRIMixin

    class DynamicMultiCoilMRI(MultiCoilMRI):
        r"""Multi-coil dynamic Cartesian MRI: :math:`y_{n,t} = M_t F (S_n x_t)`.

        deepinv's ``MultiCoilMRI`` handles ``(B, 2, T, H, W)`` videos once the coil maps carry
        a singleton time axis ``(B, N, 1, H, W)`` and the mask is ``(B, 2, T, H, W)``; this
        class does those reshapes and silences the spurious img_size warning they cause.
        """

        @staticmethod
        def check_mask(mask=None, three_d=False):
            if mask is None:
                return None
            while mask.ndim < 5:
                mask = mask.unsqueeze(0)
            return MRIMixin.check_mask(mask, three_d=True)

        @staticmethod
        def check_coil_maps(coil_maps, three_d=False):
            while coil_maps.ndim < 4:
                coil_maps = coil_maps.unsqueeze(0)
            if coil_maps.ndim == 4:
                coil_maps = coil_maps.unsqueeze(2)
            if not coil_maps.is_complex():
                raise ShapeError("coil_maps must be a complex tensor (B, N, H, W)")
            return coil_maps

        def update_parameters(self, *args, **kwargs):
            with warnings.catch_warnings():
                warnings.filterwarnings("ignore", message="After updating parameters, img_size")
                super().update_parameters(*args, **kwargs)

    return DynamicMultiCoilMRI


def dynamic_mri(mask: torch.Tensor, device=None):
    """Single-coil dynamic MRI (deepinv ``DynamicMRI``) with ``mask (B, T, H, W)``."""
    from deepinv.physics import DynamicMRI

    return DynamicMRI(mask=_as_physics_mask(mask).to(device or mask.device), device=device or mask.device)


def dynamic_multicoil_mri(mask: torch.Tensor, coil_maps: torch.Tensor, device=None):
    """Multi-coil dynamic MRI with ``mask (B, T, H, W)`` and complex ``coil_maps (B, N, H, W)``."""
    if coil_maps.ndim == 3:
        coil_maps = coil_maps[None]
    if coil_maps.ndim != 4 or coil_maps.shape[-2:] != mask.shape[-2:]:
        raise ShapeError(f"coil_maps must be (B, N, H, W) with H, W = {tuple(mask.shape[-2:])}, got {tuple(coil_maps.shape)}")
    device = device or mask.device
    cls = _multicoil_class()
    return cls(mask=_as_physics_mask(mask).to(device), coil_maps=coil_maps.to(device), img_size=(2, *mask.shape[-3:]), device=device)


def coilwise_mri(mask: torch.Tensor, device=None):
    r"""Coil-by-coil Cartesian MRI without coil maps: :math:`y_{n,t} = M_t F x_{n,t}`.

    Images and k-space are both ``(B, 2, N, T, H, W)``; used by calibrationless methods, which
    reconstruct every coil image. The operator has ``coilwise = True``.
    """
    from deepinv.physics import LinearPhysics
    from deepinv.utils.mixins import MRIMixin

    m = _as_physics_mask(mask)[:, :, None].to(device or mask.device)  # (B, 1, 1, T, H, W)

    def A(x, **_):
        if x.ndim != 6:
            raise ShapeError(f"coil images must be (B, 2, N, T, H, W), got shape {tuple(x.shape)}")
        return m * MRIMixin.from_torch_complex(MRIMixin.fft(torch.complex(x[:, 0], x[:, 1])))

    def A_adjoint(y, **_):
        return MRIMixin.from_torch_complex(MRIMixin.ifft(torch.complex((m * y)[:, 0], (m * y)[:, 1])))

    physics = LinearPhysics(A=A, A_adjoint=A_adjoint)
    physics.coilwise = True
    physics.register_buffer("mask", m[:, :, 0].expand(-1, 2, -1, -1, -1))
    return physics


def noncartesian_mri(trajectory, img_size, coil_maps=None, device=None):
    """Non-Cartesian dynamic MRI (one NUFFT per frame): see :func:`dynmri.physics.nufft.NonCartesianMRI`."""
    from dynmri.physics.nufft import NonCartesianMRI

    return NonCartesianMRI(trajectory, img_size, coil_maps, device=device)


PHYSICS = {
    "cartesian": dynamic_mri,
    "cartesian-multicoil": dynamic_multicoil_mri,
    "cartesian-coilwise": coilwise_mri,
    "noncartesian": noncartesian_mri,
}
"""Registry of operators; every entry is enrolled in the shared adjointness tests."""


def make_physics(mask: torch.Tensor, coil_maps: torch.Tensor | None = None, device=None):
    """The operator for a mask ``(B, T, H, W)``; multi-coil when ``coil_maps (B, N, H, W)`` is given."""
    if coil_maps is None:
        return PHYSICS["cartesian"](mask, device=device)
    return PHYSICS["cartesian-multicoil"](mask, coil_maps, device=device)


def rss(y: torch.Tensor) -> torch.Tensor:
    r"""Root-sum-of-squares coil combination of multi-coil k-space ``(B, 2, N, T, H, W)``.

    Returns the real image ``(B, 2, T, H, W)`` (zero imaginary part):
    :math:`\sqrt{\sum_n |F^{-1} y_n|^2}`.
    """
    from deepinv.utils.mixins import MRIMixin

    if y.ndim != 6 or y.shape[1] != 2:
        raise ShapeError(f"multi-coil k-space must be (B, 2, N, T, H, W), got shape {tuple(y.shape)}")
    img = MRIMixin.ifft(torch.complex(y[:, 0], y[:, 1]))
    mag = img.abs().pow(2).sum(dim=1).sqrt()
    return torch.stack((mag, torch.zeros_like(mag)), dim=1)
