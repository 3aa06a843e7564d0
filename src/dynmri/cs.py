"""Deprecated: moved to :mod:`dynmri.recon.cs`."""

from dynmri._compat import forward

__getattr__ = forward(__name__)
