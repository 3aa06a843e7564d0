r"""Raw scanner data in the ISMRMRD format (``.h5``) -> dynmri's acquisition layout, one slice at a time.

An ISMRMRD file holds an XML header (encoded and reconstructed spaces, encoding limits,
trajectory type) and one record per readout (a header with the encoding counters, the
samples ``(channels, samples)`` and, for non-Cartesian data, the trajectory ``(samples, dims)``).
:class:`RawReader` turns such readouts into dynmri's arrays (:mod:`dynmri.data.files`); it does
not care where they come from: :class:`IsmrmrdFile` feeds it from an ISMRMRD file and
:mod:`dynmri.data.twix` from a Siemens ``.dat`` (as ``siemens_to_ismrmrd`` would).

Mapping (every choice below is also written into the acquisition's ``meta``):

==========================  ==================================================================
ISMRMRD                     dynmri
==========================  ==================================================================
readout samples             ``H`` (image rows), k-space centre ``center_sample`` at ``H // 2``
``kspace_encode_step_1``    ``W`` (phase-encoding lines), limits' ``center`` at ``W // 2``
``slice``                   ``S`` (one sample per slice)
``phase``, ``repetition``   ``T``: ``frame = repetition * n_phases + phase`` (cine: phases,
                            real time: repetitions)
``average``                 averaged (sum / count per line and frame)
``set``, ``contrast``       one is read: more than one value is refused unless ``set_index``
                            / ``contrast`` picks one
channels                    ``N`` (squeezed when 1: single-coil layout)
==========================  ==================================================================

* **Sampling pattern.** The mask ``(T, H, W)`` is read from the counters: a line is sampled in
  a frame when a readout carries its ``(kspace_encode_step_1, frame)``; nothing is assumed.
* **Readout oversampling** (encoded FOV along x larger than the reconstructed one) is removed
  by cropping in image space: centred orthonormal inverse FFT along the readout, keep the
  central ``H = round(x_enc * fov_recon / fov_enc)`` pixels, FFT back. The k-space keeps the
  orthonormal scaling of :mod:`dynmri.physics` (a padded image's k-space crops to the
  k-space of the image).
* **Partial Fourier** (lines never acquired) is zero-filled: those lines are 0 in the mask of
  every frame, and methods treat them as unmeasured. **Asymmetric echo** (fewer samples than
  the encoded readout, ``center_sample`` off centre) is zero-filled before the oversampling
  removal; the number of missing samples is ``meta["partial_echo_samples"]``.
* **Skipped readouts**: noise, navigator, phase-correction, feedback, dummy and
  phase-stabilisation scans and separate parallel-imaging reference lines (counted in
  ``meta["skipped"]``); embedded reference lines (``ACQ_IS_PARALLEL_CALIBRATION_AND_IMAGING``)
  are image data.
* **Refused** with a :class:`~dynmri.errors.DataError`: a missing or invalid XML header,
  encoding limits that contradict the matrix or the counters, readouts shorter than their
  header says (truncated), 3D encoding, reversed (EPI/bipolar) readouts, trajectory types other
  than ``cartesian``, ``radial``, ``goldenangle`` and ``spiral``.
* **Non-Cartesian** (radial, golden-angle, spiral): every readout carries its trajectory; the
  shots of a frame are ordered by ``kspace_encode_step_1``. A trajectory whose largest
  coordinate exceeds 0.5 is taken to be in cycles/FOV (BART, ``[-N/2, N/2]``) and divided by
  the reconstructed matrix; otherwise it is in cycles/pixel (Gadgetron). Coordinates are then
  wrapped into dynmri's ``[-0.5, 0.5)`` (exact: the DFT on a pixel grid is 1-periodic in ``k``).
  All slices must share one trajectory (``(T, n_shots, n_samples, 2)``, ``k[..., 0]`` along
  the readout ``x`` = image axis ``H``).

Frame times (``meta["frame_times_ms"]``, ``(S, T)``): the mean physiology (trigger) time stamp
of a frame's readouts for cine data (frames from ``phase`` with trigger stamps), else the mean
acquisition time stamp from the slice's first readout; stamps are in ticks of ``tick_ms``
(2.5 ms on Siemens scanners, the ISMRMRD converters' unit).

Geometry: ``pixel_spacing_mm = [fov_x / H, fov_y / W]`` (recon FOV along the readout, encoded
FOV along the lines), ``slice_thickness_mm`` (encoded FOV z) and, when the readouts carry
direction cosines, the DICOM ``image_orientation`` (row direction = phase direction, column
direction = readout direction) and ``image_position_mm`` (centre of pixel ``(0, 0)``; the
slice position is pixel ``(H // 2, W // 2)``), patient coordinates (LPS) as in the file.

Usage (``Acquisition.load`` recognises ISMRMRD files and passes its options on)::

    acq = Acquisition.load("cine.h5", slices=[0, 2])      # dynmri.data.files.Acquisition
    arrays, meta = read_ismrmrd("cine.h5", set_index=1)   # the arrays and meta alone
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from dynmri._complex import centered_fft
from dynmri.errors import DataError

CARTESIAN = "cartesian"
NONCARTESIAN = ("radial", "goldenangle", "spiral")
SUPPORTED = (CARTESIAN, *NONCARTESIAN)

# ISMRMRD acquisition flags (bit numbers, 1-based, as in ismrmrd.constants)
FLAG_PARALLEL_CALIBRATION = 20
FLAG_REVERSE = 22
SKIP_FLAGS = {
    19: "noise",
    20: "calibration-only",
    23: "navigator",
    24: "phase-correction",
    26: "hp-feedback",
    27: "dummy",
    28: "rt-feedback",
    29: "surface-coil-correction",
    30: "phase-stabilisation-reference",
    31: "phase-stabilisation",
}


@dataclass(frozen=True)
class Encoding:
    """What dynmri needs from an ISMRMRD XML header (or a twix protocol).

    ``encoded_matrix`` and ``recon_matrix`` are ``(x, y, z)`` (x the readout, with its
    oversampling in the encoded space), the fields of view ``(x, y, z)`` in mm;
    ``line_limits`` ``(minimum, maximum, center)`` of ``kspace_encode_step_1`` (None: unknown,
    then the centre is ``y // 2``).
    """

    trajectory: str
    encoded_matrix: tuple[int, int, int]
    recon_matrix: tuple[int, int, int]
    encoded_fov: tuple[float, float, float]
    recon_fov: tuple[float, float, float]
    line_limits: tuple[int, int, int] | None = None

    @property
    def noncartesian(self) -> bool:
        return self.trajectory in NONCARTESIAN

    def readout_size(self) -> int:
        """``H``: the encoded readout cropped to the reconstructed FOV (oversampling removed)."""
        x = self.encoded_matrix[0]
        ratio = self.recon_fov[0] / self.encoded_fov[0] if self.encoded_fov[0] > 0 else 1.0
        return max(1, int(round(x * min(ratio, 1.0))))

    def check(self, name: str) -> Encoding:
        """Raise a :class:`DataError` naming what is inconsistent or unsupported."""
        if self.trajectory not in SUPPORTED:
            raise DataError(f"{name}: trajectory type {self.trajectory!r} is not supported (use one of {', '.join(SUPPORTED)})")
        if min(self.encoded_matrix[:2]) < 1 or min(self.recon_matrix[:2]) < 1:
            raise DataError(f"{name}: encoded matrix {self.encoded_matrix} / recon matrix {self.recon_matrix} must be positive")
        if self.encoded_matrix[2] > 1:
            raise DataError(f"{name}: 3D encoding (encoded matrix z = {self.encoded_matrix[2]}) is not supported; dynmri reads 2D slices")
        if self.line_limits is not None and not self.noncartesian:
            lo, hi, c = self.line_limits
            if not 0 <= lo <= c <= hi < self.encoded_matrix[1]:
                raise DataError(f"{name}: inconsistent encoding limits: kspace_encoding_step_1 (min {lo}, max {hi}, center {c}) "
                                f"does not fit the encoded matrix y = {self.encoded_matrix[1]}")
        return self


def encoding_from_xml(xml: bytes | str, name: str) -> Encoding:
    """The first encoding of an ISMRMRD XML header (``ismrmrd.xsd``), checked."""
    import ismrmrd.xsd

    try:
        header = ismrmrd.xsd.CreateFromDocument(xml)
        enc = header.encoding[0]
        es, rs = enc.encodedSpace, enc.reconSpace
        lim = enc.encodingLimits.kspace_encoding_step_1
        out = Encoding(
            trajectory=enc.trajectory.value,
            encoded_matrix=(es.matrixSize.x, es.matrixSize.y, es.matrixSize.z),
            recon_matrix=(rs.matrixSize.x, rs.matrixSize.y, rs.matrixSize.z),
            encoded_fov=(es.fieldOfView_mm.x, es.fieldOfView_mm.y, es.fieldOfView_mm.z),
            recon_fov=(rs.fieldOfView_mm.x, rs.fieldOfView_mm.y, rs.fieldOfView_mm.z),
            line_limits=None if lim is None else (lim.minimum, lim.maximum, lim.center),
        )
    except DataError:
        raise
    except Exception as exc:  # xsdata raises parser, value and attribute errors
        raise DataError(f"{name}: invalid ISMRMRD XML header ({type(exc).__name__}: {exc})") from exc
    return out.check(name)


# ---------------------------------------------------------------------------------------------
# Cartesian assembly


def remove_readout_oversampling(kspace: np.ndarray, size: int, axis: int = -2) -> np.ndarray:
    r"""Crop k-space along the readout ``axis`` to ``size`` pixels in image space.

    :math:`k' = F_{n}\, C\, F_{N}^{-1} k`: centred orthonormal inverse FFT over the ``N``
    encoded samples, keep the central ``size`` pixels (pixel ``N // 2`` becomes ``size // 2``),
    FFT back. The k-space of an image zero-padded from ``size`` to ``N`` pixels maps exactly
    onto the k-space of the image.

    Examples
    --------
    >>> k = np.fft.fftshift(np.fft.fft(np.fft.ifftshift(np.pad(np.arange(1.0, 5.0), 2)), norm="ortho"))
    >>> np.allclose(remove_readout_oversampling(k, 4, axis=0), np.fft.fftshift(np.fft.fft(np.fft.ifftshift(np.arange(1.0, 5.0)), norm="ortho")))
    True
    """
    n = kspace.shape[axis]
    if size == n:
        return kspace
    img = centered_fft(kspace, (axis,), inverse=True)
    start = n // 2 - size // 2
    img = np.take(img, np.arange(start, start + size), axis=axis)
    return centered_fft(img, (axis,)).astype(np.complex64)


@dataclass
class Readouts:
    """Readouts of one slice: ``data`` list of ``(N, n_samples)`` complex, per readout ``line``
    (phase-encoding counter), ``frame``, ``center`` (sample of the k-space centre) and, for
    non-Cartesian data, ``traj`` list of ``(n_samples, dims)``."""

    data: list
    line: np.ndarray
    frame: np.ndarray
    center: np.ndarray
    traj: list | None = None


def assemble_cartesian(ro: Readouts, frames: int, readout: int, lines: int, center_line: int, name: str):
    """Place readouts on the grid: k-space ``(N, T, readout, lines)`` complex64 (averages
    averaged) and the sampled-line count ``(T, lines)``; also returns the asymmetric-echo
    samples zero-filled. Line ``l`` goes to column ``l - center_line + lines // 2`` and sample
    ``j`` of a readout to row ``j - center + readout // 2``."""
    n_coils = ro.data[0].shape[0]
    col = ro.line.astype(int) - center_line + lines // 2
    if col.min() < 0 or col.max() >= lines:
        raise DataError(f"{name}: inconsistent encoding limits: line counters {int(ro.line.min())}..{int(ro.line.max())} "
                        f"with centre {center_line} do not fit {lines} phase-encoding lines")
    acc = np.zeros((frames, lines, n_coils, readout), np.complex64)
    count = np.zeros((frames, lines), np.int32)
    missing = 0
    for i, d in enumerate(ro.data):
        start = readout // 2 - int(ro.center[i])
        if start < 0 or start + d.shape[1] > readout:
            raise DataError(f"{name}: a readout of {d.shape[1]} samples centred at {int(ro.center[i])} does not fit the "
                            f"encoded readout of {readout} samples (inconsistent encoding)")
        acc[ro.frame[i], col[i], :, start : start + d.shape[1]] += d
        count[ro.frame[i], col[i]] += 1
        missing = max(missing, readout - d.shape[1])
    acc /= np.maximum(count, 1)[:, :, None, None]
    return acc.transpose(2, 0, 3, 1), count, missing


# ---------------------------------------------------------------------------------------------
# non-Cartesian


def convert_trajectory(k: np.ndarray, recon_matrix: Sequence[int], units: str = "auto", name: str = "trajectory") -> np.ndarray:
    """ISMRMRD trajectory coordinates ``(..., 2)`` -> cycles/pixel in dynmri's ``[-0.5, 0.5)``.

    ``units``: ``"cycles/pixel"`` (Gadgetron, ``[-0.5, 0.5]``), ``"1/fov"`` (BART,
    ``[-N/2, N/2]``, divided by the reconstructed matrix ``(x, y)``) or ``"auto"`` (``"1/fov"``
    when ``max |k| > 0.5``). The result is wrapped into ``[-0.5, 0.5)``; coordinates beyond
    0.5 by more than a thousandth raise a :class:`DataError`.

    Examples
    --------
    >>> convert_trajectory(np.array([[-64.0, 0.0], [32.0, 64.0]]), (128, 128)).tolist()
    [[-0.5, 0.0], [0.25, -0.5]]
    """
    k = np.asarray(k, np.float64)[..., :2]
    if units == "auto":
        units = "1/fov" if np.abs(k).max() > 0.5 + 1e-6 else "cycles/pixel"
    if units == "1/fov":
        k = k / np.asarray(recon_matrix[:2], np.float64)
    elif units != "cycles/pixel":
        raise DataError(f"{name}: trajectory units must be 'auto', 'cycles/pixel' or '1/fov', got {units!r}")
    if np.abs(k).max() > 0.5 + 1e-3:
        raise DataError(f"{name}: trajectory reaches |k| = {np.abs(k).max():.3f} cycles/pixel (> 0.5): not a 2D "
                        "trajectory in cycles/pixel or cycles/FOV of the reconstructed matrix")
    return (np.mod(k + 0.5, 1.0) - 0.5).astype(np.float32)


def assemble_noncartesian(ro: Readouts, frames: int, name: str):
    """k-space ``(N, T, M)`` and raw trajectory ``(T, n_shots, n_samples, dims)`` of one slice:
    the shots of each frame ordered by line counter (then acquisition order); repeated
    ``(frame, line)`` pairs (averages) are averaged."""
    keys = ro.frame.astype(np.int64) * 65536 + ro.line.astype(np.int64)
    uniq, inv = np.unique(keys, return_inverse=True)
    shots = np.bincount(uniq // 65536, minlength=frames)
    if shots.min() == 0 or shots.min() != shots.max():
        raise DataError(f"{name}: frames have {shots.min()}..{shots.max()} shots each; dynmri needs the same number of "
                        "spokes/interleaves in every frame (truncated acquisition?)")
    sizes = {d.shape[1] for d in ro.data}
    if len(sizes) != 1 or ro.traj is None or any(t.shape[0] != d.shape[1] for t, d in zip(ro.traj, ro.data, strict=True)):
        raise DataError(f"{name}: non-Cartesian readouts need one size ({sorted(sizes)} samples found) and a trajectory each")
    n_coils, ns = ro.data[0].shape[0], sizes.pop()
    data = np.zeros((len(uniq), n_coils, ns), np.complex64)
    traj = np.zeros((len(uniq), ns, ro.traj[0].shape[1]), np.float64)
    count = np.bincount(inv, minlength=len(uniq))[:, None, None]
    for i, (d, t) in enumerate(zip(ro.data, ro.traj, strict=True)):
        data[inv[i]] += d
        traj[inv[i]] += t
    data /= count
    traj /= count
    kspace = data.reshape(frames, shots[0], n_coils, ns).transpose(2, 0, 1, 3).reshape(n_coils, frames, -1)
    return kspace, traj.reshape(frames, shots[0], ns, -1)


# ---------------------------------------------------------------------------------------------
# the format-independent reader


def _counters(heads: np.ndarray, field: str) -> np.ndarray:
    return heads["idx"][field].astype(np.int64)


def _flag(heads: np.ndarray, bit: int) -> np.ndarray:
    return (heads["flags"] >> np.uint64(bit - 1)) & np.uint64(1) == 1


def _pick(values: np.ndarray, chosen: int | None, what: str, option: str, name: str) -> np.ndarray:
    """Readouts whose counter ``what`` equals ``chosen``; with ``chosen=None`` it must be unique."""
    present = np.unique(values)
    if chosen is None:
        if len(present) > 1:
            raise DataError(f"{name}: {len(present)} values of the '{what}' counter ({present.tolist()[:8]}); dynmri "
                            f"reads one: pass {option}=k")
        return np.ones(len(values), bool)
    if chosen not in present:
        raise DataError(f"{name}: {option}={chosen} not found (present: {present.tolist()[:8]})")
    return values == chosen


class RawReader:
    """Turns readout headers and data into dynmri arrays, one slice at a time.

    Parameters
    ----------
    encoding : Encoding
    heads : numpy structured array
        One ISMRMRD acquisition header per readout (``ismrmrd.hdf5.acquisition_header_dtype``;
        the fields ``flags``, ``idx``, ``active_channels``, ``center_sample``, time stamps and
        directions are used).
    read : callable
        ``read(indices) -> (data, traj)``: lists of ``(N, n_samples)`` complex and
        ``(n_samples, dims)`` float arrays of the readouts ``indices`` (increasing).
    name : str
        The source's name for messages.
    set_index, contrast : int, optional
        Which ``set`` / ``contrast`` to read when there are several.
    tick_ms : float
        Duration of a time-stamp tick.
    traj_units : str
        Non-Cartesian trajectory units, :func:`convert_trajectory`.
    source_kind : str
        ``meta["source_kind"]``: ``"ismrmrd"`` or ``"twix"``.

    A readout with ``center_sample = 0`` and as many samples as the encoded readout is taken
    to be symmetric (centre at ``x_enc // 2``): some converters leave the field unset.
    """

    def __init__(self, encoding: Encoding, heads: np.ndarray, read: Callable, name: str, *, set_index: int | None = None,
                 contrast: int | None = None, tick_ms: float = 2.5, traj_units: str = "auto", source_kind: str = "ismrmrd"):
        self.encoding, self.name, self._read = encoding, name, read
        self.tick_ms, self.traj_units, self.source_kind = float(tick_ms), traj_units, source_kind
        self._select(heads, set_index, contrast)

    def _select(self, heads: np.ndarray, set_index, contrast) -> None:
        name = self.name
        if len(heads) == 0:
            raise DataError(f"{name}: no readouts")
        keep = np.ones(len(heads), bool)
        self.skipped = {}
        for bit, what in SKIP_FLAGS.items():
            hit = _flag(heads, bit) & keep
            if bit == FLAG_PARALLEL_CALIBRATION:
                hit &= ~_flag(heads, FLAG_PARALLEL_CALIBRATION + 1)
            if hit.any():
                self.skipped[what] = int(hit.sum())
            keep &= ~hit
        if "encoding_space_ref" in heads.dtype.names and (other := keep & (heads["encoding_space_ref"] != 0)).any():
            self.skipped["other-encoding"] = int(other.sum())
            keep &= ~other
        if not keep.any():
            raise DataError(f"{name}: no imaging readouts (only {', '.join(self.skipped) or 'nothing'})")
        keep[keep] &= _pick(_counters(heads[keep], "set"), set_index, "set", "set_index", name)
        keep[keep] &= _pick(_counters(heads[keep], "contrast"), contrast, "contrast", "contrast", name)
        self.index = np.flatnonzero(keep)
        self.heads = heads[keep]
        self._check_heads()

    def _check_heads(self) -> None:
        h, name = self.heads, self.name
        if (_counters(h, "kspace_encode_step_2") != 0).any():
            raise DataError(f"{name}: 3D encoding (kspace_encode_step_2 > 0) is not supported; dynmri reads 2D slices")
        if _flag(h, FLAG_REVERSE).any():
            raise DataError(f"{name}: reversed (EPI/bipolar) readouts are not supported")
        channels = np.unique(h["active_channels"])
        if len(channels) != 1 or channels[0] < 1:
            raise DataError(f"{name}: readouts have {channels.tolist()} channels; dynmri needs one coil count")
        lim = self.encoding.line_limits
        lines = _counters(h, "kspace_encode_step_1")
        if lim is not None and not self.encoding.noncartesian and (lines.min() < lim[0] or lines.max() > lim[1]):
            raise DataError(f"{name}: inconsistent encoding limits: line counters {lines.min()}..{lines.max()} outside the "
                            f"header's kspace_encoding_step_1 limits {lim[0]}..{lim[1]}")
        phase, rep = _counters(h, "phase"), _counters(h, "repetition")
        self.n_phases = int(phase.max()) + 1
        self.frame = rep * self.n_phases + phase
        used = np.unique(self.frame)
        if len(used) != used.max() + 1:
            raise DataError(f"{name}: frames {sorted(set(range(int(used.max()) + 1)) - set(used.tolist()))[:8]} have no "
                            "readouts (truncated acquisition?)")
        self.frames = int(used.max()) + 1
        self.frames_from = "phase" if rep.max() == 0 else ("repetition" if phase.max() == 0 else "repetition x phase")
        self.slices = np.unique(_counters(h, "slice")).tolist()
        self.coils = int(channels[0])

    @property
    def image_shape(self) -> tuple[int, int]:
        """``(H, W)``: the reconstructed matrix (non-Cartesian) or the cropped readout x lines."""
        e = self.encoding
        if e.noncartesian:
            return (e.recon_matrix[0], e.recon_matrix[1])
        return (e.readout_size(), e.encoded_matrix[1])

    def readouts(self, s: int) -> tuple[Readouts, np.ndarray]:
        """The readouts of slice counter ``s`` (data read now) and their headers."""
        sel = np.flatnonzero(_counters(self.heads, "slice") == s)
        if len(sel) == 0:
            raise DataError(f"{self.name}: no readouts for slice {s} (slices: {self.slices})")
        h = self.heads[sel]
        data, traj = self._read(self.index[sel])
        for d, (nc, ns) in zip(data, zip(h["active_channels"], h["number_of_samples"], strict=True), strict=True):
            if d.shape != (nc, ns):
                raise DataError(f"{self.name}: a readout of slice {s} holds {d.size} samples where its header says {nc} "
                                f"channels x {ns} samples (truncated file?)")
        center = h["center_sample"].astype(int)
        unset = (center == 0) & (h["number_of_samples"] == self.encoding.encoded_matrix[0])
        center[unset] = self.encoding.encoded_matrix[0] // 2  # a full readout without its centre: symmetric
        ro = Readouts(list(data), _counters(h, "kspace_encode_step_1"), self.frame[sel], center,
                      list(traj) if self.encoding.noncartesian else None)
        return ro, h

    def read_slice(self, s: int) -> dict:
        """Arrays of slice counter ``s``: Cartesian ``kspace (N, T, H, W)``, ``mask (T, H, W)``
        uint8 and ``partial_echo``; non-Cartesian ``kspace (N, T, M)`` and ``trajectory
        (T, n_shots, n_samples, 2)``; and ``frame_times`` ``(T,)`` ms, ``geometry``."""
        ro, h = self.readouts(s)
        out = {"frame_times": self._frame_times(h, ro.frame), "geometry": _geometry(h)}
        e = self.encoding
        if e.noncartesian:
            out["kspace"], raw = assemble_noncartesian(ro, self.frames, f"{self.name} (slice {s})")
            out["trajectory"] = convert_trajectory(raw, e.recon_matrix, self.traj_units, self.name)
            return out
        lim = e.line_limits
        center = lim[2] if lim is not None else e.encoded_matrix[1] // 2
        k, count, missing = assemble_cartesian(ro, self.frames, e.encoded_matrix[0], e.encoded_matrix[1], center,
                                               f"{self.name} (slice {s})")
        if (empty := np.flatnonzero(count.sum(axis=1) == 0)).size:
            raise DataError(f"{self.name}: slice {s}: frames {empty.tolist()[:8]} have no readouts (truncated acquisition?)")
        H, W = self.image_shape
        out["kspace"] = remove_readout_oversampling(k, H, axis=-2)
        out["mask"] = np.broadcast_to((count > 0)[:, None, :], (self.frames, H, W)).astype(np.uint8)
        out["partial_echo"] = missing
        return out

    def _frame_times(self, h: np.ndarray, frame: np.ndarray) -> np.ndarray:
        """Mean trigger time (cine) or acquisition time from the slice's first readout, per frame, ms."""
        trig = h["physiology_time_stamp"][:, 0].astype(np.float64)
        stamp = trig if self.frames_from == "phase" and trig.any() else h["acquisition_time_stamp"].astype(np.float64)
        stamp = stamp - (0 if stamp is trig else stamp.min())
        sums = np.bincount(frame, weights=stamp, minlength=self.frames)
        return sums / np.maximum(np.bincount(frame, minlength=self.frames), 1) * self.tick_ms

    def read(self, slices: Sequence[int] | None = None) -> tuple[dict, dict]:
        """``(arrays, meta)`` of ``slices`` (slice counters; default all) in the layout of
        :func:`dynmri.data.files.read_arrays`: ``kspace (S, [N,] T, H, W)`` and ``mask`` or
        ``kspace (S, [N,] T, M)`` and ``trajectory``."""
        slices = self.slices if slices is None else [int(s) for s in slices]
        parts = [self.read_slice(s) for s in slices]
        kspace = np.stack([p["kspace"] for p in parts])
        arrays = {"kspace": kspace[:, 0] if self.coils == 1 else kspace}
        if self.encoding.noncartesian:
            traj = parts[0]["trajectory"]
            if any(not np.allclose(p["trajectory"], traj, atol=1e-6) for p in parts[1:]):
                raise DataError(f"{self.name}: slices have different trajectories; dynmri needs one trajectory per acquisition")
            arrays["trajectory"] = traj
        else:
            arrays["mask"] = np.stack([p["mask"] for p in parts])
        return arrays, self._meta(slices, parts, arrays)

    def _meta(self, slices: list[int], parts: list[dict], arrays: dict) -> dict:
        e = self.encoding
        H, W = self.image_shape
        meta = {"source_kind": self.source_kind, "trajectory_kind": e.trajectory, "slices": slices, "coils": self.coils,
                "frames_from": self.frames_from, "encoded_matrix": list(e.encoded_matrix), "recon_matrix": list(e.recon_matrix),
                "pixel_spacing_mm": [e.recon_fov[0] / H, (e.recon_fov if e.noncartesian else e.encoded_fov)[1] / W],
                "slice_thickness_mm": e.encoded_fov[2], "tick_ms": self.tick_ms, "skipped": self.skipped,
                "frame_times_ms": [np.round(p["frame_times"], 3).tolist() for p in parts]}
        if e.noncartesian:
            tr = arrays["trajectory"]
            meta |= {"image_shape": [H, W], "samples_per_frame": int(tr.shape[1] * tr.shape[2])}
        else:
            m = arrays["mask"]
            meta |= {"readout_oversampling": e.encoded_matrix[0] / H, "partial_echo_samples": max(p["partial_echo"] for p in parts),
                     "achieved_acceleration": float(m.size / max(int(m.sum()), 1))}
        meta |= _geometry_meta([p["geometry"] for p in parts], meta["pixel_spacing_mm"], (H, W))
        return meta


def _geometry(h: np.ndarray) -> dict | None:
    """Position and direction cosines of a slice (its first readout); None when unset."""
    first = h[0]
    read, phase = np.asarray(first["read_dir"], float), np.asarray(first["phase_dir"], float)
    if not (np.linalg.norm(read) > 0.5 and np.linalg.norm(phase) > 0.5):
        return None
    return {"position": np.asarray(first["position"], float), "read": read, "phase": phase}


def _geometry_meta(geos: list, spacing: list[float], hw: tuple[int, int]) -> dict:
    """DICOM ``image_orientation`` (row cosines = phase direction, column cosines = readout
    direction) and ``image_position_mm`` (centre of pixel (0, 0)) of each slice, when known."""
    if any(g is None for g in geos):
        return {}
    H, W = hw
    pos = [g["position"] - (H // 2) * spacing[0] * g["read"] - (W // 2) * spacing[1] * g["phase"] for g in geos]
    g0 = geos[0]
    return {"image_orientation": (np.round(np.concatenate((g0["phase"], g0["read"])), 6) + 0.0).tolist(),
            "image_position_mm": np.round(np.stack(pos), 4).tolist(),
            "slice_position_mm": np.round(np.stack([g["position"] for g in geos]), 4).tolist()}


# ---------------------------------------------------------------------------------------------
# ISMRMRD files


def _dataset_group(f) -> str | None:
    """The ISMRMRD group of an open HDF5 file (``dataset`` or the first with ``xml``/``data``)."""
    import h5py

    names = ["dataset"] + [k for k in f if k != "dataset"]
    for k in names:
        if k in f and isinstance(f[k], h5py.Group) and ("xml" in f[k] or "data" in f[k]):
            return k
    return None


def is_ismrmrd(path: str | os.PathLike) -> bool:
    """Whether ``path`` is an HDF5 file laid out as ISMRMRD (not a dynmri ``.h5``)."""
    path = Path(path)
    if path.suffix.lower() not in (".h5", ".hdf5") or not path.is_file():
        return False
    import h5py

    try:
        with h5py.File(path, "r") as f:
            return "kspace" not in f and _dataset_group(f) is not None
    except OSError:
        return False


class IsmrmrdFile:
    """An open ISMRMRD file: its :class:`Encoding`, all readout headers, readouts on demand.

    Use as a context manager; :meth:`reader` gives the :class:`RawReader` (options as there).
    """

    def __init__(self, path: str | os.PathLike):
        import h5py

        self.path = Path(path)
        name = str(self.path)
        try:
            self._file = h5py.File(self.path, "r")
        except OSError as exc:
            raise DataError(f"{name}: cannot open as HDF5 ({exc}); the file is truncated or not an ISMRMRD file") from exc
        try:
            self._open(name)
        except BaseException:
            self._file.close()
            raise

    def _open(self, name: str) -> None:
        group = _dataset_group(self._file)
        if group is None or "xml" not in self._file[group]:
            raise DataError(f"{name}: no ISMRMRD XML header ('dataset/xml' is missing)")
        if "data" not in self._file[group]:
            raise DataError(f"{name}: no readouts ('{group}/data' is missing)")
        self.encoding = encoding_from_xml(self._file[group]["xml"][0], name)
        self._data = self._file[group]["data"]
        try:
            self.heads = self._data.fields("head")[:]
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise DataError(f"{name}: cannot read the readout headers ({type(exc).__name__}: {exc}); truncated file?") from exc

    def _read(self, indices: np.ndarray) -> tuple[list, list]:
        idx = np.asarray(indices)
        try:
            raw = self._data.fields("data")[idx]
            traj = self._data.fields("traj")[idx] if self.encoding.noncartesian else [None] * len(idx)
        except (OSError, ValueError) as exc:
            raise DataError(f"{self.path}: cannot read readouts ({type(exc).__name__}: {exc}); truncated file?") from exc
        heads = self.heads[idx]
        data = [_complex_samples(r, h) for r, h in zip(raw, heads, strict=True)]
        if self.encoding.noncartesian:
            traj = [_traj_samples(t, h, self.path) for t, h in zip(traj, heads, strict=True)]
        return data, traj

    def reader(self, **options) -> RawReader:
        return RawReader(self.encoding, self.heads, self._read, str(self.path), **options)

    def close(self) -> None:
        self._file.close()

    def __enter__(self) -> IsmrmrdFile:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _complex_samples(raw: np.ndarray, head) -> np.ndarray:
    """A readout's floats as ``(channels, samples)`` complex64 when the size matches its
    header; otherwise the flat complex samples (the reader reports the mismatch)."""
    z = np.asarray(raw, np.float32)
    if z.size % 2:
        return z.astype(np.complex64)
    z = z.view(np.complex64)
    nc, ns = int(head["active_channels"]), int(head["number_of_samples"])
    return z.reshape(nc, ns) if z.size == nc * ns else z


def _traj_samples(raw: np.ndarray, head, path) -> np.ndarray:
    ns, dims = int(head["number_of_samples"]), int(head["trajectory_dimensions"])
    if dims < 2 or np.asarray(raw).size != ns * dims:
        raise DataError(f"{path}: a non-Cartesian readout carries no 2D trajectory ({dims} dimensions, "
                        f"{np.asarray(raw).size} values for {ns} samples)")
    return np.asarray(raw, np.float64).reshape(ns, dims)


def read_ismrmrd(path: str | os.PathLike, *, slices: Sequence[int] | None = None, set_index: int | None = None,
                 contrast: int | None = None, tick_ms: float = 2.5, traj_units: str = "auto") -> tuple[dict, dict]:
    """Read an ISMRMRD file into ``(arrays, meta)`` as :func:`dynmri.data.files.read_arrays`
    returns them (``Acquisition.load`` calls this for ISMRMRD files); one slice in memory at a
    time while reading. Options as :class:`RawReader`; ``slices`` are slice counters."""
    with IsmrmrdFile(path) as f:
        arrays, meta = f.reader(set_index=set_index, contrast=contrast, tick_ms=tick_ms, traj_units=traj_units).read(slices)
    return arrays, {"source": str(path)} | meta
