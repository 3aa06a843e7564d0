r"""Video stores: lazy, array-like sources of videos ``(S, T, H, W)`` that read one window at a time.

A store indexes its source once (file names, shapes, the frames of each slice, each file's size
and modification time) and holds no pixels: :meth:`VideoStore.read` ``(s, t0, t1)`` returns frames
``t0:t1`` of slice ``s``, ``(t1 - t0, H, W)``, real or complex. :class:`~dynmri.data.datasets.DynamicWindowDataset`
takes a store in place of an in-memory array, so training data may be larger than memory.

=====================  =========================================================================
store                  source (what one read touches)
=====================  =========================================================================
:class:`ArrayStore`    an in-memory array (a loaded :class:`~dynmri.data.sources.VideoSource`)
:class:`NpzStore`      one array of a ``.npz`` (the window's bytes of the zip member)
:class:`H5Store`       one 4-D dataset ``(S, T, H, W)`` of a plain HDF5 ``.h5`` (an h5py slice)
:class:`MatStore`      CMRxRecon ``.mat`` v7.3 files, single- or multi-coil (an h5py slice of
                       the k-space, inverse FFT of the window's frames only)
:class:`DicomStore`    a folder of DICOM cine files (the window's files only)
=====================  =========================================================================

``.npz`` members are zip entries, so they cannot be memory-mapped: a read opens the member and
seeks to the window's bytes. For a stored (uncompressed, ``np.savez``) member the seek is
immediate; a compressed (``np.savez_compressed``) member is decompressed from its start up to
the window at every read (memory stays bounded, time grows with the slice index): convert large
compressed files to ``np.savez`` or HDF5 for training. Fortran-ordered arrays are refused.

A file that changed (size or modification time) between indexing and reading is one
:class:`~dynmri.errors.DataError` naming it: a store never mixes two versions of its data.

Multi-coil CMRxRecon stores also give the window's coil images (:meth:`VideoStore.read_coils`),
from which training derives coil maps (:func:`window_coil_maps`); :meth:`VideoStore.read` gives
their root-sum-of-squares, as :func:`~dynmri.data.cmrxrecon.load_cmrxrecon` does.

Examples
--------
>>> import numpy as np, tempfile, os
>>> d = tempfile.mkdtemp(); p = os.path.join(d, "v.npz")
>>> np.savez(p, cine=np.arange(2 * 3 * 4 * 4, dtype=np.float32).reshape(2, 3, 4, 4))
>>> from dynmri.data.sources import open_store
>>> store = open_store(p)
>>> store.shape, store.read(1, 1, 3).shape, float(store.read(1, 1, 3)[0, 0, 0])
((2, 3, 4, 4), (2, 4, 4), 64.0)
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from dynmri.errors import DataError, ShapeError


class VideoStore:
    """Videos ``(S, T, H, W)`` read a window at a time; a group id per slice (split by these),
    frame times ``(S, T)`` in ms. Subclasses implement :meth:`_read` (and, with coils,
    :meth:`_read_coils`); files are checked against their indexed size and time before reading."""

    kind: str = "store"
    n_coils: int = 0  # > 1: the source holds coil images (read_coils)

    def __init__(self, shape, groups, frame_times=None, meta=None, files=()):
        self.shape = tuple(int(n) for n in shape)
        self.groups = list(groups)
        S, T = self.shape[:2]
        self.frame_times = np.tile(np.arange(T, dtype=float), (S, 1)) if frame_times is None else np.asarray(frame_times, float)
        self.meta = dict(meta or {})
        self._stats = {str(p): _stat(Path(p)) for p in files}

    def __len__(self) -> int:
        return self.shape[0]

    def _check_window(self, s: int, t0: int, t1: int) -> None:
        S, T = self.shape[:2]
        if not (0 <= s < S and 0 <= t0 < t1 <= T):
            raise ShapeError(f"window (slice {s}, frames {t0}:{t1}) is outside the videos {self.shape}")

    def check_file(self, path) -> None:
        """DataError when ``path`` changed (size or modification time) since it was indexed."""
        if _stat(Path(path)) != self._stats[str(path)]:
            raise DataError(f"{path}: changed since it was indexed (size or modification time differ); "
                            "a training source must not change while it is read: restart training")

    def read(self, s: int, t0: int, t1: int) -> np.ndarray:
        """Frames ``t0:t1`` of slice ``s``: ``(t1 - t0, H, W)`` float32 or complex64, finite."""
        self._check_window(s, t0, t1)
        out = self._read(s, t0, t1)
        if not np.all(np.isfinite(out)):
            raise DataError(f"{self.meta.get('source', self.kind)}: slice {s}, frames {t0}:{t1} contain NaN or Inf")
        return out

    def read_coils(self, s: int, t0: int, t1: int) -> np.ndarray:
        """Coil images ``(N, t1 - t0, H, W)`` complex64 of sources with coils (``n_coils > 1``)."""
        if self.n_coils < 2:
            raise DataError(f"{self.meta.get('source', self.kind)}: holds no coil images")
        self._check_window(s, t0, t1)
        return self._read_coils(s, t0, t1)

    def _read(self, s, t0, t1):  # pragma: no cover - abstract
        raise NotImplementedError

    def _read_coils(self, s, t0, t1):  # pragma: no cover - abstract
        raise NotImplementedError


def _stat(path: Path) -> tuple[int, int]:
    try:
        st = path.stat()
    except OSError as exc:
        raise DataError(f"{path}: cannot be read any more ({exc.strerror or exc}); it changed since it was indexed") from exc
    return st.st_size, st.st_mtime_ns


class ArrayStore(VideoStore):
    """An in-memory array ``(S, T, H, W)`` (``read`` returns views)."""

    kind = "array"

    def __init__(self, videos: np.ndarray, groups=None, frame_times=None, meta=None, kind: str = "array"):
        if videos.ndim != 4:
            raise ShapeError(f"videos must be (S, T, H, W), got shape {videos.shape}")
        super().__init__(videos.shape, groups if groups is not None else [f"sample{i}" for i in range(len(videos))], frame_times, meta)
        self.videos, self.kind = videos, kind

    @classmethod
    def from_source(cls, src) -> ArrayStore:
        """The store of a loaded :class:`~dynmri.data.sources.VideoSource`."""
        return cls(src.videos, src.groups, src.frame_times, src.meta, src.kind)

    def read(self, s: int, t0: int, t1: int) -> np.ndarray:
        self._check_window(s, t0, t1)
        return self.videos[s, t0:t1]


class CroppedStore(VideoStore):
    """The centred ``size x size`` crop of another store (coil images too)."""

    def __init__(self, store: VideoStore, size: int):
        S, T, H, W = store.shape
        size = min(size, H, W)
        super().__init__((S, T, size, size), store.groups, store.frame_times, store.meta)
        self.store, self.size, self.kind, self.n_coils = store, size, store.kind, store.n_coils

    def read(self, s: int, t0: int, t1: int) -> np.ndarray:
        from dynmri._complex import center_crop

        return center_crop(self.store.read(s, t0, t1), self.size)

    def _read_coils(self, s, t0, t1):
        from dynmri._complex import center_crop

        return center_crop(self.store.read_coils(s, t0, t1), self.size)


# ------------------------------------------------------------------------------------ .npz
def _npy_header(f, where: str):
    """``(shape, fortran_order, dtype)`` of the ``.npy`` stream ``f``, left at the data."""
    from numpy.lib import format as npformat

    version = npformat.read_magic(f)
    read = {(1, 0): npformat.read_array_header_1_0, (2, 0): npformat.read_array_header_2_0}.get(version)
    if read is None:
        raise DataError(f"{where}: unsupported .npy version {version}")
    return read(f)


class NpzStore(VideoStore):
    """Array ``key`` (the only one when None) of a ``.npz``, ``[nsamples, nt, nx, ny]``: each read
    seeks to the window's bytes in the zip member (see the module doc on compressed members)."""

    kind = "npz"

    def __init__(self, path: str | Path, key: str | None = None):
        import zipfile

        path = Path(path)
        try:
            with zipfile.ZipFile(path) as z:
                names = [n.removesuffix(".npy") for n in z.namelist()]
                key = _one_key(names, key, path, "arrays")
                with z.open(key + ".npy") as f:
                    shape, fortran, dtype = _npy_header(f, f"{path}:{key}")
                    self.offset = f.tell()
                info = z.getinfo(key + ".npy")
            self.compressed = info.compress_type != zipfile.ZIP_STORED
            self.data_start = None if self.compressed else _stored_data_start(path, info) + self.offset
        except (zipfile.BadZipFile, EOFError, OSError, ValueError) as exc:
            raise DataError(f"{path}: cannot read ({type(exc).__name__}: {exc}); truncated or not an .npz file") from exc
        _check_array(path, key, shape, dtype)
        if fortran:
            raise DataError(f"{path}: array {key!r} is Fortran-ordered and cannot be read a window at a time; save it C-ordered")
        super().__init__(shape, [f"sample{i}" for i in range(shape[0])], meta={"source": str(path)}, files=[path])
        self.path, self.key, self.dtype = path, key, np.dtype(dtype)

    def _read(self, s, t0, t1):
        import zipfile

        self.check_file(self.path)
        _, T, H, W = self.shape
        n = (t1 - t0) * H * W
        skip = (s * T + t0) * H * W * self.dtype.itemsize
        if self.data_start is not None:  # stored: the member's bytes lie in the file as they are
            with open(self.path, "rb") as f:
                f.seek(self.data_start + skip)
                buf = f.read(n * self.dtype.itemsize)
        else:  # compressed: decompressed from the member's start up to the window
            with zipfile.ZipFile(self.path) as z, z.open(self.key + ".npy") as f:
                f.seek(self.offset + skip)
                buf = f.read(n * self.dtype.itemsize)
        if len(buf) != n * self.dtype.itemsize:
            raise DataError(f"{self.path}: array {self.key!r} ends early; truncated file")
        return np.frombuffer(buf, self.dtype).reshape(t1 - t0, H, W)


