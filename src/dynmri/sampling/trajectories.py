r"""Non-Cartesian dynamic trajectories, their acceleration, and scanner gradient/slew limits.

Trajectories are ``(T, S, Ns, 2)`` arrays: per frame, S shots (spokes or interleaves) of Ns
samples, in cycles per pixel inside [-0.5, 0.5) (``k[..., 0]`` along image rows H); the
single-frame form ``(S, Ns, 2)`` is mri-nufft's convention.

Acceleration is defined against Nyquist for an :math:`N \times N` image: full-diameter radial
needs :math:`\lceil \pi N / 2 \rceil` spokes of :math:`2N` samples; every trajectory at acceleration
:math:`R` gets the same number of samples per frame as radial at :math:`R`.

Hardware: with raster time :math:`\Delta t`, field of view FOV (m), N pixels and
:math:`\gamma = 42.576` MHz/T, a step :math:`\Delta k` (cycles/pixel) needs gradient
:math:`G = \Delta k\, N / (\mathrm{FOV}\, \gamma\, \Delta t)` and slew :math:`\Delta G / \Delta t`.
:func:`project_to_limits` finds the nearest trajectory (in :math:`\ell_2`) whose every readout
respects :math:`\|G\| \le G_{max}`, :math:`\|\dot G\| \le S_{max}` and the k-space box:

.. math:: \min_k \tfrac12 \|k - z\|^2 \quad\text{s.t.}\quad \|k_{i+1} - k_i\| \le \alpha,\;
          \|k_{i+1} - 2 k_i + k_{i-1}\| \le \beta,\; k \in [-0.5, 0.5),

:math:`\alpha = \gamma G_{max} \Delta t\, \mathrm{FOV}/N`, :math:`\beta = \gamma S_{max} \Delta t^2
\mathrm{FOV}/N` (``ScannerLimits.steps``), optionally with the readout starting from rest (``ramp``:
:math:`G = 0` before the first sample, i.e. :math:`k_{-1} = k_0`, so :math:`\|k_1 - k_0\| \le \beta`)
and the centre of k-space at sample ``te`` (:math:`k_{te} = 0`). The set is convex and holds the
constant readouts, so it is never empty; a log-barrier interior-point method with banded Newton
systems approaches the projection from inside it: the answer is always feasible (Chauffert et
al., IEEE TMI 2016, pose the same projection and solve its dual by accelerated gradient, which
reaches the set only in the limit). Prephasers and rewinders are not modelled.

Examples
--------
>>> k = radial(n_spokes=25, n_samples=256, frames=4)
>>> k.shape, round(radial_acceleration(25, 128), 2)
(torch.Size([4, 25, 256, 2]), 8.08)
"""

from __future__ import annotations

import math

import numpy as np
import torch

from dynmri.errors import ParameterError, ShapeError
from dynmri.registry import Registry

GOLDEN_ANGLE = math.pi * (math.sqrt(5) - 1) / 2  # 111.246 degrees, for full-diameter spokes


def check_trajectory(k, name: str = "trajectory") -> None:
    """Raise unless ``k`` is ``(T, S, Ns, 2)`` (or ``(S, Ns, 2)``), finite, inside [-0.5, 0.5)."""
    a = k.detach().cpu().numpy() if isinstance(k, torch.Tensor) else np.asarray(k)
    if a.ndim not in (3, 4) or a.shape[-1] != 2:
        raise ShapeError(f"{name} must be (T, n_shots, n_samples, 2) or (n_shots, n_samples, 2), got shape {a.shape}")
    if a.size == 0:
        raise ShapeError(f"{name} is empty")
    if not np.all(np.isfinite(a)):
        raise ParameterError(f"{name} contains NaN or Inf")
    if a.min() < -0.5 or a.max() >= 0.5:
        raise ParameterError(
            f"{name} must lie in [-0.5, 0.5) cycles/pixel, got [{a.min():.4f}, {a.max():.4f}] "
            "(radians? divide by 2 pi)"
        )


