r"""What every dynmri operator declares, and the registry of operators.

:class:`MRIOperator` is a mixin of the operator classes (deepinv ``LinearPhysics`` subclasses);
code that must treat operators differently dispatches on its class-level capabilities or on
``isinstance``, never by probing attributes:

==================  ============================================================================
capability          meaning
==================  ============================================================================
``multicoil``       k-space has a coil axis: ``(B, 2, N, T, ...)``
``coilwise``        the images have a coil axis too (one image per coil, no coil maps)
``noncartesian``    k-space samples lie off the grid (NUFFT): ``(B, 2, [N,] T, M)``
==================  ============================================================================

:meth:`MRIOperator.fourier_normal_mask` gives the diagonal of the normal operator in the
uncentred Fourier domain when there is one (the fast path of compressed sensing).

:data:`PHYSICS` maps names to the thin constructors of :mod:`.cartesian` and :mod:`.nufft`
(each entry registered next to its class; ``meta["operator"]`` is that class).
"""

from __future__ import annotations

import torch

from dynmri.registry import Registry

PHYSICS = Registry("physics")
"""Operators by name: ``cartesian``, ``cartesian-multicoil``, ``cartesian-coilwise``,
``noncartesian``; every entry is enrolled in the shared operator tests (``tests/test_operators.py``)."""


def get_physics(name: str, **kwargs):
    """Build the operator registered as ``name`` with ``kwargs`` (unknown names and options raise
    :class:`~dynmri.errors.ParameterError` naming the valid ones)."""
    return PHYSICS.build(name, **kwargs)


class MRIOperator:
    """Mixin of every dynmri operator: declared capabilities (class attributes, see the module
    docstring) and the Fourier-diagonal normal operator, if any."""

    multicoil: bool = False
    coilwise: bool = False
    noncartesian: bool = False

    def fourier_normal_mask(self) -> torch.Tensor | None:
        r"""The diagonal :math:`D` of :math:`A^H A = F^{-1} D F` (:math:`F` the *uncentred* 2D FFT),
        shaped to broadcast with the complex image ``(B, [N,] T, H, W)``, or None when the
        normal operator is not diagonal in that basis (coil maps, NUFFT, odd sizes)."""
        return None


def shifted_mask_square(mask: torch.Tensor) -> torch.Tensor | None:
    r"""``ifftshift(M^2)`` over the last two axes of a Cartesian mask ``(..., H, W)``, or None
    when H or W is odd. With even sides the centring shifts of :math:`F_c` cancel in the normal
    operator (shift theorem): :math:`F_c^H M^2 F_c = F^{-1}\,\mathrm{ifftshift}(M^2)\,F`."""
    H, W = mask.shape[-2:]
    if H % 2 or W % 2:
        return None
    return torch.fft.ifftshift(mask * mask, dim=(-2, -1))


def normal_operator(physics, eps: float = 0.0):
    r"""The callable :math:`x \mapsto A^H A x + \epsilon x` of the normal equations (CG-SENSE,
    Tikhonov with ``eps``) of any operator, e.g. for :func:`dynmri.optim.solvers.conjugate_gradient`.
    Non-Cartesian operators use their Toeplitz ``A_adjoint_A`` (two FFTs, not two NUFFTs)."""
    normal = physics.A_adjoint_A if getattr(type(physics), "noncartesian", False) else lambda x: physics.A_adjoint(physics.A(x))
    if eps:
        return lambda x: normal(x) + eps * x
    return normal
