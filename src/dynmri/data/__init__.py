"""Data in: DICOM cine, ``.npz``, CMRxRecon ``.mat``, the numerical phantom, simulation,
and windowed torch datasets. Submodules import their heavy dependencies lazily."""

from __future__ import annotations

import importlib

_EXPORTS = {
    "load_dicom_cine": "dicom",
    "load_npz_cine": "npz",
    "load_cmrxrecon": "cmrxrecon",
    "cardiac_phantom": "phantom",
    "phantom_videos": "phantom",
    "add_smooth_phase": "simulate",
    "add_noise": "simulate",
    "birdcage_maps": "simulate",
    "simulate_acquisition": "simulate",
    "load_source": "sources",
    "default_data_root": "sources",
    "DynamicWindowDataset": "datasets",
    "split_groups": "datasets",
}


def __getattr__(name: str):
    if name in _EXPORTS:
        return getattr(importlib.import_module(f"dynmri.data.{_EXPORTS[name]}"), name)
    raise AttributeError(f"module 'dynmri.data' has no attribute {name!r}")


__all__ = sorted(_EXPORTS)