def tiny_golden_angle(n: int = 7) -> float:
    r""":math:`\psi_n = \pi / (\tau + n - 1)`, :math:`\tau = (1 + \sqrt 5)/2` (Wundrak et al., 2016)."""
    return math.pi / ((1 + math.sqrt(5)) / 2 + n - 1)


def nyquist_spokes(n: int) -> int:
    return math.ceil(math.pi * n / 2)


def radial_acceleration(n_spokes: int, n: int) -> float:
    return nyquist_spokes(n) / n_spokes


def matching_cartesian(accel: float, n: int) -> tuple[float, int]:
    """``(radial acceleration, samples per spoke)`` of a radial trajectory with as many samples
    per frame as a Cartesian mask at ``accel`` on an ``n x n`` image: ``n / accel`` spokes of
    ``n`` samples, the same samples *and* the same readouts (TRs) per frame. dynmri's radial
    acceleration counts against Nyquist radial (``ceil(pi n / 2)`` spokes of ``2n`` samples), so
    Cartesian 8x on 64 x 64 (8 lines of 64) is radial 12.6x with 64-sample spokes.

    >>> matching_cartesian(8, 64)
    (12.625, 64)
    """
    spokes = max(1, round(n / accel))
    return radial_acceleration(spokes, n), n


def spokes_for(accel: float, n: int) -> int:
    """Spokes per frame for acceleration ``accel`` on an ``n x n`` image: ``accel`` must lie in
    ``[1, nyquist_spokes(n)]`` (at most one spoke per frame)."""
    nyquist = nyquist_spokes(n)
    if not (1 <= accel <= nyquist and math.isfinite(accel)):
        raise ParameterError(f"acceleration must be in [1, {nyquist}] for a {n}x{n} image "
                             f"({nyquist} spokes at Nyquist, at least 1 per frame), got {accel:g}")
    return max(1, round(nyquist / accel))


def radial(n_spokes: int, n_samples: int, frames: int = 1, angle: str | float = "golden") -> torch.Tensor:
    """Full-diameter radial spokes, spoke ``j`` of the whole acquisition (frame after frame) at
    angle ``j * psi`` (``"golden"``: 111.25 deg, ``"tiny-golden"``: 23.63 deg, or radians).
    Samples at ``(i - Ns/2) / Ns`` along each spoke, inside [-0.5, 0.5). ``(T, S, Ns, 2)``."""
    if n_spokes < 1 or n_samples < 2 or frames < 1:
        raise ParameterError("radial needs n_spokes >= 1, n_samples >= 2, frames >= 1")
    psi = {"golden": GOLDEN_ANGLE, "tiny-golden": tiny_golden_angle(7)}.get(angle, angle)
    if isinstance(psi, str):
        raise ParameterError(f"angle must be 'golden', 'tiny-golden' or radians, got {angle!r}")
    theta = (torch.arange(frames * n_spokes, dtype=torch.float64) * psi) % math.pi
    r = (torch.arange(n_samples, dtype=torch.float64) - n_samples / 2) / n_samples
    k = torch.stack((r[None] * torch.sin(theta)[:, None], r[None] * torch.cos(theta)[:, None]), dim=-1)
    return _inside(k.reshape(frames, n_spokes, n_samples, 2)).float()


def spiral_design(n_samples_total: int, n: int, limits: ScannerLimits | None = None, readout: int = 1280) -> tuple[int, float]:
    r"""Interleaves and revolutions of an Archimedean spiral (constant angular velocity) with
    ``n_samples_total`` samples per frame that a scanner can play: at the edge, :math:`r = 0.5`,
    a step :math:`\Delta\theta = 2\pi K / M` (:math:`K` = interleaves x revolutions) needs
    :math:`0.5 \Delta\theta \le \alpha` (gradient) and :math:`0.5 \Delta\theta^2 \le \beta` (slew);
    :math:`K` is the largest allowed (98 %), i.e. the densest rings. About ``readout`` samples per
    interleave."""
    a, b = (limits or ScannerLimits()).steps(n)
    K = 0.98 * min(a * n_samples_total / math.pi, math.sqrt(2 * b) * n_samples_total / (2 * math.pi))
    il = max(1, round(n_samples_total / readout))
    return il, K / il


