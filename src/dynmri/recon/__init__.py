"""Reconstruction: the method registry (:mod:`.methods`), compressed sensing (:mod:`.cs`), the
operator of an acquisition, and running a trained network on any acquisition.

Importing this package registers every method (zero-filled, density-compensated adjoint and
the compressed-sensing methods). :func:`~dynmri.recon.run.run_method` is the public run layer:
any method or trained network on a whole acquisition, timed, with progress bars and cost history."""

from dynmri.recon import cs as _cs  # noqa: F401  (registers the compressed-sensing methods)
from dynmri.recon.methods import (
    METHODS,
    REQUIRES,
    acquisition_physics,
    applicable,
    dcomp_adjoint,
    get_method,
    method_names,
    requirement,
    zero_filled,
)
from dynmri.recon.network import sliding_window
from dynmri.recon.run import (
    RunStats,
    network_method,
    reconstruct_acquisition,
    reconstruct_with_model,
    run_method,
)

__all__ = ["METHODS", "REQUIRES", "acquisition_physics", "applicable", "dcomp_adjoint", "get_method", "method_names",
           "reconstruct_acquisition", "reconstruct_with_model", "requirement", "run_method", "RunStats", "network_method",
           "sliding_window", "zero_filled"]
