"""``.npz`` cine arrays ``[nsamples, nt, nx, ny]`` (the layout of the public "cine.npz")."""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np

from dynmri.errors import DataError, ShapeError


def load_npz_cine(path: str | Path, key: str | None = None) -> np.ndarray:
    """Load ``(S, T, H, W)`` videos (real or complex) from ``path``.

    ``key`` names the array; without it the file must hold exactly one array.
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: file not found")
    try:
        with np.load(path, allow_pickle=False) as f:
            names = list(f.files)
            if key is None:
                if len(names) != 1:
                    raise DataError(f"{path}: holds {len(names)} arrays ({', '.join(names)}); choose one with a key")
                key = names[0]
            if key not in names:
                raise DataError(f"{path}: no array {key!r} (found: {', '.join(names)})")
            arr = f[key]
    except DataError:
        raise
    except (zipfile.BadZipFile, EOFError, OSError, ValueError) as exc:
        raise DataError(f"{path}: cannot read ({type(exc).__name__}: {exc}); truncated or not an .npz file") from exc
    if not np.issubdtype(arr.dtype, np.number):
        raise DataError(f"{path}: array {key!r} must hold numbers, got dtype {arr.dtype}")
    if arr.ndim != 4:
        raise ShapeError(f"{path}: array {key!r} must be [nsamples, nt, nx, ny], got shape {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise DataError(f"{path}: array {key!r} contains NaN or Inf")
    return arr
