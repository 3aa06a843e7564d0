"""``dynmri learn-trajectory``: a k-space trajectory learned through the NUFFT on scanner limits."""

from __future__ import annotations

from pathlib import Path

import typer

from dynmri.cli.common import friendly_errors, set_threads

EPILOG = (
    "Examples:\n\n"
    "  dynmri learn-trajectory --data phantom --steps 50 --out learned\n\n"
    "  dynmri learn-trajectory --data ../shared/data/sunnybrook-ep-cine/E774S5-shortAxis --accel 8 --steps 300 --out learned-8x\n\n"
    "  dynmri learn-trajectory --config traj.yaml --gmax 0.03 --smax 120 --raster 1e-5 --out learned-slow\n\n"
    "Then: dynmri simulate --trajectory learned-8x/trajectory.npz ... (rotated by the golden angle frame to frame)."
)


WRITES = ("trajectory.npz", "evolution.gif", "loss.png", "waveforms.png", "summary.json", "comparison.md", "comparison.json")
"""What ``dynmri learn-trajectory`` writes in its folder."""


def check_trajectory_config(cfg) -> None:
    """What the configuration alone cannot tell: the initial trajectory is a registered one and
    the acceleration leaves at least one shot per frame on the (cropped) images."""
    from dynmri.sampling.trajectories import TRAJECTORIES, spokes_for

    TRAJECTORIES.get(cfg.init)
    if cfg.data == "phantom":
        spokes_for(cfg.accel, min(cfg.size, cfg.crop or cfg.size))


@friendly_errors
def learn_trajectory_cmd(
    out: Path = typer.Option(..., help="Output folder: trajectory.npz, evolution.gif, loss.png, waveforms.png, summary.json, comparison.md/json."),
    data: str | None = typer.Option(None, help="Training images ('phantom' or a data path); the test split is held out."),
    accel: float | None = typer.Option(None, help="Acceleration against Nyquist radial (ceil(pi N / 2) spokes)."),
    init: str | None = typer.Option(None, help="Initial trajectory: radial-golden | radial-tiny-golden | spiral."),
    steps: int | None = typer.Option(None, help="Adam steps."),
    lr: float | None = typer.Option(None, help="Learning rate (cycles/pixel)."),
    batch: int | None = typer.Option(None, help="Training frames per step."),
    decimation: int | None = typer.Option(None, help="Initial decimation of the control points (power of 2)."),
    crop: int | None = typer.Option(None, help="Centre crop of the images."),
    gmax: float | None = typer.Option(None, help="Maximum gradient amplitude (T/m)."),
    smax: float | None = typer.Option(None, help="Maximum slew rate (T/m/s)."),
    raster: float | None = typer.Option(None, help="Gradient raster time (s)."),
    fov: float | None = typer.Option(None, help="Field of view (m)."),
    seed: int | None = typer.Option(None, help="Seed."),
    device: str | None = typer.Option(None, help="auto | cpu | cuda | cuda:N (default: auto; CUDA needs mri-nufft's cufinufft backend)."),
    compare: bool = typer.Option(True, help="Compare with radial golden-angle and spiral on the test split."),
    config: Path | None = typer.Option(None, help="YAML overriding LearnTrajectoryConfig."),
    threads: int | None = typer.Option(None, help="torch threads."),
):
    """Learn a k-space trajectory through the NUFFT, projected on gradient/slew limits at every step."""
    from dynmri.cli.outputs import check_output_folder, locked
    from dynmri.config import LearnTrajectoryConfig, load_config
    from dynmri.learn.trajectory import learn_and_compare, trajectory_device

    set_threads(threads)
    cfg = load_config(LearnTrajectoryConfig, config, data=data, accel=accel, init=init, steps=steps, lr=lr, batch=batch,
                      decimation=decimation, crop=crop, gmax=gmax, smax=smax, raster=raster, fov=fov, seed=seed, device=device)
    trajectory_device(cfg.device)  # a missing device or GPU backend fails before anything is read or written
    check_output_folder(out, WRITES, [("--data", cfg.data), ("--config", config)])
    check_trajectory_config(cfg)
    with locked(out):
        res = learn_and_compare(cfg, out, compare_baselines=compare, progress=True)
    v = res["violations"]
    typer.echo(f"wrote {out}/trajectory.npz: {res['trajectory'].shape}, loss {res['losses'][0]:.4f} -> {res['losses'][-1]:.4f} "
               f"in {res['seconds']:.0f} s; max |G| {v['gradient_ratio']:.2f} x limit, max slew {v['slew_ratio']:.2f} x limit, 0 violations")
    if res["table"] is not None:
        typer.echo(res["table"] + "\n")
