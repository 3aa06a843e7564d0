"""Compatibility in one place: old import paths kept for one release, and the deferred imports
of third-party subpackages that dynmri does not use.

``dynmri.cs`` and the like are thin modules that warn once and forward every attribute to the
new module; :data:`MOVED` is the map (``docs/architecture.md``).

:func:`defer_imports` (called by ``import dynmri``, which imports nothing more for it) makes
the subpackages of :data:`DEFERRED` load when first used instead of when their package is imported: ``import deepinv`` drops from
about 1.5 s to 0.3 s (torch already imported), because torchvision no longer imports its models
and operators (and through them ``torch._dynamo``) and deepinv no longer imports its datasets
(h5py). Everything still works: the first use of ``torchvision.models`` or ``deepinv.datasets``
runs its code (tests/test_startup.py).
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.machinery
import importlib.util
import sys
import threading
import types
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


# --------------------------------------------------------------------------- deferred imports
DEFERRED = {"torchvision": ("models", "ops", "datasets", "io"), "deepinv": ("datasets",)}
"""Subpackages whose code runs at their first use instead of when their package is imported.

``import deepinv`` imports torchvision, whose ``__init__`` imports all of its subpackages:
``torchvision.models`` and ``torchvision.ops`` cost about 1 s (``ops.roi_align`` imports
``torch._dynamo``); and deepinv's ``__init__`` imports ``deepinv.datasets`` (h5py, requests'
friends). dynmri's paths use none of them (deepinv's MRI physics needs ``torchvision.transforms``,
which stays as it is). Only subpackages that their parent merely binds (``from pkg import sub``)
gain anything: one whose names the parent imports (``from .sub import f``) loads at once."""


class _Deferred(types.ModuleType):
    """A module created from its spec whose code runs at the first lookup of an attribute it does
    not have yet (``__file__``, ``__path__``, ``__spec__`` are there from the start, so
    ``inspect.getmodule`` and submodule imports do not load it)."""

    def __getattr__(self, name: str):
        _load(self)
        return getattr(self, name)

    def __dir__(self):
        _load(self)
        return dir(self)


def _load(module: types.ModuleType) -> None:
    """Run a :class:`_Deferred` module's code once (thread-safe); a failure is a failed import."""
    with _LOCK:
        if type(module) is not _Deferred:
            return  # loaded meanwhile by another thread
        module.__class__ = types.ModuleType  # first: the module's own code sees a plain module
        try:
            module.__spec__.loader.exec_module(module)
        except BaseException:
            sys.modules.pop(module.__name__, None)  # the next import retries, as after any failed import
            raise


_LOCK = threading.RLock()


def defer_imports(deferred: dict[str, tuple[str, ...]] | None = None) -> None:
    """Defer the subpackages of :data:`DEFERRED` (default) or ``deferred``: when a package is about
    to be imported for the first time, a :class:`_Deferred` module is put in ``sys.modules`` for
    each of its subpackages (:func:`_install`). Packages already imported are left alone.

    Nothing is imported or created now: a finder at the head of ``sys.meta_path`` waits for the
    packages' first import and then removes itself. The package's own ``from pkg import sub``
    then binds the deferred module, whose code runs when something first uses it
    (``torchvision.models.resnet18``); ``import torchvision.ops.boxes`` runs that submodule only.
    """
    pending = {k: v for k, v in (DEFERRED if deferred is None else deferred).items() if k not in sys.modules}
    if pending and not any(isinstance(f, _DeferOnImport) for f in sys.meta_path):
        sys.meta_path.insert(0, _DeferOnImport(pending))


class _DeferOnImport:
    """A ``sys.meta_path`` finder that finds nothing: it installs the deferred subpackages of a
    package at the package's first import (:func:`defer_imports`)."""

    def __init__(self, pending: dict[str, tuple[str, ...]]):
        self.pending = pending

    def find_spec(self, name, path=None, target=None):
        subs = self.pending.pop(name, None)
        if subs is not None:
            if not self.pending:
                with contextlib.suppress(ValueError):
                    sys.meta_path.remove(self)
            _install(name, subs)
        return None  # the usual finders import the package itself


def _install(package: str, subs: tuple[str, ...]) -> list[str]:
    """Put a :class:`_Deferred` module in ``sys.modules`` for each subpackage ``package.sub``
    found on disk and not imported yet; returns their names."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        return []
    done = []
    for sub in subs:
        name = f"{package}.{sub}"
        found = importlib.machinery.PathFinder.find_spec(name, list(spec.submodule_search_locations))
        if name in sys.modules or found is None or not hasattr(found.loader, "exec_module"):
            continue
        module = importlib.util.module_from_spec(found)
        module.__class__ = _Deferred
        sys.modules[name] = module
        done.append(name)
    return done
