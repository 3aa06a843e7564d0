r"""Reconstruction methods: a registry of functions ``method(y, physics, **options) -> x``.

Shapes: ``y (B, 2, T, H, W)`` or ``(B, 2, N, T, H, W)``; returns ``x (B, 2, T, H, W)``.

Every entry of :data:`METHODS` declares the data it needs (metadata ``needs``, see
:func:`requirement`); :func:`dynmri.recon.run.reconstruct_acquisition` checks the options it passes (an unknown
one raises, naming the valid ones: a compressed-sensing method's are :class:`CSConfig` fields).

Examples
--------
>>> import torch
>>> from dynmri.physics.cartesian import make_physics
>>> from dynmri.recon.methods import get_method, requirement
>>> mask = torch.ones(2, 8, 8); mask[:, :, 1::2] = 0
>>> physics = make_physics(mask)
>>> get_method("zero-filled")(physics.A(torch.randn(1, 2, 2, 8, 8)), physics).shape
torch.Size([1, 2, 2, 8, 8])
>>> requirement("zero-filled"), requirement("dcomp-adjoint")
('any', 'noncartesian')
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping

import numpy as np
import torch

from dynmri.errors import ParameterError
from dynmri.registry import Registry

METHODS = Registry("reconstruction method")
"""Reconstruction methods: name -> ``fn(y, physics, **options)``. Metadata ``needs``: ``any``
data, ``maps`` (single coil or multi-coil with coil maps), ``multicoil`` (calibrationless:
multi-coil Cartesian k-space, maps optional) or ``noncartesian``."""


def requirement(name: str) -> str:
    """What method ``name`` needs: ``any``, ``maps``, ``multicoil`` or ``noncartesian``."""
    return METHODS.meta(name).get("needs", "any")


class _Requirements(Mapping):
    """Read-only ``name -> requirement(name)`` over :data:`METHODS` (the former ``REQUIRES`` dict)."""

    def __getitem__(self, name: str) -> str:
        return requirement(name)

    def __iter__(self) -> Iterator[str]:
        return iter(METHODS)

    def __len__(self) -> int:
        return len(METHODS)


REQUIRES: Mapping[str, str] = _Requirements()
"""``REQUIRES[name] == requirement(name)``, a view of the ``needs`` metadata of :data:`METHODS`."""


def applicable(name: str, multicoil: bool, has_maps: bool, noncartesian: bool = False) -> bool:
    """Whether method ``name`` can reconstruct such data."""
    need = requirement(name)
    if need == "noncartesian":
        return noncartesian and (not multicoil or has_maps)
    if noncartesian and (need == "multicoil" or (multicoil and not has_maps)):
        return False
    return need == "any" or (need == "multicoil" and multicoil) or (need == "maps" and (not multicoil or has_maps))


def get_method(name: str) -> Callable:
    """The reconstruction function registered as ``name``."""
    return METHODS.get(name)


def check_options(name: str, options: dict) -> None:
    """Raise a :class:`ParameterError` for an option method ``name`` does not take (naming the
    valid ones) or of the wrong type; ``y`` and ``physics`` are not options."""
    METHODS.check(name, options, skip=2)


@METHODS.register("zero-filled", needs="any")
def zero_filled(y: torch.Tensor, physics, *, progress: bool = False, config=None, callback=None) -> torch.Tensor:
    r"""Zero-filled reconstruction :math:`x = A^H y` (coil-combined with the maps when multi-coil).

    Multi-coil k-space without coil maps (a coil-wise ``physics``) is combined by
    root-sum-of-squares. Non-Cartesian k-space gets the density-compensated adjoint (gridding),
    :func:`dcomp_adjoint`: the plain adjoint is not an estimate of the image. ``progress``,
    ``config`` and ``callback`` are accepted, and unused, as by every method (no iterations).
    """
    from dynmri.physics import CoilwiseMRI, NonCartesianMRI, rss

    if isinstance(physics, NonCartesianMRI):
        return dcomp_adjoint(y, physics)
    if isinstance(physics, CoilwiseMRI):
        return rss(y)
    return physics.A_adjoint(y)


@METHODS.register("dcomp-adjoint", needs="noncartesian")
def dcomp_adjoint(y: torch.Tensor, physics, density_method: str = "voronoi", *, progress: bool = False, config=None,
                  callback=None) -> torch.Tensor:
    r"""Density-compensated adjoint :math:`x = A^H D y` of non-Cartesian k-space ``(B, 2, [N,] T, M)``
    (``D``: Voronoi (default) or Pipe weights of each frame's trajectory, :func:`dynmri.physics.nufft.density`).
    ``progress``, ``config`` and ``callback`` are accepted, and unused (no iterations)."""
    from dynmri.physics.nufft import density

    physics.density_weights = density(physics.nufft.k, physics.img_size, density_method)
    return physics.A_dagger_dcomp(y)


def _slice_inputs(acq, s: int, device):
    """Tensors of slice ``s``: k-space ``(1, 2, [N,] T, H, W)`` (non-Cartesian ``(1, 2, [N,] T, M)``),
    mask ``(1, T, H, W)`` (None for non-Cartesian), coil maps ``(1, N, H, W)`` or None."""
    from dynmri._complex import np_to_channels

    mask = None if acq.mask is None else torch.from_numpy(acq.mask[s : s + 1].astype(np.float32)).to(device)
    maps = None if acq.coil_maps is None else torch.from_numpy(acq.coil_maps[s : s + 1]).to(device)
    return np_to_channels(acq.kspace[s : s + 1]).to(device), mask, maps


def acquisition_physics(acq, mask, maps, device, t0: int = 0, t1: int | None = None):
    """The operator of frames ``t0:t1`` of one slice, from :data:`dynmri.physics.PHYSICS`:
    ``noncartesian`` (trajectory; multi-coil needs maps), ``cartesian-coilwise`` (multi-coil
    without maps), ``cartesian-multicoil`` (maps) or ``cartesian`` (mask ``(1, T, H, W)``)."""
    from dynmri.physics import get_physics

    t1 = acq.frames if t1 is None else t1
    if acq.noncartesian:
        if acq.multicoil and maps is None:
            raise ParameterError("non-Cartesian multi-coil k-space needs coil maps")
        return get_physics("noncartesian", trajectory=torch.from_numpy(acq.trajectory[t0:t1]), img_size=acq.image_shape,
                           coil_maps=maps, device=device)
    mask = mask[:, t0:t1]
    if maps is not None:
        return get_physics("cartesian-multicoil", mask=mask, coil_maps=maps, device=device)
    return get_physics("cartesian-coilwise" if acq.multicoil else "cartesian", mask=mask, device=device)


def method_names() -> list[str]:
    """Every registered reconstruction method, the zero-filled baseline first."""
    return sorted(METHODS, key=lambda m: (m != "zero-filled", m))