def _stored_data_start(path: Path, info) -> int:
    """Where the bytes of a stored (uncompressed) zip member start in the file: after its local
    header (30 bytes, the name and an extra field whose length may differ from the central one)."""
    import struct

    with open(path, "rb") as f:
        f.seek(info.header_offset)
        head = f.read(30)
    if len(head) != 30 or head[:4] != b"PK\x03\x04":
        raise DataError(f"{path}: member {info.filename} has no local header; truncated or not an .npz file")
    name_len, extra_len = struct.unpack("<HH", head[26:30])
    return info.header_offset + 30 + name_len + extra_len


def _one_key(names: list[str], key: str | None, path: Path, what: str) -> str:
    if key is None:
        if len(names) != 1:
            raise DataError(f"{path}: holds {len(names)} {what} ({', '.join(names)}); choose one with a key")
        return names[0]
    if key not in names:
        raise DataError(f"{path}: no array {key!r} (found: {', '.join(names)})")
    return key


def _check_array(path: Path, key: str, shape, dtype) -> None:
    dtype = np.dtype(dtype)
    if not (np.issubdtype(dtype, np.number) or (dtype.names and {"real", "imag"} <= set(dtype.names))):
        raise DataError(f"{path}: array {key!r} must hold numbers, got dtype {dtype}")
    if len(shape) != 4:
        raise ShapeError(f"{path}: array {key!r} must be [nsamples, nt, nx, ny], got shape {tuple(shape)}")


