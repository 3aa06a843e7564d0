r"""Coil sensitivity maps estimated from the measured data itself.

Two steps per slice:

1. **Calibration images** ``(N, H, W)``, from one of

   * ``"central"``: the fully sampled central lines of every frame (the widest block of lines
     around ``W // 2`` sampled in all frames), averaged over frames and zero-filled
     (Cartesian only);
   * ``"time-average"``: the time-averaged k-space of the undersampled series, each k-space
     location averaged over the frames that sampled it (standard for real-time data without
     a calibration scan; the frames' different patterns fill each other's gaps). Cartesian:
     :math:`\bar y(k) = \sum_t M_t(k) y_t(k) / \max(1, \sum_t M_t(k))`; non-Cartesian: the
     density-compensated (Voronoi) adjoint of all frames' samples pooled into one frame;
   * ``"auto"`` (default): ``"central"`` when at least ``min_central`` lines are fully
     sampled, else ``"time-average"``.

2. **Estimator** on those images:

   * ``"walsh"`` (Walsh et al., MRM 2000): per pixel, the dominant eigenvector of the coil
     correlation matrix :math:`R(r) = \sum_{r' \in B(r)} x(r') x(r')^H` over a ``kernel x
     kernel`` window; phase relative to the strongest coil;
   * ``"inati"`` (Inati et al., ISMRM 2014): the same maps by power iterations without
     eigen-decompositions, :math:`S \leftarrow \mathrm{smooth}(x\, \overline{v^H x})`,
     normalised, with :math:`v` the image-wide coil combination;
   * ``"espirit"`` (Uecker et al., MRM 2014) through ``sigpy`` (optional dependency,
     ``pip install dynmri[espirit]``), on the central ``calib_width x calib_width`` block of
     the calibration k-space.

Walsh and Inati maps are then smoothed by a Gaussian of ``smooth`` pixels (default
``max(H, W) / 32``): coil sensitivities vary slowly, and the time-averaged data of a moving
heart mixes frames line by line, which leaves fine-scale errors in the estimate (on
training slices of the simulated 8-coil Sunnybrook data at 8x it halves the loss of ``lps``
against the true maps, docs/scanner-data.md). Maps are normalised to :math:`\sum_n |S_n|^2 = 1` on their support (as dynmri's simulated
birdcage maps), zero outside it: pixels whose smoothed root-sum-of-squares energy is below
``threshold`` times its maximum (ESPIRiT: its eigenvalue crop).

Examples
--------
>>> from dynmri.config import SimulateConfig
>>> from dynmri.data.acquire import simulate_from_config
>>> acq = simulate_from_config(SimulateConfig(accel=4, frames=6, size=32, coils=4))
>>> maps = estimate_coil_maps(acq, "walsh")
>>> maps.shape, maps.dtype, bool(np.allclose((abs(maps) ** 2).sum(1), 1, atol=1e-5))
((1, 4, 32, 32), dtype('complex64'), True)
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from dynmri._complex import centered_fft
from dynmri.errors import ParameterError
from dynmri.registry import Registry

ESTIMATORS = Registry("coil-map estimator")
"""Coil-map estimators: name -> ``fn(images (N, H, W), kspace (N, H, W) or None, **options) -> maps (N, H, W)``."""
CALIBRATIONS = ("auto", "central", "time-average")


def central_lines(mask: np.ndarray) -> tuple[int, int]:
    """``(lo, hi)``: the widest block ``lo <= w < hi`` of lines around ``W // 2`` sampled in
    every frame of ``mask (T, H, W)`` (``hi == lo`` when the centre line itself is missing).

    Examples
    --------
    >>> m = np.zeros((2, 1, 8)); m[:, :, 3:6] = 1; m[0, :, 0] = 1
    >>> central_lines(m)
    (3, 6)
    """
    full = np.asarray(mask).reshape(mask.shape[0], -1, mask.shape[-1]).any(axis=1).all(axis=0)
    c = mask.shape[-1] // 2
    if not full[c]:
        return c, c
    lo, hi = c, c + 1
    while lo > 0 and full[lo - 1]:
        lo -= 1
    while hi < len(full) and full[hi]:
        hi += 1
    return lo, hi


def calibration_kspace(kspace: np.ndarray, mask: np.ndarray, calibration: str = "auto", min_central: int = 16):
    """Calibration k-space ``(N, H, W)`` of one Cartesian slice (``kspace (N, T, H, W)``,
    ``mask (T, H, W)``) and the calibration used (``"central"`` or ``"time-average"``)."""
    lo, hi = central_lines(mask)
    if calibration == "auto":
        calibration = "central" if hi - lo >= min_central else "time-average"
    m = np.asarray(mask, np.float32)
    if calibration == "central":
        if hi - lo < 2:
            raise ParameterError(f"calibration='central' needs fully sampled central lines; this mask has {hi - lo} "
                                 "(use calibration='time-average')")
        out = np.zeros(kspace.shape[:1] + kspace.shape[2:], np.complex64)
        out[..., lo:hi] = kspace[..., lo:hi].mean(axis=1)
        return out, calibration
    if calibration != "time-average":
        raise ParameterError(f"calibration must be one of {', '.join(CALIBRATIONS)}, got {calibration!r}")
    count = m.sum(axis=0)
    return ((kspace * m[None]).sum(axis=1) / np.maximum(count, 1)).astype(np.complex64), calibration


def gridded_images(kspace: np.ndarray, trajectory: np.ndarray, image_shape: tuple[int, int]) -> np.ndarray:
    """Coil images ``(N, H, W)`` of non-Cartesian ``kspace (N, T, M)``: the Voronoi
    density-compensated adjoint of all frames' samples pooled (the time-averaged data)."""
    import torch

    from dynmri._complex import channels_to_np, np_to_channels
    from dynmri.physics.nufft import NonCartesianMRI

    tr = np.asarray(trajectory, np.float32)
    pooled = tr.reshape(1, -1, tr.shape[2], 2)  # (1, T * n_shots, n_samples, 2)
    physics = NonCartesianMRI(torch.from_numpy(pooled), image_shape)
    y = np_to_channels(kspace.reshape(kspace.shape[0], 1, -1))  # coils as the batch
    with torch.no_grad():
        return channels_to_np(physics.A_dagger_dcomp(y))[:, 0]


