"""The real-time scenario: truth geometry, retrospective gating, motion-fidelity metrics."""

import numpy as np
import pytest

from dynmri.data.realtime import (
    gated_cine,
    gated_video,
    gating_weights,
    lv_area_curve,
    realtime_series,
)
from dynmri.errors import ParameterError, ShapeError
from dynmri.eval.motion import frame_psnr, motion_metrics

SMALL = dict(frames=80, size=(48, 48))


@pytest.fixture(scope="module")
def series():
    return realtime_series(seed=3, **SMALL)


def test_series_has_an_ectopic_beat_and_marks_its_neighbourhood(series):
    k = series.ectopic_beat
    assert k >= 0 and series.rr_intervals[k] < 0.7 * np.median(series.rr_intervals)
    assert set(np.unique(series.beat[series.irregular])) <= {k - 1, k, k + 1}
    assert ((series.phase >= 0) & (series.phase < 1)).all()


def test_rendering_is_unchanged_by_the_geometry_fields():
    from dynmri.data.phantom import cardiac_phantom

    a = cardiac_phantom(20, (32, 32), ectopic=True, seed=4)
    b = realtime_series(seed=4, frames=20, size=32, heart_rate=70.0, rr_std=0.12, frame_duration=0.06,
                        resp_amplitude=0.06, resp_drift=0.01, resp_period=4.0)
    np.testing.assert_array_equal(a.video, b.video)


def test_measured_lv_area_follows_the_painted_ellipse(series):
    a = lv_area_curve(series.video, series)
    assert np.corrcoef(a, series.lv_area)[0, 1] > 0.99


def test_gating_rejects_the_ectopic_beat_and_averages(series):
    w = gating_weights(series, bins=10)
    np.testing.assert_allclose(w.sum(1), 1.0)
    assert w[:, series.beat == series.ectopic_beat].sum() == 0  # arrhythmia rejection
    assert gated_cine(series, bins=10).shape == (10, 48, 48)


def test_gated_video_of_a_periodic_series_is_near_the_truth():
    s = realtime_series(seed=0, rr_std=0.0, ectopic=False, resp_amplitude=0.0, resp_drift=0.0, **SMALL)
    m = motion_metrics(gated_video(s), s)
    assert m["psnr"] > 40 and not s.irregular.any()


def test_gated_video_of_an_irregular_series_is_not(series):
    m = motion_metrics(gated_video(series), series)
    assert m["psnr"] < 32 and m["lv_area_rmse_ectopic"] > 2


def test_motion_metrics_of_the_truth_are_perfect(series):
    m = motion_metrics(series.video, series)
    assert m["lv_area_rmse"] == 0 and m["resp_excursion_error"] == 0 and m["psnr"] > 200
    assert np.isinf(frame_psnr(series.video, series.video)).sum() == 0


def test_bad_inputs(series):
    with pytest.raises(ShapeError):
        motion_metrics(series.video[:-1], series)
    with pytest.raises(ParameterError):
        gating_weights(series, bins=1)


def test_motion_figures_pick_the_named_methods_and_score_every_one(series, tmp_path):
    """The study's and the demo's figures: the video shows truth, gated cine and the methods named
    (``lps`` is not ``lpsnet-...``); every method gets a row of the motion table."""
    import imageio.v2 as imageio

    from dynmri.data.realtime import gated_video
    from dynmri.eval.realtime import _names, motion_table, save_motion_figures, score_series

    assert _names("lps (GT-free tuned)", "lps") and _names("lpsnet-ddei-realtime-8x", "ddei")
    assert not _names("lpsnet-ddei-realtime-8x", "lps") and not _names("ddei-compose", "ddei")
    gated = gated_video(series)
    recons = {"lps": series.video, "lpsnet-ddei-realtime-8x": 0.9 * series.video, "zero-filled": 0.5 * series.video}
    save_motion_figures(tmp_path, recons, series, gated, video=("lps", "ddei"))
    frames = imageio.mimread(tmp_path / "comparison.gif")
    assert frames[0].shape[1] == 5 * series.video.shape[-1] + 4 * 2  # truth | gated | lps | ddei | error, 2-pixel gaps
    for name in ("summary.png", "per_frame_psnr.png", "lv_area.png", "xt_profiles.png"):
        assert (tmp_path / name).stat().st_size > 0
    rows = score_series({k: [(v[None], 1.0)] for k, v in recons.items()}, [series])
    assert rows["lps"]["psnr"][0] > 100 and rows["zero-filled"]["psnr"][0] < rows["lpsnet-ddei-realtime-8x"]["psnr"][0]
    assert len(motion_table(rows).splitlines()) == 2 + len(recons)
