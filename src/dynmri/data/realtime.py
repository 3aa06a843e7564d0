r"""Real-time free-running series with irregular motion, and the gated cine a clinic would have.

A real-time series is one long phantom acquisition (:func:`dynmri.data.phantom.cardiac_phantom`)
at a realistic frame rate: beat-to-beat RR variation, one ectopic beat with its compensatory
pause, free breathing with drift. Its frames are the true real-time ground truth, which no
scanner gives.

A clinic has a *gated* cine instead: frames binned by cardiac phase (from the ECG) into a
periodic cycle. :func:`gated_cine` forms it retrospectively from the same fully sampled frames,
the best case for the supervised side:

- cardiac phase of frame :math:`t` in the beat :math:`k` that holds it:
  :math:`\varphi_t = (t - o_k) / RR_k \in [0, 1)`, binned into ``bins`` equal phase bins;
- arrhythmia rejection (the scanner's standard): beats whose RR differs from the median by more
  than ``reject`` (a fraction) are left out of the bins;
- respiration gated to end-expiration: only frames whose respiratory displacement lies in the
  ``resp_keep`` share nearest the end-expiratory position (the series' maximum displacement,
  the diaphragm lowest... here the minimum of the phantom's signed displacement) enter the
  bins (``resp_keep = 1`` ignores respiration);
- each bin is the average of its frames; a bin with no frame takes the nearest non-empty one.

:func:`gated_video` plays that cine back at the real-time frame times (linear interpolation in
cardiac phase between bin centres), so it can be compared frame by frame with the truth: its
error in the ectopic beat is the data crime of training on gated cine, in numbers.

Examples
--------
>>> from dynmri.data.realtime import realtime_series, gated_video
>>> s = realtime_series(seed=1, frames=60, size=(32, 32))
>>> s.video.shape, int(s.irregular.sum()) > 0
((60, 32, 32), True)
>>> gated_video(s).shape
(60, 32, 32)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from dynmri.errors import ParameterError

REALTIME_DEFAULTS = {"frames": 240, "size": 96, "frame_duration": 0.04, "heart_rate": 72.0, "rr_std": 0.08,
                     "resp_period": 4.0, "resp_amplitude": 0.06, "resp_drift": 0.005, "ectopic": True}
"""The real-time scenario: 240 frames of 40 ms (25 frames/s, 9.6 s: about 11 beats and 2-3 breaths)
at 96x96, RR varying 8 % beat to beat, one ectopic beat."""


@dataclass
class RealtimeSeries:
    """One subject's real-time series ``video (T, H, W)`` complex64 with its truth: frame times
    (s), beat onsets and RR intervals (s), cardiac phase ``(T,)`` in [0, 1), beat index ``(T,)``,
    respiratory displacement ``(T,)``, LV blood-pool area ``(T,)`` (pixels) and centre ``(T, 2)``,
    the LV radii (pixels), and ``irregular (T,)``: the frames of the ectopic beat and of the beats
    either side of it (its neighbours)."""

    video: np.ndarray
    frame_times: np.ndarray
    beat_onsets: np.ndarray
    rr_intervals: np.ndarray
    phase: np.ndarray
    beat: np.ndarray
    respiration: np.ndarray
    lv_area: np.ndarray
    lv_centre: np.ndarray
    lv_radius: float
    epicardial_radius: float
    ectopic_beat: int
    irregular: np.ndarray


def realtime_series(seed: int = 0, *, frames: int | None = None, size: tuple[int, int] | int | None = None, **overrides) -> RealtimeSeries:
    """Render subject ``seed``'s real-time series (:data:`REALTIME_DEFAULTS`, overridable).

    The ectopic beat is present unless ``ectopic=False``; ``irregular`` marks it and the beats before and after it
    (the compensatory pause) frame by frame.
    """
    from dynmri.data.phantom import beat_index, cardiac_phantom

    opts = {k: v for k, v in (REALTIME_DEFAULTS | overrides).items() if k not in ("frames", "size")}
    frames = REALTIME_DEFAULTS["frames"] if frames is None else frames
    size = REALTIME_DEFAULTS["size"] if size is None else size
    size = (size, size) if isinstance(size, int) else tuple(size)
    ph = cardiac_phantom(frames, size, seed=seed, **opts)
    beat = beat_index(ph.beat_onsets, ph.frame_times)
    phase = np.clip((ph.frame_times - ph.beat_onsets[beat]) / ph.rr_intervals[beat], 0, 1 - 1e-9)
    k = ph.ectopic_beat
    irregular = (np.abs(beat - k) <= 1) if k >= 0 else np.zeros(frames, bool)
    return RealtimeSeries(ph.video, ph.frame_times, ph.beat_onsets, ph.rr_intervals, phase, beat, ph.respiration,
                          ph.lv_area, ph.lv_centre, ph.lv_radius, ph.epicardial_radius, k, irregular)


def gating_weights(series: RealtimeSeries, bins: int = 20, reject: float | None = 0.2, resp_keep: float = 0.4) -> np.ndarray:
    """``(bins, T)`` averaging weights of the gated cine: row ``b`` averages the accepted frames of
    cardiac-phase bin ``b`` (arrhythmia rejection ``reject``, end-expiration share ``resp_keep``);
    an empty bin copies the nearest non-empty one."""
    if bins < 2 or not 0 < resp_keep <= 1 or (reject is not None and reject <= 0):
        raise ParameterError(f"gating needs bins >= 2, 0 < resp_keep <= 1 and reject > 0 or None; got {bins}, {resp_keep}, {reject}")
    ok = np.ones(len(series.phase), bool)
    if reject is not None:
        rr = series.rr_intervals[series.beat]
        ok &= np.abs(rr / np.median(series.rr_intervals) - 1) <= reject
    if resp_keep < 1:
        dist = series.respiration - series.respiration.min()  # end-expiration: the minimum displacement
        ok &= dist <= np.quantile(dist, resp_keep)
    idx = np.minimum((series.phase * bins).astype(int), bins - 1)
    w = np.zeros((bins, len(idx)))
    w[idx[ok], np.flatnonzero(ok)] = 1.0
    filled = np.flatnonzero(w.sum(1) > 0)
    if not len(filled):
        raise ParameterError("gating kept no frame: loosen reject or resp_keep")
    for b in range(bins):
        if w[b].sum() == 0:
            w[b] = w[filled[np.argmin(np.abs(filled - b))]]
    return w / w.sum(1, keepdims=True)


def gated_cine(series: RealtimeSeries, bins: int = 20, **kwargs) -> np.ndarray:
    """The retrospectively gated cine ``(bins, H, W)``: bin averages of the fully sampled frames
    (:func:`gating_weights` options ``reject``, ``resp_keep``)."""
    w = gating_weights(series, bins, **kwargs)
    return np.tensordot(w, series.video, axes=(1, 0)).astype(series.video.dtype)


def gated_video(series: RealtimeSeries, bins: int = 20, **kwargs) -> np.ndarray:
    """The gated cine played back at the real-time frames ``(T, H, W)``: frame ``t`` is the cine
    at phase :math:`\\varphi_t`, linearly interpolated between bin centres (periodic)."""
    cine = gated_cine(series, bins, **kwargs)
    pos = series.phase * bins - 0.5
    lo = np.floor(pos).astype(int)
    a = (pos - lo)[:, None, None]
    return ((1 - a) * cine[lo % bins] + a * cine[(lo + 1) % bins]).astype(series.video.dtype)


def lv_area_curve(video: np.ndarray, series: RealtimeSeries) -> np.ndarray:
    r"""Blood-pool area ``(T,)`` in pixels measured on ``video (T, H, W)``: inside a disc
    :math:`D_t` around the pool's measured centre (:func:`pool_centre`, so a pool in the wrong
    place is still measured for its size) that holds the whole pool and stays inside the
    epicardium (radius half-way between the largest pool and the smallest epicardium), each
    pixel counts its partial-volume fraction

    .. math:: a_t = \sum_{p \in D_t} \mathrm{clip}\Big(\frac{|x_t(p)| - m}{b - m}, 0, 1\Big),

    with blood and myocardium levels :math:`b`, :math:`m` read from the *true* end-diastolic frame
    (so every method is measured with the same yardstick; apply it to ``series.video`` for the
    reference curve)."""
    return pool_measures(video, series)[0]


def pool_measures(video: np.ndarray, series: RealtimeSeries) -> tuple[np.ndarray, np.ndarray]:
    """``(area (T,), centre (T, 2))``: :func:`lv_area_curve` and :func:`pool_centre` of ``video``
    from one computation of its blood fractions."""
    T, H, W = video.shape
    rows, cols = np.mgrid[0:H, 0:W]
    frac = blood_fraction(video, series)
    c = _centroid(frac, series)
    d = np.hypot(rows[None] - c[:, 0, None, None], cols[None] - c[:, 1, None, None])
    return (frac * (d <= disc_radius(series))).sum(axis=(1, 2)), c


def pool_centre(video: np.ndarray, series: RealtimeSeries) -> np.ndarray:
    """Centre ``(T, 2)`` (row, column; pixels) of the blood pool measured on ``video``: the
    blood-fraction centroid inside a fixed ellipse around the truth's mean LV centre, elongated
    along the rows by the respiratory range (it never follows the truth frame by frame)."""
    return _centroid(blood_fraction(video, series), series)


def _centroid(fraction: np.ndarray, series: RealtimeSeries) -> np.ndarray:
    """:func:`pool_centre` of the blood fractions ``(T, H, W)`` of a video."""
    T, H, W = fraction.shape
    rows, cols = np.mgrid[0:H, 0:W].astype(float)
    c = series.lv_centre.mean(axis=0)
    r = disc_radius(series)
    half_range = 0.5 * np.ptp(series.lv_centre[:, 0])
    inside = ((rows - c[0]) / (r + half_range)) ** 2 + ((cols - c[1]) / r) ** 2 <= 1
    frac = fraction * inside
    total = np.maximum(frac.sum(axis=(1, 2)), 1e-12)
    return np.stack([(frac * rows).sum(axis=(1, 2)) / total, (frac * cols).sum(axis=(1, 2)) / total], axis=1)


def blood_fraction(video: np.ndarray, series: RealtimeSeries) -> np.ndarray:
    """Partial-volume blood fraction ``(T, H, W)`` in [0, 1] of ``|video|``: levels of blood
    (median inside half the pool) and myocardium (median of the wall's ring) read from the true
    end-diastolic frame."""
    ed = int(np.argmax(series.lv_area))
    H, W = video.shape[-2:]
    rows, cols = np.mgrid[0:H, 0:W]
    d = np.hypot(rows - series.lv_centre[ed, 0], cols - series.lv_centre[ed, 1])
    truth = np.abs(series.video[ed])
    b = float(np.median(truth[d <= 0.5 * series.lv_radius]))
    ring = (d >= 1.15 * series.lv_radius) & (d <= 0.9 * series.epicardial_radius)
    m = float(np.median(truth[ring])) if ring.any() else 0.3 * b
    return np.clip((np.abs(video) - m) / max(b - m, 1e-12), 0, 1)


def disc_radius(series: RealtimeSeries) -> float:
    """Half-way between the largest blood pool (``LV_ASPECT`` r_b0) and the smallest epicardium
    (the myocardial area is conserved; the strongest contraction shrinks the pool by
    ``LV_SHRINK x MAX_BEAT_AMPLITUDE``, the phantom's maximum)."""
    from dynmri.data.phantom import LV_ASPECT, LV_SHRINK, MAX_BEAT_AMPLITUDE

    rb, ro = series.lv_radius, series.epicardial_radius
    epi_min = np.sqrt(max(ro**2 - rb**2 * (1 - (1 - LV_SHRINK * MAX_BEAT_AMPLITUDE) ** 2), 0.0))
    return 0.5 * (LV_ASPECT * rb + epi_min)


REALTIME_SUBJECTS = 10
"""Subjects of the scenario (phantom seeds ``0 .. 9``; the canonical split keeps ``0, 1, 8`` for
testing): the training configuration's ``n_phantoms`` and the demo's choice of subjects."""

REALTIME_SOURCES = ("phantom-realtime", "phantom-realtime-gated")
"""``--data`` names of the scenario: the true real-time frames, and the gated cine played back at
the real-time frame times (what ``supervised-gated`` trains on)."""


def realtime_source(spec: str, frames: int, size: tuple[int, int], n_subjects: int, bins: int = 20) -> dict:
    """The fields of the :class:`~dynmri.data.sources.VideoSource` of ``spec``
    (:data:`REALTIME_SOURCES`): subjects ``0 .. n_subjects - 1`` (fixed: no training seed changes
    them), one group each, so the canonical split is by subject. ``meta`` holds each subject's
    irregular frames and RR intervals."""
    if spec not in REALTIME_SOURCES:
        raise ParameterError(f"unknown real-time source {spec!r}; valid: {', '.join(REALTIME_SOURCES)}")
    series = [realtime_series(seed=i, frames=frames, size=size) for i in range(n_subjects)]
    videos = np.stack([gated_video(s, bins) if spec.endswith("-gated") else s.video for s in series])
    return {"videos": videos, "groups": [f"subject{i}" for i in range(n_subjects)], "frame_times": np.stack([s.frame_times * 1000 for s in series]),
            "kind": spec, "meta": {"irregular": [np.flatnonzero(s.irregular).tolist() for s in series],
                                   "rr_intervals_s": [s.rr_intervals.round(4).tolist() for s in series]}}
