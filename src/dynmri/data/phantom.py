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
    """A phantom video ``(T, H, W)`` complex64 with its motion."""

    video: np.ndarray = None


def _beats(duration: float, heart_rate: float, rr_std: float, ectopic: bool, rng: np.random.Generator):
    mean_rr = 60.0 / heart_rate
    onsets, rrs, amps = [], [], []
    t = -rng.uniform(0, mean_rr)  # start mid-beat
    ectopic_at = int(rng.integers(1, 4)) if ectopic else -1
    k = 0
    while t < duration:
        if k == ectopic_at:
            rr, amp = 0.55 * mean_rr, 0.55  # premature, weak
        elif k == ectopic_at + 1:
            rr, amp = 1.45 * mean_rr, 1.1  # compensatory pause, stronger (more filling)
        else:
            rr = mean_rr * float(np.clip(1 + rr_std * rng.standard_normal(), 0.7, 1.3))
            amp = float(np.clip(1 + 0.08 * rng.standard_normal(), 0.8, 1.2))
        onsets.append(t)
        rrs.append(rr)
        amps.append(amp)
        t += rr
        k += 1
    return np.array(onsets), np.array(rrs), np.array(amps)


def _contraction(times, onsets, rrs, amps):
    idx = np.clip(np.searchsorted(onsets, times, side="right") - 1, 0, len(onsets) - 1)
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
    rng = np.random.default_rng(seed)
    H, W = size
    times = np.arange(frames) * frame_duration
    onsets, rrs, amps = _beats(times[-1] + frame_duration, heart_rate, rr_std, ectopic, rng)
    c = _contraction(times, onsets, rrs, amps)
    period = resp_period * rng.uniform(0.85, 1.15)
    resp = resp_amplitude * np.sin(2 * np.pi * times / period + rng.uniform(0, 2 * np.pi)) + resp_drift * times

    # geometry jitter per seed (fractions of the half field of view)
    j = lambda s: 1 + s * rng.standard_normal()  # noqa: E731
    hc_u, hc_v = 0.1 + 0.04 * rng.standard_normal(), -0.05 + 0.04 * rng.standard_normal()
    r_blood0, r_outer0 = 0.15 * j(0.08), 0.23 * j(0.05)
    r_outer0 = max(r_outer0, r_blood0 + 0.05)
    myo_area = r_outer0**2 - r_blood0**2

    v, u = np.meshgrid(np.linspace(-1, 1, H), np.linspace(-1, 1, W), indexing="ij")
    u, v = u[None], v[None]
    edge = 1.5 / min(H, W)
    T1 = lambda a: np.asarray(a, dtype=np.float64).reshape(-1, 1, 1)  # noqa: E731
    dv = T1(resp)
    cc = T1(c)

    img = np.zeros((frames, H, W))

    def paint(mask, value):
        nonlocal img
        img = img * (1 - mask) + value * mask

    paint(_soft_ellipse(u, v, 0, 0.05, 0.92, 0.72, edge), 0.75 * j(0.05))  # subcutaneous fat
    paint(_soft_ellipse(u, v, 0, 0.05, 0.86, 0.66, edge), 0.28 * j(0.05))  # body
    paint(_soft_ellipse(u, v, -0.3, 0.42 + dv, 0.38, 0.2, edge), 0.42 * j(0.05))  # liver
    for side in (-1, 1):
        paint(_soft_ellipse(u, v, side * 0.45, -0.08 + 0.5 * dv, 0.28, 0.4, edge), 0.04)  # lungs
    paint(_soft_ellipse(u, v, 0.0, 0.52, 0.1, 0.09, edge), 0.55 * j(0.05))  # vertebra

    r_blood = T1(r_blood0 * (1 - 0.38 * c))
    r_outer = np.sqrt(r_blood**2 + myo_area)
    cu, cv = hc_u, hc_v + dv
    rv_w = T1(0.13 * (1 - 0.3 * c))
    paint(_soft_ellipse(u, v, cu - 0.12, cv + 0.01, T1(0.46) - 0.1 * cc, T1(0.33) - 0.04 * cc, edge), 0.6)  # pericardial fat
    paint(_soft_ellipse(u, v, cu - r_outer0 - 0.05, cv + 0.02, rv_w + 0.03, T1(0.24), edge), 0.3)  # RV wall
    paint(_soft_ellipse(u, v, cu - r_outer0 - 0.05, cv + 0.02, rv_w, T1(0.21), edge), 0.9 * j(0.05))  # RV blood
    paint(_soft_ellipse(u, v, cu, cv, r_outer * 1.04, r_outer, edge), 0.32 * j(0.05))  # LV myocardium
    paint(_soft_ellipse(u, v, cu, cv, r_blood * 1.04, r_blood, edge), 1.0)  # LV blood pool
    for ang in (0.6, 2.3):  # papillary muscles move with the endocardium
        pr = 0.7 * r_blood
        paint(_soft_ellipse(u, v, cu + pr * np.cos(ang), cv + pr * np.sin(ang), T1(0.028) * (1 + 0.4 * cc), T1(0.028) * (1 + 0.4 * cc), edge), 0.35)

    # gentle smooth shading so that tissue is not piecewise constant
    shade = 1 + 0.08 * np.sin(np.pi * (u * rng.uniform(0.5, 1.5) + rng.uniform(0, 2))) * np.cos(np.pi * v * rng.uniform(0.5, 1.5))
    video = img * shade
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
    )


def phantom_videos(n: int, frames: int, size: tuple[int, int], *, seed: int = 0, **kwargs) -> np.ndarray:
    """``n`` independent phantoms (geometry, timing and phase seeded ``seed + i``): ``(n, T, H, W)``."""
    return np.stack([cardiac_phantom(frames, size, seed=seed + i, **kwargs).video for i in range(n)])
