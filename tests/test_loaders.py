"""Loaders on files written by the tests in each format's real layout."""

from pathlib import Path

import numpy as np
import pytest
import torch

from dynmri.data.cmrxrecon import acquisition_from_subject, load_cmrxrecon, load_mat, load_subject
from dynmri.data.datasets import DynamicWindowDataset, split_groups
from dynmri.data.dicom import load_dicom_cine
from dynmri.data.npz import load_npz_cine
from dynmri.data.sources import load_source
from dynmri.errors import DataError, ParameterError, ShapeError

# ---------------------------------------------------------------- DICOM


def _write_dicom(path: Path, pixels: np.ndarray, *, slice_loc=None, trigger=None, series="1.2.3", frames_ms=None):
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, generate_uid

    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.4"
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID = meta.MediaStorageSOPClassUID
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    ds.SeriesInstanceUID = series
    ds.Modality = "MR"
    ds.PixelSpacing = [0.8, 0.8]
    if slice_loc is not None:
        ds.SliceLocation = slice_loc
    if trigger is not None:
        ds.TriggerTime = trigger
    if pixels.ndim == 3:
        ds.NumberOfFrames = pixels.shape[0]
        ds.FrameTime = frames_ms
    ds.Rows, ds.Columns = pixels.shape[-2:]
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.BitsAllocated = ds.BitsStored = 16
    ds.HighBit = 15
    ds.PixelRepresentation = 0
    ds.PixelData = pixels.astype(np.uint16).tobytes()
    ds.save_as(path, enforce_file_format=True)


def test_dicom_groups_by_slice_and_orders_by_trigger(tmp_path):
    rng = np.random.default_rng(0)
    truth = rng.integers(0, 1000, (3, 4, 8, 8))
    order = rng.permutation(12)  # files written out of order
    for n, i in enumerate(order):
        s, t = divmod(int(i), 4)
        _write_dicom(tmp_path / f"IM{n:03d}.dcm", truth[s, t], slice_loc=10.0 * s, trigger=50.0 * t)
    (tmp_path / "README").write_text("not dicom")  # ignored: no suffix and no DICM magic
    cine = load_dicom_cine(tmp_path)
    assert cine.videos.shape == (3, 4, 8, 8)
    np.testing.assert_array_equal(cine.videos, truth)
    np.testing.assert_array_equal(cine.frame_times[0], [0, 50, 100, 150])
    assert cine.pixel_spacing == (0.8, 0.8)


def test_dicom_multiframe(tmp_path):
    frames = np.arange(5 * 6 * 6).reshape(5, 6, 6)
    _write_dicom(tmp_path / "a.dcm", frames, trigger=0.0, frames_ms=40.0, series="1")
    _write_dicom(tmp_path / "b.dcm", frames + 1, trigger=0.0, frames_ms=40.0, series="2")
    cine = load_dicom_cine(tmp_path)
    assert cine.videos.shape == (2, 5, 6, 6)
    np.testing.assert_array_equal(cine.frame_times[0], [0, 40, 80, 120, 160])
    np.testing.assert_array_equal(cine.videos[1], frames + 1)


def test_dicom_bad_inputs(tmp_path):
    with pytest.raises(DataError, match="no DICOM files"):
        load_dicom_cine(tmp_path)
    with pytest.raises(DataError, match="not a folder"):
        load_dicom_cine(tmp_path / "absent")
    for t in range(3):
        _write_dicom(tmp_path / f"s0_{t}.dcm", np.ones((8, 8)), slice_loc=0.0, trigger=t)
    for t in range(2):  # one frame missing
        _write_dicom(tmp_path / f"s1_{t}.dcm", np.ones((8, 8)), slice_loc=5.0, trigger=t)
    with pytest.raises(DataError, match="different numbers of frames"):
        load_dicom_cine(tmp_path)
    (tmp_path / "s1_2.dcm").write_bytes((tmp_path / "s1_1.dcm").read_bytes()[:200])
    with pytest.raises(DataError, match="s1_2.dcm"):
        load_dicom_cine(tmp_path)


