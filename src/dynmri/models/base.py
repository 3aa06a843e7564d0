"""The registries of networks (:data:`MODELS`) and of the denoisers that ``cascade`` unrolls
(:data:`BACKBONES`); each network module registers itself here."""

from __future__ import annotations

from dynmri.registry import Registry

MODELS = Registry("model")
"""Networks: name -> builder(**cfg) -> ``nn.Module``."""

BACKBONES = Registry("backbone")
"""Per-frame (or per-window) denoisers that ``cascade`` unrolls: name -> class(**cfg)."""
