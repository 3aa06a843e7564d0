"""Reconstruction networks ``model(y, physics) -> x`` and their registry.

``get_model(name, **cfg)`` builds one; ``MODELS`` lists them. Every network starts as the
zero-filled reconstruction (residual branches end in a zero-initialised layer, and data
consistency leaves :math:`A^H y` unchanged), the lesson of the training pilot
(``shared/notes/training-pilot.md``): an untrained network must not ruin its input.

Shapes: ``y`` ``(B, 2, T, H, W)`` or ``(B, 2, N, T, H, W)``; ``x`` ``(B, 2, T, H, W)``.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable

from dynmri.errors import ParameterError

MODELS: dict[str, Callable] = {}


def register(name: str):
    def wrap(builder):
        MODELS[name] = builder
        return builder

    return wrap


def _load():
    for mod in ("crnn", "unet", "dual", "lpsnet"):
        importlib.import_module(f"dynmri.models.{mod}")


def model_names() -> list[str]:
    _load()
    return sorted(MODELS)


def get_model(name: str, **cfg):
    """Build the network registered as ``name`` with keyword configuration ``cfg``."""
    _load()
    if name not in MODELS:
        raise ParameterError(f"unknown model {name!r}; available: {', '.join(sorted(MODELS))}")
    try:
        return MODELS[name](**cfg)
    except TypeError as exc:
        raise ParameterError(f"bad configuration for model {name!r}: {exc}") from exc


def count_parameters(model) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad)
