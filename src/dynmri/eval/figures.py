"""Videos and figures: side-by-side comparison video, ky-t mask figure, x-t profiles, per-frame
curves, learned-trajectory figures.

Inputs are videos ``(T, H, W)`` (complex or real; magnitudes are shown) and masks
``(T, H, W)``. Every file is written atomically (see :func:`dynmri.data.files.atomic_path`).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from dynmri.fileio import atomic_path


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _label(tile: np.ndarray, text: str) -> np.ndarray:
    """Write ``text`` in the top-left corner of every frame of a uint8 tile ``(T, H, W)``."""
    from PIL import Image, ImageDraw

    stamp = Image.new("L", (tile.shape[2], 12), 0)
    ImageDraw.Draw(stamp).text((2, 0), text, fill=255)
    stamp = np.asarray(stamp)
    out = tile.copy()
    h = min(12, tile.shape[1])
    out[:, :h] = np.maximum(out[:, :h], stamp[None, :h])
    return out


def _save_figure(fig, path: str | Path) -> Path:
    """Lay out, write atomically (format from the suffix, PNG by default) and close a figure."""
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=110, format=Path(path).suffix.lstrip(".") or "png")
    _plt().close(fig)
    return Path(path)


def comparison_frames(panels: dict[str, np.ndarray], reference: np.ndarray | None = None, error_gain: float = 3.0) -> np.ndarray:
    """Tile labelled magnitude videos left to right (plus ``|recon| - |reference|`` of the last
    panel, times ``error_gain``, when ``reference`` is given); uint8 frames ``(T, H, W_total)``."""
    mags = {k: np.abs(v) for k, v in panels.items()}
    scale = np.abs(reference).max() if reference is not None else max(m.max() for m in mags.values())
    tiles = {k: m / scale for k, m in mags.items()}
    if reference is not None:
        last = list(mags.values())[-1]
        tiles[f"error x{error_gain:g}"] = error_gain * np.abs(last - np.abs(reference)) / scale
    tiles = [_label((np.clip(t, 0, 1) * 255).astype(np.uint8), name) for name, t in tiles.items()]
    sep = np.full((tiles[0].shape[0], tiles[0].shape[1], 2), 255, dtype=np.uint8)
    return np.concatenate([x for t in tiles for x in (t, sep)][:-1], axis=2)


def save_video(path: str | Path, frames: np.ndarray, fps: float = 8.0) -> Path:
    """Write uint8 frames ``(T, H, W)`` as GIF or MP4 (by suffix); MP4 uses imageio-ffmpeg."""
    import imageio.v2 as imageio

    path = Path(path)
    suffix = path.suffix.lower()
    with atomic_path(path) as tmp:
        if suffix == ".gif":
            imageio.mimsave(tmp, list(frames), format="GIF", duration=1.0 / fps, loop=0)
        elif suffix == ".mp4":
            pad_h, pad_w = (-frames.shape[1]) % 16, (-frames.shape[2]) % 16
            frames = np.pad(frames, ((0, 0), (0, pad_h), (0, pad_w)))
            imageio.mimsave(tmp, list(frames), format="FFMPEG", fps=fps, codec="libx264", pixelformat="yuv420p", macro_block_size=16)
        else:
            raise ValueError(f"video must end in .gif or .mp4, got {path.name}")
    return path


def save_comparison(path: str | Path, panels: dict[str, np.ndarray], reference: np.ndarray | None = None, fps: float = 8.0) -> Path:
    """Side-by-side video of ``panels`` (e.g. ground truth | zero-filled | recon) and the error."""
    return save_video(path, comparison_frames(panels, reference), fps)


def save_reconstruction_video(path: str | Path, acq, recons: dict[str, np.ndarray], s: int = 0, fps: float = 8.0) -> Path:
    """Comparison video of slice ``s`` of an acquisition: ground truth (when known), zero-filled
    (computed when not among ``recons``), then every reconstruction ``(S, T, H, W)`` of ``recons``,
    and the error of the last one."""
    from dynmri.errors import ParameterError
    from dynmri.recon.run import run_method

    if not 0 <= s < acq.kspace.shape[0]:
        raise ParameterError(f"slice {s} outside 0..{acq.kspace.shape[0] - 1}")
    panels = {}
    if acq.target is not None:
        panels["ground truth"] = acq.target[s]
    if "zero-filled" not in recons:
        panels["zero-filled"] = run_method(acq, "zero-filled", check=False)[0][s]
    panels |= {k: v[s] for k, v in recons.items()}
    return save_comparison(path, panels, reference=None if acq.target is None else acq.target[s], fps=fps)


def save_kt_mask(path: str | Path, mask: np.ndarray, title: str | None = None) -> Path:
    """Figure of the sampled phase-encoding lines ``ky`` (x axis) over frames ``t`` (y axis)."""
    plt = _plt()
    lines = np.asarray(mask).max(axis=-2)  # (T, W)
    fig, ax = plt.subplots(figsize=(6, 2.5))
    ax.imshow(lines, cmap="gray", aspect="auto", interpolation="nearest")
    ax.set_xlabel("ky (phase-encoding line)")
    ax.set_ylabel("frame t")
    ax.set_title(title or f"ky-t mask, R = {lines.size / lines.sum():.2f}")
    return _save_figure(fig, path)


def _grid(plt, n: int, ncols: int, size: tuple[float, float]):
    """A figure of ``n`` panels in rows of at most ``ncols``; returns ``(fig, axes)`` with the
    unused axes hidden."""
    ncols = max(1, min(ncols, n))
    nrows = -(-n // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(size[0] * ncols, size[1] * nrows), squeeze=False)
    for ax in axes.flat[n:]:
        ax.axis("off")
    return fig, list(axes.flat[:n])


def save_xt_profiles(path: str | Path, panels: dict[str, np.ndarray], row: int | None = None, *, column: int | None = None,
                     ncols: int = 4, events: np.ndarray | None = None) -> Path:
    """x-t profiles in a grid (at most ``ncols`` panels a row): one image row (default the
    centre) of each video ``(T, H, W)`` over time, or with ``column`` one image column (a
    vertical line: respiration moves along it). ``events (T,)`` bool marks frames (e.g. an
    irregular beat) with a bracket on the first panel's time axis."""
    plt = _plt()
    first = next(iter(panels.values()))
    vmax = np.abs(first).max()
    row = first.shape[-2] // 2 if row is None else row
    fig, axes = _grid(plt, len(panels), ncols, (2.6, 2.4))
    for ax, (name, vid) in zip(axes, panels.items(), strict=True):
        prof = vid[:, :, column] if column is not None else vid[:, row, :]
        ax.imshow(np.abs(prof), cmap="gray", aspect="auto", vmin=0, vmax=vmax, interpolation="nearest")
        ax.set_title(name, fontsize=9)
        ax.set_xlabel("y" if column is not None else "x", fontsize=8)
        ax.set_ylabel("frame t", fontsize=8)
        ax.tick_params(labelsize=7)
    if events is not None and np.any(events):
        t = np.flatnonzero(events)
        axes[0].axhspan(t[0] - 0.5, t[-1] + 0.5, xmin=0, xmax=0.04, color="tab:red")
    return _save_figure(fig, path)


