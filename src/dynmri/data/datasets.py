r"""Torch datasets of ``(x, y, mask)`` windows of ``T`` frames, split by slice or subject.

Shapes per item: ``x (2, T, H, W)`` real/imag, ``y (2, T, H, W)`` single-coil or
``(2, N, T, H, W)`` multi-coil, ``mask (T, H, W)``.

Examples
--------
>>> from dynmri.data.phantom import phantom_videos
>>> from dynmri.data.datasets import DynamicWindowDataset
>>> ds = DynamicWindowDataset(phantom_videos(2, 16, (32, 32)), window=8, acceleration=4)
>>> len(ds), [tuple(t.shape) for t in ds[0]]
(4, [(2, 8, 32, 32), (2, 8, 32, 32), (8, 32, 32)])
"""

from __future__ import annotations

import numpy as np
import torch

from dynmri.errors import ParameterError


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
    """Windows of ``window`` frames (stride ``stride``) of complex videos ``(S, T, H, W)``.

    Masks are drawn with :func:`dynmri.sampling.masks.make_mask`; with ``fresh_masks`` every access
    draws a new mask (training), otherwise item ``i`` always gets the mask seeded
    ``seed + i`` (validation and test). ``coil_maps (S, N, H, W)`` makes it multi-coil.
    """

    def __init__(
        self,
        videos: np.ndarray,
        *,
        window: int = 12,
        stride: int | None = None,
        crop: tuple[int, int, int, int] | None = None,
        acceleration: float = 8,
        mask: str = "gaussian",
        center_lines: int | None = None,
        coil_maps: np.ndarray | None = None,
        seed: int = 0,
        fresh_masks: bool = False,
    ):
        from dynmri.data.simulate import add_smooth_phase

        if videos.ndim != 4:
            raise ParameterError(f"videos must be (S, T, H, W), got shape {videos.shape}")
        if window > videos.shape[1]:
            raise ParameterError(f"window {window} is longer than the videos ({videos.shape[1]} frames)")
        if crop is not None:
            y0, y1, x0, x1 = crop
            videos = videos[..., y0:y1, x0:x1]
            if coil_maps is not None:
                coil_maps = coil_maps[..., y0:y1, x0:x1]
        self.videos = add_smooth_phase(videos, seed=seed)
        self.coil_maps = coil_maps
        self.window = window
        stride = stride or window
        self.index = [(s, t) for s in range(videos.shape[0]) for t in range(0, videos.shape[1] - window + 1, stride)]
        self.mask_args = dict(kind=mask, acceleration=acceleration, center_lines=center_lines)
        self.seed = seed
        self.fresh_masks = fresh_masks
        self._draws = 0

    def __len__(self) -> int:
        return len(self.index)

    def __getitem__(self, i: int):
        from dynmri._complex import np_to_channels
        from dynmri.physics.cartesian import make_physics
        from dynmri.sampling.masks import make_mask

        s, t0 = self.index[i]
        x = np_to_channels(self.videos[s : s + 1, t0 : t0 + self.window])
        seed = self.seed + i if not self.fresh_masks else self.seed + 7919 * (self._draws + 1) + i
        self._draws += int(self.fresh_masks)
        m = self.mask_args
        mask = make_mask(m["kind"], tuple(x.shape[-3:]), m["acceleration"], center_lines=m["center_lines"], seed=seed)
        maps = None if self.coil_maps is None else torch.from_numpy(self.coil_maps[s : s + 1])
        with torch.no_grad():
            y = make_physics(mask, maps).A(x)
        return x[0], y[0], mask[0]
