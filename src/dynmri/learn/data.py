r"""Training data: the datasets of a :class:`~dynmri.config.TrainConfig`, the physics of a batch
and the ground-truth-free hold-out split of validation items.

:mod:`dynmri.learn.train` relies on this contract and on nothing else of the data:

- :func:`training_datasets` gives ``(train_ds, val_ds | None)``, torch datasets whose item ``i``
  is a tuple ``(x, y, *sampling)`` of CPU tensors, ``x (2, T, H, W)`` the reference window,
  ``y`` its measurements, ``sampling`` what the physics needs: ``mask (T, H, W)`` (Cartesian)
  or ``trajectory (T, S, Ns, 2)`` (``cfg.trajectory``), then ``maps (N, H, W)`` complex with
  ``cfg.coils > 1`` (:class:`~dynmri.data.datasets.DynamicWindowDataset`); batches are collated
  by ``torch.utils.data.default_collate``. The training dataset has ``set_epoch(epoch)``: item
  ``i`` of epoch ``e`` draws its mask and noise from ``(seed, e, i)``, whichever process reads it.
- :func:`batch_physics` ``(ds, *sampling)`` builds the operator of a collated batch on the device
  of its tensors; a non-Cartesian batch may mix trajectories (windows starting at different
  frames) and coil maps: :class:`ItemwiseNonCartesianMRI` applies each item's own NUFFT.
- :func:`holdout_masks` and :func:`split_item` hide a fixed random share of each validation
  item's measurements (whole lines: :func:`dynmri.recon.tune.holdout_lines`; whole spokes or
  interleaves: :func:`dynmri.recon.tune.holdout_shots`) for the held-out NMSE of
  :func:`dynmri.learn.train.holdout_scores`.

``cfg.stream`` reads the source one window at a time (:mod:`dynmri.data.streaming`) instead of
loading it; the items are the same (the canonical train/validation/test split too).

Examples
--------
>>> from dynmri.config import TrainConfig
>>> from dynmri.learn.data import training_datasets
>>> tr, va = training_datasets(TrainConfig(n_phantoms=4, phantom_frames=8, phantom_size=16, crop=None, window=4))
>>> [tuple(t.shape) for t in tr[0]]
[(2, 4, 16, 16), (2, 4, 16, 16), (4, 16, 16)]
"""

from __future__ import annotations

import torch
from deepinv.physics import LinearPhysics

from dynmri.config import TrainConfig
from dynmri.errors import ParameterError, ShapeError
from dynmri.physics.nufft import NonCartesianMRI


def _store(cfg: TrainConfig):
    """The source of ``cfg`` as a :class:`~dynmri.data.streaming.VideoStore` (lazy with ``stream``)."""
    from dynmri.data.sources import load_source, open_store
    from dynmri.data.streaming import ArrayStore

    coil = "MultiCoil" if cfg.coils > 1 else "SingleCoil"  # CMRxRecon roots hold both
    load = dict(frames=cfg.phantom_frames, size=(cfg.phantom_size, cfg.phantom_size), n_phantoms=cfg.n_phantoms, seed=cfg.seed, coil=coil)
    if cfg.stream:
        return open_store(cfg.data, **load)
    return ArrayStore.from_source(load_source(cfg.data, **load))


def _split(cfg: TrainConfig):
    """``(videos (S, T, H, W) store, train slice indices, validation slice indices)``."""
    from dynmri.data.sources import test_split
    from dynmri.data.streaming import CroppedStore

    src = _store(cfg)
    train_idx = test_split(src)["train"]  # the canonical split: no training seed may move test slices into training
    groups = sorted({src.groups[i] for i in train_idx})
    n_val = max(1, round(cfg.val_fraction * len(groups))) if cfg.val_fraction > 0 and len(groups) > 1 else 0
    val_groups = set(groups[len(groups) - n_val :])
    val = [i for i in train_idx if src.groups[i] in val_groups]
    train = [i for i in train_idx if src.groups[i] not in val_groups]
    return (CroppedStore(src, cfg.crop) if cfg.crop else src), train, val


def training_datasets(cfg: TrainConfig):
    """``(train_ds, val_ds)`` of ``cfg`` (``val_ds`` None without validation slices).

    Training windows (stride ``cfg.stride``) get a fresh seeded mask (and noise) per epoch and
    item (at one of ``cfg.accel_mix`` when given); validation windows (stride ``cfg.window``)
    keep fixed ones at ``cfg.accel``. Items: ``(x, y, mask |
    trajectory[, maps])``. ``cfg.coils``, ``cfg.snr``, ``cfg.trajectory`` and ``cfg.stream``
    select multi-coil, noisy, non-Cartesian and streamed data.
    """
    from dynmri.data.datasets import DynamicWindowDataset

    if cfg.trajectory is not None:
        from dynmri.sampling.trajectories import TRAJECTORIES

        TRAJECTORIES.get(cfg.trajectory)  # an unknown name fails before any data is read
    store, train, val = _split(cfg)
    if not train:
        raise ParameterError(f"{cfg.data}: no training slices left after the test and validation splits")
    kw = dict(window=cfg.window, acceleration=cfg.accel, mask=cfg.mask, coils=cfg.coils, snr=cfg.snr, trajectory=cfg.trajectory,
              n_samples=cfg.n_samples)
    mixed = {} if cfg.accel_mix is None else {"acceleration": tuple(cfg.accel_mix)}
    train_ds = DynamicWindowDataset(store, slices=train, stride=cfg.stride, seed=cfg.seed, fresh_masks=True, **(kw | mixed))
    val_ds = DynamicWindowDataset(store, slices=val, stride=cfg.window, seed=cfg.seed + 10_000, **kw) if val else None
    return train_ds, val_ds


