"""Deprecated: moved to :mod:`dynmri.optim.wavelets`."""

from dynmri._compat import forward

__getattr__ = forward(__name__)
