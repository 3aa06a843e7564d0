"""Acquisition and reconstruction files (``.npz`` or ``.h5``), written atomically.

File layout (complex arrays, no real/imaginary channel axis; ``S`` samples/slices,
``N`` coils, ``T`` frames, ``H x W`` image, phase-encoding lines along ``W``):

=============  ==========================  =========================================
key            shape                       meaning
=============  ==========================  =========================================
``kspace``     ``(S, T, H, W)`` or         measured k-space, zero where not sampled
               ``(S, N, T, H, W)``
``mask``       ``(S, T, H, W)`` uint8      1 where k-space was sampled
``target``     ``(S, T, H, W)`` complex    ground truth image (absent when unknown)
``coil_maps``  ``(S, N, H, W)`` complex    coil sensitivities (multi-coil, optional)
``meta``       JSON string                 acceleration, mask kind, seed, source, ...
``recon``      ``(S, T, H, W)`` complex    a reconstruction (reconstruction files)
=============  ==========================  =========================================

Raw scanner data (an ISMRMRD ``.h5``, a Siemens twix ``.dat``) load through the same
:meth:`Acquisition.load` (:func:`read_scanner`, :mod:`dynmri.data.ismrmrd`).
"""

from __future__ import annotations

import json
import os
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from dynmri.errors import DataError, ParameterError, ShapeError
from dynmri.fileio import atomic_path

SUFFIXES = (".npz", ".h5", ".hdf5")


def _check_suffix(path: Path) -> str:
    suffix = path.suffix.lower()
    if suffix not in SUFFIXES:
        raise DataError(f"{path}: unsupported file type {suffix!r}; use one of {', '.join(SUFFIXES)}")
    return suffix


def write_arrays(path: str | os.PathLike, arrays: dict[str, np.ndarray], meta: dict) -> None:
    """Write named arrays and a JSON ``meta`` to ``.npz`` or ``.h5``, atomically."""
    path = Path(path)
    suffix = _check_suffix(path)
    meta_json = json.dumps(meta, sort_keys=True)
    with atomic_path(path) as tmp:
        if suffix == ".npz":
            with open(tmp, "wb") as f:
                np.savez(f, meta=np.array(meta_json), **arrays)
        else:
            import h5py

            with h5py.File(tmp, "w") as f:
                for key, value in arrays.items():
                    f.create_dataset(key, data=value, compression="gzip" if value.size > 4096 else None)
                f.attrs["meta"] = meta_json


def read_arrays(path: str | os.PathLike) -> tuple[dict[str, np.ndarray], dict]:
    """Read every array and the JSON ``meta`` from a ``.npz`` or ``.h5`` file."""
    path = Path(path)
    if not path.exists():
        raise DataError(f"{path}: file not found")
    suffix = _check_suffix(path)
    try:
        if suffix == ".npz":
            with np.load(path, allow_pickle=False) as f:
                arrays = {k: _npz_array(f, k, path) for k in f.files}
            meta_json = str(arrays.pop("meta")) if "meta" in arrays else "{}"
        else:
            import h5py

            with h5py.File(path, "r") as f:
                arrays = {k: f[k][()] for k in f.keys()}
                meta_json = f.attrs.get("meta", "{}")
    except DataError:
        raise
    except (zipfile.BadZipFile, EOFError, OSError, ValueError, KeyError) as exc:
        raise DataError(f"{path}: cannot read ({type(exc).__name__}: {exc}); the file is truncated or not a valid {suffix} file") from exc
    try:
        meta = json.loads(meta_json)
    except json.JSONDecodeError as exc:
        raise DataError(f"{path}: 'meta' is not valid JSON ({exc})") from exc
    if not isinstance(meta, dict):
        raise DataError(f"{path}: 'meta' must be a JSON object (field: value), got a {type(meta).__name__}")
    return arrays, meta


def _npz_array(f, key: str, path: Path) -> np.ndarray:
    """Array ``key`` of an open ``.npz``; an array of Python objects (a pickle) is refused."""
    try:
        return f[key]
    except ValueError as exc:
        if "allow_pickle" not in str(exc):
            raise
        raise DataError(f"{path}: array {key!r} holds Python objects (a pickle), refused: loading it could run code; "
                        "dynmri files hold numeric arrays only") from None


def scanner_format(path: str | os.PathLike) -> str | None:
    """``"twix"`` for a ``.dat``, ``"ismrmrd"`` for an ISMRMRD ``.h5``, None otherwise."""
    path = Path(path)
    if path.suffix.lower() == ".dat":
        return "twix"
    from dynmri.data.ismrmrd import is_ismrmrd

    return "ismrmrd" if is_ismrmrd(path) else None


