"""DICOM cine loader: one or several series, single-frame or multi-frame files.

Single-frame files are grouped by (series, slice position) and each group is ordered by
trigger time; a multi-frame file is one slice whose frames are already in time order.
Every group must have the same number of frames and the same image size.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from dynmri.errors import DataError

DICOM_SUFFIXES = {".dcm", ".dicom", ".ima"}


@dataclass
class CineSeries:
    """Magnitude cine videos ``(S, T, H, W)`` float32 with pixel spacing (mm), frame times
    ``(S, T)`` in ms, slice locations ``(S,)`` and a group id per slice (its series)."""

    videos: np.ndarray
    pixel_spacing: tuple[float, float]
    frame_times: np.ndarray
    slice_locations: np.ndarray
    groups: list[str]


def _is_dicom(path: Path) -> bool:
    if path.suffix.lower() in DICOM_SUFFIXES:
        return True
    if path.suffix:
        return False
    try:
        with open(path, "rb") as f:
            f.seek(128)
            return f.read(4) == b"DICM"
    except OSError:
        return False


def _slice_key(ds) -> float:
    if "SliceLocation" in ds:
        return round(float(ds.SliceLocation), 3)
    if "ImagePositionPatient" in ds and "ImageOrientationPatient" in ds:
        o = np.array(ds.ImageOrientationPatient, dtype=float)
        return round(float(np.dot(np.cross(o[:3], o[3:]), np.array(ds.ImagePositionPatient, dtype=float))), 3)
    raise DataError(f"{ds.filename}: no SliceLocation or ImagePositionPatient to group frames by slice")


def _pixels(ds, path: Path) -> np.ndarray:
    try:
        arr = ds.pixel_array.astype(np.float32)
    except Exception as exc:  # pydicom raises many types for truncated pixel data
        raise DataError(f"{path}: cannot decode pixel data ({type(exc).__name__}: {exc}); the file may be truncated") from exc
    slope = float(getattr(ds, "RescaleSlope", 1) or 1)
    intercept = float(getattr(ds, "RescaleIntercept", 0) or 0)
    return arr * slope + intercept


def load_dicom_cine(folder: str | Path) -> CineSeries:
    """Load every DICOM cine below ``folder`` as magnitude videos ``(S, T, H, W)``.

    Examples
    --------
    On the Sunnybrook short-axis series (checked in ``tests/test_loaders.py``)::

        cine = load_dicom_cine("../shared/data/sunnybrook-ep-cine/E774S5-shortAxis")
        cine.videos.shape  # (20, 20, 256, 256); cine.frame_times[0, :2] -> [10., 41.]
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise DataError(f"{folder}: not a folder of DICOM files")
    files = sorted(p for p in folder.rglob("*") if p.is_file() and _is_dicom(p))
    if not files:
        raise DataError(f"{folder}: no DICOM files found")
    groups: dict[tuple[str, float], list] = {}
    spacing = None
    for path in files:
        ds = _read(path)
        if spacing is None and "PixelSpacing" in ds:
            spacing = tuple(float(s) for s in ds.PixelSpacing)
        _add_frames(groups, ds, _pixels(ds, path), str(getattr(ds, "SeriesInstanceUID", folder.name)), path)
    keys = _check_groups(groups, folder)
    videos, times, locs = [], [], []
    for k in keys:
        frames = sorted(groups[k], key=lambda tf: tf[0])
        videos.append(np.stack([f for _, f in frames]))
        times.append([t for t, _ in frames])
        locs.append(k[1] if isinstance(k[1], float) else np.nan)
    return CineSeries(
        videos=np.stack(videos).astype(np.float32),
        pixel_spacing=spacing or (1.0, 1.0),
        frame_times=np.array(times, dtype=np.float64),
        slice_locations=np.array(locs, dtype=np.float64),
        groups=[k[0] for k in keys],
    )


def _read(path: Path):
    """One DICOM dataset with pixel data, else DataError."""
    import pydicom
    from pydicom.errors import InvalidDicomError

    try:
        ds = pydicom.dcmread(path)
    except (InvalidDicomError, OSError, EOFError, ValueError, AttributeError) as exc:
        raise DataError(f"{path}: unreadable DICOM ({type(exc).__name__}: {exc})") from exc
    if "PixelData" not in ds:
        raise DataError(f"{path}: DICOM file has no pixel data")
    return ds


def _add_frames(groups: dict, ds, pixels: np.ndarray, series: str, path: Path) -> None:
    """Append ``(trigger time, frame)`` pairs to the group of their slice: a multi-frame file
    is a group of its own, single frames are grouped by series and slice position."""
    n_frames = int(getattr(ds, "NumberOfFrames", 1) or 1)
    if n_frames > 1:
        frame_ms = float(getattr(ds, "FrameTime", 0) or 0)
        t0 = float(getattr(ds, "TriggerTime", 0) or 0)
        times = t0 + frame_ms * np.arange(n_frames)
        groups[(series, str(path))] = [(t, f) for t, f in zip(times, pixels, strict=True)]
    else:
        key = (series, _slice_key(ds))
        t = float(getattr(ds, "TriggerTime", getattr(ds, "InstanceNumber", len(groups.get(key, [])))))
        groups.setdefault(key, []).append((t, pixels))


def _check_groups(groups: dict, folder: Path) -> list:
    """The slice groups in order (series, then position); every slice must have the same number
    of frames of the same size."""
    keys = sorted(groups, key=lambda k: (k[0], k[1] if isinstance(k[1], float) else 0.0, str(k[1])))
    lengths = {len(groups[k]) for k in keys}
    if len(lengths) != 1:
        counts = {f"{k[0][-8:]}:{k[1]}": len(groups[k]) for k in keys}
        raise DataError(f"{folder}: slices have different numbers of frames ({counts}); a file may be missing")
    shapes = {groups[k][0][1].shape for k in keys}
    if len(shapes) != 1:
        raise DataError(f"{folder}: images have different sizes {sorted(shapes)}")
    return keys
