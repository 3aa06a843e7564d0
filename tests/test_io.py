import numpy as np
import pytest

from dynmri.data.files import Acquisition, Reconstruction, read_arrays
from dynmri.errors import DataError, ShapeError
from dynmri.fileio import atomic_path


@pytest.mark.parametrize("suffix", [".npz", ".h5"])
def test_roundtrip(small_acq, tmp_path, suffix):
    path = tmp_path / f"acq{suffix}"
    small_acq.save(path)
    back = Acquisition.load(path)
    np.testing.assert_array_equal(back.kspace, small_acq.kspace)
    np.testing.assert_array_equal(back.mask, small_acq.mask)
    np.testing.assert_array_equal(back.target, small_acq.target)
    assert back.meta == {"source": "test"}
    Reconstruction(small_acq.target, {"method": "x"}).save(tmp_path / f"r{suffix}")
    np.testing.assert_array_equal(Reconstruction.load(tmp_path / f"r{suffix}").recon, small_acq.target)


def test_atomic_write_keeps_old_file_on_failure(tmp_path):
    path = tmp_path / "out.npz"
    path.write_bytes(b"old")
    with pytest.raises(RuntimeError):
        with atomic_path(path) as tmp:
            tmp.write_bytes(b"partial")
            raise RuntimeError("crash while writing")
    assert path.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["out.npz"]


def _bad(small_acq, **changes):
    fields = dict(kspace=small_acq.kspace.copy(), mask=small_acq.mask.copy(), target=small_acq.target)
    fields.update(changes)
    return Acquisition(**fields)


def test_validation_names_the_problem(small_acq):
    k = small_acq.kspace.copy()
    k[0, 0, 0, 0] = np.nan
    with pytest.raises(DataError, match="NaN or Inf"):
        _bad(small_acq, kspace=k).validate()
    with pytest.raises(DataError, match="empty"):
        _bad(small_acq, mask=np.zeros_like(small_acq.mask)).validate()
    with pytest.raises(DataError, match="all of k-space"):
        _bad(small_acq, mask=np.ones_like(small_acq.mask)).validate()
    with pytest.raises(ShapeError, match="does not match"):
        _bad(small_acq, mask=small_acq.mask[:, :, :, :-1]).validate()
    with pytest.raises(ShapeError, match="target"):
        _bad(small_acq, target=small_acq.target[:, :-1]).validate()
    m = small_acq.mask.copy()
    m[0, 3] = 0
    with pytest.raises(DataError, match="frame"):
        _bad(small_acq, mask=m).validate()
    with pytest.raises(DataError, match="only 0 and 1"):
        _bad(small_acq, mask=small_acq.mask * 2).validate()


def test_missing_key_truncated_and_unknown_files(small_acq, tmp_path):
    np.savez(tmp_path / "nokspace.npz", mask=small_acq.mask)
    with pytest.raises(DataError, match="missing key 'kspace'"):
        Acquisition.load(tmp_path / "nokspace.npz")
    small_acq.save(tmp_path / "good.npz")
    data = (tmp_path / "good.npz").read_bytes()
    (tmp_path / "cut.npz").write_bytes(data[: len(data) // 2])
    with pytest.raises(DataError, match="truncated"):
        Acquisition.load(tmp_path / "cut.npz")
    small_acq.save(tmp_path / "good.h5")
    data = (tmp_path / "good.h5").read_bytes()
    (tmp_path / "cut.h5").write_bytes(data[: len(data) // 2])
    with pytest.raises(DataError, match="truncated"):
        Acquisition.load(tmp_path / "cut.h5")
    with pytest.raises(DataError, match="not found"):
        read_arrays(tmp_path / "absent.npz")
    with pytest.raises(DataError, match="unsupported"):
        small_acq.save(tmp_path / "acq.mat")
