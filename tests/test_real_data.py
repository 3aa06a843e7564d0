"""Quality on the real Sunnybrook cine (skipped, with the reason, when ../shared/data is absent)."""

import pytest
from typer.testing import CliRunner

from dynmri.cli.app import app
from dynmri.config import SimulateConfig
from dynmri.data.acquire import simulate_from_config
from dynmri.data.files import Acquisition
from dynmri.eval.metrics import evaluate
from dynmri.recon import reconstruct_acquisition

pytestmark = pytest.mark.data


def test_zero_filled_quality_orders_with_acceleration(sunnybrook):
    psnr = {}
    for accel in (4, 8, 16):
        cfg = SimulateConfig(data=str(sunnybrook / "E774S5-shortAxis"), accel=accel, frames=12, crop=128, slices="8:12")
        acq = simulate_from_config(cfg)
        assert acq.meta["achieved_acceleration"] == pytest.approx(accel, rel=0.02)
        psnr[accel] = evaluate(reconstruct_acquisition(acq, "zero-filled"), acq.target)["psnr"]
    # all slices (benchmarks/zero_filled_sunnybrook.py): 32.3 / 28.7 / 27.3 dB; these mid slices are harder
    assert psnr[4] > psnr[8] > psnr[16] > 20  # slices 8-11 measured 21.96 dB at 16x
    assert 25 < psnr[4] < 40  # slices 8-11 measured 27.8 dB at 4x


def test_cli_on_dicom_folder(sunnybrook, tmp_path):
    runner = CliRunner()
    acq = tmp_path / "sax.h5"
    res = runner.invoke(app, ["simulate", "--data", str(sunnybrook / "E774S5-shortAxis"), "--slices", "0,5", "--crop", "96", "--coils", "4", "--snr", "40", "--out", str(acq)])
    assert res.exit_code == 0, res.output
    a = Acquisition.load(acq)
    assert a.kspace.shape == (2, 4, 12, 96, 96) and a.meta["source_kind"] == "dicom"
    assert a.meta["pixel_spacing_mm"] == pytest.approx([0.8203, 0.8203])
    assert a.meta["frame_times_ms"][0][:2] == [10.0, 41.0]
    res = runner.invoke(app, ["simulate", "--data", str(sunnybrook / "E774S5-shortAxis"), "--frames", "30", "--out", str(tmp_path / "x.npz")])
    assert res.exit_code == 2 and "has 20 frames" in res.output


def test_shipped_networks_beat_zero_filled_on_a_test_slice(sunnybrook):
    """The shipped networks on held-out slice 4 at 8x (the benchmark's first test slice)."""
    from dynmri.models.weights import shipped_weights
    from dynmri.recon import reconstruct_with_model

    shipped = shipped_weights()
    assert {"crnn-ddei-sunnybrook-8x", "crnn-supervised-l2-sunnybrook-8x", "lpsnet-ddei-sunnybrook-8x", "lpsnet48-ddei-sunnybrook-8x"} <= set(shipped)
    cfg = SimulateConfig(data=str(sunnybrook / "E774S5-shortAxis"), accel=8, frames=12, crop=128, slices="4")
    acq = simulate_from_config(cfg)
    zf = evaluate(reconstruct_acquisition(acq, "zero-filled"), acq.target)["psnr"]
    psnr = {name: evaluate(reconstruct_with_model(acq, name), acq.target)["psnr"] for name in shipped}
    assert psnr["crnn-ddei-sunnybrook-8x"] > zf + 2  # no ground truth in training
    assert psnr["crnn-supervised-l2-sunnybrook-8x"] > psnr["crnn-ddei-sunnybrook-8x"] - 0.5
    # the unrolled low rank + sparse trained with DDEI: the best network without ground truth
    assert psnr["lpsnet-ddei-sunnybrook-8x"] > psnr["crnn-ddei-sunnybrook-8x"] + 1
    # 48 learned iterations (the paper's random choice of transform): +0.77 dB on this slice
    assert psnr["lpsnet48-ddei-sunnybrook-8x"] > psnr["lpsnet-ddei-sunnybrook-8x"] + 0.5
