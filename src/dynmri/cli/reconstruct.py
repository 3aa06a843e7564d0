"""``dynmri reconstruct`` and ``dynmri evaluate``: acquisition file -> reconstruction file -> scores."""

from __future__ import annotations

from pathlib import Path

import typer

from dynmri.cli.common import default, friendly_errors, set_threads
from dynmri.config import CSConfig

_C = CSConfig()

RECONSTRUCT_EPILOG = (
    "Examples:\n\n"
    "  dynmri reconstruct acq.npz --method zero-filled --out recon.npz\n\n"
    "  dynmri reconstruct acq.h5 --method fista-wavelet-tfft --iters 50 --set lam_tfft=0.001 --out recon.h5 --video recon.gif --slice 3\n\n"
    "  dynmri reconstruct mc.npz --method fista-grouplasso --config cs.yaml --out recon.npz\n\n"
    "  dynmri reconstruct acq.npz --method lps --auto-tune holdout --out lps.npz   (weights and iterations from the data alone)\n\n"
    "  dynmri reconstruct scan.h5 --method lps --coil-maps walsh --out recon --format dicom   (ISMRMRD or twix .dat in, DICOM out)\n\n"
    "Methods: zero-filled, ls (CG / CG-SENSE), fista-wavelet, pogm-wavelet, condatvu-wavelet,\n"
    "fista-wavelet-tfft, condatvu-wavelet-ttv, admm-wavelet-ttv, lps (low rank + sparse), fista-grouplasso and fista-owl\n"
    "(calibrationless multi-coil). Weights are relative to the zero-filled image (see dynmri.recon.cs);\n"
    "--set takes any CSConfig field: lam, lam_tfft, lam_ttv, lam_l, lam_s, levels, wavelet, tol, ..."
)

EVALUATE_EPILOG = (
    "Examples:\n\n"
    "  dynmri evaluate recon.npz --reference acq.npz\n\n"
    "  dynmri evaluate recon.h5 --reference acq.h5 --roi 64 --json metrics.json"
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
    iters: int | None = typer.Option(None, help=f"Iterations of iterative methods {default(_C.n_iter)}."),
    lam: float | None = typer.Option(None, help=f"Relative spatial (wavelet) weight {default(_C.lam)}."),
    set_: list[str] | None = typer.Option(None, "--set", help="FIELD=VALUE for any CSConfig field (repeatable)."),
    config: Path | None = typer.Option(None, help="YAML file overriding CSConfig fields (flags override the file)."),
    fmt: str = typer.Option("file", "--format", help="file (.npz/.h5, default) | dicom (a folder of MR images) | nifti (.nii/.nii.gz)."),
    coil_maps: str | None = typer.Option(None, help="Estimate coil maps from the data first: walsh | inati | espirit (needs sigpy)."),
    auto_tune: str | None = typer.Option(None, "--auto-tune", help="Choose the method's weights and iterations without ground truth: holdout | discrepancy."),
    tune_slices: int = typer.Option(2, help="Slices the --auto-tune search runs on (the choice applies to all)."),
    threads: int | None = typer.Option(None, help="torch threads."),
):
    """Reconstruct every slice of an acquisition file."""
    from dynmri.cli.outputs import check_output_file, check_output_folder, locked
    from dynmri.config import parse_assignments
    from dynmri.data.files import SUFFIXES
    from dynmri.eval.runs import VIDEO_SUFFIXES, reconstruct_file
    from dynmri.recon.run import network_method

    set_threads(threads)
    overrides = {"n_iter": iters, "lam": lam, **parse_assignments(set_ or [], CSConfig, "--set")}
    inputs = [("acquisition", acquisition), ("--model", model), ("--config", config)]
    if fmt == "dicom":
        check_output_folder(out, ("*",), inputs)
    else:
        check_output_file(out, (".nii", ".gz") if fmt == "nifti" else SUFFIXES, inputs)
    if video is not None:
        check_output_file(video, VIDEO_SUFFIXES, [*inputs, ("--out", out)], option="--video")
    with locked(out, video):
        stats = reconstruct_file(acquisition, out, method if model is None else network_method(model), config_file=config,
                                 overrides=overrides, window=window, overlap=overlap, video=video, slice_=slice_,
                                 auto_tune=auto_tune, tune_slices=tune_slices, fmt=fmt, coil_maps=coil_maps)
    if stats.tuning is not None:
        t = stats.tuning
        chosen = ", ".join(f"{k}={v:g}" for k, v in t["weights"].items())
        typer.echo(f"auto-tune ({t['criterion']}, slices {t['slices']}, {t['seconds']:.1f} s): {chosen}, n_iter={t['n_iter']}")
    typer.echo(f"wrote {out}: {stats.method}, {stats.frames} frames in {stats.seconds:.2f} s ({stats.frames_per_second:.1f} frames/s)")
    if video is not None:
        typer.echo(f"wrote {video}")


@friendly_errors
def evaluate(
    recon: Path = typer.Argument(..., help="Reconstruction file."),
    reference: Path = typer.Option(..., help="Acquisition file holding the ground truth ('target')."),
    json_out: Path | None = typer.Option(None, "--json", help="Write metrics (means and per-frame lists) as JSON."),
    roi: int | None = typer.Option(None, help="Centre square region of interest (pixels)."),
):
    """Score a reconstruction against ground truth: PSNR, SSIM, NMSE on magnitudes."""
    from dynmri.cli.outputs import check_output_file, locked
    from dynmri.eval.report import metrics_table
    from dynmri.eval.runs import evaluate_file

    if json_out is not None:
        check_output_file(json_out, (".json",), [("reconstruction", recon), ("--reference", reference)], option="--json")
    with locked(json_out):
        name, m = evaluate_file(recon, reference, roi=roi, json_out=json_out)
    typer.echo(metrics_table({name: m}))
    if json_out is not None:
        typer.echo(f"wrote {json_out}")
