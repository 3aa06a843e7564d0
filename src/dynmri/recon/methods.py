r"""Reconstruction methods: a registry of functions ``method(y, physics) -> x``.

Shapes: ``y (B, 2, T, H, W)`` or ``(B, 2, N, T, H, W)``; returns ``x (B, 2, T, H, W)``.

Examples
--------
>>> import torch
>>> from dynmri.physics.cartesian import make_physics
>>> from dynmri.recon.methods import get_method
>>> mask = torch.ones(2, 8, 8); mask[:, :, 1::2] = 0
>>> physics = make_physics(mask)
>>> get_method("zero-filled")(physics.A(torch.randn(1, 2, 2, 8, 8)), physics).shape
torch.Size([1, 2, 2, 8, 8])
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch

from dynmri.errors import ParameterError

METHODS: dict[str, Callable] = {}
REQUIRES: dict[str, str] = {}
"""What each method needs: ``any`` data, ``maps`` (single coil or multi-coil with coil maps),
``multicoil`` (calibrationless: multi-coil Cartesian k-space, maps optional) or ``noncartesian``."""


def register(name: str, requires: str = "any"):
    def wrap(fn):
        METHODS[name] = fn
        REQUIRES[name] = requires
        return fn

    return wrap


def applicable(name: str, multicoil: bool, has_maps: bool, noncartesian: bool = False) -> bool:
    """Whether method ``name`` can reconstruct such data."""
    need = REQUIRES[name]
    if need == "noncartesian":
        return noncartesian and (not multicoil or has_maps)
    if noncartesian and (need == "multicoil" or (multicoil and not has_maps)):
        return False
    return need == "any" or (need == "multicoil" and multicoil) or (need == "maps" and (not multicoil or has_maps))


def get_method(name: str) -> Callable:
    """The reconstruction function registered as ``name``."""
    if name not in METHODS:
        raise ParameterError(f"unknown reconstruction method {name!r}; available: {', '.join(sorted(METHODS))}")
    return METHODS[name]


@register("zero-filled")
def zero_filled(y: torch.Tensor, physics, **_) -> torch.Tensor:
    r"""Zero-filled reconstruction :math:`x = A^H y` (coil-combined with the maps when multi-coil).

    Multi-coil k-space without coil maps (a coil-wise ``physics``) is combined by
    root-sum-of-squares. Non-Cartesian k-space gets the density-compensated adjoint (gridding),
    :func:`dcomp_adjoint`: the plain adjoint is not an estimate of the image.
    """
    if hasattr(physics, "nufft"):
        return dcomp_adjoint(y, physics)
    if getattr(physics, "coilwise", False):
        from dynmri.physics.cartesian import rss

        return rss(y)
    return physics.A_adjoint(y)


@register("dcomp-adjoint", requires="noncartesian")
def dcomp_adjoint(y: torch.Tensor, physics, density_method: str = "voronoi", **_) -> torch.Tensor:
    r"""Density-compensated adjoint :math:`x = A^H D y` of non-Cartesian k-space ``(B, 2, [N,] T, M)``
    (``D``: Voronoi (default) or Pipe weights of each frame's trajectory, :func:`dynmri.physics.nufft.density`)."""
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
    """The operator of frames ``t0:t1`` of one slice: Cartesian (mask), coil-wise (multi-coil
    without maps), or non-Cartesian NUFFT (trajectory)."""
    from dynmri.physics.cartesian import coilwise_mri, make_physics

    t1 = acq.frames if t1 is None else t1
    if acq.noncartesian:
        from dynmri.physics.nufft import NonCartesianMRI

        if acq.multicoil and maps is None:
            raise ParameterError("non-Cartesian multi-coil k-space needs coil maps")
        return NonCartesianMRI(torch.from_numpy(acq.trajectory[t0:t1]), acq.image_shape, maps, device=device)
    if acq.multicoil and maps is None:
        return coilwise_mri(mask[:, t0:t1], device=device)
    return make_physics(mask[:, t0:t1], maps, device=device)


def method_names() -> list[str]:
    """Every registered reconstruction method, the zero-filled baseline first."""
    return sorted(METHODS, key=lambda m: (m != "zero-filled", m))


def reconstruct_acquisition(acq, method: str = "zero-filled", *, device: str = "cpu", progress: bool = False, **options) -> np.ndarray:
    """Reconstruct every sample of an :class:`~dynmri.data.files.Acquisition`; returns complex ``(S, T, H, W)``.

    ``options`` go to the method (e.g. ``config=CSConfig(...)`` for compressed sensing).
    Multi-coil k-space without coil maps gets the coil-wise operator (calibrationless).
    A thin call of :func:`dynmri.recon.run.run_method` (which also returns time and cost history).
    """
    from dynmri.recon.run import run_method

    config = options.pop("config", None)
    return run_method(acq, method, config, device=device, progress=progress, check=False, **options)[0]
