r"""Time-varying Cartesian sampling masks, built on deepinv's mask generators.

Every mask samples whole phase-encoding lines: columns along the last axis ``W``, a new
pattern in every frame. Shapes: a mask is ``(S, T, H, W)`` with values in {0, 1}.

The acceleration of a mask is

.. math::

    R = \frac{T\,H\,W}{\sum_{t,h,w} M_{t,h,w}} = \frac{W}{\text{lines per frame}}.

deepinv 0.5.0 floors the number of lines per frame (``W // R``), which misses the request
by more than 2 % for e.g. 5x on 128 columns (25 lines = 5.12x); :class:`_ExactLines`
rounds instead (26 lines = 4.92x) and takes the number of central lines as a count.

Examples
--------
>>> from dynmri.sampling.masks import make_mask, achieved_acceleration
>>> m = make_mask("gaussian", (12, 64, 128), acceleration=8, seed=0)
>>> tuple(m.shape), round(achieved_acceleration(m), 2)
((1, 12, 64, 128), 8.0)
"""

from __future__ import annotations

import math

import torch

from dynmri.errors import ParameterError
from dynmri.registry import Registry

MASKS = Registry("mask kind")
"""Registry of mask kinds: name -> factory(img_size, acceleration, center_lines, rng, **options)."""


def _deepinv_generators():
    from deepinv.physics.generator import GaussianMaskGenerator, RandomMaskGenerator

    return GaussianMaskGenerator, RandomMaskGenerator


def _check_request(width: int, acceleration: float, center_lines: int | None) -> tuple[int, int]:
    """Return (total lines per frame, central lines) or raise for impossible requests."""
    if not (isinstance(acceleration, (int, float)) and math.isfinite(acceleration)):
        raise ParameterError(f"acceleration must be a finite number, got {acceleration!r}")
    if acceleration <= 1:
        raise ParameterError(f"acceleration must be > 1 (1 means fully sampled), got {acceleration}")
    n_total = round(width / acceleration)
    if n_total < 1:
        raise ParameterError(f"acceleration {acceleration} is impossible with {width} phase-encoding lines (fewer than 1 line per frame)")
    if center_lines is not None:
        if center_lines < 0:
            raise ParameterError(f"center_lines must be >= 0, got {center_lines}")
        if center_lines > n_total:
            raise ParameterError(
                f"{center_lines} central lines exceed the {n_total} lines per frame that acceleration "
                f"{acceleration} allows with {width} columns; lower --center-lines or the acceleration"
            )
    return n_total, center_lines


def _exact_lines(base):
    """Subclass a deepinv line generator so that it samples round(W / R) lines per frame."""

    class _ExactLines(base):
        def __init__(self, img_size, acceleration, center_lines=None, rng=None, **kwargs):
            self._center_lines = center_lines
            super().__init__(img_size, acceleration=acceleration, rng=rng, **kwargs)

        def calculate_lines(self, W: int):
            n_total, _ = _check_request(W, self.acc, self._center_lines)
            self.n_center = self._center_lines if self._center_lines is not None else min(int(self.center_fraction * W), n_total)
            self.n_lines = n_total - self.n_center

    _ExactLines.__name__ = f"Exact{base.__name__}"
    return _ExactLines


@MASKS.register("gaussian")
def _gaussian(img_size, acceleration, center_lines, rng):
    gaussian, _ = _deepinv_generators()
    return _exact_lines(gaussian)(img_size, acceleration, center_lines=center_lines, rng=rng)


