"""Deprecated: moved to :mod:`dynmri.data.files`."""

from dynmri._compat import forward

__getattr__ = forward(__name__)
