r"""Forward operators of dynamic MRI (deepinv ``LinearPhysics``), one top-level class each.

=======================  ==========================================  ==========================  ==================
registry name            operator                                    class                       module
=======================  ==========================================  ==========================  ==================
``cartesian``            :math:`y_t = M_t F x_t`                     ``DynamicSingleCoilMRI``    :mod:`.cartesian`
``cartesian-multicoil``  :math:`y_{n,t} = M_t F (S_n x_t)`           ``DynamicMultiCoilMRI``     :mod:`.cartesian`
``cartesian-coilwise``   :math:`y_{n,t} = M_t F x_{n,t}` (no maps)   ``CoilwiseMRI``             :mod:`.cartesian`
``noncartesian``         one NUFFT per frame, single/multi-coil      ``NonCartesianMRI``         :mod:`.nufft`
=======================  ==========================================  ==========================  ==================

Build one by name with :func:`get_physics` (``get_physics("cartesian", mask=mask)``) or with
the constructor functions. Every class subclasses deepinv's ``LinearPhysics`` and the
:class:`~dynmri.physics.base.MRIOperator` mixin, which declares the capabilities code dispatches
on (``multicoil``, ``coilwise``, ``noncartesian``, :meth:`~.MRIOperator.fourier_normal_mask`).

Shapes: ``docs/conventions.md``. Every entry of :data:`PHYSICS` is enrolled in the shared
adjointness, gradient, dtype and device tests (``tests/test_operators.py``).
"""

from dynmri.physics.base import PHYSICS, MRIOperator, get_physics
from dynmri.physics.cartesian import (
    CoilwiseMRI,
    DynamicMultiCoilMRI,
    DynamicSingleCoilMRI,
    coilwise_mri,
    dynamic_mri,
    dynamic_multicoil_mri,
    make_physics,
    rss,
)
from dynmri.physics.nufft import NonCartesianMRI, noncartesian_mri

__all__ = ["PHYSICS", "CoilwiseMRI", "DynamicMultiCoilMRI", "DynamicSingleCoilMRI", "MRIOperator", "NonCartesianMRI",
           "coilwise_mri", "dynamic_mri", "dynamic_multicoil_mri", "get_physics", "make_physics", "noncartesian_mri", "rss"]