# ------------------------------------------------------------------------------------- .h5
def _complex(a: np.ndarray) -> np.ndarray:
    """A compound ``(real, imag)`` array (MATLAB v7.3, some HDF5 writers) as complex."""
    if a.dtype.names and {"real", "imag"} <= set(a.dtype.names):
        return a["real"] + 1j * a["imag"]
    return a


def is_plain_h5(path: Path) -> bool:
    """An HDF5 ``.h5``/``.hdf5`` that is neither ISMRMRD (checked first) nor a dynmri file (``kspace``, ``recon``)."""
    if path.suffix.lower() not in (".h5", ".hdf5") or not path.is_file():
        return False
    import h5py

    try:
        with h5py.File(path, "r") as f:
            return "kspace" not in f and "recon" not in f
    except OSError:
        return False


def h5_videos(path: Path, key: str | None) -> tuple[str, tuple, np.dtype]:
    """``(name, shape, dtype)`` of the videos dataset of a plain HDF5 file: ``key``, or its only
    root dataset; it must be 4-D ``(S, T, H, W)`` numbers (complex: native or compound real/imag)."""
    import h5py

    try:
        with h5py.File(path, "r") as f:
            names = [k for k in f.keys() if isinstance(f[k], h5py.Dataset)]
            if key is None and len(names) != 1:
                raise DataError(f"{path}: holds {len(names)} datasets ({', '.join(names)}); choose one with a key")
            key = key if key is not None else names[0]
            if key not in names:
                raise DataError(f"{path}: no dataset {key!r} (found: {', '.join(names)})")
            shape, dtype = f[key].shape, f[key].dtype
    except OSError as exc:
        raise DataError(f"{path}: cannot read HDF5 ({exc}); the file may be truncated") from exc
    if not (np.issubdtype(dtype, np.number) or (dtype.names and {"real", "imag"} <= set(dtype.names))):
        raise DataError(f"{path}: dataset {key!r} must hold numbers, got dtype {dtype}")
    if len(shape) != 4:
        raise DataError(f"{path}: dataset {key!r} must be [nsamples, nt, nx, ny], got shape {tuple(shape)}")
    return key, tuple(shape), dtype