def read_scanner(path: str | os.PathLike, **options) -> tuple[dict[str, np.ndarray], dict]:
    """``(arrays, meta)`` of raw scanner data, as :func:`read_arrays` gives them for dynmri files:
    :func:`dynmri.data.ismrmrd.read_ismrmrd` or :func:`dynmri.data.twix.read_twix` (an unknown
    option raises a :class:`ParameterError` naming the valid ones)."""
    from dynmri.registry import check_options

    if scanner_format(path) == "twix":
        from dynmri.data.twix import read_twix as reader
    else:
        from dynmri.data.ismrmrd import read_ismrmrd as reader
    check_options(reader, options, f"reading {path}", exclude=("path",))
    return reader(path, **options)


def _require(arrays: dict, key: str, path: Path) -> np.ndarray:
    if key not in arrays:
        raise DataError(f"{path}: missing key {key!r} (found: {', '.join(sorted(arrays)) or 'nothing'})")
    return _numeric(arrays[key], key, path)


def _numeric(a: np.ndarray | None, key: str, path: Path) -> np.ndarray | None:
    """``a`` unless it is an array of something other than numbers (strings, bytes, ...)."""
    if a is not None and not (np.issubdtype(a.dtype, np.number) or a.dtype == np.bool_):
        raise DataError(f"{path}: array {key!r} must hold numbers, got dtype {a.dtype}")
    return a


@dataclass
class Acquisition:
    """Simulated or measured dynamic k-space with its sampling and, when known, ground truth.

    Cartesian: ``kspace (S, T, H, W)`` single-coil or ``(S, N, T, H, W)`` multi-coil, complex;
    ``mask (S, T, H, W)`` in {0, 1}. Non-Cartesian: ``kspace (S, T, M)`` or ``(S, N, T, M)``,
    ``trajectory (T, n_shots, n_samples, 2)`` in cycles/pixel, [-0.5, 0.5) (the same for every
    slice, ``M = n_shots * n_samples``), no mask, ``meta["image_shape"] = [H, W]``.
    ``target (S, T, H, W)`` complex or ``None``; ``coil_maps (S, N, H, W)`` complex or ``None``.
    """

    kspace: np.ndarray
    mask: np.ndarray | None = None
    target: np.ndarray | None = None
    coil_maps: np.ndarray | None = None
    meta: dict = field(default_factory=dict)
    trajectory: np.ndarray | None = None

    @property
    def noncartesian(self) -> bool:
        return self.trajectory is not None

    @property
    def multicoil(self) -> bool:
        return self.kspace.ndim == (4 if self.noncartesian else 5)

    @property
    def image_shape(self) -> tuple[int, int]:
        if not self.noncartesian:
            return tuple(self.kspace.shape[-2:])
        if self.target is not None:
            return tuple(self.target.shape[-2:])
        return tuple(int(v) for v in self.meta["image_shape"])

    @property
    def frames(self) -> int:
        return self.kspace.shape[-2] if self.noncartesian else self.kspace.shape[-3]

    def validate(self, name: str = "acquisition") -> Acquisition:
        """Check shapes, finiteness and the sampling; raise a :class:`DynMRIError` naming the problem."""
        k, m = self.kspace, self.mask
        if self.noncartesian:
            return self._validate_noncartesian(name)
        if m is None:
            raise ShapeError(f"{name}: a Cartesian acquisition needs a mask (or give a trajectory)")
        if k.ndim not in (4, 5):
            raise ShapeError(f"{name}: kspace must be (S, T, H, W) or (S, N, T, H, W), got shape {k.shape}")
        if m.ndim != 4:
            raise ShapeError(f"{name}: mask must be (S, T, H, W), got shape {m.shape}")
        kst = (k.shape[0],) + k.shape[-3:]
        if m.shape != kst:
            raise ShapeError(f"{name}: mask shape {m.shape} does not match k-space (S, T, H, W) = {kst}")
        if not np.all(np.isfinite(k)):
            raise DataError(f"{name}: kspace contains NaN or Inf values")
        validate_mask(m, name=name)
        if self.target is not None and self.target.shape != kst:
            raise ShapeError(f"{name}: target shape {self.target.shape} does not match k-space (S, T, H, W) = {kst}")
        self._validate_maps(name, k.shape[-2:])
        return self

    def _validate_maps(self, name, hw):
        k = self.kspace
        if self.coil_maps is not None:
            if not self.multicoil:
                raise ShapeError(f"{name}: coil_maps given for single-coil k-space")
            want = (k.shape[0], k.shape[1]) + tuple(hw)
            if self.coil_maps.shape != want:
                raise ShapeError(f"{name}: coil_maps shape {self.coil_maps.shape} does not match (S, N, H, W) = {want}")

    def _validate_noncartesian(self, name):
        from dynmri.sampling.trajectories import check_trajectory

        k, tr = self.kspace, self.trajectory
        check_trajectory(tr, name=f"{name}: trajectory")
        if tr.ndim != 4:
            raise ShapeError(f"{name}: trajectory must be (T, n_shots, n_samples, 2), got shape {tr.shape}")
        if k.ndim not in (3, 4):
            raise ShapeError(f"{name}: non-Cartesian kspace must be (S, T, M) or (S, N, T, M), got shape {k.shape}")
        T, M = tr.shape[0], tr.shape[1] * tr.shape[2]
        if k.shape[-2:] != (T, M):
            raise ShapeError(f"{name}: kspace (..., T, M) = {k.shape[-2:]} does not match the trajectory (T, M) = {(T, M)}")
        if not np.all(np.isfinite(k)):
            raise DataError(f"{name}: kspace contains NaN or Inf values")
        if self.target is None and "image_shape" not in self.meta:
            raise DataError(f"{name}: non-Cartesian k-space needs a target or meta['image_shape'] = [H, W]")
        hw = self.image_shape
        if self.target is not None and self.target.shape != (k.shape[0], T) + tuple(hw):
            raise ShapeError(f"{name}: target shape {self.target.shape} does not match (S, T, H, W) = {(k.shape[0], T) + tuple(hw)}")
        self._validate_maps(name, hw)
        return self

    def save(self, path: str | os.PathLike) -> None:
        self.validate(str(path))
        arrays = {"kspace": self.kspace.astype(np.complex64)}
        if self.mask is not None:
            arrays["mask"] = self.mask.astype(np.uint8)
        if self.trajectory is not None:
            arrays["trajectory"] = self.trajectory.astype(np.float32)
        if self.target is not None:
            arrays["target"] = self.target.astype(np.complex64)
        if self.coil_maps is not None:
            arrays["coil_maps"] = self.coil_maps.astype(np.complex64)
        write_arrays(path, arrays, self.meta)

    @classmethod
    def load(cls, path: str | os.PathLike, **options) -> Acquisition:
        """Load and validate a dynmri ``.npz``/``.h5``, an ISMRMRD ``.h5`` or a Siemens twix
        ``.dat`` (:func:`read_scanner`; ``options`` go to its reader: ``slices``,
        ``set_index``, ``contrast``, ...)."""
        path = Path(path)
        if scanner_format(path) is not None:
            arrays, meta = read_scanner(path, **options)
        elif options:
            raise ParameterError(f"{path}: reader options {sorted(options)} apply to ISMRMRD .h5 and twix .dat files only")
        else:
            arrays, meta = read_arrays(path)
        traj = arrays.get("trajectory")
        acq = cls(
            kspace=_require(arrays, "kspace", path),
            mask=_require(arrays, "mask", path) if traj is None else _numeric(arrays.get("mask"), "mask", path),
            target=_numeric(arrays.get("target"), "target", path),
            coil_maps=_numeric(arrays.get("coil_maps"), "coil_maps", path),
            meta=meta,
            trajectory=_numeric(traj, "trajectory", path),
        )
        return acq.validate(str(path))


