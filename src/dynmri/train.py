"""Deprecated: moved to :mod:`dynmri.learn.train`."""

from dynmri._compat import forward

__getattr__ = forward(__name__)
