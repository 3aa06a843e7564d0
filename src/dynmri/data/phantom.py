r"""A numerical dynamic cardiac phantom with aperiodic, real-time motion.

Gated cine assumes every heartbeat is the same; real-time imaging must cope with beats
that differ. This phantom is the one source in dynmri with exact ground truth for such
motion: a short-axis-like slice with a contracting left ventricle (blood pool, myocardium
of constant area, so the wall thickens as the pool shrinks), a right ventricle, papillary
muscles, lungs, liver, spine and body wall, a smooth complex phase, and

- beat-to-beat RR variation (seeded, :math:`RR_k = \overline{RR}(1 + \sigma\,\epsilon_k)`),
- an optional ectopic (premature) beat with a weaker contraction and a compensatory pause,
- respiratory motion (a sinusoid of jittered period) plus a slow drift.

Contraction within a beat, with :math:`\tau` the time since the beat's onset,
:math:`T_s = 0.3\sqrt{RR}` and :math:`T_r = 0.15\sqrt{RR}`:

.. math::

    c(\tau) = a_k \begin{cases}
        \tfrac12(1 - \cos(\pi\tau/T_s)) & \tau < T_s \\
        \tfrac12(1 + \cos(\pi(\tau-T_s)/T_r)) & T_s \le \tau < T_s + T_r \\
        0 & \text{otherwise.}\end{cases}

Examples
--------
>>> from dynmri.data.phantom import cardiac_phantom
>>> ph = cardiac_phantom(frames=40, size=(64, 64), seed=1)
>>> ph.video.shape, ph.video.dtype
((40, 64, 64), dtype('complex64'))
>>> len(set(round(r, 3) for r in ph.rr_intervals)) > 1   # aperiodic
True
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from dynmri.errors import ParameterError

LV_SHRINK = 0.38
"""Share of the LV blood-pool radius lost at full contraction (contraction amplitude 1)."""
LV_ASPECT = 1.04
"""Column-to-row half-axis ratio of the LV blood pool and myocardium ellipses."""
MAX_BEAT_AMPLITUDE = 1.2
"""Largest contraction amplitude of a beat."""


@dataclass
class PhantomMotion:
    """Timing of the phantom: frame times (s), beat onsets (s), RR intervals (s), per-frame
    contraction in [0, 1] and respiratory displacement (fraction of the half field of view)."""

    frame_times: np.ndarray
    beat_onsets: np.ndarray
    rr_intervals: np.ndarray
    contraction: np.ndarray
    respiration: np.ndarray


@dataclass
class CardiacPhantom(PhantomMotion):
    """A phantom video ``(T, H, W)`` complex64 with its motion and the true geometry of the left
    ventricle's blood pool: its area in pixels ``(T,)`` (the painted ellipse, before
    anti-aliasing and papillary muscles), its centre ``(T, 2)`` as (row, column) pixel
    coordinates, its end-diastolic and epicardial radii in pixels along the rows, and the
    index into ``beat_onsets`` of the ectopic beat (-1: none)."""

    video: np.ndarray = None
    lv_area: np.ndarray = None
    lv_centre: np.ndarray = None
    lv_radius: float = 0.0
    epicardial_radius: float = 0.0
    ectopic_beat: int = -1


def _beats(duration: float, heart_rate: float, rr_std: float, ectopic: bool, rng: np.random.Generator):
    mean_rr = 60.0 / heart_rate
    onsets, rrs, amps = [], [], []
    t = -rng.uniform(0, mean_rr)  # start mid-beat
    ectopic_at = int(rng.integers(1, 4)) if ectopic else -1  # the premature beat's index
    k = 0
    while t < duration:
        if k == ectopic_at:
            rr, amp = 0.55 * mean_rr, 0.55  # premature, weak
        elif k == ectopic_at + 1:
            rr, amp = 1.45 * mean_rr, 1.1  # compensatory pause, stronger (more filling)
        else:
            rr = mean_rr * float(np.clip(1 + rr_std * rng.standard_normal(), 0.7, 1.3))
            amp = float(np.clip(1 + 0.08 * rng.standard_normal(), 0.8, MAX_BEAT_AMPLITUDE))
        onsets.append(t)
        rrs.append(rr)
        amps.append(amp)
        t += rr
        k += 1
    return np.array(onsets), np.array(rrs), np.array(amps), ectopic_at if ectopic_at < k else -1


def beat_index(onsets: np.ndarray, times: np.ndarray) -> np.ndarray:
    """Index into ``onsets`` of the beat holding each time (the first beat for earlier times)."""
    return np.clip(np.searchsorted(onsets, times, side="right") - 1, 0, len(onsets) - 1)


def _contraction(times, onsets, rrs, amps):
    idx = beat_index(onsets, times)
    tau = times - onsets[idx]
    rr = rrs[idx]
    ts, tr = 0.3 * np.sqrt(rr), 0.15 * np.sqrt(rr)
    c = np.where(
        tau < ts,
        0.5 * (1 - np.cos(np.pi * tau / ts)),
        np.where(tau < ts + tr, 0.5 * (1 + np.cos(np.pi * (tau - ts) / tr)), 0.0),
    )
    return c * amps[idx]


def _soft_ellipse(u, v, cu, cv, au, av, edge):
    """Anti-aliased ellipse indicator; centres/axes may be (T,1,1) arrays."""
    d = np.sqrt(((u - cu) / au) ** 2 + ((v - cv) / av) ** 2)
    width = edge / np.minimum(au, av)
    return 1.0 / (1.0 + np.exp(np.clip((d - 1.0) / width, -50, 50)))


def cardiac_phantom(
    frames: int = 12,
    size: tuple[int, int] = (128, 128),
    *,
    frame_duration: float = 0.06,
    heart_rate: float = 70.0,
    rr_std: float = 0.12,
    ectopic: bool = False,
    resp_period: float = 4.0,
    resp_amplitude: float = 0.06,
    resp_drift: float = 0.01,
    phase: bool = True,
    seed: int = 0,
) -> CardiacPhantom:
    """Render the phantom: ``frames`` frames of ``size = (H, W)``, complex64 ``(T, H, W)``.

    Parameters
    ----------
    frame_duration : float
        Seconds per frame (real-time temporal resolution); default 60 ms.
    heart_rate : float
        Mean heart rate in beats per minute; ``rr_std`` the relative RR variation.
    ectopic : bool
        Insert a premature beat followed by a compensatory pause among the first beats.
    resp_period, resp_amplitude, resp_drift : float
        Respiratory period (s), amplitude and drift per second (fractions of half the FOV).
    phase : bool
        Multiply by a smooth, seeded complex phase (a 2nd-order polynomial, see
        :func:`dynmri.data.simulate.smooth_phase`).
    """
    if frames < 1 or min(size) < 8:
        raise ParameterError(f"phantom needs frames >= 1 and H, W >= 8, got frames={frames}, size={size}")
    if heart_rate <= 0 or frame_duration <= 0:
        raise ParameterError("heart_rate and frame_duration must be positive")
    rng = np.random.default_rng(seed)  # one stream, drawn in a fixed order: motion, geometry, tissue, shading, phase
    H, W = size
    times = np.arange(frames) * frame_duration
    onsets, rrs, amps, ectopic_at = _beats(times[-1] + frame_duration, heart_rate, rr_std, ectopic, rng)
    c = _contraction(times, onsets, rrs, amps)
    period = resp_period * rng.uniform(0.85, 1.15)
    resp = resp_amplitude * np.sin(2 * np.pi * times / period + rng.uniform(0, 2 * np.pi)) + resp_drift * times
    canvas = _Canvas(frames, H, W, rng)
    heart = canvas.jitter_heart()
    canvas.paint_body(_t1(resp))
    canvas.paint_heart(heart, _t1(c), _t1(resp))
    video = canvas.shaded()
    if phase:
        from dynmri.data.simulate import smooth_phase

        video = video * np.exp(1j * smooth_phase((H, W), rng))[None]
    return CardiacPhantom(
        frame_times=times,
        beat_onsets=onsets,
        rr_intervals=rrs,
        contraction=c,
        respiration=resp,
        video=video.astype(np.complex64),
        ectopic_beat=ectopic_at,
        **_lv_geometry(heart, c, resp, H, W),
    )


def _lv_geometry(heart, c, resp, H: int, W: int) -> dict:
    r"""The blood pool painted by :meth:`_Canvas.paint_heart` in pixels: an ellipse of half-axes
    :math:`1.04\,r_b (W-1)/2` (columns) and :math:`r_b (H-1)/2` (rows), :math:`r_b = r_{b,0}(1 - 0.38 c)`,
    centred at the heart centre moved by the respiration along the rows."""
    hc_u, hc_v, r_blood0, r_outer0 = heart
    r_blood = r_blood0 * (1 - LV_SHRINK * np.asarray(c))
    area = np.pi * (LV_ASPECT * r_blood * (W - 1) / 2) * (r_blood * (H - 1) / 2)
    rows = (hc_v + np.asarray(resp) + 1) / 2 * (H - 1)
    cols = np.full_like(rows, (hc_u + 1) / 2 * (W - 1))
    return {"lv_area": area, "lv_centre": np.stack([rows, cols], axis=1), "lv_radius": r_blood0 * (H - 1) / 2,
            "epicardial_radius": r_outer0 * (H - 1) / 2}


def _t1(a) -> np.ndarray:
    """A per-frame quantity shaped ``(T, 1, 1)`` to broadcast over the image."""
    return np.asarray(a, dtype=np.float64).reshape(-1, 1, 1)


class _Canvas:
    """The phantom's frames ``(T, H, W)``, painted tissue by tissue (later ellipses cover earlier
    ones), with seeded geometry jitter drawn from ``rng`` in painting order."""

    def __init__(self, frames: int, H: int, W: int, rng: np.random.Generator):
        v, u = np.meshgrid(np.linspace(-1, 1, H), np.linspace(-1, 1, W), indexing="ij")
        self.u, self.v, self.rng = u[None], v[None], rng
        self.edge = 1.5 / min(H, W)
        self.img = np.zeros((frames, H, W))

    def j(self, s: float) -> float:
        """A jitter factor ``1 + s N(0, 1)`` (fractions of the half field of view)."""
        return 1 + s * self.rng.standard_normal()

    def paint(self, cu, cv, au, av, value):
        mask = _soft_ellipse(self.u, self.v, cu, cv, au, av, self.edge)
        self.img = self.img * (1 - mask) + value * mask

    def jitter_heart(self) -> tuple[float, float, float, float]:
        """Heart centre ``(hc_u, hc_v)`` and end-diastolic blood-pool and epicardial radii."""
        hc_u, hc_v = 0.1 + 0.04 * self.rng.standard_normal(), -0.05 + 0.04 * self.rng.standard_normal()
        r_blood0 = 0.15 * self.j(0.08)
        r_outer0 = max(0.23 * self.j(0.05), r_blood0 + 0.05)
        return hc_u, hc_v, r_blood0, r_outer0

    def paint_body(self, dv):
        """Fat, body, liver, lungs and vertebra; ``dv (T, 1, 1)`` the respiratory shift."""
        self.paint(0, 0.05, 0.92, 0.72, 0.75 * self.j(0.05))  # subcutaneous fat
        self.paint(0, 0.05, 0.86, 0.66, 0.28 * self.j(0.05))  # body
        self.paint(-0.3, 0.42 + dv, 0.38, 0.2, 0.42 * self.j(0.05))  # liver
        for side in (-1, 1):
            self.paint(side * 0.45, -0.08 + 0.5 * dv, 0.28, 0.4, 0.04)  # lungs
        self.paint(0.0, 0.52, 0.1, 0.09, 0.55 * self.j(0.05))  # vertebra

    def paint_heart(self, heart, cc, dv):
        """Pericardial fat, right and left ventricles and papillary muscles; ``cc (T, 1, 1)``
        the contraction (0 diastole, 1 systole), the myocardial area conserved."""
        hc_u, hc_v, r_blood0, r_outer0 = heart
        r_blood = r_blood0 * (1 - LV_SHRINK * cc)
        r_outer = np.sqrt(r_blood**2 + r_outer0**2 - r_blood0**2)
        cu, cv = hc_u, hc_v + dv
        rv_w = 0.13 * (1 - 0.3 * cc)
        self.paint(cu - 0.12, cv + 0.01, _t1(0.46) - 0.1 * cc, _t1(0.33) - 0.04 * cc, 0.6)  # pericardial fat
        self.paint(cu - r_outer0 - 0.05, cv + 0.02, rv_w + 0.03, _t1(0.24), 0.3)  # RV wall
        self.paint(cu - r_outer0 - 0.05, cv + 0.02, rv_w, _t1(0.21), 0.9 * self.j(0.05))  # RV blood
        self.paint(cu, cv, r_outer * LV_ASPECT, r_outer, 0.32 * self.j(0.05))  # LV myocardium
        self.paint(cu, cv, r_blood * LV_ASPECT, r_blood, 1.0)  # LV blood pool
        for ang in (0.6, 2.3):  # papillary muscles move with the endocardium
            pr = 0.7 * r_blood
            size = _t1(0.028) * (1 + 0.4 * cc)
            self.paint(cu + pr * np.cos(ang), cv + pr * np.sin(ang), size, size, 0.35)

    def shaded(self) -> np.ndarray:
        """The image times a gentle smooth shading, so that tissue is not piecewise constant."""
        rng, u, v = self.rng, self.u, self.v
        shade = 1 + 0.08 * np.sin(np.pi * (u * rng.uniform(0.5, 1.5) + rng.uniform(0, 2))) * np.cos(np.pi * v * rng.uniform(0.5, 1.5))
        return self.img * shade


def phantom_videos(n: int, frames: int, size: tuple[int, int], *, seed: int = 0, **kwargs) -> np.ndarray:
    """``n`` independent phantoms (geometry, timing and phase seeded ``seed + i``): ``(n, T, H, W)``."""
    return np.stack([cardiac_phantom(frames, size, seed=seed + i, **kwargs).video for i in range(n)])