def validate_mask(mask: np.ndarray, name: str = "mask") -> None:
    """Raise if ``mask`` is not binary, samples nothing, or samples everything."""
    values = np.unique(mask)
    if not np.all(np.isin(values, (0, 1))):
        raise DataError(f"{name}: mask must contain only 0 and 1, found values {values[:5].tolist()}")
    if not mask.any():
        raise DataError(f"{name}: mask is empty (samples no k-space)")
    if mask.all():
        raise DataError(f"{name}: mask samples all of k-space (acceleration 1): nothing is undersampled")
    per_frame = mask.reshape(-1, mask.shape[-2] * mask.shape[-1]).any(axis=1)
    if not per_frame.all():
        raise DataError(f"{name}: {int((~per_frame).sum())} frame(s) have an empty mask")


@dataclass
class Reconstruction:
    """A reconstructed video: ``recon (S, T, H, W)`` complex, plus ``meta``."""

    recon: np.ndarray
    meta: dict = field(default_factory=dict)

    def save(self, path: str | os.PathLike) -> None:
        if self.recon.ndim != 4:
            raise ShapeError(f"recon must be (S, T, H, W), got shape {self.recon.shape}")
        write_arrays(path, {"recon": self.recon.astype(np.complex64)}, self.meta)

    @classmethod
    def load(cls, path: str | os.PathLike) -> Reconstruction:
        path = Path(path)
        arrays, meta = read_arrays(path)
        recon = _require(arrays, "recon", path)
        if recon.ndim != 4:
            raise ShapeError(f"{path}: recon must be (S, T, H, W), got shape {recon.shape}")
        if not np.all(np.isfinite(recon)):
            raise DataError(f"{path}: recon contains NaN or Inf values")
        return cls(recon=recon, meta=meta)