@pytest.mark.data
def test_dicom_real_sunnybrook(sunnybrook):
    cine = load_dicom_cine(sunnybrook / "E774S5-shortAxis")
    assert cine.videos.shape == (20, 20, 256, 256)
    assert cine.pixel_spacing == pytest.approx((0.8203, 0.8203))
    assert np.all(np.diff(cine.frame_times, axis=1) > 0)
    assert cine.frame_times[0, 0] == 10 and cine.frame_times[0, -1] == 610
    assert len(set(cine.slice_locations.tolist())) == 20
    assert cine.videos.max() > 0
    lax = load_source(str(sunnybrook / "E774S6-longAxis"))
    assert lax.videos.shape == (14, 20, 256, 256) and lax.kind == "dicom"


# ---------------------------------------------------------------- npz


def test_npz_loader(tmp_path):
    arr = np.random.default_rng(0).random((3, 5, 8, 8)).astype(np.float32)
    np.savez(tmp_path / "one.npz", imgs=arr)
    np.testing.assert_array_equal(load_npz_cine(tmp_path / "one.npz"), arr)
    np.savez(tmp_path / "two.npz", a=arr, b=arr)
    with pytest.raises(DataError, match="2 arrays"):
        load_npz_cine(tmp_path / "two.npz")
    np.testing.assert_array_equal(load_npz_cine(tmp_path / "two.npz", key="b"), arr)
    with pytest.raises(DataError, match="no array 'c'"):
        load_npz_cine(tmp_path / "two.npz", key="c")
    np.savez(tmp_path / "flat.npz", a=arr[0])
    with pytest.raises(ShapeError, match="nsamples"):
        load_npz_cine(tmp_path / "flat.npz")
    bad = arr.copy()
    bad[0, 0, 0, 0] = np.inf
    np.savez(tmp_path / "inf.npz", a=bad)
    with pytest.raises(DataError, match="NaN or Inf"):
        load_npz_cine(tmp_path / "inf.npz")
    (tmp_path / "cut.npz").write_bytes((tmp_path / "one.npz").read_bytes()[:100])
    with pytest.raises(DataError, match="truncated"):
        load_npz_cine(tmp_path / "cut.npz")
    src = load_source(str(tmp_path / "one.npz"))
    assert src.kind == "npz" and src.videos.shape == (3, 5, 8, 8) and len(set(src.groups)) == 3


# ---------------------------------------------------------------- CMRxRecon


def _write_mat73(path: Path, name: str, arr: np.ndarray):
    """A MATLAB v7.3 file: HDF5 with a 512-byte user block, dims reversed, complex as compound."""
    import h5py

    path.parent.mkdir(parents=True, exist_ok=True)
    data = arr.transpose(tuple(reversed(range(arr.ndim))))
    if np.iscomplexobj(arr):
        comp = np.empty(data.shape, dtype=[("real", "<f4"), ("imag", "<f4")])
        comp["real"], comp["imag"] = data.real, data.imag
        data = comp
    with h5py.File(path, "w", userblock_size=512) as f:
        f.create_dataset(name, data=data)


def _write_mat5(path: Path, name: str, arr: np.ndarray):
    from scipy.io import savemat

    path.parent.mkdir(parents=True, exist_ok=True)
    savemat(path, {name: arr})


def _kspace(shape, seed):
    rng = np.random.default_rng(seed)
    return (rng.standard_normal(shape) + 1j * rng.standard_normal(shape)).astype(np.complex64)


