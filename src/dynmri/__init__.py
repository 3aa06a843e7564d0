"""dynmri: dynamic MRI (2D+t) reconstruction from undersampled k-space.

Heavy dependencies (torch, deepinv, pydicom, matplotlib) are imported lazily by the
subpackages that need them, so ``import dynmri`` stays fast; the parts of torchvision and deepinv
that dynmri never uses load only when something uses them (:func:`dynmri._compat.defer_imports`). One package per concern, from the
bottom layer up (``docs/architecture.md``):

Subpackages
-----------
errors, config, registry, fileio   core: errors, typed configs, the registry helper, atomic files
optim      solvers, proximal operators, wavelets, regulariser operators
sampling   time-varying Cartesian masks, non-Cartesian trajectories
physics    dynamic single/multi-coil Cartesian and non-Cartesian operators
data       sources (DICOM, npz, CMRxRecon, phantom), acquisition simulation, files, datasets
models     networks and their weights
recon      reconstruction methods (registry), compressed sensing, running networks, run layer
eval       metrics, figures, reports, the benchmark engine
learn      losses, transforms, training, trajectory learning
cli        the ``dynmri`` command
"""

from __future__ import annotations

import importlib

from dynmri._compat import defer_imports

__version__ = "0.1.0"

_SUBMODULES = {"errors", "config", "registry", "fileio", "safeload", "optim", "sampling", "physics", "data", "models", "recon", "eval", "learn"}


def __getattr__(name: str):
    if name in _SUBMODULES:
        return importlib.import_module(f"dynmri.{name}")
    raise AttributeError(f"module 'dynmri' has no attribute {name!r}")


defer_imports()  # torchvision's models/ops and deepinv's datasets load when used (dynmri._compat)

__all__ = sorted(_SUBMODULES | {"__version__"})
