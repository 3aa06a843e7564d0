r"""Running a trained network on an acquisition of any length: blended sliding windows.

A video longer than the network's window is cut into windows of ``window`` frames that overlap
by ``overlap`` frames (the last one ends on the last frame); the windows' outputs are blended
with triangular weights :math:`w_t = \min(t + 1, \mathrm{window} - t)`:

.. math:: x_t = \frac{\sum_k w_{t - t_k} \, x^{(k)}_{t - t_k}}{\sum_k w_{t - t_k}}

(sums over the windows :math:`k` that start at :math:`t_k \le t < t_k + \mathrm{window}`, in
float64). Windows run as one batch, those of several slices too (:func:`sliding_windows`), when
their operators can be stacked along the batch (Cartesian single-coil and multi-coil ones); a
network treats the videos of a batch independently, so batching changes nothing but speed.
"""

from __future__ import annotations

import torch

from dynmri.errors import ParameterError

MAX_BATCH = 4
"""Windows run together at most: larger batches leave the CPU caches and cost memory."""


def window_starts(frames: int, window: int, overlap: int) -> list[int]:
    """First frames of the windows covering ``frames`` frames (the last window ends on the last frame).

    >>> window_starts(20, 12, 6)
    [0, 6, 8]
    """
    if frames <= window:
        return [0]
    if not 0 <= overlap < window:
        raise ParameterError(f"overlap must be in [0, window), got {overlap} for window {window}")
    starts = list(range(0, frames - window + 1, window - overlap))
    if starts[-1] != frames - window:
        starts.append(frames - window)
    return starts


def stack_physics(operators: list):
    """One operator for a batch of videos from the operators of each ``(1, ...)`` video, or None
    when they cannot be stacked (non-Cartesian, coil-wise or unknown operators)."""
    from dynmri.physics.cartesian import DynamicMultiCoilMRI, DynamicSingleCoilMRI

    first = operators[0]
    if len(operators) == 1:
        return first
    kind = type(first)
    if kind not in (DynamicSingleCoilMRI, DynamicMultiCoilMRI) or any(type(p) is not kind for p in operators):
        return None
    mask = torch.cat([p.mask for p in operators])
    if kind is DynamicSingleCoilMRI:
        return kind(mask=mask, device=mask.device)
    return kind(mask=mask, coil_maps=torch.cat([p.coil_maps for p in operators]), img_size=first.img_size, device=mask.device)


def _run_batch(model, jobs: list) -> list[torch.Tensor]:
    """The network's outputs ``(1, 2, window, H, W)`` for ``jobs`` of ``(y window, operator)``,
    as one batch when the operators stack, one by one otherwise."""
    physics = stack_physics([p for _, p in jobs])
    if physics is None:
        return [model(y, p) for y, p in jobs]
    return list(model(torch.cat([y for y, _ in jobs]), physics).split(1))


def sliding_windows(model, videos: list, frames: int, window: int, overlap: int, time_dim: int = -3,
                    max_batch: int = MAX_BATCH) -> list[torch.Tensor]:
    r""":func:`sliding_window` on several videos of ``frames`` frames (the slices of an
    acquisition), their windows run in batches of up to ``max_batch``.

    ``videos`` holds ``(y, physics_for)`` pairs as :func:`sliding_window` takes them; returns
    the reconstructions ``(1, 2, frames, H, W)`` in the same order.
    """
    if max_batch < 1:
        raise ParameterError(f"max_batch must be >= 1, got {max_batch}")
    length = min(window, frames)
    starts = window_starts(frames, window, overlap)
    jobs = [(s, t0) for s in range(len(videos)) for t0 in starts]
    outs: list = []
    for i in range(0, len(jobs), max_batch):
        batch = [(videos[s][0].narrow(time_dim, t0, length), videos[s][1](t0, t0 + length)) for s, t0 in jobs[i : i + max_batch]]
        outs += _run_batch(model, batch)
    if frames <= window:
        return outs
    per_video = len(starts)
    return [_blend(outs[k * per_video : (k + 1) * per_video], starts, frames, window).to(y.dtype) for k, (y, _) in enumerate(videos)]


def _blend(outs: list, starts: list[int], frames: int, window: int) -> torch.Tensor:
    """Triangular-weight average (float64) of window outputs ``(1, 2, window, H, W)`` starting at ``starts``."""
    ramp = torch.minimum(torch.arange(1, window + 1), torch.arange(window, 0, -1)).double()
    first = outs[0]
    out = torch.zeros(*first.shape[:2], frames, *first.shape[3:], dtype=torch.float64, device=first.device)
    weight = torch.zeros(frames, dtype=torch.float64)
    for t0, xw in zip(starts, outs, strict=True):
        out[:, :, t0 : t0 + window] += xw.double() * ramp.to(out.device).view(1, 1, -1, 1, 1)
        weight[t0 : t0 + window] += ramp
    return out / weight.to(out.device).view(1, 1, -1, 1, 1)


def sliding_window(model, y: torch.Tensor, physics_for, frames: int, window: int, overlap: int, time_dim: int = -3,
                   max_batch: int = MAX_BATCH) -> torch.Tensor:
    r"""Reconstruct a long video window by window and blend the overlaps.

    ``physics_for(t0, t1)`` gives the operator of frames ``t0:t1``; ``y`` is ``(1, 2, [N,] T, H, W)``
    (Cartesian, ``time_dim=-3``) or ``(1, 2, [N,] T, M)`` (non-Cartesian, ``time_dim=-2``).
    Overlapping frames are averaged with triangular weights (largest at a window's centre, see
    the module doc); the windows run in batches of up to ``max_batch`` when their operators stack
    (:func:`stack_physics`). Returns ``(1, 2, frames, H, W)``.
    """
    return sliding_windows(model, [(y, physics_for)], frames, window, overlap, time_dim, max_batch)[0]
