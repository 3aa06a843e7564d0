"""Old import paths (before the one-package-per-concern layout) kept for one release.

``dynmri.cs`` and the like are thin modules that warn once and forward every attribute to the
new module; :data:`MOVED` is the map (``docs/architecture.md``).
"""

from __future__ import annotations

import importlib
import warnings

MOVED = {
    "dynmri.nufft": "dynmri.physics.nufft",
    "dynmri.trajectories": "dynmri.sampling.trajectories",
    "dynmri.solvers": "dynmri.optim.solvers",
    "dynmri.prox": "dynmri.optim.prox",
    "dynmri.wavelets": "dynmri.optim.wavelets",
    "dynmri.cs": "dynmri.recon.cs",
    "dynmri.losses": "dynmri.learn.losses",
    "dynmri.transforms": "dynmri.learn.transforms",
    "dynmri.train": "dynmri.learn.train",
    "dynmri.learn_trajectory": "dynmri.learn.trajectory",
    "dynmri.acquire": "dynmri.data.acquire",
    "dynmri.metrics": "dynmri.eval.metrics",
    "dynmri.viz": "dynmri.eval.figures",
    "dynmri.io": "dynmri.data.files",
}


def forward(old: str):
    """A module ``__getattr__`` for the deprecated module ``old``: warn, then forward."""
    new = MOVED[old]
    warnings.warn(f"{old} is deprecated; import {new} instead (removed in dynmri 0.3)", DeprecationWarning, stacklevel=3)

    def __getattr__(name: str):
        return getattr(importlib.import_module(new), name)

    return __getattr__
