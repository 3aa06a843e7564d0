"""``dynmri demo`` and ``dynmri benchmark``: every method (and network) on simulated data, scored."""

from __future__ import annotations

import contextlib
import time
from dataclasses import replace
from pathlib import Path

import typer

from dynmri.cli.common import default, floats, friendly_errors, names, set_threads, sharded
from dynmri.config import BenchmarkConfig, CSConfig, DemoConfig

_D = DemoConfig()
_RT, _OTHER = DemoConfig(data="phantom-realtime").resolved(), DemoConfig(data="phantom").resolved()
_B = BenchmarkConfig()
DEVICE_HELP = "auto | cpu | cuda | cuda:N: where the data, operators and networks run (default: auto, the first CUDA device if any)."
PRECISION_HELP = "fp32 | bf16: bf16 runs the networks under autocast (operators and FFTs stay float32) (default: fp32)."

DEMO_EPILOG = (
    "Examples:\n\n"
    "  dynmri demo   # the real-time scenario: irregular beats, free breathing, no fully sampled frame\n\n"
    "  dynmri demo --data phantom --frames 24 --out demo-phantom\n\n"
    "  dynmri demo --data ../shared/data/sunnybrook-ep-cine/E774S5-shortAxis --slices 0:4 --crop 128 --out demo-sax"
)

BENCHMARK_EPILOG = (
    "Examples:\n\n"
    "  dynmri benchmark --data ../shared/data/sunnybrook-ep-cine/E774S5-shortAxis --accel 4,8,16 --out bench\n\n"
    "  dynmri benchmark --data phantom --accel 8 --methods zero-filled,lps --iters 50 --out bench-phantom\n\n"
    "  dynmri benchmark --data phantom --accel 8 --methods zero-filled --models crnn-ddei-sunnybrook-8x --device cuda --precision bf16 --out bench-gpu\n\n"
    "Runs on the held-out test slices (dynmri.data.sources.test_split: 30 % of the slices or subjects,\n"
    "seed 0); the phantom uses 4 seeded phantoms, all of them test data."
)


@friendly_errors
def demo(
    data: str = typer.Option(_D.data, help="'phantom-realtime' (the real-time scenario), 'phantom' or any --data source accepted by simulate."),
    out: Path = typer.Option(Path("demo-out"), help="Output folder."),
    accel: float = typer.Option(_D.accel, help="Acceleration."),
    frames: int | None = typer.Option(_D.frames, help=f"Frames (default: {_RT.frames} for the real-time scenario, {_OTHER.frames} otherwise)."),
    size: int | None = typer.Option(_D.size, help=f"Image size of a phantom (default: {_RT.size} for the real-time scenario, its networks' size; "
                                    f"{_OTHER.size} otherwise)."),
    slices: str | None = typer.Option(_D.slices, help=f"Slices of a multi-slice source; subjects of the real-time scenario (default: {_RT.slices})."),
    crop: int | None = typer.Option(_D.crop, help="Centre crop."),
    seed: int = typer.Option(_D.seed, help="Seed."),
    networks: bool = typer.Option(_D.networks, help="Also run the shipped networks trained for this data ('dynmri weights')."),
    device: str = typer.Option(_D.device, help=DEVICE_HELP),
    precision: str = typer.Option(_D.precision, help=PRECISION_HELP),
    threads: int | None = typer.Option(None, help="torch threads."),
):
    """Simulate an 8x acquisition, reconstruct with every method and shipped network, print a
    table, write videos and figures. By default the real-time scenario: a free-running series with
    an ectopic beat and free breathing, scored for motion against its true frames and against the
    gated cine a clinic would have."""
    from dynmri.cli.outputs import check_output_folder, locked
    from dynmri.config import load_config
    from dynmri.devices import resolve_device
    from dynmri.eval.benchmark import DEMO_WRITES, run_demo
    from dynmri.eval.realtime import REALTIME_WRITES

    set_threads(threads)
    t_start = time.perf_counter()
    cfg = load_config(DemoConfig, None, data=data, accel=accel, frames=frames, size=size, slices=slices, crop=crop, seed=seed,
                      networks=networks, device=device, precision=precision)
    resolve_device(cfg.device)  # a device this machine lacks fails before anything is written
    writes = REALTIME_WRITES if cfg.realtime else DEMO_WRITES
    check_output_folder(out, writes, [("--data", cfg.data)])
    with locked(out):
        typer.echo(run_demo(cfg, out))
    typer.echo(f"wrote {out}/: {', '.join(writes)} ({time.perf_counter() - t_start:.1f} s)")


