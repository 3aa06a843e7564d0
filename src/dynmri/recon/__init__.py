"""Reconstruction: the method registry (:mod:`.methods`), compressed sensing (:mod:`.cs`), the
operator of an acquisition, and running a trained network on any acquisition.

Importing this package registers every method (zero-filled, density-compensated adjoint and
the compressed-sensing methods)."""

from dynmri.recon import cs as _cs  # noqa: F401  (registers the compressed-sensing methods)
from dynmri.recon.methods import (
    METHODS,
    REQUIRES,
    acquisition_physics,
    applicable,
    dcomp_adjoint,
    get_method,
    method_names,
    reconstruct_acquisition,
    requirement,
    zero_filled,
)
from dynmri.recon.network import reconstruct_with_model, sliding_window

__all__ = ["METHODS", "REQUIRES", "acquisition_physics", "applicable", "dcomp_adjoint", "get_method", "method_names",
           "reconstruct_acquisition", "reconstruct_with_model", "requirement", "sliding_window", "zero_filled"]
