import numpy as np
import pytest

from dynmri.errors import ParameterError, ShapeError
from dynmri.eval.metrics import evaluate, format_table, frame_metrics


def test_known_values():
    rng = np.random.default_rng(0)
    ref = rng.uniform(0.1, 1, (2, 3, 32, 32))
    ref[:, :, 0, 0] = 1.0  # peak 1
    rec = ref + 0.01
    m = evaluate(rec, ref)
    assert m["psnr"] == pytest.approx(40.0, abs=1e-3)
    expected_nmse = np.mean([(0.01**2 * 32 * 32) / np.sum(ref[s, t] ** 2) for s in range(2) for t in range(3)])
    assert m["nmse"] == pytest.approx(expected_nmse, rel=1e-4)
    assert len(m["per_frame"]["psnr"]) == 3 and len(m["per_sample"]["ssim"]) == 2
    same = evaluate(ref, ref)
    assert same["ssim"] == pytest.approx(1.0, abs=1e-6)
    assert same["nmse"] == pytest.approx(0.0, abs=1e-12)


def test_magnitude_ignores_phase_and_scales_by_reference_peak():
    ref = np.random.default_rng(1).uniform(0, 5, (1, 2, 24, 24))
    rec = ref * np.exp(1j * 0.7)
    assert evaluate(rec, ref)["psnr"] >= 79.9  # deepinv caps a perfect match at 80 dB
    # same relative error at another intensity scale -> same PSNR
    a = evaluate(ref * 1.05, ref)["psnr"]
    b = evaluate(10 * ref * 1.05, 10 * ref)["psnr"]
    assert a == pytest.approx(b, abs=1e-4)


def test_roi_and_errors():
    ref = np.zeros((1, 2, 32, 32))
    ref[..., 8:24, 8:24] = 1
    rec = ref.copy()
    rec[..., :4, :] = 0.5  # error only outside the centre
    assert frame_metrics(rec, ref, roi=16)["nmse"].max() == 0
    assert frame_metrics(rec, ref)["nmse"].max() > 0
    with pytest.raises(ShapeError):
        evaluate(rec[:, :1], ref)
    with pytest.raises(ParameterError, match="all zero"):
        evaluate(rec, np.zeros_like(ref))
    with pytest.raises(ParameterError, match="roi"):
        evaluate(rec, ref, roi=64)
    assert "| a |" in format_table({"a": evaluate(rec, ref)})