def spiral(n_interleaves: int, n_samples: int, frames: int = 1, revolutions: float = 4.0, angle: str | float = "golden") -> torch.Tensor:
    """Archimedean spiral-out interleaves (mri-nufft's ``initialize_2D_spiral``), evenly rotated
    within a frame and rotated by the golden angle from frame to frame. ``(T, S, Ns, 2)``."""
    import warnings

    from mrinufft import initialize_2D_spiral

    if n_interleaves < 1 or n_samples < 2 or frames < 1:
        raise ParameterError("spiral needs n_interleaves >= 1, n_samples >= 2, frames >= 1")
    psi = {"golden": GOLDEN_ANGLE, "none": 0.0}.get(angle, angle)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        base = torch.from_numpy(np.asarray(initialize_2D_spiral(n_interleaves, n_samples, nb_revolutions=revolutions))).double()
    return rotate_frames(base, frames, psi)



def spiral_at_slew(n_interleaves: int, n_samples: int, n: int, limits, ratio: float) -> torch.Tensor:
    """One frame ``(S, Ns, 2)`` float64 of :func:`spiral` whose peak slew rate is ``ratio`` times
    ``limits.smax`` for an ``n x n`` image (revolutions found by bisection; ``ratio > 1`` gives a
    trajectory to project, as in the projection's tests and benchmark)."""
    lo, hi = 0.5, 50.0
    for _ in range(40):
        mid = (lo + hi) / 2
        if violations(spiral(n_interleaves, n_samples, 1, mid)[0], n, limits)["slew_ratio"] < ratio:
            lo = mid
        else:
            hi = mid
    return spiral(n_interleaves, n_samples, 1, lo)[0].double()

def rotate_frames(k: torch.Tensor, frames: int, psi: float = GOLDEN_ANGLE) -> torch.Tensor:
    """One frame's trajectory ``(S, Ns, 2)`` rotated by ``t * psi`` (radians) in frame ``t``:
    ``(T, S, Ns, 2)``, kept inside [-0.5, 0.5)."""
    k = torch.as_tensor(k, dtype=torch.float64)
    out = []
    for t in range(frames):
        c, s = math.cos(t * psi), math.sin(t * psi)
        out.append(k @ torch.tensor([[c, -s], [s, c]], dtype=torch.float64).T)
    return _inside(torch.stack(out)).float()


def _inside(k: torch.Tensor) -> torch.Tensor:
    """Clamp onto [-0.5, 0.5 - 1e-6] (generators reach +0.5 by rounding)."""
    return k.clamp(-0.5, 0.5 - 1e-6)


TRAJECTORIES = Registry("trajectory")
"""Named trajectories: name -> builder(n, accel, frames, n_samples=None, **options) -> ``(T, S, Ns, 2)``."""


@TRAJECTORIES.register("radial-golden")
def _radial_golden(n: int, accel: float, frames: int, n_samples: int | None = None) -> torch.Tensor:
    """Golden-angle (111.25 deg) radial spokes, ``n_samples`` (default ``2n``) per spoke."""
    return radial(spokes_for(accel, n), n_samples or 2 * n, frames, "golden")


@TRAJECTORIES.register("radial-tiny-golden")
def _radial_tiny_golden(n: int, accel: float, frames: int, n_samples: int | None = None) -> torch.Tensor:
    """Tiny-golden-angle (23.63 deg) radial spokes, ``n_samples`` (default ``2n``) per spoke."""
    return radial(spokes_for(accel, n), n_samples or 2 * n, frames, "tiny-golden")


