r"""Torch datasets of ``(x, y, *sampling)`` windows of ``T`` frames, split by slice or subject.

Items (CPU tensors; ``B`` is added by collation):

==========================  ===========================================================
physics                     item
==========================  ===========================================================
Cartesian, one coil         ``x (2, T, H, W)``, ``y (2, T, H, W)``, ``mask (T, H, W)``
Cartesian, ``N`` coils      ``x``, ``y (2, N, T, H, W)``, ``mask``, ``maps (N, H, W)`` complex
non-Cartesian, one coil     ``x``, ``y (2, T, M)``, ``trajectory (T, S, Ns, 2)``
non-Cartesian, ``N`` coils  ``x``, ``y (2, N, T, M)``, ``trajectory``, ``maps (N, H, W)``
==========================  ===========================================================

The videos are an in-memory array or a lazy :class:`~dynmri.data.streaming.VideoStore` (read
one window at a time); either way each window equals the same frames of
:func:`~dynmri.data.simulate.add_smooth_phase` of the whole (cropped) video: slice ``s`` of the
dataset scaled by its peak magnitude and, when real, multiplied by the smooth phase seeded
``seed + s`` (the peaks are found once, slice by slice, when the dataset is built).

Randomness, all from explicit seeds: validation/test item ``i`` always gets the mask seeded
``seed + i``; with ``fresh_masks`` (training) item ``i`` of epoch ``e`` (:meth:`~DynamicWindowDataset.set_epoch`)
draws its mask and noise from ``SeedSequence((seed, e, i))``, so DataLoader workers and
distributed ranks draw identically, whatever the order of access. With several accelerations
(Cartesian only) item ``i`` samples at ``acceleration[mask seed % len(acceleration)]``. A non-Cartesian window
starting at frame ``t0`` gets frames ``t0 .. t0 + T - 1`` of the named trajectory (the golden
angle advances with the start frame); it is the same in every epoch.

Examples
--------
>>> from dynmri.data.phantom import phantom_videos
>>> from dynmri.data.datasets import DynamicWindowDataset
>>> ds = DynamicWindowDataset(phantom_videos(2, 16, (32, 32)), window=8, acceleration=4)
>>> len(ds), [tuple(t.shape) for t in ds[0]]
(4, [(2, 8, 32, 32), (2, 8, 32, 32), (8, 32, 32)])
"""

from __future__ import annotations

import numbers

import numpy as np
import torch

from dynmri.errors import ParameterError, ShapeError


def split_groups(groups: list[str], fractions=(0.7, 0.1, 0.2), seed: int = 0) -> dict[str, list[int]]:
    """Split slice indices into ``train/val/test`` by group (subject or slice), never by frame.

    Groups are shuffled with ``seed``; each split gets whole groups. With one group per slice
    this splits by slice.
    """
    if len(fractions) != 3 or abs(sum(fractions) - 1) > 1e-6 or min(fractions) < 0:
        raise ParameterError(f"fractions must be three non-negative numbers summing to 1, got {fractions}")
    uniq = sorted(set(groups))
    order = np.random.default_rng(seed).permutation(len(uniq))
    n = len(uniq)
    n_train = int(round(fractions[0] * n))
    n_val = int(round(fractions[1] * n))
    names = {"train": order[:n_train], "val": order[n_train : n_train + n_val], "test": order[n_train + n_val :]}
    chosen = {k: {uniq[i] for i in v} for k, v in names.items()}
    return {k: [i for i, g in enumerate(groups) if g in chosen[k]] for k in names}


