"""Deprecated: moved to :mod:`dynmri.learn.trajectory`."""

from dynmri._compat import forward

__getattr__ = forward(__name__)
