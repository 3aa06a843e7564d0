"""From a data source to a simulated acquisition: the library side of ``dynmri simulate``.

``simulate_from_config(SimulateConfig(...))`` loads the source, selects slices and frames,
crops, makes the images complex, draws the masks and coil maps, and simulates k-space.
Shapes follow :mod:`dynmri.data.files`: k-space ``(S, [N,] T, H, W)``, masks ``(S, T, H, W)``.

Examples
--------
>>> from dynmri.data.acquire import simulate_from_config
>>> from dynmri.config import SimulateConfig
>>> acq = simulate_from_config(SimulateConfig(accel=4, frames=3, size=32))
>>> acq.kspace.shape, acq.meta["achieved_acceleration"]
((1, 3, 32, 32), 4.0)
"""

from __future__ import annotations


def parse_slices(spec: str, n: int) -> list[int]:
    """``"all"``, ``"a:b"`` or ``"0,3,5"`` -> slice indices in ``0..n-1`` (else ParameterError)."""
    from dynmri.errors import ParameterError

    if spec == "all":
        return list(range(n))
    try:
        if ":" in spec:
            a, b = spec.split(":")
            idx = list(range(int(a or 0), int(b or n)))
        else:
            idx = [int(s) for s in spec.split(",")]
    except ValueError:
        raise ParameterError(f"--slices must be 'all', 'a:b' or a comma list, got {spec!r}") from None
    bad = [i for i in idx if not 0 <= i < n]
    if bad or not idx:
        raise ParameterError(f"--slices {spec!r} selects {bad or 'nothing'} outside 0..{n - 1}")
    return idx


def prepare_images(cfg):
    """Load ``cfg.data`` and return (complex images (S, T, H, W), frame times, source meta)."""
    import numpy as np

    from dynmri._complex import center_crop
    from dynmri.data.simulate import add_smooth_phase
    from dynmri.data.sources import load_source
    from dynmri.errors import ParameterError

    src = load_source(cfg.data, frames=cfg.frames, size=(cfg.size, cfg.size), n_phantoms=getattr(cfg, "n_phantoms", 1), seed=cfg.seed)
    idx = parse_slices(cfg.slices, src.videos.shape[0])
    if src.videos.shape[1] < cfg.frames:
        raise ParameterError(f"{cfg.data}: has {src.videos.shape[1]} frames, --frames asks for {cfg.frames}")
    videos = src.videos[idx, : cfg.frames]
    if cfg.crop:
        H, W = videos.shape[-2:]
        if cfg.crop > min(H, W):
            raise ParameterError(f"--crop {cfg.crop} is larger than the images ({H}x{W})")
        videos = center_crop(videos, cfg.crop)
    images = add_smooth_phase(np.ascontiguousarray(videos), seed=cfg.seed)
    times = src.frame_times[idx, : cfg.frames]
    meta = {"source": cfg.data, "source_kind": src.kind, "slices": idx, "groups": [src.groups[i] for i in idx]} | src.meta
    return images, times, meta


def _coil_maps(cfg, S: int, H: int, W: int):
    """Birdcage maps ``(S, N, H, W)`` for ``cfg.coils > 1``, else None."""
    import numpy as np

    from dynmri.data.simulate import birdcage_maps

    if cfg.coils <= 1:
        return None
    return np.broadcast_to(birdcage_maps(cfg.coils, (H, W))[None], (S, cfg.coils, H, W)).copy()


def _meta(cfg, times, src_meta: dict, **specific) -> dict:
    """The metadata every simulated acquisition carries, plus the sampling-specific ``specific``."""
    import numpy as np

    from dynmri import __version__

    common = {"dynmri_version": __version__, "requested_acceleration": float(cfg.accel)} | specific
    common |= {"seed": cfg.seed, "coils": cfg.coils, "snr_db": cfg.snr, "frame_times_ms": np.asarray(times).round(3).tolist(),
               "config": dict(cfg.__dict__)}
    return common | src_meta


