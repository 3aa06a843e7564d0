r"""Motion fidelity of a real-time reconstruction against the phantom's truth.

PSNR and SSIM average over frames and hide what gated cine gets wrong: a few irregular beats.
For a series from :func:`dynmri.data.realtime.realtime_series` these metrics look at the motion:

- ``psnr`` / ``psnr_irregular`` / ``psnr_regular``: PSNR over all frames, over the ectopic beat and
  its neighbours, over the other frames (peak: the truth's maximum magnitude);
- ``lv_area_rmse`` / ``lv_area_rmse_irregular`` / ``lv_area_rmse_ectopic``: RMS error in pixels of the
  left-ventricle blood-pool area curve (:func:`dynmri.data.realtime.lv_area_curve`, the same
  yardstick on the reconstruction and on the truth), over all frames, the irregular frames, and
  the ectopic beat alone;
- ``resp_excursion_error``: the peak-to-peak respiratory excursion of the blood pool's centre
  (rows, pixels; :func:`dynmri.data.realtime.pool_centre`) in the reconstruction minus that of
  the truth, and ``resp_position_rmse``: the RMS error of that curve.

Examples
--------
>>> from dynmri.data.realtime import realtime_series
>>> from dynmri.eval.motion import motion_metrics
>>> s = realtime_series(seed=2, frames=60, size=(32, 32))
>>> m = motion_metrics(s.video, s)
>>> round(m["lv_area_rmse"], 6), round(m["resp_excursion_error"], 6)
(0.0, 0.0)
"""

from __future__ import annotations

import numpy as np

from dynmri.errors import ShapeError


def frame_psnr(recon: np.ndarray, truth: np.ndarray) -> np.ndarray:
    """Per-frame PSNR ``(T,)`` in dB of magnitudes, the peak being the truth's maximum."""
    err = np.mean((np.abs(recon) - np.abs(truth)) ** 2, axis=(1, 2))
    return 10 * np.log10(np.abs(truth).max() ** 2 / np.maximum(err, 1e-30))


def _psnr(recon: np.ndarray, truth: np.ndarray, peak: float) -> float:
    return float(10 * np.log10(peak**2 / max(float(np.mean((np.abs(recon) - np.abs(truth)) ** 2)), 1e-30)))


def motion_metrics(recon: np.ndarray, series) -> dict:
    """The metrics of the module doc for ``recon (T, H, W)`` (complex or magnitude) against the
    real-time series ``series``."""
    from dynmri.data.realtime import pool_measures

    truth = series.video
    if recon.shape != truth.shape:
        raise ShapeError(f"the reconstruction is {recon.shape}, the series {truth.shape}")
    peak = float(np.abs(truth).max())
    irr, ect = series.irregular, series.beat == series.ectopic_beat
    (a_rec, c_rec), (a_ref, c_ref) = pool_measures(recon, series), pool_measures(truth, series)
    p_rec, p_ref = c_rec[:, 0], c_ref[:, 0]

    def rmse(e, sel=slice(None)):
        return float(np.sqrt(np.mean(e[sel] ** 2))) if np.size(e[sel]) else float("nan")

    return {
        "psnr": _psnr(recon, truth, peak),
        "psnr_irregular": _psnr(recon[irr], truth[irr], peak) if irr.any() else float("nan"),
        "psnr_regular": _psnr(recon[~irr], truth[~irr], peak) if (~irr).any() else float("nan"),
        "lv_area_rmse": rmse(a_rec - a_ref),
        "lv_area_rmse_irregular": rmse(a_rec - a_ref, irr),
        "lv_area_rmse_ectopic": rmse(a_rec - a_ref, ect),
        "resp_excursion_error": float(np.ptp(p_rec) - np.ptp(p_ref)),
        "resp_position_rmse": rmse(p_rec - p_ref),
    }
