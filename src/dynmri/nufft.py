"""Deprecated: moved to :mod:`dynmri.physics.nufft`."""

from dynmri._compat import forward

__getattr__ = forward(__name__)
