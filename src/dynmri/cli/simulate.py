"""``dynmri simulate``: undersampled dynamic k-space from images."""

from __future__ import annotations

from pathlib import Path

import typer

from dynmri.cli.common import default, friendly_errors, set_threads
from dynmri.config import SimulateConfig

_S = SimulateConfig()

EPILOG = (
    "Examples:\n\n"
    "  dynmri simulate --data phantom --accel 8 --out acq.npz\n\n"
    "  dynmri simulate --data ../shared/data/sunnybrook-ep-cine/E774S5-shortAxis --accel 5 --mask vd-lines --center-lines 11 --crop 128 --out sax.h5\n\n"
    "  dynmri simulate --data cine.npz --coils 8 --snr 30 --seed 1 --out mc.npz\n\n"
    "  dynmri simulate --data phantom --trajectory radial-golden --accel 8 --out radial.npz\n\n"
    "  dynmri simulate --data phantom --trajectory learned/trajectory.npz --out learned.npz"
)


@friendly_errors
def simulate(
    out: Path = typer.Option(..., help="Output acquisition file (.npz or .h5)."),
    data: str | None = typer.Option(None, help=f"'phantom', a DICOM folder, a .npz, a CMRxRecon root or a .mat file {default(_S.data)}."),
    accel: float | None = typer.Option(None, help=f"Requested acceleration R > 1 {default(_S.accel)}."),
    mask: str | None = typer.Option(None, help=f"gaussian | vd-lines | equispaced {default(_S.mask)}."),
    frames: int | None = typer.Option(None, help=f"Frames per video {default(_S.frames)}."),
    center_lines: int | None = typer.Option(None, help="Fully sampled central lines (default depends on the mask)."),
    coils: int | None = typer.Option(None, help=f"Number of (birdcage) coils; 1 is single-coil {default(_S.coils)}."),
    snr: float | None = typer.Option(None, help="Add complex Gaussian noise at this SNR in dB (default: none)."),
    seed: int | None = typer.Option(None, help=f"Seed for phase, masks and noise {default(_S.seed)}."),
    crop: int | None = typer.Option(None, help="Centre crop to crop x crop pixels (default: none)."),
    slices: str | None = typer.Option(None, help=f"'all', 'a:b' or '0,3,5' {default(_S.slices)}."),
    size: int | None = typer.Option(None, help=f"Phantom image size {default(_S.size)}."),
    trajectory: str | None = typer.Option(None, help="Non-Cartesian: radial-golden | radial-tiny-golden | spiral | a trajectory .npz."),
    n_samples: int | None = typer.Option(None, help="Samples per spoke/interleave (non-Cartesian)."),
    config: Path | None = typer.Option(None, help="YAML file overriding the defaults (flags override the file)."),
    threads: int | None = typer.Option(None, help="torch threads."),
):
    """Simulate undersampled dynamic k-space (Cartesian mask or non-Cartesian trajectory) from
    images and save it with its ground truth."""
    from dynmri.cli.outputs import check_output_file, locked
    from dynmri.config import load_config
    from dynmri.data.acquire import simulate_from_config
    from dynmri.data.files import SUFFIXES

    set_threads(threads)
    cfg = load_config(SimulateConfig, config, data=data, accel=accel, mask=mask, frames=frames, center_lines=center_lines, coils=coils,
                      snr=snr, seed=seed, crop=crop, slices=slices, size=size, trajectory=trajectory, n_samples=n_samples)
    check_output_file(out, SUFFIXES, [("--data", cfg.data), ("--trajectory", cfg.trajectory), ("--config", config)])
    with locked(out):
        acq = simulate_from_config(cfg)
        acq.save(out)
    m = acq.meta
    sampling = f"trajectory {m['trajectory_kind']}" if acq.noncartesian else f"mask {m['mask_kind']}"
    typer.echo(f"wrote {out}: k-space {acq.kspace.shape}, {sampling}, R requested {m['requested_acceleration']:g}, achieved {m['achieved_acceleration']:.3f}")
