"""The ``dynmri`` command line: small subcommands over files.

Every subcommand turns a :class:`~dynmri.errors.DynMRIError` (bad file, shape, parameter)
into one ``error: ...`` line on stderr and exit status 2.
"""

from __future__ import annotations

import functools
import json
import sys
import time
from pathlib import Path

import typer

from dynmri.config import DemoConfig, SimulateConfig

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    rich_markup_mode=None,
    pretty_exceptions_enable=False,
    help="dynmri: dynamic MRI reconstruction from undersampled k-space. Run 'dynmri COMMAND --help'.",
)
_S = SimulateConfig()
_D = DemoConfig()


def _fail(msg: str, code: int = 2):
    typer.echo(f"error: {msg}", err=True)
    raise typer.Exit(code)


def friendly_errors(fn):
    """Turn expected failures into one clear line and a non-zero exit."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        from dynmri.errors import DynMRIError

        try:
            return fn(*args, **kwargs)
        except DynMRIError as exc:
            _fail(str(exc))
        except (FileNotFoundError, PermissionError, IsADirectoryError) as exc:
            _fail(f"{exc.filename or ''}: {exc.strerror or exc}")

    return wrapper


def _set_threads(threads: int | None):
    if threads:
        import torch

        torch.set_num_threads(threads)


@app.command(
    epilog="Examples:\n\n"
    "  dynmri simulate --data phantom --accel 8 --out acq.npz\n\n"
    "  dynmri simulate --data ../shared/data/sunnybrook-ep-cine/E774S5-shortAxis --accel 5 --mask vd-lines --center-lines 11 --crop 128 --out sax.h5\n\n"
    "  dynmri simulate --data cine.npz --coils 8 --snr 30 --seed 1 --out mc.npz\n\n"
    "  dynmri simulate --data phantom --trajectory radial-golden --accel 8 --out radial.npz\n\n"
    "  dynmri simulate --data phantom --trajectory learned/trajectory.npz --out learned.npz"
)
@friendly_errors
def simulate(
    out: Path = typer.Option(..., help="Output acquisition file (.npz or .h5)."),
    data: str = typer.Option(_S.data, help="'phantom', a DICOM folder, a .npz, a CMRxRecon root or a .mat file."),
    accel: float = typer.Option(_S.accel, help="Requested acceleration R > 1."),
    mask: str = typer.Option(_S.mask, help="gaussian | vd-lines | equispaced."),
    frames: int = typer.Option(_S.frames, help="Frames per video."),
    center_lines: int | None = typer.Option(_S.center_lines, help="Fully sampled central lines (default depends on the mask)."),
    coils: int = typer.Option(_S.coils, help="Number of (birdcage) coils; 1 is single-coil."),
    snr: float | None = typer.Option(_S.snr, help="Add complex Gaussian noise at this SNR in dB."),
    seed: int = typer.Option(_S.seed, help="Seed for phase, masks and noise."),
    crop: int | None = typer.Option(_S.crop, help="Centre crop to crop x crop pixels."),
    slices: str = typer.Option(_S.slices, help="'all', 'a:b' or '0,3,5'."),
    size: int = typer.Option(_S.size, help="Phantom image size."),
    trajectory: str | None = typer.Option(_S.trajectory, help="Non-Cartesian: radial-golden | radial-tiny-golden | spiral | a trajectory .npz."),
    n_samples: int | None = typer.Option(_S.n_samples, help="Samples per spoke/interleave (non-Cartesian)."),
    config: Path | None = typer.Option(None, help="YAML file overriding the defaults."),
    threads: int | None = typer.Option(None, help="torch threads."),
):
    """Simulate undersampled dynamic k-space (Cartesian mask or non-Cartesian trajectory) from
    images and save it with its ground truth."""
    from dynmri.config import load_config
    from dynmri.data.acquire import simulate_from_config

    _set_threads(threads)
    overrides = dict(data=data, accel=accel, mask=mask, frames=frames, center_lines=center_lines, coils=coils, snr=snr, seed=seed, crop=crop, slices=slices, size=size, trajectory=trajectory, n_samples=n_samples)
    if config is not None:  # flags left at their defaults do not override the file
        overrides = {k: v for k, v in overrides.items() if v != getattr(_S, k)}
    cfg = load_config(SimulateConfig, config, **overrides)
    acq = simulate_from_config(cfg)
    acq.save(out)
    m = acq.meta
    sampling = f"trajectory {m['trajectory_kind']}" if acq.noncartesian else f"mask {m['mask_kind']}"
    typer.echo(f"wrote {out}: k-space {acq.kspace.shape}, {sampling}, R requested {m['requested_acceleration']:g}, achieved {m['achieved_acceleration']:.3f}")


def _parse_set(items: list[str]) -> dict:
    """``["lam_l=0.02", "wavelet=db4"]`` -> typed CSConfig overrides."""
    from dataclasses import fields

    from dynmri.config import CSConfig
    from dynmri.errors import ParameterError

    types = {f.name: f.type for f in fields(CSConfig)}
    parsers = {"int": int, "float": float, "str": str, "bool": lambda v: {"true": True, "false": False}[v.lower()]}
    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or key not in types:
            raise ParameterError(f"--set {item!r}: expected FIELD=VALUE with FIELD one of {', '.join(types)}")
        kind = types[key] if isinstance(types[key], str) else types[key].__name__
        try:
            out[key] = parsers[kind](value)
        except (ValueError, KeyError):
            raise ParameterError(f"--set {item!r}: {value!r} is not a valid {kind}") from None
    return out


def cs_config(config: Path | None = None, **flags):
    """:class:`~dynmri.recon.cs.CSConfig` from its defaults, a YAML file and non-None flags."""
    from dynmri.config import CSConfig, load_config

    return load_config(CSConfig, config, **flags)


@app.command(
    epilog="Examples:\n\n"
    "  dynmri reconstruct acq.npz --method zero-filled --out recon.npz\n\n"
    "  dynmri reconstruct acq.h5 --method fista-wavelet-tfft --iters 50 --set lam_tfft=0.001 --out recon.h5 --video recon.gif --slice 3\n\n"
    "  dynmri reconstruct mc.npz --method fista-grouplasso --config cs.yaml --out recon.npz\n\n"
    "Methods: zero-filled, ls (CG / CG-SENSE), fista-wavelet, pogm-wavelet, condatvu-wavelet,\n"
    "fista-wavelet-tfft, condatvu-wavelet-ttv, lps (low rank + sparse), fista-grouplasso and fista-owl\n"
    "(calibrationless multi-coil). Weights are relative to the zero-filled image (see dynmri.recon.cs);\n"
    "--set takes any CSConfig field: lam, lam_tfft, lam_ttv, lam_l, lam_s, levels, wavelet, tol, ..."
)
@friendly_errors
def reconstruct(
    acquisition: Path = typer.Argument(..., help="Acquisition file (.npz or .h5)."),
    out: Path = typer.Option(..., help="Output reconstruction file (.npz or .h5)."),
    method: str = typer.Option("zero-filled", help="Reconstruction method (see 'dynmri info')."),
    model: str | None = typer.Option(None, help="A trained network instead of --method: run folder, .pt file or shipped name."),
    window: int | None = typer.Option(None, help="Frames per network window (default: its training window)."),
    overlap: int | None = typer.Option(None, help="Overlap of consecutive windows (default: half a window)."),
    video: Path | None = typer.Option(None, help="Also write a side-by-side video (.gif or .mp4)."),
    slice_: int = typer.Option(0, "--slice", help="Slice shown in the video."),
    iters: int | None = typer.Option(None, help="Iterations of iterative methods (default: dynmri.recon.cs.CSConfig)."),
    lam: float | None = typer.Option(None, help="Relative spatial (wavelet) weight."),
    set_: list[str] | None = typer.Option(None, "--set", help="FIELD=VALUE for any CSConfig field (repeatable)."),
    config: Path | None = typer.Option(None, help="YAML file overriding CSConfig fields."),
    threads: int | None = typer.Option(None, help="torch threads."),
):
    """Reconstruct every slice of an acquisition file."""
    from dynmri.data.files import Acquisition
    from dynmri.errors import ParameterError
    from dynmri.recon.methods import REQUIRES, applicable, get_method, reconstruct_acquisition

    _set_threads(threads)
    if model is not None:
        return _reconstruct_network(acquisition, out, model, window, overlap, video, slice_)
    get_method(method)
    options, costs = {}, []
    if REQUIRES[method] != "any":
        options["config"] = cs_config(config, n_iter=iters, lam=lam, **_parse_set(set_ or []))

        def record(k, x, c):  # a new list at each slice's first iteration
            if k == 0:
                costs.append([])
            if c is not None:
                costs[-1].append(c)

        record.needs_image = False  # costs only: coefficient-domain solvers skip the synthesis
        options["callback"] = record
    acq = Acquisition.load(acquisition)
    if not applicable(method, acq.multicoil, acq.coil_maps is not None, acq.noncartesian):
        need = {"multicoil": "multi-coil k-space (Cartesian)", "noncartesian": "non-Cartesian k-space (single-coil or with maps)"}.get(REQUIRES[method], "single-coil k-space or coil maps")
        have = ("multi-coil k-space without coil maps" if acq.coil_maps is None else "multi-coil k-space") if acq.multicoil else "single-coil k-space"
        have = ("non-Cartesian " if acq.noncartesian else "") + have
        raise ParameterError(f"{method} needs {need}; {acquisition} has {have}")
    meta = {}
    if "config" in options:
        meta = {"config": options["config"].__dict__, "cost_per_iteration": costs}  # costs: one list per slice
    _run_and_save(acq, acquisition, out, method, lambda: reconstruct_acquisition(acq, method, progress=True, **options), meta, video, slice_)


def _reconstruct_network(acquisition, out, weights, window, overlap, video, slice_):
    from dynmri.data.files import Acquisition
    from dynmri.recon.network import reconstruct_with_model

    acq = Acquisition.load(acquisition)
    run = lambda: reconstruct_with_model(acq, weights, window=window, overlap=overlap, progress=True)  # noqa: E731
    _run_and_save(acq, acquisition, out, f"network:{weights}", run, {}, video, slice_, label="network")


def _run_and_save(acq, acquisition, out, name: str, run, meta: dict, video, slice_, label: str | None = None):
    """Time ``run()``, write the reconstruction file (and the video), report frames per second.

    ``name`` goes to the metadata and the message, ``label`` (default ``name``) to the video panel."""
    import deepinv.physics  # noqa: F401  (its first import, ~2 s, is not reconstruction time)

    from dynmri.data.files import Reconstruction

    t0 = time.perf_counter()
    recon = run()
    secs = time.perf_counter() - t0
    n_frames = recon.shape[0] * recon.shape[1]
    Reconstruction(recon, {"method": name, "acquisition": str(acquisition), "seconds": secs, "frames_per_second": n_frames / secs} | meta).save(out)
    typer.echo(f"wrote {out}: {name}, {n_frames} frames in {secs:.2f} s ({n_frames / secs:.1f} frames/s)")
    if video is not None:
        _write_video(video, acq, {label or name: recon}, slice_)
        typer.echo(f"wrote {video}")


def _write_video(path, acq, recons: dict, s: int, fps: float = 8.0):
    from dynmri.errors import ParameterError
    from dynmri.eval.figures import save_comparison
    from dynmri.recon.methods import reconstruct_acquisition

    if not 0 <= s < acq.kspace.shape[0]:
        raise ParameterError(f"--slice {s} outside 0..{acq.kspace.shape[0] - 1}")
    panels = {}
    if acq.target is not None:
        panels["ground truth"] = acq.target[s]
    if "zero-filled" not in recons:
        panels["zero-filled"] = reconstruct_acquisition(acq, "zero-filled")[s]
    panels |= {k: v[s] for k, v in recons.items()}
    save_comparison(path, panels, reference=None if acq.target is None else acq.target[s], fps=fps)


@app.command(
    epilog="Examples:\n\n"
    "  dynmri evaluate recon.npz --reference acq.npz\n\n"
    "  dynmri evaluate recon.h5 --reference acq.h5 --roi 64 --json metrics.json"
)
@friendly_errors
def evaluate(
    recon: Path = typer.Argument(..., help="Reconstruction file."),
    reference: Path = typer.Option(..., help="Acquisition file holding the ground truth ('target')."),
    json_out: Path | None = typer.Option(None, "--json", help="Write metrics (means and per-frame lists) as JSON."),
    roi: int | None = typer.Option(None, help="Centre square region of interest (pixels)."),
):
    """Score a reconstruction against ground truth: PSNR, SSIM, NMSE on magnitudes."""
    from dynmri.data.files import Acquisition, Reconstruction
    from dynmri.errors import DataError, ShapeError
    from dynmri.eval.metrics import evaluate as score
    from dynmri.eval.metrics import format_table
    from dynmri.fileio import write_text_atomic

    rec = Reconstruction.load(recon)
    acq = Acquisition.load(reference)
    if acq.target is None:
        raise DataError(f"{reference}: has no ground truth ('target'); nothing to evaluate against")
    if rec.recon.shape != acq.target.shape:
        raise ShapeError(f"{recon}: recon shape {rec.recon.shape} does not match the reference target {acq.target.shape}")
    m = score(rec.recon, acq.target, roi=roi)
    typer.echo(format_table({rec.meta.get("method", recon.name): m}))
    if json_out is not None:
        write_text_atomic(json_out, json.dumps(m, indent=1))
        typer.echo(f"wrote {json_out}")


@app.command(
    epilog="Examples:\n\n"
    "  dynmri demo\n\n"
    "  dynmri demo --data ../shared/data/sunnybrook-ep-cine/E774S5-shortAxis --slices 0:4 --crop 128 --out demo-sax"
)
@friendly_errors
def demo(
    data: str = typer.Option(_D.data, help="'phantom' or any --data source accepted by simulate."),
    out: Path = typer.Option(Path("demo-out"), help="Output folder."),
    accel: float = typer.Option(_D.accel, help="Acceleration."),
    frames: int = typer.Option(_D.frames, help="Frames."),
    slices: str = typer.Option(_D.slices, help="Slices of a multi-slice source."),
    crop: int | None = typer.Option(_D.crop, help="Centre crop."),
    seed: int = typer.Option(_D.seed, help="Seed."),
    networks: bool = typer.Option(True, help="Also run the shipped networks ('dynmri weights')."),
    threads: int | None = typer.Option(None, help="torch threads."),
):
    """Simulate an 8x acquisition, reconstruct with every method and shipped network, print a
    table, write videos and figures."""
    from dynmri.data.acquire import simulate_from_config
    from dynmri.data.files import Reconstruction
    from dynmri.eval.figures import save_kt_mask, save_xt_profiles
    from dynmri.eval.metrics import evaluate as score
    from dynmri.eval.metrics import format_table
    from dynmri.fileio import write_text_atomic
    from dynmri.recon.methods import applicable, method_names, reconstruct_acquisition

    _set_threads(threads)
    t_start = time.perf_counter()
    cfg = SimulateConfig(data=data, accel=accel, mask=_D.mask, frames=frames, seed=seed, crop=crop, slices=slices, size=_D.size).validate()
    acq = simulate_from_config(cfg)
    out.mkdir(parents=True, exist_ok=True)
    acq.save(out / "acq.npz")
    rows, recons = {}, {}
    for name in [m for m in method_names() if applicable(m, acq.multicoil, acq.coil_maps is not None, acq.noncartesian)]:
        t0 = time.perf_counter()
        recons[name] = reconstruct_acquisition(acq, name, progress=True)
        Reconstruction(recons[name], {"method": name, "seconds": time.perf_counter() - t0}).save(out / f"recon-{name}.npz")
        rows[name] = score(recons[name], acq.target)
    if networks and not acq.multicoil:
        from dynmri.models.weights import shipped_weights
        from dynmri.recon.network import reconstruct_with_model

        for wname in shipped_weights():
            t0 = time.perf_counter()
            recons[wname] = reconstruct_with_model(acq, wname, progress=True)
            Reconstruction(recons[wname], {"method": f"network:{wname}", "seconds": time.perf_counter() - t0}).save(out / f"recon-{wname}.npz")
            rows[wname] = score(recons[wname], acq.target)
    table = format_table(rows, title=f"{data}, {acq.meta['mask_kind']} mask, R = {acq.meta['achieved_acceleration']:.2f}, {acq.kspace.shape[0]} slice(s) x {frames} frames")
    typer.echo(table)
    write_text_atomic(out / "metrics.md", table + "\n")
    write_text_atomic(out / "metrics.json", json.dumps(rows, indent=1))
    for suffix in (".gif", ".mp4"):
        _write_video(out / f"comparison{suffix}", acq, recons, 0, fps=_D.fps)
    save_kt_mask(out / "mask_kt.png", acq.mask[0])
    save_xt_profiles(out / "xt_profiles.png", {"ground truth": acq.target[0]} | {k: v[0] for k, v in recons.items()})
    typer.echo(f"wrote {out}/: acq.npz, recon-*.npz, metrics.md/json, comparison.gif/.mp4, mask_kt.png, xt_profiles.png ({time.perf_counter() - t_start:.1f} s)")


def _floats(spec: str) -> list[float]:
    from dynmri.errors import ParameterError

    try:
        return [float(v) for v in spec.replace(" ", ",").split(",") if v]
    except ValueError:
        raise ParameterError(f"expected comma-separated numbers, got {spec!r}") from None


@app.command(
    epilog="Examples:\n\n"
    "  dynmri benchmark --data ../shared/data/sunnybrook-ep-cine/E774S5-shortAxis --accel 4,8,16 --out bench\n\n"
    "  dynmri benchmark --data phantom --accel 8 --methods zero-filled,lps --iters 50 --out bench-phantom\n\n"
    "Runs on the held-out test slices (dynmri.data.sources.test_split: 30 % of the slices or subjects,\n"
    "seed 0); the phantom uses 4 seeded phantoms, all of them test data."
)
@friendly_errors
def benchmark(
    out: Path = typer.Option(..., help="Output folder: results.csv/.json/.md, per-frame curves, videos."),
    data: str = typer.Option("phantom", help="Any --data source accepted by simulate."),
    accel: str = typer.Option("4,8,16", help="Accelerations, comma separated."),
    methods: str | None = typer.Option(None, help="Comma-separated methods (default: every applicable one)."),
    networks: str | None = typer.Option(None, "--models", help="Comma-separated trained networks (run folders, .pt files, shipped names)."),
    mask: str = typer.Option("gaussian", help="Mask kind."),
    frames: int = typer.Option(12, help="Frames per video."),
    crop: int | None = typer.Option(128, help="Centre crop (pixels); 0 for none."),
    iters: int | None = typer.Option(None, help="Iterations of iterative methods."),
    seed: int = typer.Option(0, help="Seed for phase and masks."),
    threads: int | None = typer.Option(None, help="torch threads."),
):
    """Every method x acceleration on held-out data: mean +- std PSNR/SSIM/NMSE, time, frames/s."""
    import csv
    import io

    from dynmri.data.acquire import simulate_from_config
    from dynmri.data.sources import load_source, test_split
    from dynmri.errors import ParameterError
    from dynmri.eval.figures import save_comparison, save_frame_curves
    from dynmri.eval.metrics import evaluate as score
    from dynmri.fileio import write_text_atomic
    from dynmri.models.weights import load_trained, resolve_weights
    from dynmri.recon.methods import (
        REQUIRES,
        applicable,
        method_names,
        reconstruct_acquisition,
    )
    from dynmri.recon.network import reconstruct_with_model

    _set_threads(threads)
    accels = _floats(accel)
    names = method_names() if methods is None else [m.strip() for m in methods.split(",") if m.strip()]
    unknown = [m for m in names if m not in method_names()]
    if unknown:
        raise ParameterError(f"unknown methods {unknown}; available: {', '.join(method_names())}")
    names = [m for m in method_names() if m in names]  # registry order: the baseline first
    if data == "phantom":
        slices = "all"
    else:
        test = test_split(load_source(data))["test"]
        slices = ",".join(map(str, test))
    cfg_cs = cs_config(n_iter=iters)
    import deepinv.physics  # noqa: F401  (import time is not reconstruction time)

    rows, curves = [], {}
    out.mkdir(parents=True, exist_ok=True)
    for r in accels:
        sim = SimulateConfig(data=data, accel=r, mask=mask, frames=frames, crop=crop or None, slices=slices, seed=seed, n_phantoms=4).validate()
        acq = simulate_from_config(sim)
        recons = {}
        runs = [(name, lambda a, n=name: reconstruct_acquisition(a, n, progress=True, **({"config": cfg_cs} if REQUIRES[n] != "any" else {})))
                for name in names if applicable(name, acq.multicoil, acq.coil_maps is not None, acq.noncartesian)]
        for spec in [s.strip() for s in (networks or "").split(",") if s.strip()]:
            tcfg = load_trained(resolve_weights(spec))[1]
            label = f"{tcfg.model}-{tcfg.loss}" + "".join(f" {k}={v}" for k, v in sorted(tcfg.loss_cfg.items()))
            if any(label == n for n, _ in runs):  # same network and loss: tell the rows apart by their source
                label += f" ({spec})"
            runs.append((label, lambda a, s=spec: reconstruct_with_model(a, s, progress=True)))
        for name, run in runs:
            t0 = time.perf_counter()
            rec = run(acq)
            secs = time.perf_counter() - t0
            m = score(rec, acq.target)
            n_frames = rec.shape[0] * rec.shape[1]
            rows.append({"method": name, "accel": r, "achieved_accel": acq.meta["achieved_acceleration"],
                         **{k: m[k] for k in ("psnr", "psnr_std", "ssim", "ssim_std", "nmse", "nmse_std")},
                         "seconds": secs, "frames_per_second": n_frames / secs, "slices": acq.kspace.shape[0], "frames": frames})
            curves.setdefault(r, {})[name] = m["per_frame"]["psnr"]
            recons[name] = rec
            typer.echo(f"{r:g}x {name}: PSNR {m['psnr']:.2f} SSIM {m['ssim']:.3f} ({secs:.1f} s)")
        best = sorted((k for k in recons if k != "zero-filled"), key=lambda k: -next(x["psnr"] for x in rows if x["method"] == k and x["accel"] == r))[:2]
        panels = {"ground truth": acq.target[0]} | {k: recons[k][0] for k in ["zero-filled", *best] if k in recons}
        save_comparison(out / f"comparison_{r:g}x.gif", panels, reference=acq.target[0])
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(rows[0]))
    writer.writeheader()
    writer.writerows(rows)
    write_text_atomic(out / "results.csv", buf.getvalue())
    write_text_atomic(out / "results.json", json.dumps({"data": data, "slices": slices, "rows": rows, "per_frame_psnr": {f"{r:g}": c for r, c in curves.items()}}, indent=1))
    lines = [f"{data}: test slices {slices}, {frames} frames, crop {crop}, {mask} mask, seed {seed}, "
             f"{cfg_cs.n_iter} iterations, {__import__('torch').get_num_threads()} thread(s)", "",
             "| method | R | PSNR (dB) | SSIM | NMSE | time (s) | frames/s |", "|---|---|---|---|---|---|---|"]
    for x in rows:
        lines.append(f"| {x['method']} | {x['accel']:g} | {x['psnr']:.2f} +- {x['psnr_std']:.2f} | {x['ssim']:.3f} +- {x['ssim_std']:.3f} "
                     f"| {x['nmse']:.4f} | {x['seconds']:.1f} | {x['frames_per_second']:.1f} |")
    table = "\n".join(lines)
    write_text_atomic(out / "results.md", table + "\n")
    for r, c in curves.items():
        save_frame_curves(out / f"per_frame_psnr_{r:g}x.png", c, title=f"{r:g}x, mean over test slices")
    typer.echo(table)


@app.command(
    "learn-trajectory",
    epilog="Examples:\n\n"
    "  dynmri learn-trajectory --data phantom --steps 50 --out learned\n\n"
    "  dynmri learn-trajectory --data ../shared/data/sunnybrook-ep-cine/E774S5-shortAxis --accel 8 --steps 300 --out learned-8x\n\n"
    "  dynmri learn-trajectory --config traj.yaml --gmax 0.03 --smax 120 --raster 1e-5 --out learned-slow\n\n"
    "Then: dynmri simulate --trajectory learned-8x/trajectory.npz ... (rotated by the golden angle frame to frame).",
)
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
    compare: bool = typer.Option(True, help="Compare with radial golden-angle and spiral on the test split."),
    config: Path | None = typer.Option(None, help="YAML overriding LearnTrajectoryConfig."),
    threads: int | None = typer.Option(None, help="torch threads."),
):
    """Learn a k-space trajectory through the NUFFT, projected on gradient/slew limits at every step."""
    import json

    from dynmri.config import LearnTrajectoryConfig, load_config
    from dynmri.fileio import write_text_atomic
    from dynmri.learn.trajectory import compare as compare_trajs
    from dynmri.learn.trajectory import learn_trajectory
    from dynmri.sampling.trajectories import make_trajectory

    _set_threads(threads)
    cfg = load_config(LearnTrajectoryConfig, config, data=data, accel=accel, init=init, steps=steps, lr=lr, batch=batch,
                      decimation=decimation, crop=crop, gmax=gmax, smax=smax, raster=raster, fov=fov, seed=seed)
    res = learn_trajectory(cfg, out, progress=True)
    v = res["violations"]
    typer.echo(f"wrote {out}/trajectory.npz: {res['trajectory'].shape}, loss {res['losses'][0]:.4f} -> {res['losses'][-1]:.4f} "
               f"in {res['seconds']:.0f} s; max |G| {v['gradient_ratio']:.2f} x limit, max slew {v['slew_ratio']:.2f} x limit, 0 violations")
    if compare:
        n, M = res["image_size"], res["trajectory"].shape[0] * res["trajectory"].shape[1]
        trajs = {"learned": res["trajectory"], "initial": res["init"]}
        for kind in ("radial-golden", "spiral"):
            k = make_trajectory(kind, n, cfg.accel, 1)[0]
            trajs[kind] = k.numpy()
        rows = compare_trajs(cfg, trajs, cg_iters=10)
        lines = [f"Test split of {cfg.data}, {n}x{n}, acceleration {cfg.accel:g} ({M} samples per frame for the learned one)", "",
                 "| trajectory | samples | DC adjoint PSNR (dB) | SSIM | CG-10 PSNR (dB) | SSIM | max G / limit | max slew / limit | violations |",
                 "|---|---|---|---|---|---|---|---|---|"]
        for name, r in rows.items():
            lines.append(f"| {name} | {r['samples']} | {r['dcomp_psnr']:.2f} | {r['dcomp_ssim']:.3f} | {r['cg_psnr']:.2f} | {r['cg_ssim']:.3f} "
                         f"| {r['gradient_ratio']:.2f} | {r['slew_ratio']:.2f} | {r['violations']} |")
        table = "\n".join(lines) + "\n"
        write_text_atomic(Path(out) / "comparison.md", table)
        write_text_atomic(Path(out) / "comparison.json", json.dumps(rows, indent=1))
        typer.echo(table)


@app.command(
    epilog="Examples:\n\n"
    "  dynmri train --data phantom --model crnn --loss ddei --accel 8 --epochs 2 --out runs/demo\n\n"
    "  dynmri train --config src/dynmri/configs/train-crnn-ddei-sunnybrook.yaml --data ../shared/data/sunnybrook-ep-cine/E774S5-shortAxis --out runs/ddei\n\n"
    "  dynmri train --out runs/ddei --config ... --resume     (continue an interrupted run exactly)\n\n"
    "  dynmri train --config ... --loss ddei --loss-opt time_padding=reflect --out runs/ddei-reflect\n\n"
    "Losses: supervised-l2, supervised-l1, mc, ssdu, ei-rotate, ei-time, ddei. Models: see 'dynmri models'."
)
@friendly_errors
def train(
    out: Path = typer.Option(..., help="Run folder (config.json, metrics.csv, curves.png, checkpoint.pt, best.pt)."),
    data: str | None = typer.Option(None, help="Training data (any --data source); the test split is never used."),
    model: str | None = typer.Option(None, help="Network name."),
    loss: str | None = typer.Option(None, help="Training paradigm."),
    accel: float | None = typer.Option(None, help="Acceleration."),
    epochs: int | None = typer.Option(None, help="Epochs."),
    lr: float | None = typer.Option(None, help="Learning rate."),
    batch_size: int | None = typer.Option(None, help="Batch size."),
    window: int | None = typer.Option(None, help="Frames per training window."),
    crop: int | None = typer.Option(None, help="Centre crop."),
    steps_per_epoch: int | None = typer.Option(None, help="Cap on steps per epoch."),
    seed: int | None = typer.Option(None, help="Seed."),
    config: Path | None = typer.Option(None, help="YAML overriding TrainConfig (model_cfg, loss_cfg, schedule, ...)."),
    loss_opt: list[str] | None = typer.Option(None, "--loss-opt", help="KEY=VALUE added to loss_cfg (repeatable), e.g. time_padding=reflect."),
    resume: bool = typer.Option(False, help="Continue from OUT/checkpoint.pt."),
    threads: int | None = typer.Option(None, help="torch threads."),
):
    """Train a reconstruction network, with or without ground truth."""
    from dynmri.config import TrainConfig, load_config
    from dynmri.learn.train import train as run_training

    _set_threads(threads)
    cfg = load_config(TrainConfig, config, data=data, model=model, loss=loss, accel=accel, epochs=epochs, lr=lr, batch_size=batch_size,
                      window=window, crop=crop, steps_per_epoch=steps_per_epoch, seed=seed)
    if loss_opt:
        import dataclasses

        import yaml

        from dynmri.errors import ParameterError

        extra = {}
        for item in loss_opt:
            key, sep, value = item.partition("=")
            if not sep or not key:
                raise ParameterError(f"--loss-opt {item!r}: expected KEY=VALUE")
            extra[key] = yaml.safe_load(value)
        cfg = dataclasses.replace(cfg, loss_cfg={**cfg.loss_cfg, **extra})
    result = run_training(cfg, out, resume=resume)
    last = result["history"][-1]
    typer.echo(f"trained {cfg.model} with {cfg.loss} for {last['epoch']} epochs: " + ", ".join(f"{k} {v:.4g}" for k, v in last.items() if k != "epoch"))
    typer.echo(f"wrote {out}/ (best held-out score {result['best']:.4g})")


@app.command(epilog="Examples:\n\n  dynmri weights\n\n"
             "  dynmri weights --export runs/crnn-ddei --name crnn-ddei-sunnybrook-8x   (maintainers: ship a run's last epoch)")
@friendly_errors
def weights(
    export: Path | None = typer.Option(None, help="Run folder whose final network to copy into the package."),
    name: str | None = typer.Option(None, help="Name of the exported weights."),
):
    """The trained weights shipped with dynmri (use them with reconstruct --model NAME)."""
    import json as _json

    from dynmri.models.weights import export_weights, shipped_weights

    if export is not None:
        if not name:
            from dynmri.errors import ParameterError

            raise ParameterError("--export needs --name")
        path = export_weights(export, name)
        typer.echo(f"wrote {path} and {path.with_suffix('.json')}")
        return
    shipped = shipped_weights()
    if not shipped:
        typer.echo("no weights shipped yet (train your own: dynmri train --help)")
    for wname, path in shipped.items():
        info = _json.loads(path.with_suffix(".json").read_text()) if path.with_suffix(".json").is_file() else {}
        cfg = info.get("config", {})
        typer.echo(f"{wname:32s} {cfg.get('model', '?')} / {cfg.get('loss', '?')} at {cfg.get('accel', '?')}x, epoch {info.get('epoch', '?')}: {path}")


@app.command(epilog="Example:\n\n  dynmri models")
def models():
    """The networks and their parameter counts at default settings."""
    from dynmri.models import count_parameters, get_model, model_names

    for name in model_names():
        typer.echo(f"{name:22s} {count_parameters(get_model(name)):>10,d} parameters")


@app.command(epilog="Example:\n\n  dynmri info")
def info():
    """Versions, device, threads and the registered methods, masks and trajectories."""
    import platform

    import deepinv
    import numpy
    import torch

    from dynmri import __version__
    from dynmri.recon.methods import method_names
    from dynmri.sampling.masks import MASKS

    typer.echo(f"dynmri {__version__}, python {platform.python_version()}, torch {torch.__version__}, deepinv {deepinv.__version__}, numpy {numpy.__version__}")
    typer.echo(f"device: {'cuda (' + torch.cuda.get_device_name(0) + ')' if torch.cuda.is_available() else 'cpu'}; torch threads: {torch.get_num_threads()}")
    typer.echo(f"reconstruction methods: {', '.join(method_names())}")
    typer.echo(f"mask kinds: {', '.join(MASKS)}")
    from dynmri.sampling.trajectories import TRAJECTORIES

    typer.echo(f"trajectories: {', '.join(TRAJECTORIES)} (or a .npz from 'dynmri learn-trajectory')")


def main():
    try:
        app()
    except KeyboardInterrupt:
        typer.echo("interrupted", err=True)
        sys.exit(130)


if __name__ == "__main__":
    main()
