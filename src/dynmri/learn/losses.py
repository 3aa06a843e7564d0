r"""Training paradigms: a registry of losses ``loss(x_net, x, y, physics, model)`` on deepinv.

==================  =========================================================================
name                terms
==================  =========================================================================
``supervised-l2``   :math:`\|x_{net} - x\|_2^2` (needs ground truth)
``supervised-l1``   :math:`\|x_{net} - x\|_1` (needs ground truth)
``mc``              measurement consistency :math:`\|A x_{net} - y\|^2` alone
``ssdu``            k-space splitting (split ratio 0.6); evaluation averages 5 splits
``ei-rotate``       MC + equivariance to rotations
``ei-time``         MC + equivariance to time shifts
``ddei``            MC + equivariance to a time shift | smooth diffeomorphism | rotation
                    (``group="compose"``: the three composed, as the shipped network)
==================  =========================================================================

Equivariant imaging (Chen et al.): with :math:`x_1 = f(y)`, a random transform :math:`T_g`,
:math:`x_2 = T_g x_1` and :math:`x_3 = f(A x_2)`, the EI term is :math:`\|x_3 - x_2\|^2`. The
transforms come from :mod:`dynmri.learn.transforms` (deepinv's ``A | B`` mishandles videos).

Examples
--------
>>> from dynmri.learn.losses import get_loss
>>> [type(t).__name__ for t in get_loss("ddei").terms]
['MCLoss', 'EILoss']
>>> get_loss("ddei", time_paddign="wrap")
Traceback (most recent call last):
...
dynmri.errors.ParameterError: unknown option 'time_paddign' for loss 'ddei'; valid options: weight, seed, diffeo, rotation, time_padding, group
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from dynmri.errors import ParameterError
from dynmri.registry import Registry


@dataclass
class Loss:
    """Sum of deepinv loss terms, with deepinv's fixed call signature."""

    name: str
    terms: list
    needs_ground_truth: bool = False
    train_kwargs: dict = field(default_factory=dict)
    """Extra keyword arguments for ``model(y, physics, **train_kwargs)`` during training."""
    needs_mask: bool = False
    """Splits a Cartesian sampling mask (SSDU): refused for operators without one (NUFFT)."""

    def __call__(self, x_net, x, y, physics, model) -> torch.Tensor:
        if self.needs_ground_truth and x is None:
            raise ParameterError(f"loss {self.name!r} needs ground truth, and this data has none")
        if self.needs_mask and not _has_cartesian_mask(physics):
            raise ParameterError(f"loss {self.name!r} splits a Cartesian sampling mask; this operator ({type(physics).__name__}) has none")
        total = 0.0
        for term in self.terms:
            val = term(x_net=x_net, x=x, y=y, physics=physics, model=model)
            total = total + val.mean()
        return total

    def adapt_model(self, model):
        """Let every term wrap the model, as deepinv's trainer does (identity for most; SSDU
        splits the input k-space)."""
        for term in self.terms:
            model = term.adapt_model(model)
        return model


def _has_cartesian_mask(physics) -> bool:
    """Whether the operator samples a Cartesian mask (declared by dynmri's operators; any other
    deepinv MRI operator is taken to have one)."""
    from dynmri.physics.base import MRIOperator

    return not (isinstance(physics, MRIOperator) and physics.noncartesian)


def _mse():
    from deepinv.loss.metric import MSE

    return MSE()


LOSSES = Registry("loss")
"""Training losses: name -> builder(seed, **options) -> :class:`Loss`. Every builder takes
``seed`` (training passes its own); its other keyword parameters are the ``loss_cfg`` options."""


@LOSSES.register("supervised-l2")
def _sup_l2(seed: int = 0):
    """Supervised L2 (``seed`` is taken, as by every loss, and unused: nothing is random)."""
    from deepinv.loss import SupLoss

    return Loss("supervised-l2", [SupLoss(metric=_mse())], needs_ground_truth=True)


@LOSSES.register("supervised-l1")
def _sup_l1(seed: int = 0):
    """Supervised L1 (``seed`` unused)."""
    from deepinv.loss import SupLoss
    from deepinv.loss.metric import MAE

    return Loss("supervised-l1", [SupLoss(metric=MAE())], needs_ground_truth=True)


@LOSSES.register("mc")
def _mc(seed: int = 0):
    """Measurement consistency alone (``seed`` unused)."""
    from deepinv.loss import MCLoss

    return Loss("mc", [MCLoss(metric=_mse())])


@LOSSES.register("ssdu")
def _ssdu(split_ratio: float = 0.6, eval_n_samples: int = 5, seed: int = 0):
    """SSDU: the network sees a random ``split_ratio`` of the sampled k-space and is scored on
    the rest. deepinv's default split mask is ``(C, H, W)`` (fails on video k-space, and one
    split for all frames): this generator takes the physics' mask as ``input_mask`` and so
    splits the sampled points of every frame independently, real and imaginary together."""
    from deepinv.loss import SplittingLoss
    from deepinv.physics.generator import BernoulliSplittingMaskGenerator

    gen = BernoulliSplittingMaskGenerator((2, 1, 8, 8), split_ratio=split_ratio, pixelwise=True, rng=torch.Generator().manual_seed(seed))
    term = SplittingLoss(metric=_mse(), split_ratio=split_ratio, mask_generator=gen, eval_n_samples=eval_n_samples)
    return Loss("ssdu", [term], train_kwargs={"update_parameters": True}, needs_mask=True)


def _ei(name: str, transform, weight: float):
    from deepinv.loss import EILoss, MCLoss

    return Loss(name, [MCLoss(metric=_mse()), EILoss(transform, metric=_mse(), weight=weight)])


@LOSSES.register("ei-rotate")
def _ei_rotate(weight: float = 1.0, seed: int = 0, rotation: str = "fourier"):
    from dynmri.learn.transforms import random_choice, rotate

    return _ei("ei-rotate", random_choice(rotate(seed + 1, interpolation=rotation), seed=seed), weight)


@LOSSES.register("ei-time")
def _ei_time(weight: float = 1.0, seed: int = 0):
    from dynmri.learn.transforms import random_choice, time_shift

    return _ei("ei-time", random_choice(time_shift(seed + 1), seed=seed), weight)


@LOSSES.register("ddei")
def _ddei(weight: float = 1.0, seed: int = 0, diffeo: str = "smooth", rotation: str = "fourier", time_padding: str = "wrap", group: str = "choice"):
    from dynmri.learn.transforms import ddei_transform

    return _ei("ddei", ddei_transform(seed=seed, diffeo=diffeo, rotation=rotation, time_padding=time_padding, group=group), weight)


def get_loss(name: str, **cfg) -> Loss:
    """The training loss registered as ``name`` (see the module table); an unknown option, or
    one of the wrong type, raises a :class:`~dynmri.errors.ParameterError` naming the valid ones."""
    return LOSSES.build(name, **cfg)
