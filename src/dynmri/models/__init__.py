"""Reconstruction networks ``model(y, physics) -> x`` and their registry.

``get_model(name, **cfg)`` builds one; ``MODELS`` lists them (a :class:`~dynmri.registry.Registry`,
filled when this package is imported: each network module registers itself in
:mod:`dynmri.models.base`). Unknown options, or options of the wrong type, raise a
:class:`~dynmri.errors.ParameterError` naming the valid ones. Every network starts as the
zero-filled reconstruction (residual branches end in a zero-initialised layer, and data
consistency leaves :math:`A^H y` unchanged), the lesson of the training pilot
(``shared/notes/training-pilot.md``): an untrained network must not ruin its input.

Shapes: ``y`` ``(B, 2, T, H, W)`` or ``(B, 2, N, T, H, W)``; ``x`` ``(B, 2, T, H, W)``.

Examples
--------
>>> from dynmri.models import MODELS, get_model
>>> "crnn" in MODELS
True
>>> get_model("crnn", chanels=4)
Traceback (most recent call last):
...
dynmri.errors.ParameterError: unknown option 'chanels' for model 'crnn'; valid options: channels, cascades, layers, kernel, dc_init
"""

from __future__ import annotations

from dynmri.models import crnn, dual, hybrid, lpsnet, unet  # noqa: F401  (the networks register themselves)
from dynmri.models.base import BACKBONES, MODELS


def model_names() -> list[str]:
    return sorted(MODELS)


def get_model(name: str, **cfg):
    """Build the network registered as ``name`` with keyword configuration ``cfg`` (checked)."""
    return MODELS.build(name, **cfg)


def count_parameters(model) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


__all__ = ["BACKBONES", "MODELS", "count_parameters", "get_model", "model_names"]
