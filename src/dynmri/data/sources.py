"""One entry point for every data source accepted by ``--data``.

``load_source(spec)`` recognises, in this order (first match wins): ``phantom``,
``phantom-realtime`` and ``phantom-realtime-gated`` (:mod:`dynmri.data.realtime`), raw scanner
data (ISMRMRD ``.h5``, twix ``.dat``), a plain HDF5 ``.h5`` holding one ``(S, T, H, W)`` dataset,
a ``.npz`` file, a CMRxRecon root (a folder with ``SingleCoil`` or ``MultiCoil``), a ``.mat`` file,
a folder of DICOM files. It returns a :class:`VideoSource`. ``open_store(spec)`` indexes the same
sources without loading them (:mod:`dynmri.data.streaming`).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from dynmri.errors import DataError


@dataclass
class VideoSource:
    """Videos ``(S, T, H, W)`` (magnitude or complex), a group id per slice (subject or
    series: split by these, never by frame), frame times ``(S, T)`` in ms and metadata."""

    videos: np.ndarray
    groups: list[str]
    frame_times: np.ndarray
    kind: str
    meta: dict = field(default_factory=dict)


def default_data_root() -> Path:
    """``$DYNMRI_DATA`` or ``../shared/data`` relative to the repository."""
    env = os.environ.get("DYNMRI_DATA")
    if env:
        return Path(env)
    return Path(__file__).resolve().parents[3].parent / "shared" / "data"


def _phantom(spec: str, frames: int, size: tuple[int, int], seed: int, n: int) -> VideoSource:
    from dynmri.data.phantom import cardiac_phantom

    phs = [cardiac_phantom(frames, size, seed=seed + i) for i in range(n)]
    return VideoSource(
        videos=np.stack([p.video for p in phs]),
        groups=[f"phantom{seed + i}" for i in range(n)],
        frame_times=np.stack([p.frame_times * 1000 for p in phs]),
        kind="phantom",
        meta={"rr_intervals_s": [p.rr_intervals.round(4).tolist() for p in phs]},
    )


def _npz(path: Path, key: str | None, **_) -> VideoSource:
    from dynmri.data.npz import load_npz_cine

    if key is None:
        _refuse_dynmri_file(path)
    v = load_npz_cine(path, key)
    return VideoSource(v, [f"sample{i}" for i in range(len(v))], np.tile(np.arange(v.shape[1], dtype=float), (len(v), 1)), "npz")


def _refuse_dynmri_file(path: Path) -> None:
    """A dynmri acquisition or reconstruction file is not a source of images: say so."""
    import zipfile

    try:
        with zipfile.ZipFile(path) as z:
            names = {n.removesuffix(".npy") for n in z.namelist()}
    except (zipfile.BadZipFile, OSError):
        return  # the loader reports it
    if "kspace" in names or "recon" in names:
        kind = "an acquisition" if "kspace" in names else "a reconstruction"
        raise DataError(f"{path}: is {kind} file written by dynmri, not images; --data takes videos [nsamples, nt, nx, ny] "
                        "(reconstruct an acquisition with 'dynmri reconstruct')")


def _cmrxrecon(path: Path, coil: str = "SingleCoil", **_) -> VideoSource:
    from dynmri.data.cmrxrecon import load_cmrxrecon

    v, groups = load_cmrxrecon(path, coil=coil)
    return VideoSource(v, groups, np.tile(np.arange(v.shape[1], dtype=float), (len(v), 1)), "cmrxrecon")


def _mat(path: Path, **_) -> VideoSource:
    from dynmri.data.cmrxrecon import images_from_kspace, kspace_to_dynmri, load_mat

    v = images_from_kspace(kspace_to_dynmri(load_mat(path), path))
    return VideoSource(v, [path.parent.name] * len(v), np.tile(np.arange(v.shape[1], dtype=float), (len(v), 1)), "cmrxrecon")


def _dicom(path: Path, **_) -> VideoSource:
    from dynmri.data.dicom import load_dicom_cine

    c = load_dicom_cine(path)
    # one group per slice position: a single-subject cine is split by slice, never by frame
    groups = [f"{g}:{loc:g}" for g, loc in zip(c.groups, c.slice_locations, strict=True)]
    return VideoSource(c.videos, groups, c.frame_times, "dicom", {"pixel_spacing_mm": list(c.pixel_spacing), "slice_locations": c.slice_locations.tolist()})


def _is_scanner_file(path: Path) -> bool:
    from dynmri.data.files import scanner_format

    return path.is_file() and scanner_format(path) is not None


def _scanner(path: Path, **_) -> VideoSource:
    """Fully sampled raw scanner data (ISMRMRD ``.h5``, twix ``.dat``) as images: complex for one
    coil, root-sum-of-squares magnitude for several. Undersampled raw data is an acquisition to
    reconstruct, not a source of images: refused with the command to use."""
    from dynmri.data.cmrxrecon import images_from_kspace
    from dynmri.data.files import read_scanner

    arrays, meta = read_scanner(path)
    mask = np.asarray(arrays["mask"]).astype(bool)
    if not mask.all():
        raise DataError(f"{path}: undersampled raw data ({mask.mean():.0%} of k-space sampled) is an acquisition, not images; "
                        f"reconstruct it with 'dynmri reconstruct {path} --method ...'")
    v = images_from_kspace(np.ascontiguousarray(arrays["kspace"]))
    times = np.asarray(meta.get("frame_times_ms", np.arange(v.shape[1], dtype=float)), dtype=float).reshape(-1, v.shape[1])
    times = np.broadcast_to(times, (len(v), v.shape[1])).copy()
    return VideoSource(v, [f"{path.stem}:slice{i}" for i in range(len(v))], times, meta.get("source_kind", "raw"),
                       {k: meta[k] for k in ("pixel_spacing_mm",) if k in meta})


def _plain_h5(path: Path) -> bool:
    from dynmri.data.streaming import is_plain_h5

    return is_plain_h5(path)


def _h5(path: Path, key: str | None, **_) -> VideoSource:
    """One 4-D dataset ``(S, T, H, W)`` of a plain HDF5 file."""
    from dynmri.data.streaming import h5_read, h5_videos

    key, shape, _ = h5_videos(path, key)
    v = h5_read(path, key)
    if not np.all(np.isfinite(v)):
        raise DataError(f"{path}: dataset {key!r} contains NaN or Inf")
    return VideoSource(v, [f"sample{i}" for i in range(shape[0])], np.tile(np.arange(shape[1], dtype=float), (shape[0], 1)), "h5")


_FILE_SOURCES: list[tuple[Callable[[Path], bool], Callable]] = [
    (_is_scanner_file, _scanner),
    (lambda p: _plain_h5(p), _h5),
    (lambda p: p.is_file() and p.suffix.lower() == ".npz", _npz),
    (lambda p: p.is_dir() and any((p / c).is_dir() for c in ("SingleCoil", "MultiCoil")), _cmrxrecon),
    (lambda p: p.is_file() and p.suffix.lower() == ".mat", _mat),
    (lambda p: p.is_dir(), _dicom),
]


def test_split(src: VideoSource, seed: int = 0) -> dict[str, list[int]]:
    """The canonical split of a source into ``train`` (70 %) and ``test`` (30 %) groups.

    Tuning and training use ``train`` only; every benchmark reports on ``test``. For the
    Sunnybrook short axis this is 14 training and 6 test slices.
    """
    from dynmri.data.datasets import split_groups

    split = split_groups(src.groups, (0.7, 0.0, 0.3), seed=seed)
    return {"train": split["train"], "test": split["test"]}


def load_source(
    spec: str,
    *,
    frames: int = 12,
    size: tuple[int, int] = (128, 128),
    n_phantoms: int = 1,
    seed: int = 0,
    key: str | None = None,
    coil: str = "SingleCoil",
) -> VideoSource:
    """Load ``spec``: ``"phantom"`` or a path (``.npz``, CMRxRecon root, ``.mat``, DICOM folder).

    ``frames``, ``size`` and ``n_phantoms`` shape the phantom; ``key`` picks the ``.npz`` array.
    """
    if spec == "phantom":
        return _phantom(spec, frames, size, seed, n_phantoms)
    if spec.startswith("phantom-realtime"):
        from dynmri.data.realtime import realtime_source

        return VideoSource(**realtime_source(spec, frames, size, n_phantoms))
    path = Path(spec)
    if not path.exists():
        raise DataError(f"{spec}: no such file or folder (expected 'phantom', a DICOM folder, a .npz, a .h5, a CMRxRecon root or a .mat)")
    for matches, loader in _FILE_SOURCES:
        if matches(path):
            return loader(path, key=key, coil=coil)
    raise DataError(f"{spec}: unsupported data source (expected 'phantom', a DICOM folder, a .npz, a .h5, a CMRxRecon root or a .mat)")


def open_store(spec: str | Path, *, key: str | None = None, coil: str = "SingleCoil", **load):
    """The streaming :class:`~dynmri.data.streaming.VideoStore` of ``spec`` (read one window at a
    time): a ``.npz``, a plain HDF5 ``.h5``, a CMRxRecon root or ``.mat`` (v7.3), or a DICOM
    folder. Sources that cannot be read lazily (the phantom, raw scanner files) are loaded: :class:`~dynmri.data.streaming.ArrayStore` of :func:`load_source`
    (``load``: its phantom options ``frames``, ``size``, ``n_phantoms``, ``seed``)."""
    from dynmri.data import streaming as st

    path = Path(spec)
    if str(spec) == "phantom" or not path.exists() or _is_scanner_file(path):
        return st.ArrayStore.from_source(load_source(str(spec), key=key, coil=coil, **load))
    if path.is_file() and path.suffix.lower() == ".npz":
        return st.NpzStore(path, key)
    if st.is_plain_h5(path):
        return st.H5Store(path, key)
    if path.is_dir() and any((path / c).is_dir() for c in ("SingleCoil", "MultiCoil")):
        from dynmri.data.cmrxrecon import find_files

        return st.MatStore(find_files(path, coil))
    if path.is_file() and path.suffix.lower() == ".mat":
        return st.MatStore([path])
    if path.is_dir():
        return st.DicomStore(path)
    raise DataError(f"{spec}: unsupported data source (expected 'phantom', a DICOM folder, a .npz, a .h5, a CMRxRecon root or a .mat)")