def h5_read(path: Path, key: str, index=()) -> np.ndarray:
    """``f[key][index]`` of an HDF5 file, compound real/imag made complex (complex64 or float32)."""
    import h5py

    try:
        with h5py.File(path, "r") as f:
            a = f[key][index]
    except OSError as exc:
        raise DataError(f"{path}: cannot read dataset {key!r} ({exc}); the file may be truncated") from exc
    if a.dtype.names and {"real", "imag"} <= set(a.dtype.names):
        a = a["real"] + 1j * a["imag"]
    return a.astype(np.complex64) if np.iscomplexobj(a) else a.astype(np.float32)



class H5Store(VideoStore):
    """One 4-D dataset ``(S, T, H, W)`` (real, complex or compound real/imag) of a plain HDF5
    file; ``key`` names it (the only dataset at the root when None)."""

    kind = "h5"

    def __init__(self, path: str | Path, key: str | None = None):
        path = Path(path)
        key, shape, _ = h5_videos(path, key)
        super().__init__(shape, [f"sample{i}" for i in range(shape[0])], meta={"source": str(path)}, files=[path])
        self.path, self.key = path, key

    def _read(self, s, t0, t1):
        self.check_file(self.path)
        return h5_read(self.path, self.key, (s, slice(t0, t1)))