@MASKS.register("vd-lines")
def _vd_lines(img_size, acceleration, center_lines, rng, order: float = 2.0):
    """Density ``(1 - |k| / k_max) ** order + 0.05``."""
    _, random = _deepinv_generators()

    class VariableDensityLines(_exact_lines(random)):
        """Random lines drawn with density ``(1 - |k| / k_max) ** order`` plus a floor."""

        def get_pdf(self, W: int) -> torch.Tensor:
            k = torch.abs(torch.arange(W, device=self.device) - W / 2) / (W / 2)
            return (1 - k).clamp_min(0) ** order + 0.05

    if center_lines is None:  # 11 lines by default, fewer when the budget is smaller
        center_lines = min(11, round(img_size[-1] / acceleration) // 2)
    return VariableDensityLines(img_size, acceleration, center_lines=center_lines, rng=rng)


@MASKS.register("equispaced")
def _equispaced(img_size, acceleration, center_lines, rng):
    _, random = _deepinv_generators()

    class EquispacedLines(_exact_lines(random)):
        """Equispaced lines outside the centre, sheared by one line per frame (k-t lattice).

        deepinv's ``EquispacedMaskGenerator`` can land lines inside the centre block and so
        misses the requested count; this one places exactly ``n_lines`` outside it.
        """

        def get_pdf(self, W: int) -> torch.Tensor:  # pragma: no cover - not random
            raise NotImplementedError

        def sample_mask(self, mask: torch.Tensor) -> torch.Tensor:
            W = mask.shape[-1]
            lo = W // 2 - self.n_center // 2
            hi = lo + self.n_center
            outside = torch.cat((torch.arange(0, lo), torch.arange(hi, W))).to(mask.device)
            mask[..., lo:hi] = 1
            if self.n_lines > 0:
                step = outside.numel() / self.n_lines
                offset0 = torch.randint(0, max(1, int(step)), (mask.shape[0],), generator=self.rng, device=self.rng.device)
                for b in range(mask.shape[0]):
                    for t in range(mask.shape[2]):
                        pos = (int(offset0[b]) + t) % max(1, int(step)) + step * torch.arange(self.n_lines)
                        mask[b, :, t, :, outside[pos.long() % outside.numel()]] = 1
            return mask

    return EquispacedLines(img_size, acceleration, center_lines=center_lines, rng=rng)


def get_mask_generator(kind: str, shape: tuple[int, int, int], acceleration: float, *, center_lines: int | None = None, seed: int = 0,
                       **options):
    """A deepinv mask generator for ``shape = (T, H, W)`` with its own seeded generator.

    ``generator.step(batch_size=S)["mask"]`` has shape ``(S, 1, T, H, W)``. ``options`` go to
    the kind's factory (``vd-lines``: ``order``); an unknown one raises, naming the valid ones.
    """
    MASKS.get(kind)
    if len(shape) != 3 or min(shape) < 1:
        raise ParameterError(f"mask shape must be (T, H, W) with positive sizes, got {shape}")
    _check_request(shape[-1], acceleration, center_lines)
    rng = torch.Generator().manual_seed(int(seed))
    return MASKS.build(kind, (1, *shape), acceleration, center_lines, rng, **options)


def make_mask(
    kind: str,
    shape: tuple[int, int, int],
    acceleration: float,
    *,
    n: int = 1,
    center_lines: int | None = None,
    seed: int = 0,
    **options,
) -> torch.Tensor:
    """``n`` seeded time-varying masks of ``shape = (T, H, W)``: a float tensor ``(n, T, H, W)``.

    Parameters
    ----------
    kind : {"gaussian", "vd-lines", "equispaced"}
        Variable-density Gaussian with a fully sampled centre (as in DDEI), variable-density
        random with ``center_lines`` central lines (default 11, or half the lines per
        frame when fewer fit), or equispaced (k-t sheared).
    acceleration : float
        Requested :math:`R > 1`; the mask samples ``round(W / R)`` lines per frame.
    center_lines : int, optional
        Fully sampled central lines; default deepinv's (8 % of W below 8x, 4 % from 8x).
    **options
        Options of the kind (``vd-lines``: ``order``, the exponent of its density).
    """
    gen = get_mask_generator(kind, shape, acceleration, center_lines=center_lines, seed=seed, **options)
    return gen.step(batch_size=n)["mask"][:, 0].float()


def achieved_acceleration(mask: torch.Tensor) -> float:
    """Acceleration :math:`R = \\#\\text{entries} / \\#\\text{sampled}` of a mask of any shape."""
    total = float(mask.sum())
    if total == 0:
        raise ParameterError("mask is empty: acceleration is infinite")
    return mask.numel() / total