def _smooth(x: np.ndarray, kernel: int) -> np.ndarray:
    """Box filter ``kernel x kernel`` over the last two axes (real and imaginary parts)."""
    from scipy.ndimage import uniform_filter

    size = (1,) * (x.ndim - 2) + (kernel, kernel)
    if np.iscomplexobj(x):
        return uniform_filter(x.real, size, mode="nearest") + 1j * uniform_filter(x.imag, size, mode="nearest")
    return uniform_filter(x, size, mode="nearest")


def _support(images: np.ndarray, kernel: int, threshold: float) -> np.ndarray:
    """Pixels ``(H, W)`` whose smoothed root-sum-of-squares energy exceeds ``threshold * max``."""
    energy = _smooth((np.abs(images) ** 2).sum(axis=0), kernel)
    return energy > threshold * energy.max()


def _normalise(maps: np.ndarray, support: np.ndarray | None = None) -> np.ndarray:
    """``sum_n |S_n|^2 = 1`` where non-zero (and on ``support``), 0 elsewhere."""
    norm = np.sqrt((np.abs(maps) ** 2).sum(axis=0))
    keep = norm > 1e-12 * max(float(norm.max()), 1e-30)
    if support is not None:
        keep &= support
    return np.where(keep, maps / np.where(keep, norm, 1), 0).astype(np.complex64)


def _finish(maps: np.ndarray, images: np.ndarray, kernel: int, smooth: float | None, threshold: float) -> np.ndarray:
    """Gaussian-smooth the (phase-referenced) maps with standard deviation ``smooth`` pixels
    (default ``max(H, W) / 32``; 0: none), normalise, zero outside the support."""
    from scipy.ndimage import gaussian_filter

    sigma = max(maps.shape[-2:]) / 32 if smooth is None else float(smooth)
    if sigma > 0:
        s = (0, sigma, sigma)
        maps = gaussian_filter(maps.real, s, mode="nearest") + 1j * gaussian_filter(maps.imag, s, mode="nearest")
    return _normalise(maps, _support(images, kernel, threshold) if threshold > 0 else None)


@ESTIMATORS.register("walsh")
def walsh_maps(images: np.ndarray, kspace=None, *, kernel: int = 7, smooth: float | None = None,
               threshold: float = 0.0) -> np.ndarray:
    r"""Walsh maps ``(N, H, W)``: dominant eigenvector of the locally averaged coil correlation
    :math:`R(r) = \mathrm{box}_{k \times k}(x x^H)(r)`, phase-referenced to the strongest coil,
    then smoothed (:func:`_finish`)."""
    N, H, W = images.shape
    corr = _smooth(images[:, None] * images[None].conj(), kernel)  # (N, N, H, W)
    corr = corr.transpose(2, 3, 0, 1).reshape(-1, N, N)
    _, vecs = np.linalg.eigh(corr)
    v = vecs[:, :, -1].T.reshape(N, H, W)  # eigenvector of the largest eigenvalue
    ref = int(np.argmax((np.abs(images) ** 2).sum(axis=(1, 2))))
    v = v * np.exp(-1j * np.angle(v[ref]))[None]
    return _finish(v, images, kernel, smooth, threshold)