def simulate_from_config(cfg):
    """Build an :class:`~dynmri.data.files.Acquisition` from a :class:`SimulateConfig`."""
    import numpy as np

    from dynmri.data.simulate import simulate_acquisition
    from dynmri.sampling.masks import achieved_acceleration, make_mask

    images, times, src_meta = prepare_images(cfg)
    S, T, H, W = images.shape
    if cfg.trajectory is not None:
        return _simulate_noncartesian(cfg, images, times, src_meta)
    masks = make_mask(cfg.mask, (T, H, W), cfg.accel, n=S, center_lines=cfg.center_lines, seed=cfg.seed)
    meta = _meta(cfg, times, src_meta, achieved_acceleration=achieved_acceleration(masks), mask_kind=cfg.mask, center_lines=cfg.center_lines)
    return simulate_acquisition(images, masks.numpy().astype(np.uint8), coil_maps=_coil_maps(cfg, S, H, W), snr_db=cfg.snr, seed=cfg.seed, meta=meta)


def load_trajectory_file(path, frames: int):
    """A trajectory ``(T, S, Ns, 2)`` from a ``.npz`` with key ``trajectory`` (``dynmri
    learn-trajectory`` writes one); a single frame ``(S, Ns, 2)`` or ``(1, S, Ns, 2)`` is rotated by
    the golden angle from frame to frame."""
    from pathlib import Path

    import numpy as np
    import torch

    from dynmri.data.files import read_arrays
    from dynmri.errors import DataError
    from dynmri.sampling.trajectories import check_trajectory, rotate_frames

    arrays, _ = read_arrays(Path(path))
    if "trajectory" not in arrays:
        raise DataError(f"{path}: no 'trajectory' array (keys: {', '.join(arrays) or 'none'})")
    k = np.asarray(arrays["trajectory"], dtype=np.float64)
    check_trajectory(k, name=f"{path}: trajectory")
    if k.ndim == 3:
        k = k[None]
    if k.shape[0] == 1 and frames > 1:
        return rotate_frames(torch.from_numpy(k[0]), frames)
    if k.shape[0] < frames:
        raise DataError(f"{path}: trajectory has {k.shape[0]} frames, {frames} needed")
    return torch.from_numpy(k[:frames]).float()


def _simulate_noncartesian(cfg, images, times, src_meta):
    import numpy as np
    import torch

    from dynmri._complex import channels_to_np, np_to_channels
    from dynmri.data.files import Acquisition
    from dynmri.data.simulate import add_noise, simulation_rng
    from dynmri.errors import ParameterError
    from dynmri.physics.nufft import NonCartesianMRI
    from dynmri.sampling.trajectories import TRAJECTORIES, make_trajectory, nyquist_spokes

    S, T, H, W = images.shape
    if cfg.trajectory in TRAJECTORIES:
        if H != W:
            raise ParameterError(f"named trajectories need square images, got {H}x{W} (use --crop)")
        k = make_trajectory(cfg.trajectory, H, cfg.accel, T, n_samples=cfg.n_samples)
    else:
        k = load_trajectory_file(cfg.trajectory, T)
    maps = _coil_maps(cfg, S, H, W)
    physics = NonCartesianMRI(k, (H, W), None if maps is None else torch.from_numpy(maps[0]))
    with torch.no_grad():
        ks = np.stack([channels_to_np(physics.A(np_to_channels(images[s : s + 1])))[0] for s in range(S)])
    if cfg.snr is not None:
        ks = add_noise(ks, None, cfg.snr, simulation_rng(cfg.seed))
    n_samples = int(k.shape[1] * k.shape[2])
    # acceleration against the samples of Nyquist radial (ceil(pi N / 2) spokes of 2N samples)
    meta = _meta(cfg, times, src_meta, trajectory_kind=cfg.trajectory, samples_per_frame=n_samples,
                 achieved_acceleration=nyquist_spokes(H) * 2 * H / float(n_samples), image_shape=[H, W])
    return Acquisition(kspace=ks.astype(np.complex64), target=images.astype(np.complex64), coil_maps=maps, meta=meta, trajectory=k.numpy())
