r"""Forward operators of dynamic MRI (deepinv ``LinearPhysics``), one top-level class each.

=======================  ==============================================  ==========================
registry name            operator                                        module
=======================  ==============================================  ==========================
``cartesian``            :math:`y_t = M_t F x_t`                         :mod:`.cartesian`
``cartesian-multicoil``  :math:`y_{n,t} = M_t F (S_n x_t)`               :mod:`.cartesian`
``cartesian-coilwise``   :math:`y_{n,t} = M_t F x_{n,t}` (no maps)       :mod:`.cartesian`
``noncartesian``         one NUFFT per frame, single/multi-coil          :mod:`.nufft`
=======================  ==============================================  ==========================

Shapes: ``docs/conventions.md``. Every entry of :data:`PHYSICS` is enrolled in the shared
adjointness, gradient, dtype and device tests (``tests/test_operators.py``).
"""

from dynmri.physics.cartesian import (
    PHYSICS,
    coilwise_mri,
    dynamic_mri,
    dynamic_multicoil_mri,
    make_physics,
    noncartesian_mri,
    rss,
)

__all__ = ["PHYSICS", "coilwise_mri", "dynamic_mri", "dynamic_multicoil_mri", "make_physics", "noncartesian_mri", "rss"]
