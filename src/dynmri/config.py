"""Typed configurations: the single source of defaults.

CLI flags and YAML files only override these fields (:func:`load_config`). Every config is a
frozen dataclass; building one through :func:`load_config`, or calling its ``validate``, checks
every field against its annotation (:func:`check_types`: ``int``, ``float`` (an int too),
``str``, ``bool``, ``X | None``, ``dict``, ``tuple``) and then its ranges.

Examples
--------
>>> from dynmri.config import SimulateConfig, load_config
>>> load_config(SimulateConfig, frames=6).frames
6
>>> SimulateConfig(frames=3.5).validate()
Traceback (most recent call last):
...
dynmri.errors.ParameterError: frames must be int, got 3.5 (float)
"""

from __future__ import annotations

import math
import re
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any, ClassVar

from dynmri.errors import DataError, ParameterError
from dynmri.registry import check_value, matches, type_hints


def check_types(cfg) -> None:
    """Raise a one-line :class:`ParameterError` for the first field of the dataclass ``cfg``
    whose value does not match its annotation, naming the field, the type and the value."""
    hints = type_hints(type(cfg))
    for f in fields(cfg):
        check_value(getattr(cfg, f.name), hints.get(f.name, Any), f.name)


SEED_MAX = 2**31 - 1
"""Largest seed: seeds are offset (``seed + s``, ``seed + 10_000``, ...) and must stay valid for
every generator (numpy's legacy seeding needs < 2**32)."""


def _at_least(cfg, low, *names: str, unit: str = "") -> None:
    """Raise a :class:`ParameterError` naming the first of ``names`` (fields of ``cfg``, None
    skipped) whose value is below ``low``."""
    for name in names:
        v = getattr(cfg, name)
        if v is not None and v < low:
            raise ParameterError(f"{name} must be >= {low}{unit}, got {v}")


def _positive_finite(cfg, *names: str) -> None:
    """Raise unless every field in ``names`` (None skipped) is a finite number > 0."""
    for name in names:
        v = getattr(cfg, name)
        if v is not None and not (math.isfinite(v) and v > 0):
            raise ParameterError(f"{name} must be a finite number > 0, got {v}")


def _check_seed(seed: int) -> None:
    if not 0 <= seed <= SEED_MAX:
        raise ParameterError(f"seed must be in 0..{SEED_MAX}, got {seed}")


def _check_accel(accel: float) -> None:
    """An acceleration is a finite number > 1."""
    if not math.isfinite(accel):
        raise ParameterError(f"acceleration must be a finite number > 1, got {accel}")
    if accel <= 1:
        raise ParameterError(f"acceleration must be > 1, got {accel}")


def _check_device(cfg) -> None:
    """The form of ``cfg.device`` and, when the config has one, ``cfg.precision`` (whether the
    device exists is checked where it is used: :func:`dynmri.devices.resolve_device`)."""
    from dynmri.devices import check_device_spec, check_precision

    check_device_spec(cfg.device)
    if hasattr(cfg, "precision"):
        check_precision(cfg.precision)


def _check_crop(crop: int | None, zero_is_none: bool = False) -> None:
    if crop is not None and crop < 8 and not (zero_is_none and crop == 0):
        raise ParameterError(f"crop must be >= 8 pixels{' (0 for none)' if zero_is_none else ''}, got {crop}")


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
        check_types(self)
        _at_least(self, 1, "frames", "coils", "n_phantoms")
        _check_accel(self.accel)
        _check_crop(self.crop)
        _at_least(self, 8, "size", unit=" pixels")
        _at_least(self, 0, "center_lines")
        _at_least(self, 2, "n_samples")
        _check_seed(self.seed)
        if self.snr is not None and not math.isfinite(self.snr):
            raise ParameterError(f"snr must be a finite number (dB), got {self.snr}")
        return self


