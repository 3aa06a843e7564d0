"""dynmri: dynamic MRI (2D+t) reconstruction from undersampled k-space.

Heavy dependencies (torch, deepinv, pydicom, matplotlib) are imported lazily by the
submodules that need them, so ``import dynmri`` stays fast.

Submodules
----------
data      loaders (DICOM, npz, CMRxRecon), the numerical phantom, complex simulation, datasets
sampling  time-varying Cartesian masks
physics   dynamic single- and multi-coil Cartesian forward operators
recon     reconstruction methods (registry)
metrics   PSNR / SSIM / NMSE on magnitude videos
viz       videos and figures
io        acquisition and reconstruction files (atomic writes)
"""

from __future__ import annotations

import importlib

__version__ = "0.1.0"

_SUBMODULES = {"data", "sampling", "physics", "recon", "metrics", "viz", "io", "errors", "config"}


def __getattr__(name: str):
    if name in _SUBMODULES:
        return importlib.import_module(f"dynmri.{name}")
    raise AttributeError(f"module 'dynmri' has no attribute {name!r}")


__all__ = sorted(_SUBMODULES | {"__version__"})
