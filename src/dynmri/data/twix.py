r"""Siemens raw data (twix ``.dat``) -> dynmri's acquisition layout, through ``twixtools``.

VD/VE files are tested (written by ``twixtools.write_twix``); VB files are parsed by
``twixtools`` the same way but untested here.

Cartesian 2D cine (frames from the cardiac ``Phs`` counter) and real-time (``Rep``) data.
Each measurement data block (MDB) is mapped to an ISMRMRD readout header, as
``siemens_to_ismrmrd`` does, and the readouts go through the same
:class:`~dynmri.data.ismrmrd.RawReader` as ISMRMRD files: the counters give the sampling
pattern, readout oversampling is cropped in image space, averages are averaged, sets and echoes
are refused unless one is chosen (``set_index``, ``contrast``), partial Fourier and asymmetric
echo are zero-filled (see :mod:`dynmri.data.ismrmrd`).

========================  =======================================================
twix                      ISMRMRD readout header
========================  =======================================================
``Lin``, ``Par``          ``kspace_encode_step_1``, ``kspace_encode_step_2``
``Ave``, ``Sli``, ``Eco``  ``average``, ``slice``, ``contrast``
``Phs``, ``Rep``, ``Set``  ``phase``, ``repetition``, ``set``
``CenterCol``             ``center_sample``
``TimeStamp``             ``acquisition_time_stamp`` (2.5 ms ticks)
``PMUTimeStamp``          ``physiology_time_stamp[0]`` (2.5 ms ticks)
``SliceData``             ``position`` (Sag, Cor, Tra mm) and, from the quaternion, the
                          read / phase / slice directions (as ``twixtools.geometry``)
flags                     noise adjust, PAT reference only, phase correction, feedback,
                          phase stabilisation, FID navigator (``noname60``) and retro dummy
                          scans are skipped; ``REFLECT`` is refused (EPI/bipolar)
========================  =======================================================

Encoding, from the protocol (``MeasYaps``): ``sKSpace.lBaseResolution`` (reconstructed
readout), ``Dicom.flReadoutOSFactor`` (readout oversampling, 2 when absent: Siemens always
oversamples the readout by 2), ``sKSpace.lPhaseEncodingLines`` (lines), the first slice's
``dReadoutFOV``, ``dPhaseFOV``, ``dThickness``; the k-space centre line is the MDHs'
``CenterLin``. Non-Cartesian (``sKSpace.ucTrajectory`` other than 1) and 3D
(``ucDimension`` 4) measurements are refused: twix carries no trajectory coordinates.
Phase oversampling is kept (images cover the encoded FOV along the phase direction).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from dynmri.data.ismrmrd import Encoding, RawReader
from dynmri.errors import DataError

# twix flag -> ISMRMRD flag bit (dynmri.data.ismrmrd.SKIP_FLAGS, 22 = reverse)
FLAG_MAP = {
    "NOISEADJSCAN": 19,
    "PATREFANDIMASCAN": 21,
    "REFLECT": 22,
    "noname60": 23,
    "PHASCOR": 24,
    "HPFEEDBACK": 26,
    "RETRO_DUMMYSCAN": 27,
    "RTFEEDBACK": 28,
    "REFPHASESTABSCAN": 30,
    "PHASESTABSCAN": 31,
}
COUNTERS = {"Lin": "kspace_encode_step_1", "Par": "kspace_encode_step_2", "Ave": "average", "Sli": "slice",
            "Eco": "contrast", "Phs": "phase", "Rep": "repetition", "Set": "set", "Seg": "segment"}


def _flags(mdb) -> int:
    out = 0
    for twix_flag, bit in FLAG_MAP.items():
        if mdb.is_flag_set(twix_flag):
            out |= 1 << (bit - 1)
    if mdb.is_flag_set("PATREFSCAN") and not mdb.is_flag_set("PATREFANDIMASCAN"):
        out |= 1 << (20 - 1)
    return out


def _directions(quaternion) -> np.ndarray | None:
    """``(3, 3)`` columns phase, read, slice in patient coordinates, or None when unset."""
    q = np.asarray(quaternion, np.float64)
    if np.linalg.norm(q) < 0.5:
        return None
    from twixtools.geometry import quat_to_rotmat

    mat = quat_to_rotmat(*q)
    mat[:, :2] *= -1  # twixtools.geometry.prs2sct_mdb: readout and phase are flipped
    return mat


def mdb_headers(mdbs: Sequence) -> np.ndarray:
    """ISMRMRD readout headers (``ismrmrd.hdf5.acquisition_header_dtype``) of twix MDBs
    (headers only: no data is read)."""
    from ismrmrd.hdf5 import acquisition_header_dtype

    heads = np.zeros(len(mdbs), acquisition_header_dtype)
    for i, mdb in enumerate(mdbs):
        m, h = mdb.mdh, heads[i]
        h["flags"] = _flags(mdb)
        h["number_of_samples"], h["active_channels"], h["available_channels"] = m.SamplesInScan, m.UsedChannels, m.UsedChannels
        h["center_sample"] = m.CenterCol
        h["acquisition_time_stamp"] = m.TimeStamp
        h["physiology_time_stamp"][0] = m.PMUTimeStamp
        for twix_name, ismrmrd_name in COUNTERS.items():
            h["idx"][ismrmrd_name] = getattr(m.Counter, twix_name)
        pos = m.SliceData.SlicePos
        h["position"] = (pos.Sag, pos.Cor, pos.Tra)
        dirs = _directions(m.SliceData.Quaternion)
        if dirs is not None:
            h["phase_dir"], h["read_dir"], h["slice_dir"] = dirs[:, 0], dirs[:, 1], dirs[:, 2]
        heads[i] = h
    return heads


def _protocol(hdr: dict, keys: str, name: str, default=None):
    """``hdr[k1][k2]...`` for ``keys = "k1.k2..."`` (list indices as integers); a missing entry
    without ``default`` raises a :class:`DataError` naming it."""
    node = hdr
    for k in keys.split("."):
        try:
            node = node[int(k)] if k.isdigit() else node[k]
        except (KeyError, IndexError, TypeError):
            if default is not None:
                return default
            raise DataError(f"{name}: the twix protocol has no {keys} (not a 2D Cartesian Siemens measurement?)") from None
    return node


def encoding_from_twix(hdr: dict, center_line: int, name: str) -> Encoding:
    """The :class:`~dynmri.data.ismrmrd.Encoding` of a twix measurement (protocol ``hdr``)."""
    traj = int(_protocol(hdr, "MeasYaps.sKSpace.ucTrajectory", name, 1))
    if traj != 1:
        kind = {2: "radial", 4: "spiral", 8: "propeller"}.get(traj, f"type {traj}")
        raise DataError(f"{name}: {kind} twix data is not supported (twix holds no trajectory coordinates; convert to "
                        "ISMRMRD with the trajectory)")
    dim = int(_protocol(hdr, "MeasYaps.sKSpace.ucDimension", name, 2))
    base = int(_protocol(hdr, "MeasYaps.sKSpace.lBaseResolution", name))
    lines = int(_protocol(hdr, "MeasYaps.sKSpace.lPhaseEncodingLines", name))
    ros = float(_protocol(hdr, "Dicom.flReadoutOSFactor", name, 2.0))
    fov_ro = float(_protocol(hdr, "MeasYaps.sSliceArray.asSlice.0.dReadoutFOV", name))
    fov_pe = float(_protocol(hdr, "MeasYaps.sSliceArray.asSlice.0.dPhaseFOV", name))
    thick = float(_protocol(hdr, "MeasYaps.sSliceArray.asSlice.0.dThickness", name))
    z = int(_protocol(hdr, "MeasYaps.sKSpace.lPartitions", name, 1)) if dim == 4 else 1
    return Encoding(trajectory="cartesian", encoded_matrix=(int(round(base * ros)), lines, z), recon_matrix=(base, lines, z),
                    encoded_fov=(fov_ro * ros, fov_pe, thick), recon_fov=(fov_ro, fov_pe, thick),
                    line_limits=(0, lines - 1, int(center_line))).check(name)


class TwixFile:
    """A parsed twix measurement: protocol, MDB headers, readouts on demand (:meth:`reader`).

    ``scan`` picks the measurement of a multi-RAID file (default the last, the imaging scan).
    """

    def __init__(self, path: str | os.PathLike, scan: int = -1):
        self.path = Path(path)
        name = str(self.path)
        if not self.path.is_file():
            raise DataError(f"{name}: file not found")
        scans = _parse(self.path)
        try:
            meas = scans[scan]
        except IndexError:
            raise DataError(f"{name}: scan {scan} not found ({len(scans)} measurement(s) in the file)") from None
        if "hdr" not in meas or "MeasYaps" not in meas["hdr"]:
            raise DataError(f"{name}: not a Siemens twix file (no protocol header MeasYaps in the measurement)")
        self.hdr = meas["hdr"]
        self.mdbs = [m for m in meas["mdb"] if not (m.is_flag_set("SYNCDATA") or m.is_flag_set("ACQEND"))]
        if not self.mdbs:
            raise DataError(f"{name}: no readouts in the measurement (truncated file?)")
        size = self.path.stat().st_size
        beyond = sum(1 for m in self.mdbs if m.mem_pos is not None and m.mem_pos + int(m.dma_len) > size)
        if beyond:
            raise DataError(f"{name}: truncated file: {beyond} readout(s) extend beyond its end ({size} bytes)")
        self.heads = mdb_headers(self.mdbs)
        image = [m for m in self.mdbs if m.is_image_scan()]
        self.encoding = encoding_from_twix(self.hdr, image[0].mdh.CenterLin if image else 0, name)

    def _read(self, indices: np.ndarray) -> tuple[list, list]:
        chosen = [self.mdbs[i] for i in indices]
        with open(self.path, "rb") as fid:
            for m in chosen:  # one open file for all reads (twixtools reopens it per MDB otherwise)
                m.fid = fid
            try:
                data = [np.asarray(m.data, np.complex64) for m in chosen]
            except (OSError, ValueError) as exc:
                raise DataError(f"{self.path}: cannot read readouts ({type(exc).__name__}: {exc}); truncated file?") from exc
        return data, [None] * len(chosen)

    def reader(self, **options) -> RawReader:
        return RawReader(self.encoding, self.heads, self._read, str(self.path), source_kind="twix", **options)


def _parse(path: Path) -> list:
    """``twixtools.read_twix`` without its progress output; any failure is a :class:`DataError`."""
    import contextlib
    import io

    import twixtools

    try:
        with contextlib.redirect_stdout(io.StringIO()):
            scans = twixtools.read_twix(str(path), parse_pmu=False, parse_geometry=False, verbose=False, keep_syncdata=False)
    except Exception as exc:  # twixtools raises struct, index, value and OS errors on bad files
        raise DataError(f"{path}: not a readable Siemens twix file ({type(exc).__name__}: {exc})") from exc
    scans = [s for s in scans if isinstance(s, dict)]
    if not scans:
        raise DataError(f"{path}: no measurement in the twix file")
    return scans


def read_twix(path: str | os.PathLike, *, slices: Sequence[int] | None = None, set_index: int | None = None,
              contrast: int | None = None, scan: int = -1, tick_ms: float = 2.5) -> tuple[dict, dict]:
    """Read a twix ``.dat`` into ``(arrays, meta)`` as :func:`dynmri.data.files.read_arrays`
    returns them (``Acquisition.load`` calls this for ``.dat`` files); slices are read one at
    a time. Options as :class:`~dynmri.data.ismrmrd.RawReader`; ``slices`` are ``Sli`` counters."""
    f = TwixFile(path, scan=scan)
    arrays, meta = f.reader(set_index=set_index, contrast=contrast, tick_ms=tick_ms).read(slices)
    return arrays, {"source": str(path)} | meta
