r"""Dynamic Cartesian MRI forward operators (deepinv ``LinearPhysics``), one top-level class each:
:class:`DynamicSingleCoilMRI` (a deepinv ``DynamicMRI``), :class:`DynamicMultiCoilMRI` (a
deepinv ``MultiCoilMRI``) and :class:`CoilwiseMRI` (coil images, no maps), built from dynmri's
shapes by :func:`dynamic_mri`, :func:`dynamic_multicoil_mri`, :func:`coilwise_mri` and
:func:`make_physics`, and registered in :data:`~dynmri.physics.base.PHYSICS`.

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
from deepinv.physics import DynamicMRI, LinearPhysics, MultiCoilMRI
from deepinv.utils.mixins import MRIMixin

from dynmri.errors import ShapeError
from dynmri.physics.base import PHYSICS, MRIOperator, shifted_mask_square

__all__ = ["CoilwiseMRI", "DynamicMultiCoilMRI", "DynamicSingleCoilMRI", "NonCartesianMRI", "PHYSICS", "coilwise_mri",
           "dynamic_mri", "dynamic_multicoil_mri", "make_physics", "noncartesian_mri", "rss"]


def _as_physics_mask(mask: torch.Tensor) -> torch.Tensor:
    """``(T, H, W)`` or ``(B, T, H, W)`` -> ``(B, 1, T, H, W)`` (deepinv duplicates to 2 channels)."""
    if mask.ndim == 3:
        mask = mask[None]
    if mask.ndim != 4:
        raise ShapeError(f"mask must be (T, H, W) or (B, T, H, W), got shape {tuple(mask.shape)}")
    return mask[:, None].float()


class DynamicSingleCoilMRI(MRIOperator, DynamicMRI):
    r"""Single-coil dynamic Cartesian MRI :math:`y_t = M_t F x_t` (deepinv ``DynamicMRI``).

    Constructed like deepinv's ``DynamicMRI`` (mask ``(B, C, T, H, W)``); :func:`dynamic_mri`
    takes dynmri's ``(B, T, H, W)`` mask. :math:`A^H A = F_c^H M^2 F_c` is diagonal in the
    Fourier domain (:meth:`fourier_normal_mask`).
    """

    def fourier_normal_mask(self) -> torch.Tensor | None:
        """``ifftshift(M^2)`` ``(B, T, H, W)``, or None for odd H or W."""
        return shifted_mask_square(self.mask[:, 0])


class DynamicMultiCoilMRI(MRIOperator, MultiCoilMRI):
    r"""Multi-coil dynamic Cartesian MRI: :math:`y_{n,t} = M_t F (S_n x_t)`.

    deepinv's ``MultiCoilMRI`` handles ``(B, 2, T, H, W)`` videos once the coil maps carry
    a singleton time axis ``(B, N, 1, H, W)`` and the mask is ``(B, 2, T, H, W)``; this
    class does those reshapes and silences the spurious img_size warning they cause.
    Constructed like ``MultiCoilMRI``; :func:`dynamic_multicoil_mri` takes dynmri's shapes.
    """

    multicoil = True

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


class CoilwiseMRI(MRIOperator, MRIMixin, LinearPhysics):
    r"""Coil-by-coil Cartesian MRI without coil maps: :math:`y_{n,t} = M_t F x_{n,t}`.

    Images and k-space are both ``(B, 2, N, T, H, W)``; used by calibrationless methods, which
    reconstruct every coil image.

    Parameters
    ----------
    mask : torch.Tensor
        ``(T, H, W)`` or ``(B, T, H, W)`` in {0, 1}; kept as the buffer ``mask`` ``(B, 2, T, H, W)``.
    device : torch.device or str, optional
        Default: the mask's device.
    """

    multicoil = True
    coilwise = True

    def __init__(self, mask: torch.Tensor, device=None):
        device = device or mask.device
        super().__init__(device=device)
        m = _as_physics_mask(mask).to(device)  # (B, 1, T, H, W)
        self.register_buffer("mask", m.expand(-1, 2, -1, -1, -1))

    def _m(self) -> torch.Tensor:
        return self.mask[:, :1, None]  # (B, 1, 1, T, H, W)

    def A(self, x, **_):
        if x.ndim != 6:
            raise ShapeError(f"coil images must be (B, 2, N, T, H, W), got shape {tuple(x.shape)}")
        return self._m() * self.from_torch_complex(self.fft(torch.complex(x[:, 0], x[:, 1])))

    def A_adjoint(self, y, **_):
        my = self._m() * y
        return self.from_torch_complex(self.ifft(torch.complex(my[:, 0], my[:, 1])))

    def fourier_normal_mask(self) -> torch.Tensor | None:
        """``ifftshift(M^2)`` ``(B, 1, T, H, W)`` (the same for every coil), or None for odd H or W."""
        m = shifted_mask_square(self.mask[:, 0])
        return None if m is None else m[:, None]


@PHYSICS.register("cartesian", operator=DynamicSingleCoilMRI)
def dynamic_mri(mask: torch.Tensor, device=None) -> DynamicSingleCoilMRI:
    """Single-coil dynamic MRI (:class:`DynamicSingleCoilMRI`) with ``mask (B, T, H, W)``."""
    return DynamicSingleCoilMRI(mask=_as_physics_mask(mask).to(device or mask.device), device=device or mask.device)


@PHYSICS.register("cartesian-multicoil", operator=DynamicMultiCoilMRI)
def dynamic_multicoil_mri(mask: torch.Tensor, coil_maps: torch.Tensor, device=None) -> DynamicMultiCoilMRI:
    """Multi-coil dynamic MRI with ``mask (B, T, H, W)`` and complex ``coil_maps (B, N, H, W)``."""
    if coil_maps.ndim == 3:
        coil_maps = coil_maps[None]
    if coil_maps.ndim != 4 or coil_maps.shape[-2:] != mask.shape[-2:]:
        raise ShapeError(f"coil_maps must be (B, N, H, W) with H, W = {tuple(mask.shape[-2:])}, got {tuple(coil_maps.shape)}")
    device = device or mask.device
    return DynamicMultiCoilMRI(mask=_as_physics_mask(mask).to(device), coil_maps=coil_maps.to(device),
                               img_size=(2, *mask.shape[-3:]), device=device)


@PHYSICS.register("cartesian-coilwise", operator=CoilwiseMRI)
def coilwise_mri(mask: torch.Tensor, device=None) -> CoilwiseMRI:
    r"""Coil-by-coil Cartesian MRI without coil maps (:class:`CoilwiseMRI`): images and k-space
    ``(B, 2, N, T, H, W)``."""
    return CoilwiseMRI(mask, device=device)


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
    if y.ndim != 6 or y.shape[1] != 2:
        raise ShapeError(f"multi-coil k-space must be (B, 2, N, T, H, W), got shape {tuple(y.shape)}")
    img = MRIMixin.ifft(torch.complex(y[:, 0], y[:, 1]))
    mag = img.abs().pow(2).sum(dim=1).sqrt()
    return torch.stack((mag, torch.zeros_like(mag)), dim=1)


# the non-Cartesian operator, registered in dynmri.physics.nufft (after the Cartesian entries)
from dynmri.physics.nufft import NonCartesianMRI, noncartesian_mri  # noqa: E402
