"""``dynmri reconstruct`` and ``dynmri evaluate``: acquisition file -> reconstruction file -> scores."""

from __future__ import annotations

import contextlib
from pathlib import Path

import typer

from dynmri.cli.common import default, expand_inputs, friendly_errors, set_threads, sharded
from dynmri.config import CSConfig

_C = CSConfig()

RECONSTRUCT_EPILOG = (
    "Examples:\n\n"
    "  dynmri reconstruct acq.npz --method zero-filled --out recon.npz\n\n"
    "  dynmri reconstruct acq.h5 --method fista-wavelet-tfft --iters 50 --set lam_tfft=0.001 --out recon.h5 --video recon.gif --slice 3\n\n"
    "  dynmri reconstruct mc.npz --method fista-grouplasso --config cs.yaml --out recon.npz\n\n"
    "  dynmri reconstruct acq.npz --method lps --auto-tune holdout --out lps.npz   (weights and iterations from the data alone)\n\n"
    "  dynmri reconstruct scan.h5 --method lps --coil-maps walsh --out recon --format dicom   (ISMRMRD or twix .dat in, DICOM out)\n\n"
    "  dynmri reconstruct 'scans/*.npz' --model crnn-ddei-sunnybrook-8x --out-dir recons --device cuda --precision bf16\n"
    "  (many files, one start-up: the network is loaded once; per-file times in recons/reconstruct-summary.json)\n\n"
    "Methods: zero-filled, ls (CG / CG-SENSE), fista-wavelet, pogm-wavelet, condatvu-wavelet,\n"
    "fista-wavelet-tfft, condatvu-wavelet-ttv, admm-wavelet-ttv, lps (low rank + sparse), fista-grouplasso and fista-owl\n"
    "(calibrationless multi-coil). Weights are relative to the zero-filled image (see dynmri.recon.cs);\n"
    "--set takes any CSConfig field: lam, lam_tfft, lam_ttv, lam_l, lam_s, levels, wavelet, tol, ..."
)

EVALUATE_EPILOG = (
    "Examples:\n\n"
    "  dynmri evaluate recon.npz --reference acq.npz\n\n"
    "  dynmri evaluate recon.h5 --reference acq.h5 --roi 64 --json metrics.json\n\n"
    "  dynmri evaluate lps.npz crnn.npz zf.npz --reference acq.npz   (three methods, one reference)\n\n"
    "  dynmri evaluate 'recons/*.npz' --reference a.npz --reference b.npz --out-dir scores   (one reference each, in order)"
)


@friendly_errors
def reconstruct(
    acquisitions: list[Path] = typer.Argument(..., help="Acquisition file(s) (.npz, .h5, ISMRMRD .h5, twix .dat), or a quoted glob ('scans/*.h5')."),
    out: Path | None = typer.Option(None, help="Output reconstruction file (.npz or .h5), for one acquisition."),
    out_dir: Path | None = typer.Option(None, "--out-dir", help="Output folder for any number of acquisitions: each output is named after its input, plus reconstruct-summary.json."),
    method: str = typer.Option("zero-filled", help="Reconstruction method (see 'dynmri info')."),
    model: str | None = typer.Option(None, help="A trained network instead of --method: run folder, .pt file or shipped name."),
    window: int | None = typer.Option(None, help="Frames per network window (default: its training window)."),
    overlap: int | None = typer.Option(None, help="Overlap of consecutive windows (default: half a window)."),
    video: Path | None = typer.Option(None, help="Also write a side-by-side video (.gif or .mp4); one acquisition only."),
    slice_: int = typer.Option(0, "--slice", help="Slice shown in the video."),
    iters: int | None = typer.Option(None, help=f"Iterations of iterative methods {default(_C.n_iter)}."),
    lam: float | None = typer.Option(None, help=f"Relative spatial (wavelet) weight {default(_C.lam)}."),
    set_: list[str] | None = typer.Option(None, "--set", help="FIELD=VALUE for any CSConfig field (repeatable)."),
    config: Path | None = typer.Option(None, help="YAML file overriding CSConfig fields (flags override the file)."),
    fmt: str = typer.Option("file", "--format", help="file (.npz/.h5, default) | dicom (a folder of MR images) | nifti (.nii/.nii.gz)."),
    coil_maps: str | None = typer.Option(None, help="Estimate coil maps from the data first: walsh | inati | espirit (needs sigpy)."),
    auto_tune: str | None = typer.Option(None, "--auto-tune", help="Choose the method's weights and iterations without ground truth: holdout | discrepancy."),
    tune_slices: int = typer.Option(2, help="Slices the --auto-tune search runs on (the choice applies to all)."),
    device: str = typer.Option("auto", help="auto (a GPU when there is one) | cpu | cuda | cuda:N."),
    precision: str = typer.Option("fp32", help="fp32 | bf16 (a network under autocast; its physics stays float32). Networks only."),
    threads: int | None = typer.Option(None, help="torch threads."),
):
    """Reconstruct every slice of one or many acquisition files."""
    from dynmri.config import parse_assignments
    from dynmri.recon.run import network_method

    set_threads(threads)
    overrides = {"n_iter": iters, "lam": lam, **parse_assignments(set_ or [], CSConfig, "--set")}
    inputs = expand_inputs(acquisitions, "an acquisition")
    _check_mode(len(inputs), out, out_dir, video, precision, model)
    chosen = method if model is None else network_method(model)
    options = {"config_file": config, "overrides": overrides, "window": window, "overlap": overlap, "auto_tune": auto_tune,
               "tune_slices": tune_slices, "fmt": fmt, "coil_maps": coil_maps, "device": device, "precision": precision}
    others = [("--model", model), ("--config", config)]
    if out_dir is None:
        _reconstruct_one(inputs[0], out, chosen, video, slice_, others, options)
    else:
        _reconstruct_many(inputs, out_dir, chosen, others, options)