# ------------------------------------------------------------------------------- CMRxRecon
class MatStore(VideoStore):
    """CMRxRecon ``cine_*.mat`` v7.3 files (one per subject), read through h5py a window at a
    time: k-space ``(t, slice, [coil], ky, kx)`` as h5py sees MATLAB's ``(kx, ky, [coil], slice, t)``.
    ``read`` gives complex images (one coil) or their root-sum-of-squares (several), exactly as
    :func:`~dynmri.data.cmrxrecon.images_from_kspace`; ``read_coils`` the coil images. Subjects
    may differ in matrix size (CMRxRecon's do): every image is centre-cropped to the smallest."""

    kind = "cmrxrecon"

    def __init__(self, files: list[Path]):
        self.slots, sizes, groups, coils = [], [], [], set()
        for path in files:
            key, kshape = _mat_variable(path)
            sizes.append((kshape[0], kshape[-1], kshape[-2]))  # (T, H = kx, W = ky)
            coils.add(kshape[2] if len(kshape) == 5 else 0)
            self.slots += [(path, key, sl) for sl in range(kshape[1])]
            groups += [path.parent.name] * kshape[1]
        if len({t for t, _, _ in sizes}) != 1 or len(coils) != 1:
            raise ShapeError(f"{files[0].parent.parent}: subjects differ in frames or coils ({sorted(set(sizes))}, coils {sorted(coils)})")
        shape = (sizes[0][0], min(h for _, h, _ in sizes), min(w for _, _, w in sizes))
        super().__init__((len(self.slots), *shape), groups, meta={"source": str(files[0].parents[1] if len(files) > 1 else files[0])}, files=files)
        self.n_coils = coils.pop()

    def _kspace(self, s, t0, t1) -> np.ndarray:
        """``([N,] t1 - t0, H, W)`` complex64 k-space of slice ``s``."""
        import h5py

        path, key, sl = self.slots[s]
        self.check_file(path)
        try:
            with h5py.File(path, "r") as f:
                k = _complex(f[key][t0:t1, sl])  # (t, [coil], ky, kx)
        except OSError as exc:
            raise DataError(f"{path}: cannot read slice {sl} ({exc}); the file may be truncated") from exc
        k = np.swapaxes(k, -1, -2)  # (t, [coil], kx, ky)
        return np.ascontiguousarray(np.moveaxis(k, 0, 1) if k.ndim == 4 else k).astype(np.complex64)

    def _common(self, img: np.ndarray) -> np.ndarray:
        """Images of a larger subject, centre-cropped to the store's ``H x W`` (the smallest)."""
        H, W = self.shape[-2:]
        h, w = img.shape[-2:]
        y0, x0 = (h - H) // 2, (w - W) // 2
        return img[..., y0 : y0 + H, x0 : x0 + W]

    def _read(self, s, t0, t1):
        from dynmri.data.cmrxrecon import images_from_kspace

        return self._common(images_from_kspace(self._kspace(s, t0, t1)[None])[0])

    def _read_coils(self, s, t0, t1):
        from dynmri._complex import centered_fft

        return self._common(centered_fft(self._kspace(s, t0, t1), inverse=True).astype(np.complex64))


def _mat_variable(path: Path) -> tuple[str, tuple]:
    """``(name, h5py shape)`` of the one variable of a v7.3 CMRxRecon ``.mat``: ``(t, slice, [coil], ky, kx)``."""
    import h5py

    if not h5py.is_hdf5(path):
        raise DataError(f"{path}: a MATLAB v5 .mat cannot be read a window at a time (stream: true needs v7.3/HDF5); "
                        "train without streaming or convert the file")
    try:
        with h5py.File(path, "r") as f:
            key = _one_key([k for k in f.keys() if not k.startswith("#")], None, path, "variables")
            kshape = f[key].shape
    except OSError as exc:
        raise DataError(f"{path}: cannot read HDF5 .mat ({exc}); the file may be truncated") from exc
    if len(kshape) not in (4, 5):
        raise ShapeError(f"{path}: CMRxRecon k-space must be (kx, ky, [coil], slice, t), got shape {tuple(reversed(kshape))}")
    return key, kshape


