"""Scanner data in (ISMRMRD, Siemens twix), coil maps estimated from the data, viewer-ready
images out (DICOM, NIfTI). The raw files are written by the ``ismrmrd`` and ``twixtools``
packages themselves from simulated phantom acquisitions."""

from __future__ import annotations

import struct

import numpy as np
import pytest

from dynmri.config import CSConfig, SimulateConfig
from dynmri.data.acquire import simulate_from_config
from dynmri.data.files import Acquisition
from dynmri.data.ismrmrd import remove_readout_oversampling
from dynmri.errors import DataError, ParameterError

OS = 2  # readout oversampling of the written files
FOV = (240.0, 240.0, 8.0)
TICK = 2.5


def _cfft(x, axis, inverse):
    f = np.fft.ifft if inverse else np.fft.fft
    return np.fft.fftshift(f(np.fft.ifftshift(x, axes=axis), axis=axis, norm="ortho"), axes=axis)


def oversample(kspace, factor, rng, noise=0.05):
    """k-space ``(..., H, W)`` of the image zero-padded along the readout ``H`` to ``factor * H``,
    with noise in the padding only (outside the reconstructed FOV): cropping it recovers ``kspace``."""
    H = kspace.shape[-2]
    img = _cfft(kspace, -2, True)
    pad = np.zeros(img.shape[:-2] + (factor * H, img.shape[-1]), np.complex128)
    start = factor * H // 2 - H // 2
    pad[...] = noise * (rng.standard_normal(pad.shape) + 1j * rng.standard_normal(pad.shape))
    pad[..., start : start + H, :] = img
    return _cfft(pad, -2, False).astype(np.complex64)


