r"""From images to simulated k-space: complex phase, coil maps, masks and noise.

Real cine DICOMs are magnitude only, so dynmri makes them complex before simulation:

1. each video is scaled to maximum magnitude 1;
2. it is multiplied by a smooth, seeded, static phase
   :math:`\phi(u, v) = \sum_{i+j \le 2} c_{ij} u^i v^j` on :math:`[-1, 1]^2`, scaled so that
   :math:`\max|\phi| = \phi_{\max}` (default :math:`\pi/2`);
3. optional birdcage coil maps (:func:`birdcage_maps`) multiply each frame;
4. k-space is :math:`y = M F (S x)` through :mod:`dynmri.physics.cartesian`, and
5. optional complex Gaussian noise at ``snr_db`` is added to sampled entries, with
   :math:`\sigma^2 = \overline{|y|^2}_{\text{sampled}} / 10^{\text{SNR}/10}`.

All randomness comes from explicit seeds; the global RNG is never touched.
"""

from __future__ import annotations

import numpy as np

from dynmri.errors import ParameterError, ShapeError


def smooth_phase(size: tuple[int, int], rng: np.random.Generator, order: int = 2, max_phase: float = np.pi / 2) -> np.ndarray:
    """A smooth random phase map ``(H, W)`` in radians: a polynomial of total degree ``order``."""
    H, W = size
    v, u = np.meshgrid(np.linspace(-1, 1, H), np.linspace(-1, 1, W), indexing="ij")
    phi = np.zeros((H, W))
    for i in range(order + 1):
        for k in range(order + 1 - i):
            phi += rng.standard_normal() * u**i * v**k
    peak = np.abs(phi).max()
    return phi * (max_phase / peak) if peak > 0 else phi


def add_smooth_phase(videos: np.ndarray, seed: int = 0, max_phase: float = np.pi / 2) -> np.ndarray:
    """Magnitude videos ``(S, T, H, W)`` -> complex64 with a smooth phase per sample (seed + s).

    Complex input keeps its phase. Each video is scaled to maximum magnitude 1. (Not to be
    confused with :func:`dynmri._complex.to_complex`, which changes the array layout.)

    Examples
    --------
    >>> z = add_smooth_phase(np.ones((1, 2, 4, 4)), seed=0)
    >>> z.dtype, float(np.abs(z).max())
    (dtype('complex64'), 1.0)
    """
    if videos.ndim != 4:
        raise ShapeError(f"videos must be (S, T, H, W), got shape {videos.shape}")
    out = np.empty(videos.shape, dtype=np.complex64)
    for s, vid in enumerate(videos):
        out[s] = phase_frames(vid, video_peak(vid, s), seed + s, max_phase)
    return out


def video_peak(video: np.ndarray, s: int) -> float:
    """The largest magnitude of video ``s`` (a :class:`ParameterError` when it is all zero)."""
    peak = np.abs(video).max()
    if peak == 0:
        raise ParameterError(f"video {s} is all zero")
    return peak


def phase_frames(frames: np.ndarray, peak: float, seed: int, max_phase: float = np.pi / 2) -> np.ndarray:
    """Frames ``(T, H, W)`` of one video as :func:`add_smooth_phase` makes them: divided by the
    video's ``peak`` and, when real, times its smooth phase seeded ``seed`` (the same for every
    frame, so a window of a video gets the window of the whole video's result)."""
    frames = frames / peak
    if not np.iscomplexobj(frames):
        frames = frames * np.exp(1j * smooth_phase(frames.shape[-2:], np.random.default_rng(seed), max_phase=max_phase))[None]
    return frames


def birdcage_maps(n_coils: int, size: tuple[int, int], radius: float = 1.5) -> np.ndarray:
    r"""Birdcage coil sensitivities ``(N, H, W)`` complex64, normalised to :math:`\sum_n |S_n|^2 = 1`.

    Coil :math:`n` sits at angle :math:`2\pi n/N` on a circle of ``radius`` (in half-FOV
    units); its sensitivity falls as 1/distance and carries the phase of its position, as in
    sigpy's ``birdcage_maps``.
    """
    if n_coils < 1:
        raise ParameterError(f"n_coils must be >= 1, got {n_coils}")
    H, W = size
    v, u = np.meshgrid(np.linspace(-1, 1, H), np.linspace(-1, 1, W), indexing="ij")
    maps = np.empty((n_coils, H, W), dtype=np.complex128)
    for n in range(n_coils):
        ang = 2 * np.pi * n / n_coils
        du, dv = u - radius * np.cos(ang), v - radius * np.sin(ang)
        maps[n] = np.exp(1j * (np.arctan2(dv, du) - ang)) / np.sqrt(du**2 + dv**2)
    maps /= np.sqrt((np.abs(maps) ** 2).sum(axis=0, keepdims=True))
    return maps.astype(np.complex64)


