r"""Training data: the datasets of a :class:`~dynmri.config.TrainConfig`, the physics of a batch
and the ground-truth-free hold-out split of validation items.

:mod:`dynmri.learn.train` relies on this contract and on nothing else of the data:

- :func:`training_datasets` gives ``(train_ds, val_ds | None)``, torch datasets whose item ``i``
  is a tuple ``(x, y, *sampling)`` of CPU tensors, ``x (2, T, H, W)`` the reference window,
  ``y`` its measurements, ``sampling`` what the physics needs (Cartesian single-coil: ``mask
  (T, H, W)``); batches are collated by ``torch.utils.data.default_collate``.
- :func:`batch_physics` ``(ds, *sampling)`` builds the operator of a collated batch on the device
  of its tensors.
- :func:`holdout_masks` and :func:`split_item` hide a fixed random share of each validation
  item's measurements (whole lines: :func:`dynmri.recon.tune.holdout_lines`) for the held-out
  NMSE of :func:`dynmri.learn.train.holdout_scores`.

Examples
--------
>>> from dynmri.config import TrainConfig
>>> from dynmri.learn.data import training_datasets
>>> tr, va = training_datasets(TrainConfig(n_phantoms=4, phantom_frames=8, phantom_size=16, crop=None, window=4))
>>> [tuple(t.shape) for t in tr[0]]
[(2, 4, 16, 16), (2, 4, 16, 16), (4, 16, 16)]
"""

from __future__ import annotations

import numpy as np
import torch

from dynmri.config import TrainConfig
from dynmri.errors import ParameterError


def _split(cfg: TrainConfig):
    """``(videos (S, T, H, W) complex, train slice indices, validation slice indices)``."""
    from dynmri.data.sources import load_source, test_split

    src = load_source(cfg.data, frames=cfg.phantom_frames, size=(cfg.phantom_size, cfg.phantom_size), n_phantoms=cfg.n_phantoms, seed=cfg.seed)
    train_idx = test_split(src)["train"]  # the canonical split: no training seed may move test slices into training
    groups = sorted({src.groups[i] for i in train_idx})
    n_val = max(1, round(cfg.val_fraction * len(groups))) if cfg.val_fraction > 0 and len(groups) > 1 else 0
    val_groups = set(groups[len(groups) - n_val :])
    val = [i for i in train_idx if src.groups[i] in val_groups]
    train = [i for i in train_idx if src.groups[i] not in val_groups]
    videos = src.videos
    if cfg.crop:
        from dynmri._complex import center_crop

        videos = center_crop(videos, min(cfg.crop, *videos.shape[-2:]))
    return np.ascontiguousarray(videos), train, val


def training_datasets(cfg: TrainConfig):
    """``(train_ds, val_ds)`` of ``cfg`` (``val_ds`` None without validation slices).

    Training windows (stride ``cfg.stride``) get a fresh seeded mask at every access;
    validation windows (stride ``cfg.window``) keep fixed masks. Items: ``(x, y, mask)``.
    """
    from dynmri.data.datasets import DynamicWindowDataset

    videos, train, val = _split(cfg)
    if not train:
        raise ParameterError(f"{cfg.data}: no training slices left after the test and validation splits")
    kw = dict(window=cfg.window, acceleration=cfg.accel, mask=cfg.mask)
    train_ds = DynamicWindowDataset(videos[train], stride=cfg.stride, seed=cfg.seed, fresh_masks=True, **kw)
    val_ds = DynamicWindowDataset(videos[val], stride=cfg.window, seed=cfg.seed + 10_000, **kw) if val else None
    return train_ds, val_ds


def batch_physics(ds, *sampling: torch.Tensor):
    """The operator of a collated batch: ``sampling`` as the dataset's items give it, batched
    (Cartesian single-coil: ``mask (B, T, H, W)``), on the device of those tensors."""
    from dynmri.physics.cartesian import make_physics

    return make_physics(*sampling)


def holdout_masks(val_ds, fraction: float, seed: int) -> list[torch.Tensor]:
    """Hide a random ``fraction`` of the sampled phase-encoding *lines* of every frame of every
    validation item; returns the hidden part of each item's sampling (``(T, H, W)``).

    Whole lines, not points: the networks learn from line masks, so a point-wise split inside
    sampled lines is out of distribution (a first pilot scored held-out NMSE > 1 that way while
    PSNR rose). The split is :func:`dynmri.recon.tune.holdout_lines`, shared with the
    ground-truth-free tuning of compressed sensing."""
    from dynmri.recon.tune import holdout_lines

    g = torch.Generator().manual_seed(seed)
    return [holdout_lines(val_ds[i][2], fraction, g) for i in range(len(val_ds))]


def split_item(ds, y: torch.Tensor, sampling: tuple, hidden: torch.Tensor):
    """``(y_keep, physics_keep, y_hold, physics_hold)`` of one batched item ``y (1, ...)``
    whose sampling is ``sampling`` (batched) and hidden part ``hidden`` (:func:`holdout_masks`,
    unbatched)."""
    mask = sampling[0]
    hold = mask * hidden[None].to(mask.device)
    keep = mask - hold
    return y * keep[:, None], batch_physics(ds, keep, *sampling[1:]), y * hold[:, None], batch_physics(ds, hold, *sampling[1:])