def _check_mode(n: int, out, out_dir, video, precision: str, model) -> None:
    """One acquisition and ``--out``, or any number and ``--out-dir``; ``--video`` with one only;
    ``--precision bf16`` with a network only."""
    from dynmri.devices import check_precision
    from dynmri.errors import ParameterError

    if out is not None and out_dir is not None:
        raise ParameterError("give --out FILE (one acquisition) or --out-dir FOLDER (any number), not both")
    if out is None and out_dir is None:
        raise ParameterError("Missing option '--out' (one acquisition) or '--out-dir' (any number)")
    if out is not None and n > 1:
        raise ParameterError(f"--out names one file but {n} acquisitions were given; use --out-dir FOLDER")
    if video is not None and out_dir is not None:
        raise ParameterError("--video writes one file: give one acquisition and --out, or leave --video out")
    if check_precision(precision) != "fp32" and model is None:
        raise ParameterError(f"--precision {precision} applies to networks (--model); the methods run in float32")


def _reconstruct_one(acquisition, out, method: str, video, slice_: int, others, options: dict) -> None:
    """The one-file form: check the outputs, lock them, reconstruct, print (as it always was)."""
    from dynmri.cli.outputs import check_output_file, check_output_folder, locked
    from dynmri.data.files import SUFFIXES
    from dynmri.eval.runs import VIDEO_SUFFIXES, reconstruct_file

    inputs = [("acquisition", acquisition), *others]
    fmt = options["fmt"]
    if fmt == "dicom":
        check_output_folder(out, ("*",), inputs)
    else:
        check_output_file(out, (".nii", ".gz") if fmt == "nifti" else SUFFIXES, inputs)
    if video is not None:
        check_output_file(video, VIDEO_SUFFIXES, [*inputs, ("--out", out)], option="--video")
    with locked(out, video):
        stats = reconstruct_file(acquisition, out, method, video=video, slice_=slice_, **options)
    if stats.tuning is not None:
        t = stats.tuning
        chosen = ", ".join(f"{k}={v:g}" for k, v in t["weights"].items())
        typer.echo(f"auto-tune ({t['criterion']}, slices {t['slices']}, {t['seconds']:.1f} s): {chosen}, n_iter={t['n_iter']}")
    _wrote(out, stats)
    if video is not None:
        typer.echo(f"wrote {video}")


def _wrote(out, stats) -> None:
    typer.echo(f"wrote {out}: {stats.method}, {stats.frames} frames in {stats.seconds:.2f} s ({stats.frames_per_second:.1f} frames/s)")