@dataclass(frozen=True)
class DemoConfig:
    """What ``dynmri demo`` runs."""

    data: str = "phantom-realtime"  # the real-time scenario (dynmri.eval.realtime); or any simulate source
    accel: float = 8.0
    mask: str = "gaussian"
    frames: int | None = None  # None: the data's default (resolved())
    size: int | None = None  # None: the data's default (resolved())
    seed: int = 0
    slices: str | None = None  # None: the data's default (resolved()); subjects of the real-time scenario
    crop: int | None = None
    fps: float | None = None  # None: the data's default (resolved())
    networks: bool = True  # also run the shipped networks trained for this data (single-coil data)
    device: str = "auto"  # auto | cpu | cuda | cuda:N (dynmri.devices)
    precision: str = "fp32"  # fp32 | bf16: autocast around the networks only

    def validate(self) -> DemoConfig:
        check_types(self)
        _at_least(self, 1, "frames")
        _at_least(self, 8, "size", unit=" pixels")
        _check_accel(self.accel)
        _check_crop(self.crop)
        _check_seed(self.seed)
        _positive_finite(self, "fps")
        _check_device(self)
        if self.realtime and self.crop:
            raise ParameterError("--crop does not apply to the real-time scenario (set its image size with --size)")
        if self.data == "phantom-realtime-gated":
            raise ParameterError("demo --data phantom-realtime-gated: the demo scores against the true real-time frames; use phantom-realtime")
        return self

    @property
    def realtime(self) -> bool:
        """Whether ``data`` is the real-time scenario (``phantom-realtime``, :mod:`dynmri.eval.realtime`)."""
        return self.data == "phantom-realtime"

    def resolved(self) -> DemoConfig:
        """This configuration with the defaults of its ``data`` filled in (the fields left None):
        the real-time scenario 240 frames (of 40 ms) at 64x64 (its networks' size), subject 0 (a test subject),
        played at 25 frames/s; any other data 24 frames at 128x128, every slice, 8 frames/s."""
        fill = dict(frames=240, size=64, slices="0", fps=25.0) if self.realtime else dict(frames=24, size=128, slices="all", fps=8.0)
        return replace(self, **{k: v for k, v in fill.items() if getattr(self, k) is None})


