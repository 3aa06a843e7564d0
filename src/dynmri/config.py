"""Typed configurations: the single source of defaults.

CLI flags and YAML files only override these fields (:func:`load_config`).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path

from dynmri.errors import DataError, ParameterError


@dataclass(frozen=True)
class SimulateConfig:
    """How ``dynmri simulate`` builds an acquisition from images."""

    data: str = "phantom"
    accel: float = 8.0
    mask: str = "gaussian"
    frames: int = 12
    center_lines: int | None = None
    coils: int = 1
    snr: float | None = None
    seed: int = 0
    crop: int | None = None
    slices: str = "all"
    size: int = 128
    n_phantoms: int = 1
    trajectory: str | None = None  # radial-golden | radial-tiny-golden | spiral | a trajectory .npz
    n_samples: int | None = None  # samples per spoke/interleave (default: matched to radial, 2x readout)

    def validate(self) -> SimulateConfig:
        if self.frames < 1:
            raise ParameterError(f"frames must be >= 1, got {self.frames}")
        if self.coils < 1:
            raise ParameterError(f"coils must be >= 1, got {self.coils}")
        if self.accel <= 1:
            raise ParameterError(f"acceleration must be > 1, got {self.accel}")
        if self.crop is not None and self.crop < 8:
            raise ParameterError(f"crop must be >= 8 pixels, got {self.crop}")
        return self


@dataclass(frozen=True)
class DemoConfig:
    """What ``dynmri demo`` runs."""

    data: str = "phantom"
    accel: float = 8.0
    mask: str = "gaussian"
    frames: int = 24
    size: int = 128
    seed: int = 0
    slices: str = "all"
    crop: int | None = None
    fps: float = 8.0


def load_config(cls, path: str | Path | None = None, **overrides):
    """``cls()`` updated by the YAML file ``path`` and then by non-``None`` ``overrides``."""
    cfg = cls()
    names = {f.name for f in fields(cls)}
    if path is not None:
        import yaml

        path = Path(path)
        if not path.is_file():
            raise DataError(f"{path}: config file not found")
        try:
            values = yaml.safe_load(path.read_text()) or {}
        except yaml.YAMLError as exc:
            raise DataError(f"{path}: invalid YAML ({exc})") from exc
        if not isinstance(values, dict):
            raise DataError(f"{path}: config must be a mapping of field: value")
        unknown = set(values) - names
        if unknown:
            raise DataError(f"{path}: unknown config keys {sorted(unknown)}; valid keys: {sorted(names)}")
        cfg = replace(cfg, **values)
    cfg = replace(cfg, **{k: v for k, v in overrides.items() if v is not None and k in names})
    return cfg.validate() if hasattr(cfg, "validate") else cfg


def as_dict(cfg) -> dict:
    return asdict(cfg)