@friendly_errors
def benchmark(
    out: Path = typer.Option(..., help="Output folder: results.csv/.json/.md, per-frame curves, videos."),
    data: str | None = typer.Option(None, help=f"Any --data source accepted by simulate {default(_B.data)}."),
    accel: str | None = typer.Option(None, help=f"Accelerations, comma separated {default(_B.accel)}."),
    methods: str | None = typer.Option(None, help="Comma-separated methods (default: every applicable one)."),
    networks: str | None = typer.Option(None, "--models", help="Comma-separated trained networks (run folders, .pt files, shipped names)."),
    mask: str | None = typer.Option(None, help=f"Mask kind {default(_B.mask)}."),
    frames: int | None = typer.Option(None, help=f"Frames per video {default(_B.frames)}."),
    crop: int | None = typer.Option(None, help=f"Centre crop (pixels); 0 for none {default(_B.crop)}."),
    iters: int | None = typer.Option(None, help=f"Iterations of iterative methods {default(CSConfig().n_iter)}."),
    seed: int | None = typer.Option(None, help=f"Seed for phase and masks {default(_B.seed)}."),
    device: str | None = typer.Option(None, help=DEVICE_HELP),
    precision: str | None = typer.Option(None, help=PRECISION_HELP),
    auto_tune: str | None = typer.Option(None, help="holdout | discrepancy: also every method with tunable weights, its weights and "
                                         "stopping iteration chosen from each acquisition's measurements alone (no ground truth)."),
    tune_slices: int | None = typer.Option(None, help=f"Slices the --auto-tune search runs on {default(_B.tune_slices)}."),
    config: Path | None = typer.Option(None, help="YAML file overriding BenchmarkConfig fields (flags override the file)."),
    threads: int | None = typer.Option(None, help="torch threads."),
):
    """Every method x acceleration on held-out data: mean +- std PSNR/SSIM/NMSE, time, frames/s.
    Under torchrun the ranks share the test slices and rank 0 writes the report."""
    from dynmri.cli.outputs import check_output_folder, locked
    from dynmri.config import load_config
    from dynmri.devices import resolve_device
    from dynmri.eval.benchmark import BENCHMARK_WRITES, run_benchmark
    from dynmri.parallel import settle

    set_threads(threads)
    cfg = load_config(BenchmarkConfig, config, data=data, accel=floats(accel), methods=names(methods), networks=names(networks),
                      mask=mask, frames=frames, crop=crop, iters=iters, seed=seed, device=device, precision=precision,
                      auto_tune=auto_tune, tune_slices=tune_slices)
    with sharded(cfg.device) as (ctx, rank_device), contextlib.ExitStack() as stack:
        cfg = replace(cfg, device=rank_device) if ctx.distributed else cfg

        def check_and_lock():
            resolve_device(cfg.device)  # a device this machine lacks fails before anything is written
            inputs = [("--data", cfg.data), ("--config", config), *(("--models", n) for n in cfg.networks)]
            check_output_folder(out, BENCHMARK_WRITES, inputs)
            if ctx.main:
                stack.enter_context(locked(out))

        settle(ctx, check_and_lock)
        table = run_benchmark(cfg, out, log=typer.echo, ctx=ctx)
    if ctx.main:
        typer.echo(table)