@dataclass(frozen=True)
class BenchmarkConfig:
    """What ``dynmri benchmark`` runs: every method (and network) x acceleration on held-out data.

    ``methods=None`` runs every registered method that applies to the data; ``networks`` are run
    folders, ``.pt`` files or shipped names; ``iters=None`` keeps :class:`CSConfig`'s ``n_iter``;
    ``crop`` 0 or None keeps the full images. A YAML file may give ``accel``, ``methods`` and
    ``networks`` as lists (or ``accel`` as one number). ``auto_tune`` (``holdout`` or
    ``discrepancy``) adds, for every method with tunable weights, a row whose weights and stopping
    iteration are chosen from each acquisition's measurements alone
    (:func:`dynmri.recon.tune.auto_tune` on ``tune_slices`` of its slices).
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
    device: str = "auto"
    precision: str = "fp32"
    auto_tune: str | None = None  # holdout | discrepancy: also each tunable method with weights chosen from the data
    tune_slices: int = 2

    def validate(self) -> BenchmarkConfig:
        def as_tuple(v):
            return tuple(v) if isinstance(v, (list, tuple)) else (v,)

        try:
            accel = tuple(float(r) for r in as_tuple(self.accel))
        except (TypeError, ValueError):
            raise ParameterError(f"accel must be numbers, got {self.accel!r}") from None
        if not accel:
            raise ParameterError("accel is empty; give at least one acceleration > 1, e.g. 4,8,16")
        if min(accel) <= 1:
            raise ParameterError(f"every acceleration must be > 1, got {list(accel)}")
        if not all(math.isfinite(r) for r in accel):
            raise ParameterError(f"every acceleration must be a finite number > 1, got {list(accel)}")
        _at_least(self, 1, "frames", "iters", "n_phantoms", "tune_slices")
        _check_crop(self.crop, zero_is_none=True)
        _check_seed(self.seed)
        _check_device(self)
        if self.auto_tune not in (None, "holdout", "discrepancy"):
            raise ParameterError(f"auto_tune must be holdout or discrepancy, got {self.auto_tune!r}")
        methods = None if self.methods is None else tuple(str(m) for m in as_tuple(self.methods))
        networks = tuple(str(n) for n in as_tuple(self.networks or ()))
        if methods is not None and not methods and not networks:
            raise ParameterError("methods is empty and no networks are given: nothing to benchmark "
                                 "(leave methods out for every applicable one)")
        out = replace(self, accel=accel, methods=methods, networks=networks)
        check_types(out)
        return out


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
        check_types(self)
        if self.n_iter < 1:
            raise ParameterError(f"n_iter must be >= 1, got {self.n_iter}")
        for name in ("lam", "lam_tfft", "lam_ttv", "lam_l", "lam_s", "tol", "owl_beta", "ls_eps"):
            v = getattr(self, name)
            if not (v >= 0 and v == v and v != float("inf")):
                raise ParameterError(f"{name} must be a finite number >= 0, got {v}")
        _at_least(self, 1, "levels")
        _at_least(self, 0, "cost_every")  # 0: no cost history
        _positive_finite(self, "sigma")
        _check_seed(self.seed)
        return self


@dataclass(frozen=True)
class TrainConfig:
    """Every training default (the single source; YAML files and CLI flags override it). A
    layer that changes ``model`` or ``loss`` without giving ``model_cfg`` / ``loss_cfg`` resets
    them to ``{}`` (the builder's defaults; :func:`load_config`)."""

    OPTIONS_OF: ClassVar[dict[str, str]] = {"model": "model_cfg", "loss": "loss_cfg"}

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
    device: str = "auto"  # auto | cpu | cuda | cuda:N; not part of a run's identity (resume may move it)
    precision: str = "fp32"  # fp32 | bf16 (autocast around the network; physics in float32)
    workers: int = 0  # DataLoader worker processes (0: load in the training process)
    coils: int = 1  # > 1: multi-coil training (coil maps from the source, else simulated)
    snr: float | None = None  # measurement noise in dB (None: noiseless)
    trajectory: str | None = None  # None: Cartesian masks; radial-golden etc.: NUFFT physics
    stream: bool = False  # read one window at a time from disk instead of loading the source
    n_samples: int | None = None  # samples per spoke/interleave of a trajectory (default: 2x readout, as radial)
    accel_mix: list[float] | None = None  # training masks at these accelerations, one per item and epoch (validation: accel)

    def validate(self) -> TrainConfig:
        """Types, ranges, and ``model_cfg`` / ``loss_cfg`` against the registered builder's options."""
        check_types(self)
        if self.epochs < 1 or self.batch_size < 1 or self.window < 2 or self.stride < 1:
            raise ParameterError("epochs, batch_size >= 1, window >= 2 and stride >= 1 are required")
        if not (self.lr > 0 and self.lr_min >= 0 and self.grad_clip >= 0):
            raise ParameterError("lr must be > 0, lr_min and grad_clip >= 0")
        if self.schedule not in ("cosine", "step", "constant"):
            raise ParameterError(f"schedule must be cosine, step or constant, got {self.schedule!r}")
        if not 0 < self.holdout < 1 or not 0 <= self.val_fraction < 1:
            raise ParameterError("holdout must be in (0, 1) and val_fraction in [0, 1)")
        self._check_ranges()
        self._check_builders()
        return self

    def _check_ranges(self) -> None:
        """The ranges beyond the basic ones of :meth:`validate`."""
        _check_accel(self.accel)
        if self.accel_mix is not None:
            if not self.accel_mix or self.trajectory is not None:
                raise ParameterError("accel_mix needs at least one acceleration and Cartesian masks (no trajectory), "
                                     f"got {self.accel_mix!r} with trajectory {self.trajectory!r}")
            for r in self.accel_mix:
                _check_accel(r)
        _positive_finite(self, "lr", "gamma")
        _at_least(self, 1, "steps_per_epoch", "step_size", "n_phantoms")
        _at_least(self, 2, "n_samples")
        if self.n_samples is not None and self.trajectory is None:
            raise ParameterError("n_samples (samples per spoke/interleave) needs a trajectory; Cartesian masks have none")
        _at_least(self, 8, "phantom_size", unit=" pixels")
        _check_crop(self.crop, zero_is_none=True)
        _check_seed(self.seed)
        _check_device(self)
        _at_least(self, 0, "workers")
        _at_least(self, 1, "coils")
        if self.snr is not None and not math.isfinite(self.snr):
            raise ParameterError(f"snr must be a finite number (dB), got {self.snr}")

    def _check_builders(self) -> None:
        """``model_cfg`` and ``loss_cfg`` against the options (names and annotations) of the
        registered builders; ``seed`` is not a ``loss_cfg`` key (training passes its own)."""
        # the registries live in the layers above (config is core): imported here, when needed
        from dynmri.learn.losses import LOSSES
        from dynmri.models import MODELS

        MODELS.get(self.model), LOSSES.get(self.loss)  # an unknown name: the registry's message
        for key, registry, name, options, exclude in (("model_cfg", MODELS, self.model, self.model_cfg, ()),
                                                      ("loss_cfg", LOSSES, self.loss, self.loss_cfg, ("seed",))):
            try:
                registry.check(name, options, exclude=exclude)
            except ParameterError as exc:
                raise ParameterError(f"{key}: {exc}") from None


GAMMA = 42.576e6  # Hz/T


@dataclass(frozen=True)
class ScannerLimits:
    """Gradient hardware: ``gmax`` (T/m), ``smax`` (T/m/s), ``raster`` (s), ``fov`` (m)."""

    gmax: float = 0.040
    smax: float = 150.0
    raster: float = 4e-6
    fov: float = 0.2

    def steps(self, n: int) -> tuple[float, float]:
        """Largest first and second differences (cycles/pixel) of a feasible readout."""
        a = GAMMA * self.gmax * self.raster * self.fov / n
        b = GAMMA * self.smax * self.raster**2 * self.fov / n
        return a, b


@dataclass(frozen=True)
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
    device: str = "auto"

    def validate(self) -> LearnTrajectoryConfig:
        check_types(self)
        if self.steps < 1 or self.batch < 1:
            raise ParameterError("steps and batch must be >= 1")
        if self.decimation < 1 or self.decimation & (self.decimation - 1):
            raise ParameterError(f"decimation must be a power of 2, got {self.decimation}")
        _check_accel(self.accel)
        if not self.lr > 0:
            raise ParameterError(f"lr must be > 0, got {self.lr}")
        self._check_ranges()
        return self

    def _check_ranges(self) -> None:
        _positive_finite(self, "lr", "gmax", "smax", "raster", "fov")
        _check_crop(self.crop, zero_is_none=True)
        _at_least(self, 8, "size", unit=" pixels")
        _at_least(self, 1, "n_phantoms", "proj_iters", "snapshot_every", "max_train_frames", "max_eval_frames")
        _at_least(self, 2, "n_samples")
        _check_seed(self.seed)
        _check_device(self)
        for name, valid in (("density", ("voronoi", "pipe")), ("objective", ("magnitude", "complex"))):
            if getattr(self, name) not in valid:
                raise ParameterError(f"{name} must be one of {', '.join(valid)}, got {getattr(self, name)!r}")

    @property
    def limits(self):
        return ScannerLimits(self.gmax, self.smax, self.raster, self.fov)


_FLOAT = re.compile(r"[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?")


def _read_yaml(path: Path) -> dict:
    """The mapping in the YAML file ``path``; every problem is a one-line :class:`DataError`."""
    import yaml

    if not path.is_file():
        raise DataError(f"{path}: config file not found")
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise DataError(f"{path}: not UTF-8 text (byte 0x{raw[exc.start]:02x} at offset {exc.start})") from None
    try:
        values = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or " ".join(str(exc).split())
        raise DataError(f"{path}: invalid YAML{where}: {problem}") from None
    if values is None:
        return {}
    if not isinstance(values, dict):
        raise DataError(f"{path}: config must be a mapping of field: value")
    return values


def _from_yaml(cls, path: Path, values: dict) -> dict:
    """File values checked against ``cls``'s fields: unknown keys and wrong types are a
    :class:`DataError` naming the file. YAML lists (or one value) become tuples for tuple fields, and strings
    such as ``1e-5`` (a string for YAML 1.1) floats for float fields."""
    hints = type_hints(cls)
    names = [f.name for f in fields(cls)]
    unknown = sorted(str(k) for k in values if k not in names)
    if unknown:
        raise DataError(f"{path}: unknown config keys {unknown}; valid keys: {sorted(names)}")
    out = {}
    for key, value in values.items():
        tp = hints.get(key, Any)
        if isinstance(value, list) and not matches(value, tp) and matches(tuple(value), tp):
            value = tuple(value)
        elif isinstance(value, str) and _FLOAT.fullmatch(value) and not matches(value, tp) and matches(1.0, tp):
            value = float(value)
        elif not isinstance(value, (list, tuple, dict)) and not matches(value, tp) and matches((value,), tp):
            value = (value,)  # one value for a tuple field
        try:
            check_value(value, tp, key)
        except ParameterError as exc:
            raise DataError(f"{path}: {exc}") from None
        out[key] = value
    return out


def load_config(cls, path: str | Path | None = None, **overrides):
    """``cls()`` updated by the YAML file ``path`` and then by non-``None`` ``overrides``;
    returns it type-checked (:func:`check_types`) and validated.

    Problems in the file are a one-line :class:`DataError` naming it (not found, not UTF-8,
    YAML syntax with line and column, unknown key, wrong type); unknown ``overrides`` and
    out-of-range values a :class:`ParameterError`."""
    names = [f.name for f in fields(cls)]
    unknown = [k for k in overrides if k not in names]
    if unknown:
        raise ParameterError(f"unknown {cls.__name__} fields {unknown}; valid fields: {', '.join(names)}")
    defaults = cls()
    values = {} if path is None else _forget_options(defaults, _from_yaml(cls, Path(path), _read_yaml(Path(path))))
    overrides = {k: v for k, v in overrides.items() if v is not None}
    values |= _forget_options(replace(defaults, **values), overrides)
    cfg = replace(defaults, **values)
    check_types(cfg)
    return cfg.validate() if hasattr(cfg, "validate") else cfg


def _forget_options(current, layer: dict) -> dict:
    """``layer`` (YAML values or flags) with the options of every name it changes reset to ``{}``
    when it does not give them too (``OPTIONS_OF``: ``model`` -> ``model_cfg``): options belong to
    the name they were written for (``--model unet`` over a CRNN's channels, ``--loss ei-rotate``
    over a DDEI YAML's ``group``), so the new name starts from its builder's own defaults, or
    from the class's default options when it is the class's default name (``--model crnn`` over
    a U-Net YAML gives the CRNN of ``TrainConfig()``)."""
    out, defaults = dict(layer), type(current)()
    for name, options in getattr(type(current), "OPTIONS_OF", {}).items():
        if name in layer and layer[name] != getattr(current, name) and options not in layer:
            out[options] = dict(getattr(defaults, options)) if layer[name] == getattr(defaults, name) else {}
    return out


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
