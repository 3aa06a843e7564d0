"""Running a trained network on an acquisition of any length: blended sliding windows."""

from __future__ import annotations

import torch

from dynmri.errors import ParameterError


def sliding_window(model, y: torch.Tensor, physics_for, frames: int, window: int, overlap: int, time_dim: int = -3) -> torch.Tensor:
    r"""Reconstruct a long video window by window and blend the overlaps.

    ``physics_for(t0, t1)`` gives the operator of frames ``t0:t1``; ``y`` is ``(1, 2, [N,] T, H, W)``
    (Cartesian, ``time_dim=-3``) or ``(1, 2, [N,] T, M)`` (non-Cartesian, ``time_dim=-2``).
    Overlapping frames are averaged with triangular weights (largest at a window's centre).
    """
    if frames <= window:
        return model(y, physics_for(0, frames))
    if not 0 <= overlap < window:
        raise ParameterError(f"overlap must be in [0, window), got {overlap} for window {window}")
    stride = window - overlap
    starts = list(range(0, frames - window + 1, stride))
    if starts[-1] != frames - window:
        starts.append(frames - window)
    ramp = torch.minimum(torch.arange(1, window + 1), torch.arange(window, 0, -1)).double()
    out, weight = None, torch.zeros(frames, dtype=torch.float64)
    for t0 in starts:
        yw = y.narrow(time_dim, t0, window)
        xw = model(yw, physics_for(t0, t0 + window)).double()
        if out is None:
            out = torch.zeros(*xw.shape[:2], frames, *xw.shape[3:], dtype=torch.float64)
        out[:, :, t0 : t0 + window] += xw * ramp.view(1, 1, -1, 1, 1)
        weight[t0 : t0 + window] += ramp
    return (out / weight.view(1, 1, -1, 1, 1)).to(y.dtype)