@TRAJECTORIES.register("spiral")
def _spiral(n: int, accel: float, frames: int, n_samples: int | None = None, readout: int = 1280) -> torch.Tensor:
    """As many samples per frame as radial at the same acceleration, on the densest rings the
    default scanner limits allow (constant angular velocity), about ``readout`` samples per
    interleave (:func:`spiral_design`)."""
    total = spokes_for(accel, n) * (n_samples or 2 * n)
    il, rev = spiral_design(total, n, readout=readout)
    return spiral(il, total // il, frames, rev)


def make_trajectory(kind: str, n: int, accel: float, frames: int, n_samples: int | None = None, **options) -> torch.Tensor:
    """A named trajectory for an ``n x n`` image at acceleration ``accel``: ``(T, S, Ns, 2)``.
    ``n_samples``: samples per radial spoke (default ``2n``); a spiral gets as many samples per
    frame as radial, designed by :func:`spiral_design`. ``options`` go to the kind's builder
    (``spiral``: ``readout``); an unknown one raises, naming the valid ones."""
    return TRAJECTORIES.build(kind, n, accel, frames, n_samples, **options)


# ---------------------------------------------------------------------------- hardware limits
from dynmri.config import GAMMA, ScannerLimits  # noqa: E402  (the hardware limits are a config)


def waveforms(k: torch.Tensor, n: int, limits: ScannerLimits, ramp: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
    """Gradient (T/m) and slew (T/m/s) waveforms along each readout of ``k (..., Ns, 2)``:
    ``(..., Ns - 1, 2)`` and ``(..., Ns - 2, 2)``. ``g_i`` is played between samples ``i`` and
    ``i + 1``; with ``ramp`` the gradient is zero before the first sample (the readout starts from
    rest, ``g_{-1} = 0``) and the slew has ``Ns - 1`` entries, the first ``g_0 / raster``."""
    kphys = k.double() * n / limits.fov  # cycles per metre
    g = torch.diff(kphys, dim=-2) / (GAMMA * limits.raster)
    prepend = torch.zeros_like(g[..., :1, :]) if ramp else None
    s = torch.diff(g, dim=-2, prepend=prepend) / limits.raster
    return g, s


def violations(k: torch.Tensor, n: int, limits: ScannerLimits, rtol: float = 1e-6, ramp: bool = False) -> dict:
    """Peak gradient and slew relative to the limits, and counts of samples above them (``ramp``:
    count the slew from rest to the first step too, :func:`waveforms`)."""
    g, s = waveforms(k, n, limits, ramp)
    gn, sn = g.norm(dim=-1), s.norm(dim=-1)
    return {
        "max_gradient": float(gn.max()) if gn.numel() else 0.0,
        "max_slew": float(sn.max()) if sn.numel() else 0.0,
        "gradient_ratio": float(gn.max() / limits.gmax) if gn.numel() else 0.0,
        "slew_ratio": float(sn.max() / limits.smax) if sn.numel() else 0.0,
        "gradient_violations": int((gn > limits.gmax * (1 + rtol)).sum()),
        "slew_violations": int((sn > limits.smax * (1 + rtol)).sum()),
        "outside_box": int(((k < -0.5) | (k >= 0.5)).sum()),
    }


# The projection: a log-barrier interior-point method per readout (numpy, float64), whose Newton
# systems are banded (each constraint couples at most 3 neighbouring samples) and solved for all
# readouts at once; every iterate is strictly feasible, so the answer always is.
_BOX = (-0.5, 0.5 - 1e-6)  # the k-space box the projection keeps to (as the generators' _inside)
_D1 = ((0, 1), (-1.0, 1.0))  # stencils (sample offsets, coefficients)
_D2 = ((0, 1, 2), (1.0, -2.0, 1.0))
_SHRINK, _CENTRED = 50.0, 1.0  # barrier weight divided per stage; Newton decrement that ends a stage (x weight)


def _families(ns: int, a: float, b: float, ramp: bool) -> list:
    """The norm constraints of a readout of ``ns`` samples as ``(stencil, radius, count)``:
    constraint ``j`` of a family is :math:`\\|\\sum_p c_p k_{j + o_p}\\| \\le r`."""
    fams = []
    if ns >= 2:
        fams.append((_D1, a, ns - 1))
    if ns >= 3:
        fams.append((_D2, b, ns - 2))
    if ramp and ns >= 2:
        fams.append((_D1, b, 1))  # from rest: |k_1 - k_0 - 0| <= beta
    return fams


def _stencil(k: np.ndarray, st, m: int) -> np.ndarray:
    return sum(c * k[:, o:o + m] for o, c in zip(*st, strict=True))


def _stencil_t(g: np.ndarray, st, m: int, ns: int) -> np.ndarray:
    out = np.zeros((g.shape[0], ns, 2))
    for o, c in zip(*st, strict=True):
        out[:, o:o + m] += c * g
    return out


def _slacks(k: np.ndarray, fams: list) -> list:
    """``(v, r^2 - |v|^2)`` of each family: the stencil outputs ``(S, m, 2)`` and slacks ``(S, m)``."""
    out = []
    for st, r, m in fams:
        v = _stencil(k, st, m)
        out.append((v, r * r - v[..., 0] ** 2 - v[..., 1] ** 2))
    return out


def _barrier(k: np.ndarray, z: np.ndarray, fams: list, tinv: float) -> np.ndarray:
    r"""Per readout :math:`\tfrac12\|k - z\|^2 - \tau \sum \log(\text{slacks})`, ``inf`` outside."""
    S = k.shape[0]
    slacks = [(k - _BOX[0]).reshape(S, -1), (_BOX[1] - k).reshape(S, -1)] + [s for _, s in _slacks(k, fams)]
    bad, logs = np.zeros(S, bool), np.zeros(S)
    with np.errstate(invalid="ignore", divide="ignore"):
        for s in slacks:
            bad |= (s <= 0).any(1)
            logs += np.log(s).sum(1)
    return np.where(bad, np.inf, 0.5 * ((k - z) ** 2).reshape(S, -1).sum(1) - tinv * logs)


def _band_add(ab: np.ndarray, hv: np.ndarray, st, m: int) -> None:
    """Add :math:`\\sum_j A_j^T H_j A_j` (``A_j`` the stencil at ``j`` on 2-vectors, ``H_j = hv[:, j]``
    2x2) to the lower band ``ab (6, S, Ns, 2)``: ``ab[d, col] = H[col + d, col]``, unknowns ``(S, Ns, 2)``
    in C order."""
    for op, cp in zip(*st, strict=True):
        for oq, cq in zip(*st, strict=True):
            for c1 in range(2):
                for c2 in range(2):
                    d = 2 * (op - oq) + c1 - c2
                    if d >= 0 and op >= oq:
                        ab[d, :, oq:oq + m, c2] += cp * cq * hv[..., c1, c2]


def _newton_system(k: np.ndarray, z: np.ndarray, fams: list, tinv: float, te: int | None):
    """Gradient ``(S, Ns, 2)`` and Hessian (lower band ``(6, S * Ns * 2)``) of :func:`_barrier`;
    with ``te`` the unknowns of sample ``te`` are held (identity rows, zero gradient)."""
    S, ns, _ = k.shape
    lo, hi = k - _BOX[0], _BOX[1] - k
    g = k - z + tinv * (1 / hi - 1 / lo)
    ab = np.zeros((6, S, ns, 2))
    ab[0] = 1 + tinv * (lo**-2 + hi**-2)
    for (st, _, m), (v, s) in zip(fams, _slacks(k, fams), strict=True):  # -log(r^2 - |v|^2): 2v/s, 2I/s + 4vv'/s^2
        g += tinv * _stencil_t(2 * v / s[..., None], st, m, ns)
        hv = (4 * tinv) * v[..., :, None] * v[..., None, :] / (s**2)[..., None, None]
        hv[..., 0, 0] += 2 * tinv / s
        hv[..., 1, 1] += 2 * tinv / s
        _band_add(ab, hv, st, m)
    ab = ab.reshape(6, -1)
    if te is not None:
        g[:, te] = 0
        held = (((np.arange(S) * ns + te) * 2)[:, None] + np.arange(2)).ravel()
        ab[:, held] = 0
        for d in range(1, 6):
            ab[d, held[held >= d] - d] = 0
        ab[0, held] = 1
    return g, ab


def _max_step(k: np.ndarray, dk: np.ndarray, fams: list) -> np.ndarray:
    """Per readout, 0.99 x the largest step along ``dk`` that stays strictly feasible, at most 1
    (closed form: a root of :math:`|v + t w|^2 = r^2` per constraint)."""
    S = k.shape[0]
    with np.errstate(divide="ignore", invalid="ignore"):
        box = np.where(dk < 0, (_BOX[0] - k) / dk, np.where(dk > 0, (_BOX[1] - k) / dk, np.inf))
        lim = box.reshape(S, -1).min(1)
        for (st, _, m), (v, s) in zip(fams, _slacks(k, fams), strict=True):
            w = _stencil(dk, st, m)
            qa, qb = w[..., 0] ** 2 + w[..., 1] ** 2, (v * w).sum(-1)
            sq = np.sqrt(qb * qb + qa * s)
            root = np.where(qb > 0, s / (qb + sq), (sq - qb) / qa)  # the stable form of each sign
            lim = np.minimum(lim, np.where(np.isnan(root), np.inf, root).min(1))
    return np.minimum(1.0, 0.99 * lim)


def _line_search(k: np.ndarray, dk: np.ndarray, z: np.ndarray, fams: list, tinv: float, dec: np.ndarray):
    """Backtracking (Armijo) per readout from the largest feasible step; a readout without
    decrease stays put. Returns the new iterate and whether any readout moved."""
    alpha = _max_step(k, dk, fams)
    f0 = _barrier(k, z, fams, tinv)
    for _ in range(40):
        ok = _barrier(k + alpha[:, None, None] * dk, z, fams, tinv) <= f0 - 0.25 * alpha * dec
        if ok.all():
            break
        alpha = np.where(ok, alpha, alpha / 2)
    alpha = np.where(ok, alpha, 0.0)
    return k + alpha[:, None, None] * dk, bool(ok.any())


def _interior_start(z: np.ndarray, fams: list, te: int | None) -> np.ndarray:
    """A strictly feasible start near ``z (S, Ns, 2)``: ``z`` clipped into the box and shrunk toward
    a constant readout (its mean; 0 with ``te``, which then stays at 0) to 90 % of the largest
    feasible shrink factor; a constant readout meets every difference constraint."""
    zc = np.clip(z, _BOX[0] + 1e-3, _BOX[1] - 1e-3)
    c = np.zeros_like(zc[:, :1]) if te is not None else zc.mean(1, keepdims=True)
    d = zc - (zc[:, te:te + 1] if te is not None else c)
    t = 0.9 * _max_step(np.broadcast_to(c, z.shape), d, fams)
    return c + t[:, None, None] * d


def _barrier_projection(z: np.ndarray, a: float, b: float, ramp: bool, te: int | None, n_iter: int, rtol: float) -> np.ndarray:
    r"""Path following on :math:`\min \tfrac12\|k - z\|^2 - \tau \sum \log(\text{slacks})`,
    :math:`\tau \to 0` by a factor ``_SHRINK`` per stage, a few damped Newton steps per stage, until the
    duality gap :math:`\tau m` is below ``rtol`` x the objective (or ``n_iter`` Newton steps, or
    no progress). ``z (S, Ns, 2)``."""
    from scipy.linalg import LinAlgError, solveh_banded

    S, ns, _ = z.shape
    fams = _families(ns, a, b, ramp)
    k = _interior_start(z, fams, te)
    m = S * (4 * ns + sum(f[2] for f in fams))  # number of log terms: the duality gap is tau * m
    tinv = max(0.5 * float(((k - z) ** 2).sum()), 1e-30) / m
    steps = 0
    while steps < n_iter:
        for _ in range(50):
            g, ab = _newton_system(k, z, fams, tinv, te)
            try:
                dk = -solveh_banded(ab, g.ravel(), lower=True, check_finite=False).reshape(z.shape)
            except (LinAlgError, ValueError):
                return k
            dec, steps = -(g * dk).reshape(S, -1).sum(1), steps + 1
            if not np.isfinite(dk).all() or dec.max() <= _CENTRED * tinv or steps >= n_iter:
                break
            k, moved = _line_search(k, dk, z, fams, tinv, dec)
            if not moved:
                break
        if tinv * m <= rtol * 0.5 * float(((k - z) ** 2).sum()) + 1e-14 * z.size:
            break
        tinv /= _SHRINK
    return k


def _feasible_shots(k: torch.Tensor, alpha: float, beta: float, ramp: bool = False, te: int | None = None) -> torch.Tensor:
    """Per readout of ``k (S, Ns, 2)``: inside the box and the step limits (and ramp, echo time)."""
    ok = ((k >= -0.5) & (k < 0.5)).flatten(1).all(1)
    if k.shape[-2] > 1:
        ok &= (torch.diff(k, dim=-2).norm(dim=-1) <= alpha).all(1)
    if k.shape[-2] > 2:
        ok &= (torch.diff(k, n=2, dim=-2).norm(dim=-1) <= beta).all(1)
    if ramp and k.shape[-2] > 1:
        ok &= (k[:, 1] - k[:, 0]).norm(dim=-1) <= beta
    if te is not None:
        ok &= (k[:, te] == 0).all(1)
    return ok


def _feasible(k: torch.Tensor, alpha: float, beta: float, ramp: bool = False, te: int | None = None) -> bool:
    return bool(_feasible_shots(k.reshape(-1, *k.shape[-2:]), alpha, beta, ramp, te).all())


def _echo_index(te, ns: int) -> int | None:
    if te is None:
        return None
    if isinstance(te, bool) or not isinstance(te, (int, np.integer)) or not -ns <= te < ns:
        raise ParameterError(f"te (the sample at the centre of k-space) must be an integer in [-{ns}, {ns}), got {te!r}")
    return int(te) % ns


def project_steps(z: torch.Tensor, alpha: float, beta: float, n_iter: int = 400, *, ramp: bool = False, te: int | None = None,
                  rtol: float = 1e-4, dtype: torch.dtype = torch.float64) -> torch.Tensor:
    r"""Nearest ``k`` (Euclidean) to ``z`` whose every readout meets the step limits.

    .. math:: \min_k \tfrac12 \|k - z\|^2 \;\text{s.t.}\; \|k_{i+1} - k_i\| \le \alpha,\;
              \|k_{i+1} - 2 k_i + k_{i-1}\| \le \beta,\; -0.5 \le k < 0.5
              \;[,\; \|k_1 - k_0\| \le \beta \;(\texttt{ramp})]\;[,\; k_{te} = 0]

    The set is convex and never empty (a constant readout, 0 with ``te``, is in it). A log-barrier
    interior-point method (:func:`_barrier_projection`) approaches the projection from inside it, so
    the answer is feasible whatever the input; the limits are tightened by a few ulps of ``dtype``
    so that rounding to it keeps them, and the result is verified (a readout that failed, which is
    not expected, would be replaced by a constant one).

    Parameters
    ----------
    z : Tensor ``(..., Ns, 2)``
        Readouts (cycles/pixel), any float dtype and device; values outside the box are allowed.
    alpha, beta : float
        Largest first and second difference (cycles/pixel; :meth:`ScannerLimits.steps`).
    n_iter : int
        At most this many Newton steps (about 40-70 are needed).
    ramp : bool
        The readout starts from rest: zero gradient before the first sample (:math:`k_{-1} = k_0`),
        so the first step is at most one raster step of slew, :math:`\|k_1 - k_0\| \le \beta`.
    te : int or None
        The sample (``-Ns <= te < Ns``) at the centre of k-space, :math:`k_{te} = 0`, in every readout.
    rtol : float
        Stop when the duality gap is below ``rtol`` x :math:`\tfrac12 \|k - z\|^2`.
    dtype : torch.dtype
        Of the result.

    Returns
    -------
    Tensor ``(..., Ns, 2)`` in ``dtype`` on ``z``'s device; ``z`` itself (converted) when feasible.

    Raises
    ------
    ShapeError, ParameterError
        Not ``(..., Ns, 2)``; NaN/Inf; ``te`` out of range; limits not positive at ``dtype``'s precision.
    """
    z = torch.as_tensor(z)
    te = _check_readouts(z, te)
    flat = z.detach().double().reshape(-1, *z.shape[-2:]).cpu()
    if _feasible(flat, alpha, beta, ramp, te):
        return flat.reshape(z.shape).to(device=z.device, dtype=dtype)
    eps = torch.finfo(dtype).eps  # rounding to dtype moves a difference by less than eps/2 (first), eps (second)
    a, b = alpha * (1 - 1e-9) - eps / 2, beta * (1 - 1e-9) - eps
    if not (a > 0 and b > 0):
        raise ParameterError(f"step limits ({alpha:g}, {beta:g}) must be positive and above the precision of {dtype}")
    out = torch.from_numpy(_barrier_projection(flat.numpy(), a, b, ramp, te, n_iter, rtol)).to(dtype)
    return _verified(out, flat, alpha, beta, ramp, te).reshape(z.shape).to(z.device)


def _check_readouts(z: torch.Tensor, te) -> int | None:
    """Raise unless ``z`` is ``(..., Ns, 2)`` and finite; ``te`` as an index in ``[0, Ns)``."""
    if z.ndim < 2 or z.shape[-1] != 2 or z.numel() == 0:
        raise ShapeError(f"trajectory must be (..., n_samples, 2), got shape {tuple(z.shape)}")
    if not bool(torch.isfinite(z).all()):
        raise ParameterError("trajectory contains NaN or Inf")
    return _echo_index(te, z.shape[-2])


def _verified(out: torch.Tensor, z: torch.Tensor, alpha: float, beta: float, ramp: bool, te: int | None) -> torch.Tensor:
    """``out (S, Ns, 2)`` with any readout that misses the limits replaced by a constant one (the
    clipped mean of ``z``'s readout, or 0 with ``te``), which meets them all."""
    bad = ~_feasible_shots(out.double(), alpha, beta, ramp, te)
    if bool(bad.any()):
        ref = torch.zeros_like(z[:, 0]) if te is not None else z.mean(1).clamp(*_BOX)
        out[bad] = ref[bad][:, None].to(out.dtype).expand(-1, out.shape[1], -1)
    return out


def project_to_limits(k: torch.Tensor, n: int, limits: ScannerLimits, decimation: int = 1, *, ramp: bool = False,
                      te: int | None = None, **kwargs) -> torch.Tensor:
    """Project readouts ``k (..., Ns, 2)`` (cycles/pixel, ``n x n`` image) onto the gradient and slew
    limits and the k-space box: :func:`project_steps` with ``limits.steps(n)``, in ``k``'s dtype.

    ``ramp``: the readout starts from rest (zero gradient before the first sample; :func:`violations`
    with ``ramp`` counts that first slew step); ``te``: the sample at the centre of k-space, in every
    readout. ``decimation = d``: ``k`` holds control points that are linearly interpolated by ``d``
    to the raster, so differences of ``k`` may be ``d`` times larger (first differences; second
    differences at the control points; the ramp step); ``te`` then indexes control points.
    ``kwargs`` go to :func:`project_steps` (``n_iter``, ``rtol``).
    """
    a, b = limits.steps(n)
    dtype = k.dtype if k.dtype.is_floating_point else torch.float64
    return project_steps(k, a * decimation, b * decimation, ramp=ramp, te=te, dtype=dtype, **kwargs)