def save_frame_curves(path: str | Path, curves: dict[str, list[float]], ylabel: str = "PSNR (dB)", title: str | None = None,
                      *, events: np.ndarray | None = None, event_label: str = "irregular beats") -> Path:
    """One line per entry of ``curves`` (a per-frame metric), frames on the x axis; ``events
    (T,)`` bool shades the marked frames (e.g. the ectopic beat and its neighbours)."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(7, 4))
    _shade(ax, events, event_label)
    for name, values in curves.items():
        ax.plot(range(len(values)), values, marker="." if len(values) <= 60 else None, label=name)
    ax.set_xlabel("frame")
    ax.set_ylabel(ylabel)
    ax.legend(fontsize=7, ncol=2)
    ax.grid(alpha=0.3)
    if title:
        ax.set_title(title, fontsize=10)
    return _save_figure(fig, path)


def _shade(ax, events: np.ndarray | None, label: str, scale: float = 1.0) -> None:
    """Shade the runs of marked frames ``events (T,)`` on ``ax`` (x in frames times ``scale``)."""
    if events is None or not np.any(events):
        return
    t = np.flatnonzero(events)
    for i, r in enumerate(np.split(t, np.flatnonzero(np.diff(t) > 1) + 1)):
        ax.axvspan((r[0] - 0.5) * scale, (r[-1] + 0.5) * scale, color="tab:red", alpha=0.12, label=label if i == 0 else None)


def save_motion_summary(path: str | Path, area: dict[str, np.ndarray], psnr: dict[str, np.ndarray], events: np.ndarray | None = None,
                        frame_seconds: float = 0.04, event_label: str = "ectopic beat and neighbours") -> Path:
    """The real-time result at a glance: the left-ventricle area curves ``area`` (``{name: (T,)}``
    pixels, the truth among them) above the per-frame PSNR curves ``psnr`` (``{name: (T,)}`` dB),
    time in seconds on a shared axis, ``events (T,)`` shaded. A name in both gets one colour."""
    plt = _plt()
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(8, 5.6), sharex=True)
    names = list(dict.fromkeys([*area, *psnr]))
    colour = {n: "black" if n == "truth" else f"C{i}" for i, n in enumerate(names)}
    for ax, curves in ((top, area), (bottom, psnr)):
        _shade(ax, events, event_label, frame_seconds)
        for name, values in curves.items():
            t = np.arange(len(values)) * frame_seconds
            ax.plot(t, values, color=colour[name], lw=2.0 if name == "truth" else 1.2, label=name)
        ax.grid(alpha=0.3)
    top.set_ylabel("LV blood pool (pixels)")
    top.legend(fontsize=7, ncol=3, loc="lower left")
    finite = np.concatenate([np.asarray(v, float)[np.isfinite(v)] for v in psnr.values()] or [np.zeros(1)])
    bottom.set_ylim(top=min(finite.max() + 2, 60))  # a frame equal to the truth (a one-frame gating bin) reads ~100 dB
    bottom.set_ylabel("PSNR per frame (dB)")
    bottom.set_xlabel("time (s)")
    return _save_figure(fig, path)


def render_trajectory(k: np.ndarray, size: int = 256) -> np.ndarray:
    """Rasterise the samples of ``k (..., 2)`` (cycles/pixel) into a ``size x size`` uint8 image."""
    pts = np.asarray(k).reshape(-1, 2)
    ij = np.clip(((pts + 0.5) * size).astype(int), 0, size - 1)
    img = np.zeros((size, size), np.float64)
    np.add.at(img, (ij[:, 0], ij[:, 1]), 1.0)
    return (255 * (img > 0)).astype(np.uint8)


def save_trajectory_figures(out: str | Path, result: dict, limits) -> list[Path]:
    """``evolution.gif`` (samples at each snapshot), ``loss.png`` and ``waveforms.png`` (gradient and
    slew magnitude of every shot of the learned trajectory, with the limits) in folder ``out``."""
    import torch

    from dynmri.sampling.trajectories import waveforms

    out = Path(out)
    plt = _plt()
    paths = [save_video(out / "evolution.gif", np.stack([render_trajectory(s) for s in result["snapshots"]]), fps=6)]
    fig, ax = plt.subplots(figsize=(5, 3.2))
    ax.semilogy(result["losses"])
    ax.set_xlabel("step")
    ax.set_ylabel("relative error of A^H D A x")
    paths.append(_save_figure(fig, out / "loss.png"))
    g, s = waveforms(torch.as_tensor(result["trajectory"]), result["image_size"], limits)
    t_ms = np.arange(g.shape[1]) * limits.raster * 1e3
    fig, axes = plt.subplots(1, 3, figsize=(12, 3.4))
    k = np.asarray(result["trajectory"])
    axes[0].plot(k[..., 1].T, k[..., 0].T, lw=0.6)
    axes[0].set_aspect("equal")
    axes[0].set_title("learned trajectory (cycles/pixel)")
    axes[1].plot(t_ms, 1e3 * g.norm(dim=-1).numpy().T, lw=0.6)
    axes[1].axhline(1e3 * limits.gmax, color="r", ls="--", label="limit")
    axes[1].set_xlabel("time (ms)")
    axes[1].set_ylabel("|G| (mT/m)")
    axes[1].legend()
    axes[2].plot(t_ms[: s.shape[1]], s.norm(dim=-1).numpy().T, lw=0.6)
    axes[2].axhline(limits.smax, color="r", ls="--", label="limit")
    axes[2].set_xlabel("time (ms)")
    axes[2].set_ylabel("|slew| (T/m/s)")
    axes[2].legend()
    paths.append(_save_figure(fig, out / "waveforms.png"))
    return paths