@pytest.mark.parametrize("writer", [_write_mat73, _write_mat5])
@pytest.mark.parametrize("coil", ["SingleCoil", "MultiCoil"])
def test_cmrxrecon_layout(tmp_path, writer, coil):
    kx, ky, nc, sl, t = 12, 10, 3, 2, 5
    shape = (kx, ky, nc, sl, t) if coil == "MultiCoil" else (kx, ky, sl, t)
    base = tmp_path / coil / "Cine" / "TrainingSet"
    ks = {}
    for p in ("P001", "P002"):
        ks[p] = _kspace(shape, seed=int(p[-1]))
        writer(base / "FullSample" / p / "cine_sax.mat", "kspace_full", ks[p])
        mask = np.zeros((kx, ky, t), np.float32)
        mask[:, ::2, :] = 1
        mask[:, 1, 0] = 1
        writer(base / "TimeVaryingGaussianMask08" / p / "cine_sax_mask.mat", "mask08", mask)
    k, m = load_subject(base / "FullSample" / "P001" / "cine_sax.mat", "TimeVaryingGaussianMask08")
    want = (sl, nc, t, kx, ky) if coil == "MultiCoil" else (sl, t, kx, ky)
    assert k.shape == want
    # element (kx=3, ky=4, [coil=1], slice=1, t=2) lands at [1, (1,) 2, 3, 4]
    idx_src = (3, 4, 1, 1, 2) if coil == "MultiCoil" else (3, 4, 1, 2)
    idx_dst = (1, 1, 2, 3, 4) if coil == "MultiCoil" else (1, 2, 3, 4)
    assert k[idx_dst] == pytest.approx(ks["P001"][idx_src])
    assert m.shape == (t, kx, ky) and m[0, 0, 1] == 1 and m[1, 0, 1] == 0
    videos, groups = load_cmrxrecon(tmp_path, coil=coil)
    assert videos.shape == (2 * sl, t, kx, ky) and groups == ["P001"] * sl + ["P002"] * sl
    acq = acquisition_from_subject(base / "FullSample" / "P002" / "cine_sax.mat", "TimeVaryingGaussianMask08")
    acq.validate()
    src = load_source(str(tmp_path), coil=coil)
    assert src.kind == "cmrxrecon" and src.videos.shape[0] == 2 * sl


def test_cmrxrecon_errors(tmp_path):
    with pytest.raises(DataError, match="no CMRxRecon folder"):
        load_cmrxrecon(tmp_path)
    _write_mat73(tmp_path / "two.mat", "a", np.ones((2, 2)))
    with pytest.raises(DataError, match="no variable 'b'"):
        load_mat(tmp_path / "two.mat", key="b")
    (tmp_path / "junk.mat").write_bytes(b"MATLAB 5.0 MAT-file" + b"\x00" * 20)
    with pytest.raises(DataError, match="cannot read"):
        load_mat(tmp_path / "junk.mat")
    with pytest.raises(DataError, match="not found"):
        load_mat(tmp_path / "absent.mat")


def test_load_source_errors(tmp_path):
    with pytest.raises(DataError, match="no such file"):
        load_source(str(tmp_path / "nothing"))
    (tmp_path / "x.txt").write_text("hi")
    with pytest.raises(DataError, match="unsupported"):
        load_source(str(tmp_path / "x.txt"))
    ph = load_source("phantom", frames=6, size=(16, 16), n_phantoms=2)
    assert ph.videos.shape == (2, 6, 16, 16) and ph.groups == ["phantom0", "phantom1"]


# ---------------------------------------------------------------- datasets


def test_split_by_group_never_by_frame():
    groups = [f"P{i // 2}" for i in range(20)]  # 10 subjects x 2 slices
    split = split_groups(groups, (0.6, 0.2, 0.2), seed=0)
    sets = {k: {groups[i] for i in v} for k, v in split.items()}
    assert not (sets["train"] & sets["test"]) and not (sets["train"] & sets["val"]) and not (sets["val"] & sets["test"])
    assert sorted(sum(split.values(), [])) == list(range(20))
    assert (len(sets["train"]), len(sets["val"]), len(sets["test"])) == (6, 2, 2)
    assert split == split_groups(groups, (0.6, 0.2, 0.2), seed=0)
    with pytest.raises(ParameterError):
        split_groups(groups, (0.5, 0.2, 0.2))


