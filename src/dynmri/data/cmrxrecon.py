r"""CMRxRecon 2023 cine ``.mat`` files (MATLAB v7.3/HDF5 and v5), single- and multi-coil.

Folder layout (as distributed)::

    ROOT/SingleCoil|MultiCoil/Cine/TrainingSet/FullSample/P001/cine_sax.mat   (key kspace_full)
    ROOT/SingleCoil|MultiCoil/Cine/TrainingSet/TimeVaryingGaussianMask08/P001/cine_sax_mask.mat

k-space is stored in MATLAB order ``(kx, ky, [coil], slice, t)``; h5py sees v7.3 files
reversed and complex data as a compound ``(real, imag)`` type. dynmri returns
``(S, [N], T, H, W)`` with ``H = kx`` (readout) and ``W = ky`` (phase encoding, the
sampled lines). Masks ``(kx, ky)`` or ``(kx, ky, t)`` become ``(T, H, W)``. The images are
:math:`x = F^{-1} y` with the centred orthonormal FFT of :mod:`dynmri.physics.cartesian`.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from dynmri.errors import DataError, ShapeError

COILS = ("SingleCoil", "MultiCoil")


def load_mat(path: str | Path, key: str | None = None) -> np.ndarray:
    """Read one array from a v7.3 (HDF5) or v5 ``.mat`` file, in MATLAB dimension order."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: file not found")
    import h5py

    if h5py.is_hdf5(path):
        try:
            with h5py.File(path, "r") as f:
                names = [k for k in f.keys() if not k.startswith("#")]
                name = _pick(names, key, path)
                arr = f[name][()]
        except OSError as exc:
            raise DataError(f"{path}: cannot read HDF5 .mat ({exc}); the file may be truncated") from exc
        if arr.dtype.names and {"real", "imag"} <= set(arr.dtype.names):
            arr = arr["real"] + 1j * arr["imag"]
        return np.ascontiguousarray(arr.transpose(tuple(reversed(range(arr.ndim)))))
    from scipy.io import loadmat

    try:
        content = loadmat(path)
    except Exception as exc:  # scipy raises ValueError, TypeError, MatReadError...
        raise DataError(f"{path}: cannot read .mat ({type(exc).__name__}: {exc}); truncated or not a MATLAB file") from exc
    return content[_pick([k for k in content if not k.startswith("__")], key, path)]


def _pick(names, key, path):
    if key is not None:
        if key not in names:
            raise DataError(f"{path}: no variable {key!r} (found: {', '.join(names)})")
        return key
    if len(names) != 1:
        raise DataError(f"{path}: holds {len(names)} variables ({', '.join(names)}); name one")
    return names[0]


def kspace_to_dynmri(k: np.ndarray, path: str | Path = "kspace") -> np.ndarray:
    """MATLAB ``(kx, ky, [coil], slice, t)`` -> ``(S, [N], T, H, W)`` complex64."""
    if k.ndim == 4:
        out = k.transpose(2, 3, 0, 1)
    elif k.ndim == 5:
        out = k.transpose(3, 2, 4, 0, 1)
    else:
        raise ShapeError(f"{path}: CMRxRecon k-space must be (kx, ky, [coil], slice, t), got shape {k.shape}")
    if not np.all(np.isfinite(out)):
        raise DataError(f"{path}: k-space contains NaN or Inf")
    return np.ascontiguousarray(out).astype(np.complex64)


def mask_to_dynmri(m: np.ndarray, frames: int, path: str | Path = "mask") -> np.ndarray:
    """MATLAB ``(kx, ky)`` or ``(kx, ky, t)`` -> ``(T, H, W)`` uint8."""
    if m.ndim == 2:
        m = np.broadcast_to(m[None], (frames, *m.shape))
    elif m.ndim == 3:
        m = m.transpose(2, 0, 1)
    else:
        raise ShapeError(f"{path}: mask must be (kx, ky) or (kx, ky, t), got shape {m.shape}")
    if m.shape[0] != frames:
        raise ShapeError(f"{path}: mask has {m.shape[0]} frames, k-space has {frames}")
    return (np.asarray(m) != 0).astype(np.uint8)


def find_files(root: str | Path, coil: str = "SingleCoil", view: str = "sax", split: str = "TrainingSet") -> list[Path]:
    """The fully sampled ``cine_<view>.mat`` files under ``root``, one per subject, sorted."""
    if coil not in COILS:
        raise DataError(f"coil must be one of {COILS}, got {coil!r}")
    base = Path(root) / coil / "Cine" / split / "FullSample"
    if not base.is_dir():
        raise DataError(f"{root}: no CMRxRecon folder {base.relative_to(root)}")
    files = sorted(base.glob(f"*/cine_{view}.mat"))
    if not files:
        raise DataError(f"{base}: no */cine_{view}.mat files")
    return files


def load_subject(path: str | Path, mask_folder: str | None = None) -> tuple[np.ndarray, np.ndarray | None]:
    """k-space ``(S, [N], T, H, W)`` of one subject and, with ``mask_folder`` (a sibling of
    ``FullSample`` such as ``TimeVaryingGaussianMask08``), its mask ``(T, H, W)``."""
    path = Path(path)
    k = kspace_to_dynmri(load_mat(path), path)
    if mask_folder is None:
        return k, None
    mpath = path.parents[1].parent / mask_folder / path.parent.name / path.name.replace(".mat", "_mask.mat")
    return k, mask_to_dynmri(load_mat(mpath), k.shape[-3], mpath)


def images_from_kspace(k: np.ndarray) -> np.ndarray:
    """Fully sampled k-space ``(S, [N], T, H, W)`` -> images ``(S, T, H, W)``: complex for one
    coil, root-sum-of-squares magnitude for several."""
    import torch
    from deepinv.utils.mixins import MRIMixin

    img = MRIMixin.ifft(torch.from_numpy(k)).numpy()
    if k.ndim == 5:
        return np.sqrt((np.abs(img) ** 2).sum(axis=1)).astype(np.float32)
    return img.astype(np.complex64)


def load_cmrxrecon(root: str | Path, coil: str = "SingleCoil", view: str = "sax") -> tuple[np.ndarray, list[str]]:
    """Ground-truth images ``(S, T, H, W)`` of every subject, and each slice's subject id."""
    videos, groups = [], []
    shape = None
    for path in find_files(root, coil, view):
        img = images_from_kspace(load_subject(path)[0])
        if shape is not None and img.shape[1:] != shape:
            raise ShapeError(f"{path}: videos {img.shape[1:]} differ from earlier subjects {shape}; load subjects separately")
        shape = img.shape[1:]
        videos.append(img)
        groups += [path.parent.name] * img.shape[0]
    return np.concatenate(videos), groups


def acquisition_from_subject(path: str | Path, mask_folder: str):
    """An :class:`~dynmri.data.files.Acquisition` of a subject's real k-space under its challenge mask."""
    from dynmri.data.files import Acquisition

    k, mask = load_subject(path, mask_folder)
    S = k.shape[0]
    masks = np.broadcast_to(mask[None], (S, *mask.shape)).copy()
    m_b = masks[:, None] if k.ndim == 5 else masks
    target = images_from_kspace(k)
    return Acquisition(kspace=(k * m_b).astype(np.complex64), mask=masks, target=target.astype(np.complex64),
                       meta={"source": str(path), "mask_folder": mask_folder, "kind": "cmrxrecon"})
