"""Deprecated: moved to :mod:`dynmri.sampling.trajectories`."""

from dynmri._compat import forward

__getattr__ = forward(__name__)