def test_window_dataset():
    from dynmri.data.phantom import phantom_videos
    from dynmri.physics.cartesian import make_physics

    videos = phantom_videos(2, 10, (24, 24))
    ds = DynamicWindowDataset(videos, window=4, stride=3, acceleration=4, crop=(0, 16, 4, 20))
    assert len(ds) == 2 * 3
    x, y, mask = ds[1]
    assert x.shape == (2, 4, 16, 16) and y.shape == (2, 4, 16, 16) and mask.shape == (4, 16, 16)
    assert torch.allclose(make_physics(mask[None]).A(x[None])[0], y)
    assert torch.equal(ds[1][2], mask)  # fixed masks for evaluation
    fresh = DynamicWindowDataset(videos, window=4, acceleration=4, fresh_masks=True)
    first = fresh[0][2]
    assert torch.equal(fresh[0][2], first)  # a fresh mask per (epoch, item), not per access
    fresh.set_epoch(1)
    assert not torch.equal(fresh[0][2], first)
    with pytest.raises(ParameterError, match="longer"):
        DynamicWindowDataset(videos, window=20)
    from dynmri.data.simulate import birdcage_maps

    mc = DynamicWindowDataset(videos, window=4, acceleration=4, coil_maps=np.stack([birdcage_maps(3, (24, 24))] * 2))
    assert mc[0][1].shape == (2, 3, 4, 24, 24)


# ---------------------------------------------------------------- streaming stores


def _same_windows(store, videos, windows=((0, 0, 2), (-1, 1, 4))):
    """``store.read`` equals the loaded videos on a few windows, and the store's index matches."""
    assert store.shape == videos.shape
    for s, t0, t1 in windows:
        s = s % len(store)
        got = store.read(s, t0, t1)
        assert got.shape == (t1 - t0, *videos.shape[-2:])
        np.testing.assert_allclose(got, videos[s, t0:t1], rtol=1e-6, atol=1e-6 * np.abs(videos).max())


@pytest.mark.parametrize("save", [np.savez, np.savez_compressed])
def test_npz_store_reads_windows_of_stored_and_compressed_members(tmp_path, save):
    from dynmri.data.sources import open_store
    from dynmri.data.streaming import NpzStore

    arr = np.random.default_rng(0).random((3, 5, 8, 6)).astype(np.float32)
    save(tmp_path / "v.npz", other=arr[:1], cine=arr)
    store = open_store(tmp_path / "v.npz", key="cine")
    assert isinstance(store, NpzStore) and store.compressed == (save is np.savez_compressed)
    _same_windows(store, arr)
    assert store.groups == load_source(str(tmp_path / "v.npz"), key="cine").groups
    with pytest.raises(DataError, match="2 arrays"):
        open_store(tmp_path / "v.npz")
    np.save(tmp_path / "f.npy", np.asfortranarray(arr))
    save(tmp_path / "f.npz", a=np.asfortranarray(arr))
    with pytest.raises(DataError, match="Fortran"):
        open_store(tmp_path / "f.npz")


@pytest.mark.parametrize("kind", ["real", "complex", "compound"])
def test_h5_store_and_source(tmp_path, kind):
    import h5py

    from dynmri.data.sources import open_store
    from dynmri.data.streaming import H5Store

    rng = np.random.default_rng(1)
    arr = rng.random((2, 4, 6, 6)).astype(np.float32)
    if kind != "real":
        arr = (arr + 1j * rng.random(arr.shape)).astype(np.complex64)
    data = arr
    if kind == "compound":
        data = np.empty(arr.shape, dtype=[("real", "<f4"), ("imag", "<f4")])
        data["real"], data["imag"] = arr.real, arr.imag
    with h5py.File(tmp_path / "v.h5", "w") as f:
        f.create_dataset("videos", data=data)
    src = load_source(str(tmp_path / "v.h5"))
    assert src.kind == "h5"
    np.testing.assert_array_equal(src.videos, arr)
    store = open_store(tmp_path / "v.h5")
    assert isinstance(store, H5Store)
    _same_windows(store, arr)


