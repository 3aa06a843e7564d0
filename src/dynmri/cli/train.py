"""``dynmri train``, ``dynmri weights`` and ``dynmri models``: trained networks."""

from __future__ import annotations

import os
from pathlib import Path

import typer

from dynmri.cli.common import friendly_errors, set_threads

TRAIN_EPILOG = (
    "Examples:\n\n"
    "  dynmri train --data phantom --model crnn --loss ddei --accel 8 --epochs 2 --out runs/demo\n\n"
    "  dynmri train --config src/dynmri/configs/train-crnn-ddei-sunnybrook.yaml --data ../shared/data/sunnybrook-ep-cine/E774S5-shortAxis --out runs/ddei\n\n"
    "  dynmri train --out runs/ddei --config ... --resume     (continue an interrupted run exactly)\n\n"
    "  dynmri train --config ... --loss ddei --loss-opt time_padding=reflect --out runs/ddei-reflect\n\n"
    "  dynmri train --config ... --device cuda --precision bf16 --batch-size 4 --workers 4 --out runs/gpu     (one GPU)\n\n"
    "  torchrun --nproc-per-node 4 -m dynmri train --config ... --batch-size 2 --workers 4 --out runs/ddp     (4 GPUs, global batch 8)\n\n"
    "  dynmri train --config src/dynmri/configs/train-crnn-ddei-multicoil.yaml --coils 8 --snr 30 --out runs/mc     (multi-coil)\n\n"
    "  dynmri train --config src/dynmri/configs/train-crnn-ddei-radial.yaml --trajectory radial-golden --out runs/radial\n\n"
    "Losses: supervised-l2, supervised-l1, mc, ssdu, ei-rotate, ei-time, ddei. Models: see 'dynmri models'."
)

WEIGHTS_EPILOG = (
    "Examples:\n\n  dynmri weights\n\n"
    "  dynmri weights --export runs/crnn-ddei --name crnn-ddei-sunnybrook-8x   (maintainers: ship a run's last epoch)"
)

MODELS_EPILOG = "Example:\n\n  dynmri models"

RUN_WRITES = ("config.json", "metrics.csv", "curves.png", "checkpoint.pt", "best.pt")
"""What training writes in its run folder."""


@friendly_errors
def train(
    out: Path = typer.Option(..., help="Run folder (config.json, metrics.csv, curves.png, checkpoint.pt, best.pt)."),
    data: str | None = typer.Option(None, help="Training data (any --data source); the test split is never used."),
    model: str | None = typer.Option(None, help="Network name."),
    loss: str | None = typer.Option(None, help="Training paradigm."),
    accel: float | None = typer.Option(None, help="Acceleration."),
    epochs: int | None = typer.Option(None, help="Epochs."),
    lr: float | None = typer.Option(None, help="Learning rate."),
    batch_size: int | None = typer.Option(None, help="Batch size per process (under torchrun the global batch is batch size x processes)."),
    window: int | None = typer.Option(None, help="Frames per training window."),
    crop: int | None = typer.Option(None, help="Centre crop."),
    steps_per_epoch: int | None = typer.Option(None, help="Cap on steps per epoch."),
    seed: int | None = typer.Option(None, help="Seed."),
    config: Path | None = typer.Option(None, help="YAML overriding TrainConfig (model_cfg, loss_cfg, schedule, ...)."),
    loss_opt: list[str] | None = typer.Option(None, "--loss-opt", help="KEY=VALUE added to loss_cfg (repeatable), e.g. time_padding=reflect."),
    resume: bool = typer.Option(False, help="Continue from OUT/checkpoint.pt."),
    threads: int | None = typer.Option(None, help="torch threads."),
    device: str | None = typer.Option(None, help="auto, cpu, cuda or cuda:N (under torchrun auto/cuda mean cuda:LOCAL_RANK)."),
    precision: str | None = typer.Option(None, help="fp32 or bf16 (bf16: the network under autocast, the physics in float32)."),
    workers: int | None = typer.Option(None, help="DataLoader worker processes (0: load in the training process)."),
    coils: int | None = typer.Option(None, help="Coils (> 1: multi-coil; maps from the data's coil images when it has them, else birdcage)."),
    snr: float | None = typer.Option(None, help="Measurement noise: SNR in dB on the sampled k-space (default noiseless)."),
    trajectory: str | None = typer.Option(None, help="Non-Cartesian trajectory (e.g. radial-golden: NUFFT physics) instead of Cartesian masks."),
    n_samples: int | None = typer.Option(None, help="Samples per spoke/interleave of --trajectory (default: 2x the image size, as radial)."),
    stream: bool | None = typer.Option(None, "--stream/--no-stream", help="Read the source one window at a time (data larger than memory)."),
):
    """Train a reconstruction network, with or without ground truth."""
    import dataclasses

    from dynmri.cli.outputs import check_output_folder
    from dynmri.config import TrainConfig, load_config, parse_assignments
    from dynmri.learn.train import train as run_training

    set_threads(threads)
    cfg = load_config(TrainConfig, config, data=data, model=model, loss=loss, accel=accel, epochs=epochs, lr=lr, batch_size=batch_size,
                      window=window, crop=crop, steps_per_epoch=steps_per_epoch, seed=seed, device=device, precision=precision, workers=workers,
                      coils=coils, snr=snr, trajectory=trajectory, stream=stream, n_samples=n_samples)
    if loss_opt:
        cfg = dataclasses.replace(cfg, loss_cfg={**cfg.loss_cfg, **parse_assignments(loss_opt, None, "--loss-opt")}).validate()
    check_output_folder(out, RUN_WRITES, [("--data", cfg.data), ("--config", config)])
    result = run_training(cfg, out, resume=resume)  # validates and builds everything before creating OUT; locks it
    if os.environ.get("RANK", "0") != "0":
        return  # under torchrun rank 0 reports
    last = result["history"][-1]
    typer.echo(f"trained {cfg.model} with {cfg.loss} for {last['epoch']} epochs: " + ", ".join(f"{k} {v:.4g}" for k, v in last.items() if k != "epoch"))
    typer.echo(f"wrote {out}/ (best held-out score {result['best']:.4g})")


@friendly_errors
def weights(
    export: Path | None = typer.Option(None, help="Run folder whose final network to copy into the package."),
    name: str | None = typer.Option(None, help="Name of the exported weights."),
):
    """The trained weights shipped with dynmri (use them with reconstruct --model NAME)."""
    import json

    from dynmri.errors import ParameterError
    from dynmri.models.weights import export_weights, shipped_weights

    if export is not None:
        if not name:
            raise ParameterError("--export needs --name")
        path = export_weights(export, name)
        typer.echo(f"wrote {path} and {path.with_suffix('.json')}")
        return
    shipped = shipped_weights()
    if not shipped:
        typer.echo("no weights shipped yet (train your own: dynmri train --help)")
    for wname, path in shipped.items():
        info = json.loads(path.with_suffix(".json").read_text()) if path.with_suffix(".json").is_file() else {}
        cfg = info.get("config", {})
        typer.echo(f"{wname:32s} {cfg.get('model', '?')} / {cfg.get('loss', '?')} at {cfg.get('accel', '?')}x, epoch {info.get('epoch', '?')}: {path}")


def models():
    """The networks and their parameter counts at default settings."""
    from dynmri.models import count_parameters, get_model, model_names

    for name in model_names():
        typer.echo(f"{name:22s} {count_parameters(get_model(name)):>10,d} parameters")