def batch_physics(ds, *sampling: torch.Tensor):
    """The operator of a collated batch: ``sampling`` as the dataset's items give it, batched
    (``mask (B, T, H, W)`` or ``trajectory (B, T, S, Ns, 2)``, then ``maps (B, N, H, W)`` when
    multi-coil), on the device of those tensors."""
    if not getattr(ds, "noncartesian", False):
        from dynmri.physics.cartesian import make_physics

        return make_physics(*sampling)
    traj, *maps = sampling
    ops = [NonCartesianMRI(traj[b], ds.image_shape, maps[0][b] if maps else None, device=traj.device) for b in range(traj.shape[0])]
    return ops[0] if len(ops) == 1 else ItemwiseNonCartesianMRI(ops)


class ItemwiseNonCartesianMRI(NonCartesianMRI):
    r"""A batch of non-Cartesian items, each with its own trajectory and coil maps: item ``b`` of
    ``x (B, 2, T, H, W)`` goes through ``ops[b]`` (a :class:`~dynmri.physics.nufft.NonCartesianMRI`),
    so ``A``, ``A_adjoint`` and ``A_dagger_dcomp`` are the block-diagonal operators
    :math:`\mathrm{diag}(A_1, \dots, A_B)`. A subclass of ``NonCartesianMRI``: the networks'
    capability dispatch (density-compensated first estimate) treats it as one."""

    def __init__(self, ops: list):
        LinearPhysics.__init__(self)
        shapes = {(op.img_size, op.nufft.frames, op.multicoil) for op in ops}
        if len(shapes) != 1:
            raise ShapeError(f"the items of a batch need one image size, frame count and coil setting, got {sorted(shapes)}")
        self.ops, self.img_size, self.nufft = list(ops), ops[0].img_size, ops[0].nufft
        self.coil_maps, self.density_weights = ops[0].coil_maps, None

    def _each(self, fn, v: torch.Tensor) -> torch.Tensor:
        if v.shape[0] != len(self.ops):
            raise ShapeError(f"this operator holds {len(self.ops)} items, got a batch of {v.shape[0]}")
        return torch.cat([fn(op, v[b : b + 1]) for b, op in enumerate(self.ops)])

    def A(self, x, **_):
        return self._each(lambda op, v: op.A(v), x)

    def A_adjoint(self, y, **_):
        return self._each(lambda op, v: op.A_adjoint(v), y)

    def A_adjoint_A(self, x, **_):
        """The block-diagonal normal operator, item by item (each item's Toeplitz path)."""
        return self._each(lambda op, v: op.A_adjoint_A(v), x)

    def A_dagger_dcomp(self, y):
        return self._each(lambda op, v: op.A_dagger_dcomp(v), y)


def holdout_masks(val_ds, fraction: float, seed: int) -> list[torch.Tensor]:
    """Hide a random ``fraction`` of the sampled phase-encoding *lines* of every frame of every
    validation item (Cartesian; returns the hidden part of each item's mask, ``(T, H, W)``), or
    of its spokes/interleaves (non-Cartesian; returns the hidden shots' indices ``(T, n_hide)``).

    Whole lines, not points: the networks learn from line masks, so a point-wise split inside
    sampled lines is out of distribution (a first pilot scored held-out NMSE > 1 that way while
    PSNR rose). The splits are :func:`dynmri.recon.tune.holdout_lines` and
    :func:`~dynmri.recon.tune.holdout_shots`, shared with the ground-truth-free tuning of
    compressed sensing."""
    from dynmri.recon.tune import holdout_lines, holdout_shots

    g = torch.Generator().manual_seed(seed)
    if getattr(val_ds, "noncartesian", False):
        return [holdout_shots(*val_ds.sampling(i).shape[:2], fraction, g) for i in range(len(val_ds))]
    return [holdout_lines(val_ds.sampling(i), fraction, g) for i in range(len(val_ds))]


def split_item(ds, y: torch.Tensor, sampling: tuple, hidden: torch.Tensor):
    """``(y_keep, physics_keep, y_hold, physics_hold)`` of one batched item ``y (1, ...)``
    whose sampling is ``sampling`` (batched) and hidden part ``hidden`` (:func:`holdout_masks`,
    unbatched)."""
    if getattr(ds, "noncartesian", False):
        return _split_shots(ds, y, sampling, hidden)
    mask = sampling[0]
    hold = mask * hidden[None].to(mask.device)
    keep = mask - hold
    b = (lambda m: m[:, None, None]) if y.ndim == 6 else (lambda m: m[:, None])  # over (B, 2, [N,] T, H, W)
    return y * b(keep), batch_physics(ds, keep, *sampling[1:]), y * b(hold), batch_physics(ds, hold, *sampling[1:])


def _split_shots(ds, y: torch.Tensor, sampling: tuple, hidden: torch.Tensor):
    """:func:`split_item` by whole shots: ``hidden (T, n_hide)`` indices of the hidden shots."""
    traj = sampling[0]  # (1, T, S, Ns, 2)
    T, S, Ns = traj.shape[1:4]
    hidden = hidden.to(traj.device)
    keep = torch.stack([torch.tensor(sorted(set(range(S)) - set(h.tolist())), device=traj.device) for h in hidden])

    def part(idx):  # idx (T, n): the shots of each frame
        k = torch.gather(traj, 2, idx[None, :, :, None, None].expand(1, T, idx.shape[1], Ns, 2))
        yk = y.reshape(*y.shape[:-1], S, Ns)  # (1, 2, [N,] T, S, Ns)
        sel = idx[:, :, None].expand(*yk.shape[:-3], T, idx.shape[1], Ns)
        return torch.gather(yk, -2, sel).reshape(*y.shape[:-1], -1), batch_physics(ds, k, *sampling[1:])

    return (*part(keep), *part(hidden))
