"""Typed configurations: the single source of defaults.

CLI flags and YAML files only override these fields (:func:`load_config`).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields, replace
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
    networks: bool = True  # also run the shipped networks (single-coil data)


@dataclass(frozen=True)
class BenchmarkConfig:
    """What ``dynmri benchmark`` runs: every method (and network) x acceleration on held-out data.

    ``methods=None`` runs every registered method that applies to the data; ``networks`` are run
    folders, ``.pt`` files or shipped names; ``iters=None`` keeps :class:`CSConfig`'s ``n_iter``;
    ``crop`` 0 or None keeps the full images. A YAML file may give ``accel``, ``methods`` and
    ``networks`` as lists (or ``accel`` as one number).
    """

    data: str = "phantom"
    accel: tuple[float, ...] = (4.0, 8.0, 16.0)
    mask: str = "gaussian"
    frames: int = 12
    crop: int | None = 128
    seed: int = 0
    iters: int | None = None
    methods: tuple[str, ...] | None = None
    networks: tuple[str, ...] = ()
    n_phantoms: int = 4

    def validate(self) -> BenchmarkConfig:
        def as_tuple(v):
            return tuple(v) if isinstance(v, (list, tuple)) else (v,)

        try:
            accel = tuple(float(r) for r in as_tuple(self.accel))
        except (TypeError, ValueError):
            raise ParameterError(f"accel must be numbers, got {self.accel!r}") from None
        if not accel or min(accel) <= 1:
            raise ParameterError(f"every acceleration must be > 1, got {list(accel)}")
        if self.frames < 1:
            raise ParameterError(f"frames must be >= 1, got {self.frames}")
        if self.iters is not None and self.iters < 1:
            raise ParameterError(f"iters must be >= 1, got {self.iters}")
        methods = None if self.methods is None else tuple(str(m) for m in as_tuple(self.methods))
        networks = tuple(str(n) for n in as_tuple(self.networks or ()))
        return replace(self, accel=accel, methods=methods, networks=networks)


@dataclass(frozen=True)
class CSConfig:
    """Defaults of every compressed-sensing method (the single source)."""

    n_iter: int = 100
    tol: float = 1e-5
    lam: float = 3e-4  # spatial wavelet weight (every method with a wavelet term)
    lam_tfft: float = 3e-4  # fista-wavelet-tfft: wavelet x temporal-Fourier sparsity
    lam_ttv: float = 0.1  # condatvu-wavelet-ttv: temporal total variation
    lam_l: float = 3e-3  # lps: nuclear norm of L
    lam_s: float = 1e-3  # lps: temporal-Fourier sparsity of S
    wavelet: str = "sym8"
    levels: int = 3
    keep_coarse: bool = False
    absolute: bool = False
    owl_beta: float = 0.5
    sigma: float = 0.5
    ls_eps: float = 0.0
    cost_every: int = 1
    seed: int = 0

    def validate(self) -> CSConfig:
        if self.n_iter < 1:
            raise ParameterError(f"n_iter must be >= 1, got {self.n_iter}")
        for name in ("lam", "lam_tfft", "lam_ttv", "lam_l", "lam_s", "tol", "owl_beta", "ls_eps"):
            v = getattr(self, name)
            if not (v >= 0 and v == v and v != float("inf")):
                raise ParameterError(f"{name} must be a finite number >= 0, got {v}")
        if self.levels < 1 or self.sigma <= 0:
            raise ParameterError("levels must be >= 1 and sigma > 0")
        return self


@dataclass(frozen=True)
class TrainConfig:
    """Every training default (the single source; YAML files and CLI flags override it)."""

    data: str = "phantom"
    model: str = "crnn"
    model_cfg: dict = field(default_factory=lambda: {"channels": 16, "cascades": 3})
    loss: str = "ddei"
    loss_cfg: dict = field(default_factory=dict)
    accel: float = 8.0
    mask: str = "gaussian"
    window: int = 12
    stride: int = 4
    crop: int | None = 128
    epochs: int = 10
    batch_size: int = 1
    lr: float = 1e-3
    lr_min: float = 1e-5
    schedule: str = "cosine"
    step_size: int = 10
    gamma: float = 0.5
    grad_clip: float = 1.0
    seed: int = 0
    val_fraction: float = 0.15
    holdout: float = 0.2
    steps_per_epoch: int | None = None
    n_phantoms: int = 8
    phantom_frames: int = 24
    phantom_size: int = 128

    def validate(self) -> TrainConfig:
        if self.epochs < 1 or self.batch_size < 1 or self.window < 2 or self.stride < 1:
            raise ParameterError("epochs, batch_size >= 1, window >= 2 and stride >= 1 are required")
        if not (self.lr > 0 and self.lr_min >= 0 and self.grad_clip >= 0):
            raise ParameterError("lr must be > 0, lr_min and grad_clip >= 0")
        if self.schedule not in ("cosine", "step", "constant"):
            raise ParameterError(f"schedule must be cosine, step or constant, got {self.schedule!r}")
        if not 0 < self.holdout < 1 or not 0 <= self.val_fraction < 1:
            raise ParameterError("holdout must be in (0, 1) and val_fraction in [0, 1)")
        return self


@dataclass
class LearnTrajectoryConfig:
    """Defaults of ``dynmri learn-trajectory`` (YAML files and flags override them)."""

    data: str = "phantom"
    crop: int | None = 128
    size: int = 64  # phantom size
    n_phantoms: int = 4
    accel: float = 8.0
    init: str = "radial-golden"
    n_samples: int | None = None
    steps: int = 200
    lr: float = 2e-3  # cycles/pixel
    batch: int = 6
    decimation: int = 8
    density: str = "voronoi"
    objective: str = "magnitude"  # or "complex"
    gmax: float = 0.040  # T/m
    smax: float = 150.0  # T/m/s
    raster: float = 4e-6  # s
    fov: float = 0.2  # m
    proj_iters: int = 300
    seed: int = 0
    snapshot_every: int = 10
    max_train_frames: int | None = None
    max_eval_frames: int | None = None

    def validate(self) -> LearnTrajectoryConfig:
        if self.steps < 1 or self.batch < 1:
            raise ParameterError("steps and batch must be >= 1")
        if self.decimation < 1 or self.decimation & (self.decimation - 1):
            raise ParameterError(f"decimation must be a power of 2, got {self.decimation}")
        if self.accel <= 1:
            raise ParameterError(f"acceleration must be > 1, got {self.accel}")
        if not self.lr > 0:
            raise ParameterError(f"lr must be > 0, got {self.lr}")
        return self

    @property
    def limits(self):
        from dynmri.sampling.trajectories import ScannerLimits

        return ScannerLimits(self.gmax, self.smax, self.raster, self.fov)


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


def parse_assignments(items, types=None, what: str = "--set") -> dict:
    """Parse ``KEY=VALUE`` strings (repeatable CLI options) into a dict.

    Parameters
    ----------
    items : iterable of str
        E.g. ``["lam_l=0.02", "wavelet=db4"]``.
    types : dataclass type, mapping or None
        A configuration class (or ``{name: type or annotation}``): keys must be its fields and
        values are converted to the field's type (``bool`` from ``true``/``false``, ``None`` from
        ``none`` for optional fields). ``None``: any key, values read as YAML scalars
        (``3`` -> int, ``0.5`` -> float, ``true`` -> bool, ``reflect`` -> str).
    what : str
        The option's name, for error messages.

    Examples
    --------
    >>> parse_assignments(["lam=0.01", "levels=2"], CSConfig)
    {'lam': 0.01, 'levels': 2}
    >>> parse_assignments(["time_padding=reflect", "n=3"], None, "--loss-opt")
    {'time_padding': 'reflect', 'n': 3}
    """
    import yaml

    def convert(value: str, kind: str):  # annotation kind: "int", "float | None", ...; others as YAML
        parts = [k.strip() for k in kind.split("|")]
        if "None" in parts and value.strip().lower() in ("none", "null", "~"):
            return None
        base = next((k for k in parts if k != "None"), "str")
        parsers = {"int": int, "float": float, "str": str, "bool": lambda v: {"true": True, "false": False}[v.lower()]}
        return parsers[base](value) if base in parsers else yaml.safe_load(value)

    if types is not None and not isinstance(types, dict):
        types = {f.name: f.type for f in fields(types)}
    out = {}
    for item in items or ():
        key, sep, value = item.partition("=")
        if types is None and (not sep or not key):
            raise ParameterError(f"{what} {item!r}: expected KEY=VALUE")
        if types is not None and (not sep or key not in types):
            raise ParameterError(f"{what} {item!r}: expected FIELD=VALUE with FIELD one of {', '.join(types)}")
        kind = "yaml" if types is None else types[key] if isinstance(types[key], str) else getattr(types[key], "__name__", str(types[key]))
        try:
            out[key] = convert(value, kind)
        except (ValueError, KeyError, yaml.YAMLError):
            raise ParameterError(f"{what} {item!r}: {value!r} is not a valid {kind}") from None
    return out