def _reconstruct_many(inputs: list[Path], out_dir: Path, method: str, others, options: dict) -> None:
    """The many-file form: every output and the summary checked against every input and locked,
    then :func:`dynmri.eval.runs.reconstruct_files`; a table of the times at the end. Under
    ``torchrun`` the ranks share the files (:func:`dynmri.cli.common.sharded`): every rank checks,
    rank 0 holds the locks, prints the table and writes the summary."""
    from dynmri.cli.outputs import locked
    from dynmri.eval.runs import RECONSTRUCT_SUMMARY, batch_outputs, reconstruct_files
    from dynmri.parallel import settle

    with sharded(options["device"]) as (ctx, device), contextlib.ExitStack() as stack:
        options = options | ({"device": device} if ctx.distributed else {})

        def check_and_lock():
            outs = batch_outputs(inputs, out_dir, options["fmt"])
            summary = out_dir / RECONSTRUCT_SUMMARY
            _check_many(inputs, out_dir, outs, summary, others, options["fmt"])
            if ctx.main:
                stack.enter_context(locked(*outs, summary))
            return summary

        summary = settle(ctx, check_and_lock)
        result = reconstruct_files(inputs, out_dir, method, on_file=lambda r: _wrote(r.output, r.stats), ctx=ctx, **options)
    if ctx.main:
        typer.echo(result.table())
        typer.echo(f"wrote {summary}")


def _check_many(inputs, out_dir: Path, outs, summary: Path, others, fmt: str) -> None:
    """``out_dir`` and each output (and the summary) are none of the inputs (``check_output_*``)."""
    from dynmri.cli.outputs import check_output_file, check_output_folder
    from dynmri.data.files import SUFFIXES

    roles = [*(("input", p) for p in inputs), *others]
    check_output_folder(out_dir, [o.name for o in outs] + [summary.name], roles, option="--out-dir")
    for o in outs:
        if fmt == "dicom":
            check_output_folder(o, ("*",), roles, option="--out-dir")
        else:
            check_output_file(o, {"nifti": (".gz",), "json": (".json",)}.get(fmt, SUFFIXES), roles, option="--out-dir")
    check_output_file(summary, (".json",), roles, option="--out-dir")


@friendly_errors
def evaluate(
    recons: list[Path] = typer.Argument(..., help="Reconstruction file(s), or a quoted glob ('out/*.npz')."),
    reference: list[Path] = typer.Option(..., help="Acquisition file holding the ground truth ('target'): one for all, or once per reconstruction (in order)."),
    json_out: Path | None = typer.Option(None, "--json", help="Write metrics (means and per-frame lists) as JSON (one reconstruction)."),
    out_dir: Path | None = typer.Option(None, "--out-dir", help="Write each reconstruction's metrics to FOLDER/NAME.json, plus evaluate-summary.json."),
    roi: int | None = typer.Option(None, help="Centre square region of interest (pixels)."),
):
    """Score reconstructions against ground truth: PSNR, SSIM, NMSE on magnitudes."""
    from dynmri.cli.outputs import check_output_file, locked
    from dynmri.errors import ParameterError
    from dynmri.eval.report import metrics_table
    from dynmri.eval.runs import evaluate_file

    inputs = expand_inputs(recons, "a reconstruction")
    if json_out is not None and (out_dir is not None or len(inputs) > 1):
        raise ParameterError("--json writes one file: give one reconstruction, or use --out-dir FOLDER for several")
    if out_dir is not None or len(inputs) > 1 or len(reference) > 1:
        return _evaluate_many(inputs, reference, out_dir, roi)
    if json_out is not None:
        check_output_file(json_out, (".json",), [("reconstruction", inputs[0]), ("--reference", reference[0])], option="--json")
    with locked(json_out):
        name, m = evaluate_file(inputs[0], reference[0], roi=roi, json_out=json_out)
    typer.echo(metrics_table({name: m}))
    if json_out is not None:
        typer.echo(f"wrote {json_out}")


def _evaluate_many(inputs: list[Path], references: list[Path], out_dir: Path | None, roi: int | None) -> None:
    """Several reconstructions (or ``--out-dir``): checked paths, one metrics table, the times."""
    from dynmri.cli.outputs import locked
    from dynmri.eval.report import metrics_table
    from dynmri.eval.runs import EVALUATE_SUMMARY, batch_outputs, evaluate_files, pair_references

    refs = expand_inputs(references, "a reference")
    pair_references(inputs, refs)
    outs = summary = None
    if out_dir is not None:
        outs, summary = batch_outputs(inputs, out_dir, "json"), out_dir / EVALUATE_SUMMARY
        _check_many(inputs, out_dir, outs, summary, [("--reference", r) for r in refs], "json")
    with locked(*(outs or ()), summary):
        result, scores = evaluate_files(inputs, refs, out_dir, roi)
    typer.echo(metrics_table(scores))
    typer.echo(result.table())
    if summary is not None:
        typer.echo(f"wrote {len(outs)} metrics files and {summary}")
