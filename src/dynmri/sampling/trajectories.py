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
respects :math:`\|G\| \le G_{max}`, :math:`\|\dot G\| \le S_{max}` and the k-space box, by a
accelerated dual iteration on

.. math:: \min_k \tfrac12 \|k - z\|^2 + \iota_{\|D_1 k\|_{2,\infty} \le \alpha}
          + \iota_{\|D_2 k\|_{2,\infty} \le \beta} + \iota_{[-0.5, 0.5)}(k),

:math:`\alpha = \gamma G_{max} \Delta t\, \mathrm{FOV}/N`, :math:`\beta = \gamma S_{max} \Delta t^2
\mathrm{FOV}/N` (Chauffert et al., IEEE TMI 2016), with a small margin so that the result is
feasible, not only nearly so. Prephasers and ramps to and from rest are not modelled.

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


def waveforms(k: torch.Tensor, n: int, limits: ScannerLimits) -> tuple[torch.Tensor, torch.Tensor]:
    """Gradient (T/m) and slew (T/m/s) waveforms along each readout of ``k (..., Ns, 2)``:
    ``(..., Ns - 1, 2)`` and ``(..., Ns - 2, 2)``."""
    kphys = k.double() * n / limits.fov  # cycles per metre
    g = torch.diff(kphys, dim=-2) / (GAMMA * limits.raster)
    s = torch.diff(g, dim=-2) / limits.raster
    return g, s


def violations(k: torch.Tensor, n: int, limits: ScannerLimits, rtol: float = 1e-6) -> dict:
    """Peak gradient and slew relative to the limits, and counts of samples above them."""
    g, s = waveforms(k, n, limits)
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


def _ball_proj(u: torch.Tensor, r: float) -> torch.Tensor:
    nrm = u.norm(dim=-1, keepdim=True).clamp_min(1e-30)
    return u * torch.clamp(r / nrm, max=1.0)


def _d1(k):
    return torch.diff(k, dim=-2)


def _d1t(u):
    z = torch.zeros_like(u[..., :1, :])
    return torch.cat((z, u), dim=-2) - torch.cat((u, z), dim=-2)


def _d2(k):
    return torch.diff(k, n=2, dim=-2)


def _d2t(u):
    return _d1t(_d1t(u))


def _dual_fista(z, a, b, n_iter, state=None, hi=0.5 - 1e-6):
    r"""Accelerated projected gradient on the dual of the projection (Chauffert et al., 2016):
    :math:`k = z - D_1^T q_1 - D_2^T q_2 - q_3`, with :math:`L = [D_1; D_2; I]`,
    :math:`\|L\|^2 \le 4 + 16 + 1`; ``state`` carries the duals between calls (warm start)."""
    if state is not None and state.get("shape") == tuple(z.shape):
        q1, q2, q3 = state["q"]
    else:
        q1, q2, q3 = torch.zeros_like(_d1(z)), torch.zeros_like(_d2(z)), torch.zeros_like(z)
    p1, p2, p3, t, step = q1, q2, q3, 1.0, 1.0 / 21.0
    for _ in range(n_iter):
        k = z - _d1t(p1) - _d2t(p2) - p3
        v1, v2, v3 = p1 + step * _d1(k), p2 + step * _d2(k), p3 + step * k
        n1 = v1 - step * _ball_proj(v1 / step, a)  # prox of the conjugate (Moreau)
        n2 = v2 - step * _ball_proj(v2 / step, b)
        n3 = v3 - step * (v3 / step).clamp(-0.5, hi)
        tn = (1 + math.sqrt(1 + 4 * t * t)) / 2
        p1, p2, p3 = (n + (t - 1) / tn * (n - q) for n, q in ((n1, q1), (n2, q2), (n3, q3)))
        q1, q2, q3, t = n1, n2, n3, tn
    if state is not None:
        state.update(shape=tuple(z.shape), q=(q1, q2, q3))
    return (z - _d1t(q1) - _d2t(q2) - q3).clamp(-0.5, hi)


def project_steps(z: torch.Tensor, alpha: float, beta: float, n_iter: int = 2000, margins=(0.01, 0.03, 0.1, 0.3), state: dict | None = None, fallback: torch.Tensor | None = None) -> torch.Tensor:
    r"""Nearest ``k`` to ``z (..., Ns, 2)`` with :math:`\|k_{i+1} - k_i\| \le \alpha`,
    :math:`\|k_{i+1} - 2 k_i + k_{i-1}\| \le \beta` and :math:`k \in [-0.5, 0.5)`.

    The dual iteration meets the constraints only in the limit, so they are tightened by a
    relative margin, widened (``margins``) until the result is truly feasible; a feasible ``z``
    is returned unchanged. If no margin gives a feasible point and a feasible ``fallback`` is
    given (the previous iterate of an optimisation), the point furthest along the segment from
    ``fallback`` to the last dual iterate that is still feasible is returned (the set is convex).
    Raises otherwise.
    """
    z = z.double()
    if _feasible(z, alpha, beta):
        return z.clone()
    k = z
    for i, m in enumerate(margins):
        k = _dual_fista(z, alpha * (1 - m), beta * (1 - m), n_iter * (i + 1), state)
        if _feasible(k, alpha, beta):
            return k
    if fallback is not None and _feasible(fallback.double(), alpha, beta):
        f = fallback.double()
        lo, hi = 0.0, 1.0
        for _ in range(30):
            mid = (lo + hi) / 2
            if _feasible(f + mid * (k - f), alpha, beta):
                lo = mid
            else:
                hi = mid
        return f + lo * (k - f)
    raise ParameterError("could not project the trajectory onto the scanner limits; loosen them or use more samples per shot")


def _feasible(k: torch.Tensor, alpha: float, beta: float) -> bool:
    ok = bool((k >= -0.5).all() and (k < 0.5).all())
    if k.shape[-2] > 1:
        ok &= bool((_d1(k).norm(dim=-1) <= alpha).all())
    if k.shape[-2] > 2:
        ok &= bool((_d2(k).norm(dim=-1) <= beta).all())
    return ok


def project_to_limits(k: torch.Tensor, n: int, limits: ScannerLimits, decimation: int = 1, **kwargs) -> torch.Tensor:
    """Project ``k (..., Ns, 2)`` onto the limits. ``decimation = d``: ``k`` holds control
    points that are linearly interpolated by ``d`` to the raster, so differences of ``k`` may be
    ``d`` times (first) and ``d`` times (second, at the control points) larger."""
    a, b = limits.steps(n)
    return project_steps(k, a * decimation, b * decimation, **kwargs).to(k.dtype)