# ------------------------------------------------------------------------------------ DICOM
class DicomStore(VideoStore):
    """A folder of DICOM cine files, grouped and ordered as :func:`~dynmri.data.dicom.load_dicom_cine`
    does, from their headers only; a read decodes the window's files (magnitude, float32)."""

    kind = "dicom"

    def __init__(self, folder: str | Path):
        from dynmri.data.dicom import _is_dicom

        folder = Path(folder)
        files = sorted(p for p in folder.rglob("*") if p.is_file() and _is_dicom(p))
        if not files:
            raise DataError(f"{folder}: no DICOM files found")
        groups, spacing, sizes = {}, None, set()
        for path in files:
            ds = _header(path)
            spacing = spacing or (tuple(float(v) for v in ds.PixelSpacing) if "PixelSpacing" in ds else None)
            sizes.add((int(ds.Rows), int(ds.Columns)))
            _index_frames(groups, ds, str(getattr(ds, "SeriesInstanceUID", folder.name)), path)
        keys = sorted(groups, key=lambda k: (k[0], k[1] if isinstance(k[1], float) else 0.0, str(k[1])))
        if len({len(groups[k]) for k in keys}) != 1:
            raise DataError(f"{folder}: slices have different numbers of frames; a file may be missing")
        if len(sizes) != 1:
            raise DataError(f"{folder}: images have different sizes {sorted(sizes)}")
        self.frames = [sorted(groups[k], key=lambda e: e[0]) for k in keys]
        locs = [k[1] if isinstance(k[1], float) else np.nan for k in keys]
        times = [[e[0] for e in fr] for fr in self.frames]
        super().__init__((len(keys), len(self.frames[0]), *sizes.pop()), [f"{k[0]}:{loc:g}" for k, loc in zip(keys, locs, strict=True)],
                         times, {"source": str(folder), "pixel_spacing_mm": list(spacing or (1.0, 1.0)), "slice_locations": locs}, files)

    def _read(self, s, t0, t1):
        from dynmri.data.dicom import _pixels, _read

        out, cache = [], {}
        for _, path, j in self.frames[s][t0:t1]:
            if path not in cache:
                self.check_file(path)
                cache = {path: _pixels(_read(path), path)}
            px = cache[path]
            out.append(px if j is None else px[j])
        return np.stack(out).astype(np.float32)


def _header(path: Path):
    import pydicom
    from pydicom.errors import InvalidDicomError

    try:
        ds = pydicom.dcmread(path, stop_before_pixels=True)
    except (InvalidDicomError, OSError, EOFError, ValueError, AttributeError) as exc:
        raise DataError(f"{path}: unreadable DICOM ({type(exc).__name__}: {exc})") from exc
    if "Rows" not in ds or "Columns" not in ds:
        raise DataError(f"{path}: DICOM file has no image")
    return ds


def _index_frames(groups: dict, ds, series: str, path: Path) -> None:
    """``(trigger time, path, frame index or None)`` per frame, grouped by slice (as
    :func:`dynmri.data.dicom._add_frames` groups the pixels)."""
    from dynmri.data.dicom import _slice_key

    n_frames = int(getattr(ds, "NumberOfFrames", 1) or 1)
    if n_frames > 1:
        frame_ms, t0 = float(getattr(ds, "FrameTime", 0) or 0), float(getattr(ds, "TriggerTime", 0) or 0)
        groups[(series, str(path))] = [(t0 + frame_ms * j, path, j) for j in range(n_frames)]
    else:
        key = (series, _slice_key(ds))
        t = float(getattr(ds, "TriggerTime", getattr(ds, "InstanceNumber", len(groups.get(key, [])))))
        groups.setdefault(key, []).append((t, path, None))


def window_coil_maps(coil_images: np.ndarray, eps: float = 1e-8) -> np.ndarray:
    r"""Coil maps ``(N, H, W)`` complex64 from the coil images ``(N, T, H, W)`` of a fully
    sampled window: their time average :math:`\bar c_n` normalised by its root-sum-of-squares,
    :math:`S_n = \bar c_n / \sqrt{\sum_m |\bar c_m|^2 + \epsilon}`, so :math:`\sum_n |S_n|^2 = 1`
    wherever there is signal (the convention of :mod:`dynmri.physics.cartesian`)."""
    avg = coil_images.mean(axis=1)
    rss = np.sqrt((np.abs(avg) ** 2).sum(axis=0, keepdims=True))
    return (avg / np.maximum(rss, eps * max(float(rss.max()), 1e-30))).astype(np.complex64)