def test_dicom_store_matches_the_loader(tmp_path):
    from dynmri.data.sources import open_store
    from dynmri.data.streaming import DicomStore

    rng = np.random.default_rng(0)
    truth = rng.integers(0, 1000, (3, 4, 8, 8))
    (tmp_path / "single").mkdir()
    for n, i in enumerate(rng.permutation(12)):
        s, t = divmod(int(i), 4)
        _write_dicom(tmp_path / "single" / f"IM{n:03d}.dcm", truth[s, t], slice_loc=10.0 * s, trigger=50.0 * t)
    frames = np.arange(5 * 6 * 6).reshape(5, 6, 6)
    (tmp_path / "multi").mkdir()
    _write_dicom(tmp_path / "multi" / "a.dcm", frames, trigger=0.0, frames_ms=40.0, series="1")
    _write_dicom(tmp_path / "multi" / "b.dcm", frames + 1, trigger=0.0, frames_ms=40.0, series="2")
    for folder in ("single", "multi"):
        src = load_source(str(tmp_path / folder))
        store = open_store(tmp_path / folder)
        assert isinstance(store, DicomStore) and store.groups == src.groups
        np.testing.assert_array_equal(store.frame_times, src.frame_times)
        _same_windows(store, src.videos)


@pytest.mark.parametrize("coil", ["SingleCoil", "MultiCoil"])
def test_mat_store_matches_the_loader_and_crops_larger_subjects(tmp_path, coil):
    from dynmri.data.sources import open_store
    from dynmri.data.streaming import MatStore

    kx, ky, nc, sl, t = 12, 10, 3, 2, 5
    base = tmp_path / coil / "Cine" / "TrainingSet" / "FullSample"
    for p in ("P001", "P002"):
        shape = (kx, ky, nc, sl, t) if coil == "MultiCoil" else (kx, ky, sl, t)
        _write_mat73(base / p / "cine_sax.mat", "kspace_full", _kspace(shape, seed=int(p[-1])))
    store = open_store(tmp_path, coil=coil)
    src = load_source(str(tmp_path), coil=coil)
    assert isinstance(store, MatStore) and store.groups == src.groups and store.n_coils == (nc if coil == "MultiCoil" else 0)
    _same_windows(store, src.videos)
    if coil == "MultiCoil":
        coils = store.read_coils(1, 0, 2)
        assert coils.shape == (nc, 2, kx, ky)
        np.testing.assert_allclose(np.sqrt((np.abs(coils) ** 2).sum(0)), store.read(1, 0, 2), rtol=1e-5)
    big = (kx + 4, ky + 2, nc, sl, t) if coil == "MultiCoil" else (kx + 4, ky + 2, sl, t)
    _write_mat73(base / "P003" / "cine_sax.mat", "kspace_full", _kspace(big, seed=3))
    store = open_store(tmp_path, coil=coil)
    assert store.shape == (3 * sl, t, kx, ky) and store.read(2 * sl, 0, 1).shape == (1, kx, ky)
    _write_mat5(tmp_path / "v5.mat", "k", _kspace((kx, ky, sl, t), seed=0))
    with pytest.raises(DataError, match="v5"):
        MatStore([tmp_path / "v5.mat"])


def test_a_source_file_changed_after_indexing_is_a_data_error(tmp_path):
    import os

    from dynmri.data.sources import open_store

    arr = np.ones((2, 3, 4, 4), np.float32)
    np.savez(tmp_path / "v.npz", a=arr)
    store = open_store(tmp_path / "v.npz")
    store.read(0, 0, 1)
    np.savez(tmp_path / "v.npz", a=2 * arr)
    st = os.stat(tmp_path / "v.npz")
    os.utime(tmp_path / "v.npz", ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))  # same size, newer
    with pytest.raises(DataError, match=r"v\.npz: changed since it was indexed"):
        store.read(0, 0, 1)
    (tmp_path / "v.npz").unlink()
    with pytest.raises(DataError, match=r"v\.npz"):
        store.read(1, 0, 1)