def header_xml(enc, rec, traj="cartesian", limits=None, frames=1, slices=1, os=OS):
    import ismrmrd.xsd as X

    lim = limits or (0, enc[1] - 1, enc[1] // 2)
    space = lambda m, fx: X.encodingSpaceType(matrixSize=X.matrixSizeType(x=m[0], y=m[1], z=1),  # noqa: E731
                                              fieldOfView_mm=X.fieldOfViewMm(x=fx, y=FOV[1], z=FOV[2]))
    limits_ = X.encodingLimitsType(kspace_encoding_step_1=X.limitType(minimum=lim[0], maximum=lim[1], center=lim[2]),
                                   phase=X.limitType(minimum=0, maximum=frames - 1, center=0),
                                   slice=X.limitType(minimum=0, maximum=slices - 1, center=0))
    encoding = X.encodingType(encodedSpace=space(enc, FOV[0] * os), reconSpace=space(rec, FOV[0]), encodingLimits=limits_,
                              trajectory=X.trajectoryType(traj))
    header = X.ismrmrdHeader(experimentalConditions=X.experimentalConditionsType(H1resonanceFrequency_Hz=63500000), encoding=[encoding])
    return X.ToXML(header)


def _readout(data, *, line, phase, slc, center, average=0, traj=None, flags=(), stamp=0, trigger=0):
    import ismrmrd

    acq = ismrmrd.Acquisition.from_array(np.ascontiguousarray(data, np.complex64), traj)
    acq.idx.kspace_encode_step_1, acq.idx.phase, acq.idx.slice, acq.idx.average = line, phase, slc, average
    acq.center_sample = center
    acq.acquisition_time_stamp, acq.physiology_time_stamp[0] = stamp, trigger
    acq.read_dir[:] = (1.0, 0.0, 0.0)
    acq.phase_dir[:] = (0.0, 1.0, 0.0)
    acq.slice_dir[:] = (0.0, 0.0, 1.0)
    acq.position[:] = (0.0, 0.0, 10.0 * slc)
    for f in flags:
        acq.set_flag(f)
    return acq


def write_cartesian(path, acq, *, rng, os=OS, xml=None, calib_lines=0, extra=()):
    """An ISMRMRD file of a Cartesian acquisition ``(S, [N,] T, H, W)``: readout oversampled
    ``os`` times (noise outside the FOV), frames as cardiac phases, the ``calib_lines`` central
    lines flagged as embedded calibration, frame 0 written as two averages, plus a noise and a
    calibration-only readout (both to be skipped) and ``extra`` readouts."""
    import ismrmrd

    k = acq.kspace if acq.multicoil else acq.kspace[:, None]
    S, N, T, H, W = k.shape
    ko = oversample(k, os, rng)
    times = np.asarray(acq.meta["frame_times_ms"])
    with ismrmrd.Dataset(str(path), "dataset", create_if_needed=True) as ds:
        ds.write_xml_header(xml or header_xml((os * H, W), (H, W), frames=T, slices=S))
        junk = (rng.standard_normal((N, os * H)) * 100).astype(np.complex64)
        ds.append_acquisition(_readout(junk, line=0, phase=0, slc=0, center=os * H // 2, flags=[ismrmrd.ACQ_IS_NOISE_MEASUREMENT]))
        ds.append_acquisition(_readout(junk, line=W // 2, phase=0, slc=0, center=os * H // 2, flags=[ismrmrd.ACQ_IS_PARALLEL_CALIBRATION]))
        for s in range(S):
            for t in range(T):
                for w in np.flatnonzero(acq.mask[s, t, 0]):
                    kw = dict(line=int(w), phase=t, slc=s, center=os * H // 2, trigger=int(round(times[s, t] / TICK)), stamp=1000 + t * 20)
                    flags = [ismrmrd.ACQ_IS_PARALLEL_CALIBRATION_AND_IMAGING] if abs(w - W // 2) < calib_lines // 2 + 1 and calib_lines else []
                    line = ko[s, :, t, :, w]
                    if t == 0:  # two averages whose mean is the line
                        ds.append_acquisition(_readout(line + 1.0, average=0, flags=flags, **kw))
                        ds.append_acquisition(_readout(line - 1.0, average=1, flags=flags, **kw))
                    else:
                        ds.append_acquisition(_readout(line, flags=flags, **kw))
        for r in extra:
            ds.append_acquisition(r)


def write_noncartesian(path, acq, *, traj="goldenangle", units_fov=True):
    """An ISMRMRD file of a non-Cartesian acquisition ``(S, [N,] T, M)``: one readout per spoke
    with its trajectory (in cycles/FOV when ``units_fov``, as BART writes it)."""
    import ismrmrd

    k = acq.kspace if acq.multicoil else acq.kspace[:, None]
    S, N, T, _ = k.shape
    tr = acq.trajectory
    shots, ns = tr.shape[1], tr.shape[2]
    H, W = acq.image_shape
    scale = np.array([H, W], np.float32) if units_fov else np.ones(2, np.float32)
    with ismrmrd.Dataset(str(path), "dataset", create_if_needed=True) as ds:
        ds.write_xml_header(header_xml((2 * H, W), (H, W), traj=traj, frames=T, slices=S, os=1))
        for s in range(S):
            for t in range(T):
                kt = k[s, :, t].reshape(N, shots, ns)
                for j in range(shots):
                    ds.append_acquisition(_readout(kt[:, j], line=j, phase=t, slc=s, center=ns // 2, traj=tr[t, j] * scale,
                                                   stamp=t * 10))


def twix_header(base, lines, fov=FOV, os=OS, trajectory=1, drop=()):
    """A twix measurement header (``hdr_str``) with the protocol entries dynmri reads."""
    yaps = {"sKSpace.lBaseResolution": base, "sKSpace.lPhaseEncodingLines": lines, "sKSpace.ucDimension": "0x2",
            "sKSpace.ucTrajectory": f"0x{trajectory:x}", "sSliceArray.lSize": 1, "sSliceArray.asSlice[0].dReadoutFOV": fov[0],
            "sSliceArray.asSlice[0].dPhaseFOV": fov[1], "sSliceArray.asSlice[0].dThickness": fov[2]}
    asc = "".join(f"{k} = {v}\n" for k, v in yaps.items() if k not in drop)
    buffers = {"Config": '<ParamString."tPatientName">  { "x" }\n',
               "Dicom": f'<ParamDouble."flReadoutOSFactor">  {{ <Precision> 6  {float(os):.6f}  }}\n',
               "MeasYaps": f"### ASCCONV BEGIN ###\n{asc}### ASCCONV END ###\n", "Phoenix": "", "Meas": ""}
    body = b"".join(n.encode() + b"\0" + struct.pack("<I", len(t)) + t.encode("latin1") for n, t in buffers.items())
    size = -(-(8 + len(body)) // 32) * 32
    return np.frombuffer(struct.pack("<II", size, len(buffers)) + body + b"\0" * (size - 8 - len(body)), dtype="S1")


def _mdb(data, *, lin=0, phs=0, sli=0, ave=0, center_col=0, center_lin=0, flags=(), stamp=0, trigger=0):
    from twixtools.mdb import Mdb_local

    m = Mdb_local()
    m.data = np.ascontiguousarray(data, np.complex64)
    c = m.mdh.Counter
    c.Lin, c.Phs, c.Sli, c.Ave = lin, phs, sli, ave
    m.mdh.CenterCol, m.mdh.CenterLin = center_col, center_lin
    m.mdh.TimeStamp, m.mdh.PMUTimeStamp = stamp, trigger
    m.mdh.SliceData.SlicePos.Tra = 10.0 * sli
    m.mdh.SliceData.Quaternion[:] = (1.0, 0.0, 0.0, 0.0)
    for f in flags:
        m.add_flag(f)
    return m


def write_twix_file(path, acq, *, rng, os=OS, hdr=None):
    """A Siemens VE twix file (``twixtools.write_twix``) of a Cartesian acquisition: readout
    oversampled ``os`` times, frames as cardiac phases (``Phs``), frame 0 as two averages, a noise
    adjust and a PAT reference-only scan in front (both to be skipped)."""
    import twixtools

    k = acq.kspace if acq.multicoil else acq.kspace[:, None]
    S, N, T, H, W = k.shape
    ko = oversample(k, os, rng)
    times = np.asarray(acq.meta["frame_times_ms"])
    common = dict(center_col=os * H // 2, center_lin=W // 2)
    junk = (100 * rng.standard_normal((N, os * H))).astype(np.complex64)
    mdbs = [_mdb(junk, flags=["NOISEADJSCAN"], **common), _mdb(junk, lin=W // 2, flags=["PATREFSCAN"], **common)]
    for s in range(S):
        for t in range(T):
            for w in np.flatnonzero(acq.mask[s, t, 0]):
                kw = dict(lin=int(w), phs=t, sli=s, trigger=int(round(times[s, t] / TICK)), stamp=1000 + 20 * t, **common)
                line = ko[s, :, t, :, w]
                lines = [(line + 1.0, 0), (line - 1.0, 1)] if t == 0 else [(line, 0)]
                mdbs += [_mdb(d, ave=a, **kw) for d, a in lines]
    end = twixtools.mdb.Mdb_local()
    end.add_flag("ACQEND")
    mdbs.append(end)
    twixtools.write_twix({"hdr_str": hdr if hdr is not None else twix_header(H, W, os=os), "mdb": mdbs}, str(path))


# ---------------------------------------------------------------------------------------------
# fixtures


@pytest.fixture(scope="module")
def cart():
    """2 slices, 4 coils, 6 frames, 32 x 32, 4x with 8 calibration lines, SNR 25 dB."""
    return simulate_from_config(SimulateConfig(accel=4, frames=6, size=32, coils=4, snr=25.0, n_phantoms=2, center_lines=8))


@pytest.fixture(scope="module")
def radial():
    """1 slice, 3 coils, 4 frames, 32 x 32, golden-angle radial at 4x, SNR 25 dB."""
    return simulate_from_config(SimulateConfig(accel=4, frames=4, size=32, coils=3, snr=25.0, trajectory="radial-golden"))


@pytest.fixture(scope="module")
def cart_h5(cart, tmp_path_factory):
    path = tmp_path_factory.mktemp("ismrmrd") / "cine.h5"
    write_cartesian(path, cart, rng=np.random.default_rng(1), calib_lines=8)
    return path


def _psnr_both(a, b, method, target, config=None):
    """PSNR of ``method`` on acquisitions ``a`` and ``b`` against ``target``."""
    from dynmri.eval.metrics import evaluate
    from dynmri.recon.run import run_method

    return [evaluate(run_method(x, method, config)[0], target)["psnr"] for x in (a, b)]


def _npz_route(acq, tmp_path):
    path = tmp_path / "acq.npz"
    acq.save(path)
    return Acquisition.load(path)


# ---------------------------------------------------------------------------------------------
# ISMRMRD


def test_ismrmrd_cartesian_round_trip(cart, cart_h5, tmp_path):
    """Oversampled, averaged, noisy ISMRMRD k-space reads back as the simulated acquisition, and
    reconstructs to the same PSNR as the .npz route (to 0.01 dB)."""
    acq = Acquisition.load(cart_h5)
    assert acq.kspace.shape == cart.kspace.shape and acq.kspace.dtype == np.complex64
    np.testing.assert_allclose(acq.kspace, cart.kspace, atol=2e-5 * np.abs(cart.kspace).max())
    np.testing.assert_array_equal(acq.mask, cart.mask)
    m = acq.meta
    assert m["skipped"] == {"noise": 1, "calibration-only": 1} and m["readout_oversampling"] == OS
    assert m["frames_from"] == "phase" and m["achieved_acceleration"] == pytest.approx(cart.meta["achieved_acceleration"])
    np.testing.assert_allclose(m["frame_times_ms"], cart.meta["frame_times_ms"], atol=TICK / 2)
    assert m["pixel_spacing_mm"] == [FOV[0] / 32, FOV[1] / 32] and m["slice_thickness_mm"] == FOV[2]
    assert m["image_orientation"] == [0.0, 1.0, 0.0, 1.0, 0.0, 0.0] and np.asarray(m["image_position_mm"]).shape == (2, 3)
    npz = _npz_route(cart, tmp_path)
    h5 = Acquisition(acq.kspace, acq.mask, coil_maps=cart.coil_maps, meta=acq.meta)
    for method, cfg in (("zero-filled", None), ("lps", CSConfig(n_iter=5))):
        a, b = _psnr_both(npz, h5, method, cart.target, cfg)
        assert abs(a - b) < 0.01, (method, a, b)
    first = Acquisition.load(cart_h5, slices=[1])  # one slice, read alone
    np.testing.assert_allclose(first.kspace[0], acq.kspace[1], atol=1e-6)


def test_ismrmrd_radial_round_trip(radial, tmp_path):
    """Golden-angle radial with its trajectory in cycles/FOV: same trajectory (cycles/pixel), same
    k-space, same PSNR as the .npz route."""
    path = tmp_path / "radial.h5"
    write_noncartesian(path, radial)
    acq = Acquisition.load(path)
    np.testing.assert_allclose(acq.trajectory, radial.trajectory, atol=1e-6)
    np.testing.assert_array_equal(acq.kspace, radial.kspace)
    assert acq.meta["image_shape"] == [32, 32] and acq.meta["trajectory_kind"] == "goldenangle"
    h5 = Acquisition(acq.kspace, coil_maps=radial.coil_maps, meta=acq.meta, trajectory=acq.trajectory)
    a, b = _psnr_both(_npz_route(radial, tmp_path), h5, "zero-filled", radial.target)
    assert abs(a - b) < 0.01


def test_ismrmrd_partial_fourier_and_asymmetric_echo(cart, tmp_path):
    """Lines never acquired stay 0 in the mask of every frame; a shortened readout (asymmetric
    echo) is zero-filled and reported."""
    import ismrmrd

    k = oversample(cart.kspace[:1], OS, np.random.default_rng(0))
    H, W, cut = 32, 32, 10
    path = tmp_path / "pf.h5"
    with ismrmrd.Dataset(str(path), "dataset") as ds:
        ds.write_xml_header(header_xml((OS * H, W), (H, W), frames=6))
        for t in range(6):
            for w in range(W - 6):  # partial Fourier: the last 6 lines are never acquired
                ds.append_acquisition(_readout(k[0, :, t, cut:, w], line=w, phase=t, slc=0, center=OS * H // 2 - cut))
    acq = Acquisition.load(path)
    assert acq.meta["partial_echo_samples"] == cut
    assert acq.mask[..., W - 6 :].sum() == 0 and acq.mask[..., : W - 6].all()
    zero_filled = k[0].copy()
    zero_filled[..., :cut, :] = 0
    zero_filled[..., W - 6 :] = 0
    np.testing.assert_allclose(acq.kspace[0], remove_readout_oversampling(zero_filled, H), atol=1e-5)


def test_ismrmrd_sets_are_refused_or_chosen(cart, tmp_path):
    """Two sets (e.g. flow encodings): refused by default, ``set_index`` reads one of them."""
    import ismrmrd

    path = tmp_path / "sets.h5"
    write_cartesian(path, cart, rng=np.random.default_rng(0))
    line = np.ones((4, OS * 32), np.complex64)
    extra = _readout(line, line=16, phase=0, slc=0, center=OS * 16)
    extra.idx.set = 1
    with ismrmrd.Dataset(str(path), "dataset") as ds:
        ds.append_acquisition(extra)
    with pytest.raises(DataError, match="set_index"):
        Acquisition.load(path)
    assert Acquisition.load(path, set_index=0).kspace.shape == cart.kspace.shape
    _npz_route(cart, tmp_path)
    with pytest.raises(ParameterError, match="ISMRMRD .h5 and twix .dat"):
        Acquisition.load(tmp_path / "acq.npz", slices=[0])
    with pytest.raises(ParameterError, match="unknown option 'sets'.*set_index"):
        Acquisition.load(path, sets=0)


# ---------------------------------------------------------------------------------------------
# Siemens twix


def test_twix_round_trip(cart, tmp_path):
    """A VE twix file written by twixtools (oversampled readout, averages, noise and PAT
    reference scans) reads back as the simulated acquisition."""
    path = tmp_path / "meas.dat"
    write_twix_file(path, cart, rng=np.random.default_rng(2))
    acq = Acquisition.load(path)
    np.testing.assert_allclose(acq.kspace, cart.kspace, atol=2e-5 * np.abs(cart.kspace).max())
    np.testing.assert_array_equal(acq.mask, cart.mask)
    assert acq.meta["source_kind"] == "twix" and acq.meta["skipped"] == {"noise": 1, "calibration-only": 1}
    np.testing.assert_allclose(acq.meta["frame_times_ms"], cart.meta["frame_times_ms"], atol=TICK / 2)
    assert acq.meta["pixel_spacing_mm"] == [FOV[0] / 32, FOV[1] / 32]
    assert np.asarray(acq.meta["image_position_mm"])[:, 2].tolist() == [0.0, 10.0]


# ---------------------------------------------------------------------------------------------
# malformed files: one DataError each


def _xml_only(path, xml, readouts=()):
    import ismrmrd

    with ismrmrd.Dataset(str(path), "dataset") as ds:
        if xml is not None:
            ds.write_xml_header(xml)
        for r in readouts:
            ds.append_acquisition(r)


def _line(w=16, **kw):
    return _readout(np.ones((2, OS * 32), np.complex64), line=w, phase=kw.pop("phase", 0), slc=0, center=OS * 16, **kw)


def _no_header(p):
    _xml_only(p, None, [_line()])


def _bad_xml(p):
    _xml_only(p, "<ismrmrdHeader><encoding>", [_line()])


def _limits_vs_matrix(p):
    _xml_only(p, header_xml((64, 32), (32, 32), limits=(0, 40, 16)), [_line()])


def _counter_outside_limits(p):
    _xml_only(p, header_xml((64, 32), (32, 32), limits=(0, 20, 10)), [_line(w) for w in (5, 25)])


def _truncated_readout(p):
    import h5py

    _xml_only(p, header_xml((64, 32), (32, 32)), [_line(w) for w in (15, 16, 17)])
    with h5py.File(p, "r+") as f:
        rec = f["dataset/data"][1]
        rec["data"] = rec["data"][: len(rec["data"]) // 2]
        f["dataset/data"][1] = rec


def _truncated_file(p):
    _xml_only(p, header_xml((64, 32), (32, 32)), [_line(w) for w in range(8)])
    data = p.read_bytes()
    p.write_bytes(data[: len(data) // 2])


def _unknown_trajectory(p):
    _xml_only(p, header_xml((64, 32), (32, 32), traj="epi"), [_line()])


def _radial_without_trajectory(p):
    _xml_only(p, header_xml((64, 32), (32, 32), traj="radial"), [_line()])


def _missing_frame(p):
    _xml_only(p, header_xml((64, 32), (32, 32)), [_line(phase=0), _line(phase=2)])


def _twix_missing_protocol(p):
    write_twix_file(p, _tiny(), rng=np.random.default_rng(0), hdr=twix_header(8, 8, drop=("sKSpace.lBaseResolution",)))


def _twix_radial(p):
    write_twix_file(p, _tiny(), rng=np.random.default_rng(0), hdr=twix_header(8, 8, trajectory=2))


def _twix_truncated(p):
    write_twix_file(p, _tiny(), rng=np.random.default_rng(0))
    data = p.read_bytes()
    p.write_bytes(data[: int(len(data) * 0.8)])


def _twix_garbage(p):
    p.write_bytes(b"\x01\x02" * 100)


def _tiny():
    return simulate_from_config(SimulateConfig(accel=2, frames=2, size=8, coils=2))


MALFORMED = {
    "missing header": (_no_header, "no ISMRMRD XML header"),
    "invalid header": (_bad_xml, "invalid ISMRMRD XML header"),
    "limits beyond the matrix": (_limits_vs_matrix, "inconsistent encoding limits"),
    "counters beyond the limits": (_counter_outside_limits, "inconsistent encoding limits"),
    "truncated readout": (_truncated_readout, "truncated"),
    "truncated file": (_truncated_file, "truncated"),
    "unknown trajectory": (_unknown_trajectory, "trajectory type 'epi' is not supported"),
    "radial without trajectory": (_radial_without_trajectory, "no 2D trajectory"),
    "frame without readouts": (_missing_frame, "have no readouts"),
    "twix without protocol entry": (_twix_missing_protocol, "lBaseResolution"),
    "twix radial": (_twix_radial, "radial twix data is not supported"),
    "twix truncated": (_twix_truncated, "truncated file"),
    "twix garbage": (_twix_garbage, "Siemens twix file"),
}


@pytest.mark.parametrize("case", list(MALFORMED))
def test_malformed_scanner_files(case, tmp_path):
    make, message = MALFORMED[case]
    path = tmp_path / ("bad.dat" if case.startswith("twix") else "bad.h5")
    make(path)
    with pytest.raises(DataError, match=message):
        Acquisition.load(path)


# ---------------------------------------------------------------------------------------------
# coil maps


def _sense_zero_filled(acq, maps):
    from dynmri.eval.metrics import evaluate
    from dynmri.recon.run import run_method

    return evaluate(run_method(Acquisition(acq.kspace, acq.mask, coil_maps=maps, meta=acq.meta, trajectory=acq.trajectory),
                               "zero-filled")[0], acq.target)["psnr"]


@pytest.mark.parametrize("method", ["walsh", "inati", "espirit"])
def test_coil_maps_from_the_data(cart, method):
    """Maps from the fully sampled centre: (S, N, H, W) complex64, sum |S_n|^2 = 1 on the
    support, and a SENSE-combined zero-filled image as good as with the true maps (0.5 dB)."""
    if method == "espirit":
        pytest.importorskip("sigpy")  # the optional extra dynmri[espirit]
    from dynmri.recon.coilmaps import estimate_coil_maps

    maps = estimate_coil_maps(cart, method, calibration="central", **({"calib_width": 8} if method == "espirit" else {}))
    assert maps.shape == cart.coil_maps.shape and maps.dtype == np.complex64
    power = (np.abs(maps) ** 2).sum(axis=1)
    np.testing.assert_allclose(power[power > 0], 1.0, atol=1e-5)
    assert (power > 0).mean() > 0.9
    assert _sense_zero_filled(cart, maps) > _sense_zero_filled(cart, cart.coil_maps) - 0.5


def test_coil_maps_calibration_choice(cart, radial):
    """``auto`` takes the central lines when enough are fully sampled, else the time average;
    non-Cartesian data are gridded (time average); impossible requests raise."""
    from dynmri.recon.coilmaps import with_coil_maps

    assert with_coil_maps(cart, "walsh").meta["coil_maps"]["calibration"] == "time-average"  # 8 central lines < 16
    out = with_coil_maps(cart, "inati", min_central=8, kernel=5)
    assert out.meta["coil_maps"] == {"method": "inati", "calibration": "central", "options": {"kernel": 5}}
    assert out.kspace is cart.kspace and cart.meta.get("coil_maps") is None
    rad = with_coil_maps(radial, "walsh")
    assert rad.coil_maps.shape == radial.coil_maps.shape and rad.meta["coil_maps"]["calibration"] == "time-average"
    assert _sense_zero_filled(radial, rad.coil_maps) > _sense_zero_filled(radial, radial.coil_maps) - 0.5
    single = simulate_from_config(SimulateConfig(accel=4, frames=2, size=16))
    for acq, kw, message in [(single, {}, "single-coil"), (radial, {"calibration": "central"}, "Cartesian"),
                             (cart, {"method": "svd"}, "unknown coil-map estimator"), (cart, {"kernel": "7"}, "kernel"),
                             (cart, {"calibration": "full"}, "calibration must be")]:
        with pytest.raises(ParameterError, match=message):
            with_coil_maps(acq, **kw)


# ---------------------------------------------------------------------------------------------
# DICOM and NIfTI out


def _recon_from_file(cart_h5):
    from dynmri.recon.run import run_method

    acq = Acquisition.load(cart_h5)
    return acq, run_method(acq, "zero-filled")[0]


def test_write_dicom_series(cart_h5, tmp_path):
    """A reconstruction of an ISMRMRD file as a DICOM series: pydicom reads every image with the
    file's timing and geometry, and the rescaled pixels are the magnitude."""
    import pydicom

    from dynmri.data.export import write_dicom

    acq, recon = _recon_from_file(cart_h5)
    files = write_dicom(recon, tmp_path / "dicom", meta=acq.meta, method="zero-filled")
    S, T, H, W = recon.shape
    assert len(files) == S * T and sorted(p.name for p in (tmp_path / "dicom").iterdir()) == sorted(p.name for p in files)
    assert [p.name for p in tmp_path.iterdir()] == ["dicom"]  # no temporary folder left
    uids = set()
    for f in files:
        ds = pydicom.dcmread(f)
        s, t = divmod(int(ds.InstanceNumber) - 1, T)
        assert ds.SOPClassUID == "1.2.840.10008.5.1.4.1.1.4" and ds.SeriesDescription == "dynmri zero-filled"
        assert float(ds.TriggerTime) == pytest.approx(acq.meta["frame_times_ms"][s][t], abs=1e-3)
        assert [float(v) for v in ds.PixelSpacing] == acq.meta["pixel_spacing_mm"] and float(ds.SliceThickness) == FOV[2]
        assert [float(v) for v in ds.ImageOrientationPatient] == acq.meta["image_orientation"]
        np.testing.assert_allclose([float(v) for v in ds.ImagePositionPatient], acq.meta["image_position_mm"][s], atol=1e-3)
        assert (ds.Rows, ds.Columns, ds.CardiacNumberOfImages, ds.TemporalPositionIdentifier) == (H, W, T, t + 1)
        value = ds.pixel_array * float(ds.RescaleSlope) + float(ds.RescaleIntercept)
        np.testing.assert_allclose(value, np.abs(recon[s, t]), atol=float(ds.RescaleSlope))
        uids.add(ds.SeriesInstanceUID)
    assert len(uids) == 1
    with pytest.raises(DataError, match="exists"):
        write_dicom(recon, tmp_path / "dicom", meta=acq.meta, method="zero-filled")
    assert len(write_dicom(recon[:1, :2], tmp_path / "dicom", meta=None, method="lps", overwrite=True)) == 2
    assert len(list((tmp_path / "dicom").iterdir())) == 2


def test_write_dicom_is_atomic(tmp_path, monkeypatch):
    """A failure half-way leaves neither a partial series nor a temporary folder."""
    from dynmri.data import export

    calls = []

    def failing(*args):
        calls.append(1)
        if len(calls) == 3:
            raise OSError("disk full")
        return real(*args)

    real = export._image_dataset
    monkeypatch.setattr(export, "_image_dataset", failing)
    with pytest.raises(OSError, match="disk full"):
        export.write_dicom(np.ones((1, 4, 8, 8)), tmp_path / "out", method="zero-filled")
    assert list(tmp_path.iterdir()) == []


def test_write_nifti(cart_h5, tmp_path):
    """2D+t NIfTI: shape (H, W, S, T), spacing and frame interval in pixdim, units mm and ms."""
    import nibabel as nib

    from dynmri.data.export import write_nifti

    acq, recon = _recon_from_file(cart_h5)
    path = write_nifti(recon, tmp_path / "cine.nii.gz", meta=acq.meta)
    img = nib.load(path)
    S, T, H, W = recon.shape
    dt = np.diff(acq.meta["frame_times_ms"][0]).mean()
    assert img.shape == (H, W, S, T) and img.header.get_xyzt_units() == ("mm", "msec")
    np.testing.assert_allclose(img.header.get_zooms(), (*acq.meta["pixel_spacing_mm"], 10.0, dt), rtol=1e-5)
    np.testing.assert_allclose(img.get_fdata()[:, :, 1, 2], np.abs(recon[1, 2]), rtol=1e-6)
    corner = img.affine @ np.array([0, 0, 0, 1.0])
    np.testing.assert_allclose(corner[:3], np.asarray(acq.meta["image_position_mm"][0]) * [-1, -1, 1], atol=1e-4)
    one = nib.load(write_nifti(recon[:1], tmp_path / "one.nii"))  # no meta: documented defaults
    assert one.shape == (H, W, 1, T) and one.header.get_zooms() == (1.0, 1.0, 1.0, 1.0)
    with pytest.raises(ParameterError, match="ends in .nii"):
        write_nifti(recon, tmp_path / "x.img")
    with pytest.raises(ParameterError, match="not equally spaced"):
        write_nifti(np.ones((3, 2, 4, 4)), tmp_path / "x.nii", meta={"slice_locations": [0.0, 5.0, 7.0]})


def test_slice_with_a_missing_frame(tmp_path):
    """A slice whose last frame never arrived (the other slice has it): one DataError naming it."""
    xml = header_xml((64, 32), (32, 32), frames=2, slices=2)
    readouts = [_line(phase=p) for p in (0, 1)] + [_line(phase=0)]
    readouts[-1].idx.slice = 1
    _xml_only(tmp_path / "x.h5", xml, readouts)
    with pytest.raises(DataError, match=r"slice 1: frames \[1\] have no readouts"):
        Acquisition.load(tmp_path / "x.h5")


# ---------------------------------------------------------------------------------------------
# end to end through the command line: raw scanner file in, viewer-ready images out


def test_cli_ismrmrd_to_dicom_with_estimated_coil_maps(cart_h5, tmp_path):
    """``dynmri reconstruct scan.h5 --method lps --coil-maps walsh --out recon --format dicom``."""
    import pydicom
    from typer.testing import CliRunner

    from dynmri.cli import app

    out = tmp_path / "recon"
    res = CliRunner().invoke(app, ["reconstruct", str(cart_h5), "--method", "lps", "--iters", "5", "--coil-maps", "walsh",
                                   "--out", str(out), "--format", "dicom"])
    assert res.exit_code == 0, res.output
    files = sorted(out.iterdir())
    assert len(files) == 2 * 6  # slices x frames
    ds = pydicom.dcmread(files[0])
    assert "lps" in ds.SeriesDescription and float(ds.PixelSpacing[0]) == pytest.approx(FOV[0] / 32)


def test_cli_twix_to_nifti_with_a_shipped_network(cart, tmp_path):
    """``dynmri reconstruct meas.dat --model crnn-ddei-sunnybrook-8x --coil-maps walsh --format nifti``."""
    import nibabel as nib
    from typer.testing import CliRunner

    from dynmri.cli import app

    raw = tmp_path / "meas.dat"
    write_twix_file(raw, cart, rng=np.random.default_rng(2))
    out = tmp_path / "recon.nii.gz"
    res = CliRunner().invoke(app, ["reconstruct", str(raw), "--model", "crnn-ddei-sunnybrook-8x", "--coil-maps", "walsh",
                                   "--out", str(out), "--format", "nifti"])
    assert res.exit_code == 0, res.output
    img = nib.load(out)
    assert img.shape == (32, 32, 2, 6) and img.header.get_zooms()[0] == pytest.approx(FOV[0] / 32)


def test_fully_sampled_raw_data_is_a_data_source(tmp_path, cart_h5):
    """``--data scan.h5``: fully sampled ISMRMRD k-space gives images to simulate from; an
    undersampled file is refused with the command that reconstructs it."""
    from dynmri.data.phantom import phantom_videos
    from dynmri.data.simulate import birdcage_maps, simulate_acquisition
    from dynmri.data.sources import load_source

    images = phantom_videos(1, 4, (32, 32), seed=0)
    maps = birdcage_maps(3, (32, 32))[None]
    full = simulate_acquisition(images, np.ones(images.shape, dtype=np.uint8), coil_maps=maps, meta={"frame_times_ms": [[0.0, 30.0, 60.0, 90.0]]})
    path = tmp_path / "full.h5"
    write_cartesian(path, full, rng=np.random.default_rng(0))
    src = load_source(str(path))
    rss = np.abs(images)  # maps normalised to sum |S|^2 = 1: RSS of the coil images = |x|
    assert src.videos.shape == (1, 4, 32, 32) and src.kind == "ismrmrd"
    np.testing.assert_allclose(src.videos, rss, atol=1e-4 * rss.max())
    acq = simulate_from_config(SimulateConfig(data=str(path), accel=4, frames=4))
    assert acq.kspace.shape == (1, 4, 32, 32)
    with pytest.raises(DataError, match="undersampled raw data .* reconstruct it with 'dynmri reconstruct"):
        load_source(str(cart_h5))