NOISE_SEED_OFFSET = 1_000_003
"""The noise of a simulation seeded ``seed`` is drawn from ``default_rng(seed + NOISE_SEED_OFFSET)``,
independent of the phase (``seed + s``) and mask (``seed``) draws."""


def add_noise(kspace: np.ndarray, mask: np.ndarray | None, snr_db: float, rng: np.random.Generator) -> np.ndarray:
    r"""Complex Gaussian noise at ``snr_db`` on the sampled entries of ``kspace``.

    Cartesian k-space ``(..., T, H, W)`` with its ``mask`` (broadcastable; only sampled entries
    get noise and set the power), or non-Cartesian samples with ``mask=None`` (every entry):
    :math:`\sigma^2 = \overline{|y|^2}_{\text{sampled}} / 10^{\text{SNR}/10}`, complex64 out. The
    one noise path of every simulation (:func:`simulate_acquisition`, non-Cartesian too).
    """
    sampled = np.ones(kspace.shape, dtype=bool) if mask is None else np.broadcast_to(mask.astype(bool), kspace.shape)
    power = np.mean(np.abs(kspace[sampled]) ** 2)
    sigma = np.sqrt(power / 10 ** (snr_db / 10))
    noise = (rng.standard_normal(kspace.shape) + 1j * rng.standard_normal(kspace.shape)) * sigma / np.sqrt(2)
    return (kspace + noise * sampled).astype(np.complex64)


def simulation_rng(seed: int) -> np.random.Generator:
    """The noise generator of a simulation seeded ``seed``."""
    return np.random.default_rng(seed + NOISE_SEED_OFFSET)


def simulate_acquisition(
    images: np.ndarray,
    masks: np.ndarray,
    *,
    coil_maps: np.ndarray | None = None,
    snr_db: float | None = None,
    seed: int = 0,
    meta: dict | None = None,
):
    """Simulate k-space for complex ``images (S, T, H, W)`` and ``masks (S, T, H, W)``.

    ``coil_maps (S, N, H, W)`` makes it multi-coil. Returns an :class:`~dynmri.data.files.Acquisition`.
    """
    import torch

    from dynmri._complex import channels_to_np, np_to_channels
    from dynmri.data.files import Acquisition
    from dynmri.physics.cartesian import make_physics

    if images.shape != masks.shape:
        raise ShapeError(f"images {images.shape} and masks {masks.shape} must both be (S, T, H, W)")
    ks = []
    for s in range(images.shape[0]):
        maps = None if coil_maps is None else torch.from_numpy(coil_maps[s : s + 1])
        physics = make_physics(torch.from_numpy(masks[s : s + 1].astype(np.float32)), maps)
        with torch.no_grad():
            ks.append(channels_to_np(physics.A(np_to_channels(images[s : s + 1])))[0])
    kspace = np.stack(ks)
    if snr_db is not None:
        mask_b = masks[:, None] if coil_maps is not None else masks
        kspace = add_noise(kspace, mask_b, snr_db, simulation_rng(seed))
    return Acquisition(kspace=kspace, mask=masks.astype(np.uint8), target=images.astype(np.complex64), coil_maps=coil_maps, meta=meta or {})


def to_complex(videos: np.ndarray, seed: int = 0, max_phase: float = np.pi / 2) -> np.ndarray:
    """Deprecated name of :func:`add_smooth_phase` (removed in dynmri 0.3)."""
    import warnings

    warnings.warn("dynmri.data.simulate.to_complex is deprecated; use add_smooth_phase", DeprecationWarning, stacklevel=2)
    return add_smooth_phase(videos, seed, max_phase)