@ESTIMATORS.register("inati")
def inati_maps(images: np.ndarray, kspace=None, *, kernel: int = 7, n_iter: int = 10, smooth: float | None = None,
               threshold: float = 0.0) -> np.ndarray:
    r"""Inati maps ``(N, H, W)``: power iterations :math:`S \leftarrow \mathrm{normalise}(\mathrm{box}(x\,
    \overline{c}))`, :math:`c = S^H x` the combined image, started from the image-wide coil
    combination :math:`v \propto \sum_r x(r)`; phase-referenced to :math:`v`, then smoothed
    (:func:`_finish`)."""
    v = images.sum(axis=(1, 2))
    v = v / max(np.linalg.norm(v), 1e-30)
    maps = np.broadcast_to(v[:, None, None], images.shape)
    for _ in range(n_iter):
        combined = (maps.conj() * images).sum(axis=0)  # (H, W)
        maps = _normalise(_smooth(images * combined.conj()[None], kernel))
    phase = np.angle((v.conj()[:, None, None] * maps).sum(axis=0))
    return _finish(maps * np.exp(-1j * phase)[None], images, kernel, smooth, threshold)


@ESTIMATORS.register("espirit", requires="sigpy", install="pip install 'dynmri[espirit]'")
def espirit_maps(images: np.ndarray, kspace=None, *, calib_width: int = 24, kernel_width: int = 6, thresh: float = 0.02,
                 crop: float = 0.0) -> np.ndarray:
    """ESPIRiT maps ``(N, H, W)`` through ``sigpy.mri.app.EspiritCalib`` on the central
    ``calib_width x calib_width`` block of the calibration k-space: the first eigenvector map,
    zero where its eigenvalue is below ``crop``. The default ``crop=0`` keeps the whole FOV
    (sigpy's 0.95 zeroed anatomy at the edge of the cropped Sunnybrook cine and cost ``lps``
    2.9 dB on a test slice, docs/scanner-data.md)."""
    from sigpy.mri.app import EspiritCalib

    k = centered_fft(images) if kspace is None else kspace
    width = min(calib_width, *k.shape[-2:])
    maps = EspiritCalib(np.ascontiguousarray(k, np.complex64), calib_width=width, thresh=thresh, kernel_width=kernel_width,
                        crop=crop, show_pbar=False).run()
    return _normalise(np.asarray(maps))


def _estimate(acq, method: str, calibration: str, min_central: int, options: dict) -> tuple[np.ndarray, str]:
    """Maps ``(S, N, H, W)`` and the calibration used (that of the first slice)."""
    if not acq.multicoil:
        raise ParameterError("coil maps need multi-coil k-space; this acquisition is single-coil")
    if calibration not in CALIBRATIONS:
        raise ParameterError(f"calibration must be one of {', '.join(CALIBRATIONS)}, got {calibration!r}")
    fn = ESTIMATORS.get(method)
    ESTIMATORS.check(method, options, skip=2)
    maps, used = [], []
    for s in range(acq.kspace.shape[0]):
        if acq.noncartesian:
            if calibration == "central":
                raise ParameterError("calibration='central' needs Cartesian k-space; non-Cartesian data use 'time-average'")
            images, kspace, cal = gridded_images(acq.kspace[s], acq.trajectory, acq.image_shape), None, "time-average"
        else:
            kspace, cal = calibration_kspace(acq.kspace[s], acq.mask[s], calibration, min_central)
            images = centered_fft(kspace, inverse=True)
        maps.append(fn(images, kspace, **options))
        used.append(cal)
    return np.stack(maps).astype(np.complex64), used[0]


def estimate_coil_maps(acquisition, method: str = "walsh", *, calibration: str = "auto", min_central: int = 16,
                       **options) -> np.ndarray:
    """Coil maps ``(S, N, H, W)`` complex64 of a multi-coil acquisition, estimated from its data.

    Parameters
    ----------
    acquisition : Acquisition
        Multi-coil, Cartesian ``kspace (S, N, T, H, W)`` with ``mask`` or non-Cartesian
        ``kspace (S, N, T, M)`` with ``trajectory``.
    method : str
        ``"walsh"``, ``"inati"`` or ``"espirit"`` (:data:`ESTIMATORS`).
    calibration : str
        ``"auto"``, ``"central"`` or ``"time-average"`` (module docstring).
    min_central : int
        ``"auto"`` uses the central lines when at least this many are sampled in every frame.
    **options
        Passed to the estimator (``kernel``, ``threshold``, ``n_iter``, ``calib_width``, ...).
    """
    return _estimate(acquisition, method, calibration, min_central, options)[0]


def with_coil_maps(acquisition, method: str = "walsh", *, calibration: str = "auto", min_central: int = 16, **options):
    """A copy of ``acquisition`` (sharing its arrays) carrying coil maps estimated from its data
    (:func:`estimate_coil_maps`); ``meta["coil_maps"]`` records the method, the calibration
    used and the estimator's options."""
    maps, used = _estimate(acquisition, method, calibration, min_central, options)
    info = {"method": method, "calibration": used, "options": options}
    return replace(acquisition, coil_maps=maps, meta=acquisition.meta | {"coil_maps": info})
