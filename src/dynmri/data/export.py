r"""Viewer-ready images out: a reconstruction as a DICOM series or a NIfTI file.

Both take the magnitude of a reconstruction ``(S, T, H, W)`` (complex or real; a
:class:`~dynmri.data.files.Reconstruction` too) and the acquisition's ``meta``, from which
they read the geometry and timing; what is missing takes the documented default:

========================  ====================================  ==============================
meta key                  meaning                               default
========================  ====================================  ==============================
``pixel_spacing_mm``      ``[dH, dW]``: between rows (along     ``[1.0, 1.0]``
                          ``H``) and columns (along ``W``)
``slice_thickness_mm``    slice thickness                       ``1.0``
``image_orientation``     DICOM ImageOrientationPatient: row    ``[1, 0, 0, 0, 1, 0]`` (axial)
                          (along ``W``) then column (along
                          ``H``) direction cosines, LPS
``image_position_mm``     ``(S, 3)`` centre of pixel ``(0, 0)``  slice ``s`` centred on
                          of each slice, LPS                    ``(0, 0, z_s)``
``slice_locations``       source slice locations (mm; with      ``z_s = s * thickness``
                          ``slices``, the chosen ones)
``frame_times_ms``        ``(S, T)`` (or ``(T,)``) frame        none: DICOM TriggerTime is
                          times                                 left out, NIfTI time step 1
                                                                in unknown units
========================  ====================================  ==============================

The ISMRMRD and twix readers (:mod:`dynmri.data.ismrmrd`) write all of these; simulations
from DICOM sources carry ``pixel_spacing_mm``, ``slice_locations`` and ``frame_times_ms``.

Outputs are atomic: a DICOM series is written into a hidden temporary folder beside
``out_dir`` (each file through :func:`dynmri.fileio.atomic_path`) and renamed onto it at the
end; a NIfTI file through :func:`dynmri.fileio.atomic_path`.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from dynmri.errors import DataError, ParameterError, ShapeError
from dynmri.fileio import atomic_path

MR_IMAGE_STORAGE = "1.2.840.10008.5.1.4.1.1.4"


@dataclass(frozen=True)
class Geometry:
    """Where the pixels of a reconstruction ``(S, T, H, W)`` are, in patient coordinates (LPS, mm).

    ``spacing`` ``(dH, dW)``; ``orientation`` ``(6,)`` (row cosines along ``W``, column cosines
    along ``H``); ``positions`` ``(S, 3)`` centres of pixel ``(0, 0)``; ``frame_times`` ``(S, T)``
    ms or None; ``defaulted`` names the entries that took their default.
    """

    spacing: tuple[float, float]
    thickness: float
    orientation: np.ndarray
    positions: np.ndarray
    frame_times: np.ndarray | None
    defaulted: tuple[str, ...]

    @property
    def normal(self) -> np.ndarray:
        return np.cross(self.orientation[:3], self.orientation[3:])


def _slice_z(meta: dict, S: int, thickness: float) -> np.ndarray:
    locs, chosen = meta.get("slice_locations"), meta.get("slices")
    if locs is not None and chosen is not None and len(chosen) == S and all(0 <= int(i) < len(locs) for i in chosen):
        return np.asarray([locs[int(i)] for i in chosen], float)
    if locs is not None and len(locs) == S:
        return np.asarray(locs, float)
    return np.arange(S) * thickness


def _frame_times(meta: dict, S: int, T: int) -> np.ndarray | None:
    ft = meta.get("frame_times_ms")
    if ft is None:
        return None
    ft = np.asarray(ft, float)
    if ft.shape == (T,):
        ft = np.broadcast_to(ft, (S, T))
    if ft.shape != (S, T):
        raise ShapeError(f"meta frame_times_ms has shape {ft.shape}; the reconstruction needs (S, T) = {(S, T)} or (T,)")
    return ft


def geometry(meta: dict | None, shape: tuple[int, int, int, int]) -> Geometry:
    """The :class:`Geometry` of a reconstruction of ``shape (S, T, H, W)`` from ``meta`` (defaults
    in the module docstring)."""
    meta = meta or {}
    S, T, H, W = shape
    defaulted = [k for k in ("pixel_spacing_mm", "slice_thickness_mm", "image_orientation", "frame_times_ms") if k not in meta]
    dH, dW = (float(v) for v in meta.get("pixel_spacing_mm", (1.0, 1.0)))
    thickness = float(meta.get("slice_thickness_mm", 1.0))
    orient = np.asarray(meta.get("image_orientation", (1, 0, 0, 0, 1, 0)), float)
    if orient.shape != (6,) or min(dH, dW, thickness) <= 0:
        raise ParameterError(f"meta: image_orientation must hold 6 numbers and spacings be > 0, got {orient.tolist()}, "
                             f"{[dH, dW]}, {thickness}")
    if "image_position_mm" in meta:
        pos = np.asarray(meta["image_position_mm"], float)
        if pos.shape != (S, 3):
            raise ShapeError(f"meta image_position_mm has shape {pos.shape}; the reconstruction needs (S, 3) = {(S, 3)}")
    else:
        defaulted.append("image_position_mm")
        row, col = orient[:3], orient[3:]
        centres = _slice_z(meta, S, thickness)[:, None] * np.cross(row, col)[None]
        pos = centres - (H // 2) * dH * col - (W // 2) * dW * row
    return Geometry((dH, dW), thickness, orient, pos, _frame_times(meta, S, T), tuple(defaulted))


def magnitude(recon) -> np.ndarray:
    """``|recon|`` ``(S, T, H, W)`` float32 of an array or a Reconstruction, checked."""
    arr = np.asarray(getattr(recon, "recon", recon))
    if arr.ndim != 4:
        raise ShapeError(f"recon must be (S, T, H, W), got shape {arr.shape}")
    mag = np.abs(arr).astype(np.float32)
    if not np.all(np.isfinite(mag)):
        raise DataError("recon contains NaN or Inf values")
    return mag


# ---------------------------------------------------------------------------------------------
# atomic folders


@contextlib.contextmanager
def atomic_folder(out_dir: str | os.PathLike, overwrite: bool = False) -> Iterator[Path]:
    """Yield a hidden temporary folder beside ``out_dir``; rename it onto ``out_dir`` on success.

    An existing ``out_dir`` is refused unless ``overwrite`` (then it is replaced only once
    the new folder is complete). An error leaves no temporary folder and the old one intact.
    """
    out_dir = Path(out_dir)
    if out_dir.exists() and (not overwrite or not out_dir.is_dir()):
        raise DataError(f"{out_dir} exists; choose a new folder" + ("" if out_dir.is_dir() else " (it is a file)") + " or overwrite it")
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = out_dir.parent / f".{out_dir.name}.{os.getpid()}.{secrets.token_hex(4)}.tmpdir"
    tmp.mkdir()
    old = None
    try:
        yield tmp
        if out_dir.exists():
            old = out_dir.parent / f".{out_dir.name}.{os.getpid()}.{secrets.token_hex(4)}.old"
            os.replace(out_dir, old)
        os.replace(tmp, out_dir)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)


# ---------------------------------------------------------------------------------------------
# DICOM


def _scaling(mag: np.ndarray) -> tuple[float, np.ndarray]:
    """``(slope, stored)``: uint16 values with ``value = stored * slope`` (intercept 0), one
    slope for the series so that every image shares one intensity scale."""
    peak = float(mag.max())
    slope = peak / 65535.0 if peak > 0 else 1.0
    return slope, np.clip(np.rint(mag / slope), 0, 65535).astype(np.uint16)


def _series_dataset(geo: Geometry, shape, method: str, series_number: int, patient: tuple[str, str], uids: dict):
    """The attributes shared by every image of the series (patient, study, series, equipment,
    MR image module, pixel format)."""
    from pydicom.dataset import Dataset

    from dynmri import __version__

    S, T, H, W = shape
    ds = Dataset()
    ds.SOPClassUID, ds.Modality = MR_IMAGE_STORAGE, "MR"
    ds.PatientName, ds.PatientID = patient
    ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.FrameOfReferenceUID = uids["study"], uids["series"], uids["frame"]
    ds.StudyID, ds.SeriesNumber, ds.AccessionNumber = "1", int(series_number), ""
    for empty in ("PatientBirthDate", "PatientSex", "StudyDate", "StudyTime", "ReferringPhysicianName", "PositionReferenceIndicator"):
        setattr(ds, empty, "")  # type 2: present, unknown
    ds.SeriesDescription = f"dynmri {method}"
    ds.ImageType = ["DERIVED", "SECONDARY", "M"]
    ds.Manufacturer, ds.SoftwareVersions = "dynmri", __version__
    ds.ScanningSequence, ds.SequenceVariant, ds.ScanOptions, ds.MRAcquisitionType = "RM", "NONE", "", "2D"
    ds.PixelSpacing = [f"{geo.spacing[0]:.6g}", f"{geo.spacing[1]:.6g}"]
    ds.SliceThickness = f"{geo.thickness:.6g}"
    ds.ImageOrientationPatient = [f"{v:.6f}" for v in geo.orientation]
    ds.Rows, ds.Columns = H, W
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 0
    ds.CardiacNumberOfImages = ds.NumberOfTemporalPositions = T
    return ds


def _image_dataset(base, geo: Geometry, s: int, t: int, T: int, pixels: np.ndarray, slope: float, uid: str):
    """One image: slice ``s``, frame ``t``."""
    import copy

    from pydicom.dataset import FileMetaDataset
    from pydicom.uid import PYDICOM_IMPLEMENTATION_UID, ExplicitVRLittleEndian

    ds = copy.deepcopy(base)
    ds.file_meta = FileMetaDataset()
    ds.file_meta.MediaStorageSOPClassUID, ds.file_meta.MediaStorageSOPInstanceUID = MR_IMAGE_STORAGE, uid
    ds.file_meta.TransferSyntaxUID, ds.file_meta.ImplementationClassUID = ExplicitVRLittleEndian, PYDICOM_IMPLEMENTATION_UID
    ds.SOPInstanceUID = uid
    ds.InstanceNumber = s * T + t + 1
    ds.TemporalPositionIdentifier = t + 1
    ds.ImagePositionPatient = [f"{v:.4f}" for v in geo.positions[s]]
    ds.SliceLocation = f"{float(np.dot(geo.normal, geo.positions[s])):.4f}"
    if geo.frame_times is not None:
        ds.TriggerTime = f"{geo.frame_times[s, t]:.3f}"
    ds.RescaleSlope, ds.RescaleIntercept, ds.RescaleType = f"{slope:.8g}", "0", "US"
    peak = float(pixels.max()) * slope
    ds.WindowCenter, ds.WindowWidth = f"{peak / 2:.6g}", f"{max(peak, 1e-12):.6g}"
    ds.PixelData = np.ascontiguousarray(pixels, "<u2").tobytes()
    return ds


def write_dicom(recon, out_dir: str | os.PathLike, *, meta: dict | None = None, method: str, series_number: int = 1,
                patient_name: str = "Anonymous", patient_id: str = "dynmri", overwrite: bool = False) -> list[Path]:
    """Write the magnitude of ``recon`` ``(S, T, H, W)`` as a DICOM MR Image Storage series.

    One file per image, ``out_dir/s{slice:03d}_t{frame:03d}.dcm``, all in one series
    (SeriesDescription ``"dynmri <method>"``), explicit VR little endian, uint16 with one
    ``RescaleSlope`` for the series (``value = stored * slope``, intercept 0). Geometry and timing
    from ``meta`` (:func:`geometry`): PixelSpacing, SliceThickness, ImageOrientationPatient,
    ImagePositionPatient, SliceLocation, TriggerTime (ms, when frame times are known),
    TemporalPositionIdentifier and CardiacNumberOfImages/NumberOfTemporalPositions ``T``.
    UIDs are new random (uuid4) UIDs. Written atomically (:func:`atomic_folder`); returns the
    file paths in ``out_dir``.
    """
    from pydicom.uid import generate_uid

    mag = magnitude(recon)
    S, T, H, W = mag.shape
    geo = geometry(meta, mag.shape)
    slope, stored = _scaling(mag)
    uids = {k: generate_uid() for k in ("study", "series", "frame")}
    base = _series_dataset(geo, mag.shape, method, series_number, (patient_name, patient_id), uids)
    names = []
    with atomic_folder(out_dir, overwrite) as tmp:
        for s in range(S):
            for t in range(T):
                ds = _image_dataset(base, geo, s, t, T, stored[s, t], slope, generate_uid())
                name = f"s{s:03d}_t{t:03d}.dcm"
                with atomic_path(tmp / name) as f:
                    ds.save_as(f, enforce_file_format=True)
                names.append(name)
    return [Path(out_dir) / n for n in names]


# ---------------------------------------------------------------------------------------------
# NIfTI


def _slice_spacing(geo: Geometry) -> float:
    """Distance between consecutive slices along the normal (the thickness for one slice);
    unequal spacing raises a :class:`ParameterError`."""
    if len(geo.positions) < 2:
        return geo.thickness
    steps = np.diff(geo.positions @ geo.normal)
    if np.abs(steps - steps[0]).max() > 1e-3 * max(abs(steps[0]), 1.0) or abs(steps[0]) < 1e-6:
        raise ParameterError(f"slices are not equally spaced along their normal (steps {np.round(steps, 3).tolist()} mm); "
                             "write one slice at a time (recon[s:s+1])")
    return float(steps[0])


def nifti_affine(geo: Geometry) -> np.ndarray:
    """The NIfTI voxel-to-world (RAS, mm) affine of voxels ``(i, j, k) = (row h, column w, slice s)``
    (DICOM LPS negated in x and y)."""
    affine = np.eye(4)
    affine[:3, 0] = geo.orientation[3:] * geo.spacing[0]
    affine[:3, 1] = geo.orientation[:3] * geo.spacing[1]
    affine[:3, 2] = geo.normal * _slice_spacing(geo)
    affine[:3, 3] = geo.positions[0]
    return np.diag([-1.0, -1.0, 1.0, 1.0]) @ affine


def write_nifti(recon, path: str | os.PathLike, *, meta: dict | None = None) -> Path:
    """Write the magnitude of ``recon`` ``(S, T, H, W)`` as a 2D+t NIfTI-1 file (``.nii`` or ``.nii.gz``).

    Data ``(H, W, S, T)`` float32 (``S = 1`` for one slice), affine :func:`nifti_affine`,
    ``pixdim = (dH, dW, slice spacing, dt)`` with ``dt`` the median frame interval and
    ``xyzt_units = ("mm", "msec")`` when frame times are known (else ``dt = 1``, time unit
    ``"unknown"``), ``toffset`` the first frame time. Written atomically.
    """
    import gzip

    import nibabel as nib

    path = Path(path)
    if not (path.name.endswith(".nii") or path.name.endswith(".nii.gz")):
        raise ParameterError(f"{path}: a NIfTI file name ends in .nii or .nii.gz")
    mag = magnitude(recon)
    geo = geometry(meta, mag.shape)
    img = nib.Nifti1Image(np.ascontiguousarray(mag.transpose(2, 3, 0, 1)), nifti_affine(geo))
    ft = geo.frame_times
    dt = float(np.median(np.diff(ft[0]))) if ft is not None and ft.shape[1] > 1 else 1.0
    img.set_qform(img.affine, code=1)
    img.set_sform(img.affine, code=1)
    img.header.set_xyzt_units("mm", "msec" if ft is not None else "unknown")
    img.header.set_zooms((geo.spacing[0], geo.spacing[1], float(np.linalg.norm(img.affine[:3, 2])), dt))
    img.header["toffset"] = float(ft[0, 0]) if ft is not None else 0.0
    data = img.to_bytes()
    with atomic_path(path) as tmp:
        Path(tmp).write_bytes(gzip.compress(data, mtime=0) if path.name.endswith(".gz") else data)
    return path