class DynamicWindowDataset(torch.utils.data.Dataset):
    r"""Windows of ``window`` frames (stride ``stride``) of complex videos ``(S, T, H, W)``
    (an array or a :class:`~dynmri.data.streaming.VideoStore`; ``slices`` picks the store's
    slices, default all). See the module doc for items and seeds.

    ``crop (y0, y1, x0, x1)`` crops every frame. Multi-coil: explicit ``coil_maps (S, N, H, W)``,
    else with ``coils > 1`` the maps of each window's coil images when the store has coils
    (:func:`~dynmri.data.streaming.window_coil_maps`; ``coils`` must match), else birdcage maps
    (:func:`~dynmri.data.simulate.birdcage_maps`). ``snr`` (dB) adds complex Gaussian noise on the
    sampled entries, :math:`\sigma^2 = \overline{|y|^2}_{sampled} / 10^{SNR/10}`. ``trajectory``
    (a name of :data:`~dynmri.sampling.trajectories.TRAJECTORIES`) makes it non-Cartesian at
    ``acceleration`` with ``n_samples`` per spoke/interleave (default: the trajectory's own);
    ``mask`` and ``center_lines`` are then unused. A sequence of ``acceleration`` values mixes
    them (Cartesian masks only): each item samples at one of them, chosen by its mask seed.
    """

    def __init__(self, videos, *, window: int = 12, stride: int | None = None, crop: tuple[int, int, int, int] | None = None,
                 acceleration: float | tuple[float, ...] = 8, mask: str = "gaussian", center_lines: int | None = None, coil_maps: np.ndarray | None = None,
                 coils: int = 1, snr: float | None = None, trajectory: str | None = None, seed: int = 0, fresh_masks: bool = False,
                 slices: list[int] | None = None, n_samples: int | None = None):
        self.store = _as_store(videos)
        self.slices = list(range(len(self.store))) if slices is None else list(slices)
        T = self.store.shape[1]
        if window > T:
            raise ParameterError(f"window {window} is longer than the videos ({T} frames)")
        self.crop, self.window = crop, window
        self.image_shape = tuple(np.empty(self.store.shape[-2:])[self._crop_slices()].shape)
        self.index = [(s, t) for s in range(len(self.slices)) for t in range(0, T - window + 1, stride or window)]
        if not isinstance(acceleration, numbers.Real) and (trajectory is not None or not len(acceleration)):
            raise ParameterError("several accelerations need Cartesian masks (and at least one value): trajectories of "
                                 f"different accelerations have different spoke counts, got {acceleration!r}")
        self.mask_args = dict(kind=mask, acceleration=acceleration, center_lines=center_lines)
        self.seed, self.fresh_masks, self.epoch, self.snr = seed, fresh_masks, 0, snr
        self._set_coils(coil_maps, coils)
        self._set_trajectory(trajectory)
        self.n_samples = n_samples
        self._peaks = [self._peak(j) for j in range(len(self.slices))]

    def _crop_slices(self):
        if self.crop is None:
            return (Ellipsis,)
        y0, y1, x0, x1 = self.crop
        return (Ellipsis, slice(y0, y1), slice(x0, x1))

    def _set_coils(self, coil_maps, coils: int) -> None:
        """Where the coil maps come from (explicit, the data's coil images, birdcage) or none."""
        from dynmri.data.simulate import birdcage_maps

        self.coil_maps, self._birdcage, self._data_maps = None, None, False
        if coil_maps is not None:
            self.coil_maps = coil_maps[self._crop_slices()]
            if self.coil_maps.ndim != 4 or self.coil_maps.shape[-2:] != self.image_shape:
                raise ShapeError(f"coil_maps must be (S, N, H, W) with H, W = {self.image_shape}, got {coil_maps.shape}")
        elif coils > 1 and self.store.n_coils > 1:
            if coils != self.store.n_coils:
                raise ParameterError(f"coils {coils}: the data has {self.store.n_coils} coils (maps come from its coil images); set coils to {self.store.n_coils}")
            self._data_maps = True
        elif coils > 1:
            self._birdcage = birdcage_maps(coils, self.image_shape)

    def _set_trajectory(self, trajectory: str | None) -> None:
        if trajectory is not None:
            from dynmri.sampling.trajectories import TRAJECTORIES

            TRAJECTORIES.get(trajectory)  # an unknown name: the registry's message
        self.trajectory, self._trajectories = trajectory, {}

    @property
    def multicoil(self) -> bool:
        return self.coil_maps is not None or self._data_maps or self._birdcage is not None

    @property
    def noncartesian(self) -> bool:
        return self.trajectory is not None

    def set_epoch(self, epoch: int) -> None:
        """Training draws of epoch ``epoch`` (masks and noise of item ``i`` from ``(seed, epoch, i)``)."""
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return len(self.index)

    def _read(self, j: int, t0: int, t1: int) -> np.ndarray:
        return self.store.read(self.slices[j], t0, t1)[self._crop_slices()]

    def _peak(self, j: int):
        from dynmri.data.simulate import video_peak

        return video_peak(self._read(j, 0, self.store.shape[1]), j)

    def _window(self, j: int, t0: int) -> np.ndarray:
        """Frames ``t0 : t0 + window`` of slice ``j``, scaled and phased as by ``add_smooth_phase``."""
        from dynmri.data.simulate import phase_frames

        return phase_frames(self._read(j, t0, t0 + self.window), self._peaks[j], self.seed + j).astype(np.complex64)

    def _maps(self, j: int, t0: int) -> torch.Tensor | None:
        """``(1, N, H, W)`` complex64, or None for one coil."""
        from dynmri.data.streaming import window_coil_maps

        if self.coil_maps is not None:
            maps = self.coil_maps[j]
        elif self._data_maps:
            maps = window_coil_maps(self.store.read_coils(self.slices[j], t0, t0 + self.window)[self._crop_slices()])
        else:
            maps = self._birdcage
        return None if maps is None else torch.from_numpy(np.ascontiguousarray(maps, dtype=np.complex64))[None]

    def _seeds(self, i: int) -> tuple[int, int]:
        """``(mask seed, noise seed)`` of item ``i`` (in this epoch, for training)."""
        if self.fresh_masks:
            a, b = np.random.SeedSequence((self.seed, self.epoch, i)).generate_state(2)
            return int(a), int(b)
        return self.seed + i, int(np.random.SeedSequence((self.seed, i, 1)).generate_state(1)[0])

    def _trajectory(self, t0: int) -> torch.Tensor:
        """Frames ``t0 : t0 + window`` of the trajectory, ``(T, S, Ns, 2)`` float32 (cached)."""
        if t0 not in self._trajectories:
            from dynmri.sampling.trajectories import make_trajectory

            k = make_trajectory(self.trajectory, max(self.image_shape), self.mask_args["acceleration"], t0 + self.window,
                                n_samples=self.n_samples)
            self._trajectories[t0] = k[t0:].float().contiguous()
        return self._trajectories[t0]

    def physics(self, sampling: torch.Tensor, maps: torch.Tensor | None):
        """The operator of one item (batched: ``sampling`` and ``maps`` with a leading 1)."""
        if self.trajectory is None:
            from dynmri.physics.cartesian import make_physics

            return make_physics(sampling, maps)
        from dynmri.physics.nufft import NonCartesianMRI

        return NonCartesianMRI(sampling[0], self.image_shape, None if maps is None else maps[0])

    def sampling(self, i: int) -> torch.Tensor:
        """What item ``i``'s physics needs, without reading its images: its mask ``(T, H, W)``
        or its frames of the trajectory ``(T, S, Ns, 2)``."""
        if self.trajectory is not None:
            return self._trajectory(self.index[i][1])
        from dynmri.sampling.masks import make_mask

        m, seed = self.mask_args, self._seeds(i)[0]
        r = m["acceleration"] if isinstance(m["acceleration"], numbers.Real) else m["acceleration"][seed % len(m["acceleration"])]
        return make_mask(m["kind"], (self.window, *self.image_shape), r, center_lines=m["center_lines"], seed=seed)[0]

    def __getitem__(self, i: int):
        from dynmri._complex import np_to_channels

        j, t0 = self.index[i]
        x = np_to_channels(self._window(j, t0)[None])
        sampling, maps = self.sampling(i), self._maps(j, t0)
        with torch.no_grad():
            y = self.physics(sampling[None], maps).A(x)[0]
        if self.snr is not None:
            y = self._noisy(y, sampling, self._seeds(i)[1])
        return (x[0], y, sampling) + (() if maps is None else (maps[0],))

    def _noisy(self, y: torch.Tensor, sampling: torch.Tensor, seed: int) -> torch.Tensor:
        """``y (2, [N,] T, ...)`` plus complex Gaussian noise at ``snr`` dB on its sampled entries."""
        sampled = (sampling.bool() if self.trajectory is None else torch.ones(y.shape[-2:], dtype=torch.bool)).expand(y.shape[1:])
        power = y.pow(2).sum(0)[sampled].mean()
        sigma = torch.sqrt(power / 10 ** (self.snr / 10))
        noise = torch.randn(y.shape, generator=torch.Generator().manual_seed(seed), dtype=y.dtype) * sigma / np.sqrt(2)
        return y + noise * sampled


def _as_store(videos):
    """A :class:`~dynmri.data.streaming.VideoStore` of ``videos`` (an array ``(S, T, H, W)`` or a store)."""
    from dynmri.data.streaming import ArrayStore, VideoStore

    if isinstance(videos, VideoStore):
        return videos
    videos = np.asarray(videos)
    if videos.ndim != 4:
        raise ParameterError(f"videos must be (S, T, H, W), got shape {videos.shape}")
    return ArrayStore(videos)
