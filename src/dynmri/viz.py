"""Deprecated: moved to :mod:`dynmri.eval.figures`."""

from dynmri._compat import forward

__getattr__ = forward(__name__)
