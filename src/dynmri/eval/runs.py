"""File to file: reconstruct an acquisition file into a reconstruction file (and a comparison
video), score a reconstruction file against the ground truth of its acquisition; what
``dynmri reconstruct`` and ``dynmri evaluate`` run."""

from __future__ import annotations

import os
from collections.abc import Mapping
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path

from dynmri.recon.run import NETWORK, RunStats

VIDEO_SUFFIXES = (".gif", ".mp4")
SSIM_WINDOW = 11
"""Side of the SSIM window (:mod:`dynmri.eval.metrics`): the smallest region of interest."""


def reconstruct_file(
    acquisition: str | os.PathLike,
    out: str | os.PathLike,
    method: str = "zero-filled",
    *,
    config_file: str | os.PathLike | None = None,
    overrides: Mapping | None = None,
    window: int | None = None,
    overlap: int | None = None,
    video: str | os.PathLike | None = None,
    slice_: int = 0,
    progress: bool = True,
    auto_tune: str | None = None,
    tune_slices: int | None = 2,
    fmt: str = "file",
    coil_maps: str | None = None,
    device="cpu",
    precision: str = "fp32",
) -> RunStats:
    """Reconstruct every slice of an acquisition file (dynmri, ISMRMRD or twix) and write ``out``.

    Everything is checked before the reconstruction runs (output format and suffixes, the method
    and its configuration, ``window``/``overlap``, the acquisition, ``slice_``, the wavelet levels,
    ``auto_tune``, ``coil_maps``, ``device``, ``precision``). The outputs are written together at
    the end, so a failure leaves none; ``out`` and ``video`` are locked while in use
    (:func:`dynmri.fileio.exclusive_lock`).

    Parameters
    ----------
    method : str
        A registered method or ``"network:SPEC"`` (:func:`dynmri.recon.run.run_method`).
    config_file, overrides :
        An iterative method's :class:`~dynmri.config.CSConfig`: defaults, then the YAML file, then
        the non-None ``overrides`` (unused by direct methods and networks).
    window, overlap : networks' frames per window (>= 2) and overlap (in ``[0, window)``).
    video, slice_ : also write a comparison video (``.gif``/``.mp4``) of slice ``slice_``.
    auto_tune, tune_slices :
        ``"holdout"`` or ``"discrepancy"``: choose the weights and ``n_iter`` from the data alone
        on ``tune_slices`` slices first (:func:`dynmri.recon.tune.auto_tune`).
    fmt, coil_maps :
        ``"file"`` (``.npz``/``.h5``), ``"dicom"`` (a folder) or ``"nifti"`` (``.nii[.gz]``);
        coil maps estimated from the data first (:data:`dynmri.recon.coilmaps.ESTIMATORS`).
    device, precision :
        ``auto``/``cpu``/``cuda``/``cuda:N``; ``fp32`` or ``bf16`` (networks only,
        :func:`dynmri.recon.run.run_method`).

    Returns the :class:`~dynmri.recon.run.RunStats`, also stored in a dynmri file's metadata.
    """
    from dynmri.fileio import exclusive_lock

    check_outputs(out, video, fmt)
    job = ReconJob.checked(method, config_file, overrides, window, overlap, auto_tune, tune_slices, coil_maps, device, precision)
    with exclusive_lock(out), (exclusive_lock(video) if video is not None else nullcontext()):
        acq = job.load(acquisition, slice_ if video is not None else None)
        return job.run(acq, acquisition, out, video=video, slice_=slice_, fmt=fmt, progress=progress)


@dataclass
class ReconJob:
    """One reconstruction set-up applied to any number of acquisitions: the method, its checked
    configuration and options, the device and precision, and the network once loaded
    (:meth:`load_network`). Built by :meth:`checked`, which validates everything but the files."""

    method: str
    config: object
    window: int | None
    overlap: int | None
    auto_tune: str | None
    tune_slices: int | None
    coil_maps: str | None
    device: object
    precision: str
    network: object = None

    @classmethod
    def checked(cls, method, config_file=None, overrides=None, window=None, overlap=None, auto_tune=None, tune_slices=2,
                coil_maps=None, device="cpu", precision="fp32") -> ReconJob:
        """Check the options (method, configuration, windows, tuning, coil maps, device, precision)."""
        from dynmri.devices import check_precision, resolve_device

        check_windows(window, overlap)
        network = method.startswith(NETWORK)
        config = _checked_config(method, network, config_file, overrides)
        check_tuning(method, auto_tune, tune_slices, coil_maps)
        check_precision(precision)
        device = resolve_device(device)
        return cls(method, config, window, overlap, auto_tune, tune_slices, coil_maps, device, precision)

    @property
    def label(self) -> str:
        return "network" if self.method.startswith(NETWORK) else self.method

    def load_network(self) -> None:
        """Load the network of a ``network:SPEC`` method once (no-op otherwise)."""
        from dynmri.recon.run import load_network

        if self.method.startswith(NETWORK) and self.network is None:
            self.network = load_network(self.method[len(NETWORK):], self.device)

    def load(self, acquisition, slice_: int | None = None):
        """Read and check an acquisition (coil maps estimated when asked): the method applies,
        ``slice_`` exists, the wavelet levels fit."""
        from dynmri.data.files import Acquisition

        acq = _with_maps(Acquisition.load(acquisition), self.coil_maps)
        check_against(acq, self.method, self.config, str(acquisition), slice_)
        return acq

    def run(self, acq, acquisition, out, *, video=None, slice_: int = 0, fmt: str = "file", progress: bool = True) -> RunStats:
        """Reconstruct ``acq`` (read from ``acquisition``) and write ``out`` (and ``video``), atomically."""
        from dynmri.recon.run import run_method

        config, tuned = _tuned(acq, self.method, self.config, self.auto_tune, self.tune_slices)
        recon, stats = run_method(acq, self.method, config, progress=progress, window=self.window, overlap=self.overlap,
                                  check=False, device=self.device, precision=self.precision, network=self.network)
        stats.tuning = tuned
        _write_outputs(out, video, acq, recon, stats.metadata(acquisition=str(acquisition)), self.label, slice_, fmt)
        return stats


def _checked_config(method: str, network: bool, config_file, overrides):
    """The method's :class:`CSConfig` (defaults, file, overrides), None for direct methods and
    networks; an unknown method fails here, before anything is read."""
    from dynmri.config import CSConfig, load_config
    from dynmri.recon.methods import get_method
    from dynmri.recon.run import takes_config

    if not network:
        get_method(method)
    return load_config(CSConfig, config_file, **dict(overrides or {})) if takes_config(method) else None


def check_tuning(method: str, criterion: str | None, slices: int | None, coil_maps: str | None = None) -> None:
    """``--auto-tune``: a known criterion, a method with weights, at least one tuning slice;
    ``--coil-maps``: a known estimator."""
    from dynmri.errors import ParameterError
    from dynmri.recon.tune import CRITERIA, WEIGHTS

    if coil_maps is not None:
        from dynmri.recon.coilmaps import ESTIMATORS

        ESTIMATORS.get(coil_maps)
    if criterion is None:
        return
    if criterion not in CRITERIA:
        raise ParameterError(f"--auto-tune {criterion!r}: valid criteria are {', '.join(CRITERIA)}")
    if method not in WEIGHTS:
        raise ParameterError(f"--auto-tune: {method} has no weights to tune; tunable methods: {', '.join(WEIGHTS)}")
    if slices is not None and slices < 1:
        raise ParameterError(f"--tune-slices must be >= 1, got {slices}")


def _tuned(acq, method: str, config, criterion: str | None, slices: int | None):
    """The configuration to run (tuned when ``criterion`` is given) and what to record about it."""
    if criterion is None:
        return config, None
    from dynmri.recon.tune import auto_tune

    res = auto_tune(acq, method, criterion=criterion, config=config, slices=slices)
    return res.config, {"criterion": criterion, "weights": res.weights, "n_iter": res.n_iter, "slices": res.slices,
                        "seconds": res.seconds, "notes": res.notes, "table": res.table}


FORMATS = ("file", "dicom", "nifti")
"""Output formats of :func:`reconstruct_file`: a dynmri file, a DICOM series folder, a NIfTI file."""


def check_outputs(out: str | os.PathLike, video: str | os.PathLike | None = None, fmt: str = "file") -> None:
    """The output format and suffix (``.npz``/``.h5`` file, ``.nii``/``.nii.gz`` NIfTI, any
    folder name for DICOM) and the suffix of a video (``.gif``/``.mp4``)."""
    from dynmri.data.files import _check_suffix
    from dynmri.errors import ParameterError

    if fmt not in FORMATS:
        raise ParameterError(f"--format {fmt!r}: valid formats are {', '.join(FORMATS)}")
    if fmt == "file":
        _check_suffix(Path(out))
    elif fmt == "nifti" and not str(out).lower().endswith((".nii", ".nii.gz")):
        raise ParameterError(f"{out}: a NIfTI output must end in .nii or .nii.gz")
    if video is not None and Path(video).suffix.lower() not in VIDEO_SUFFIXES:
        raise ParameterError(f"{video}: a video must end in {' or '.join(VIDEO_SUFFIXES)}")


def check_windows(window: int | None, overlap: int | None) -> None:
    """A network's frames per window (>= 2) and the overlap of consecutive windows (in ``[0, window)``)."""
    from dynmri.errors import ParameterError

    if window is not None and window < 2:
        raise ParameterError(f"window must be >= 2 frames, got {window}")
    if overlap is not None and overlap < 0:
        raise ParameterError(f"overlap must be >= 0 frames, got {overlap}")
    if window is not None and overlap is not None and overlap >= window:
        raise ParameterError(f"overlap must be in [0, window) = [0, {window}), got {overlap}")


def check_against(acq, method: str, config, source: str, slice_: int | None = None) -> None:
    r"""What can only be checked once the acquisition is read: the method applies to it, the
    video's slice exists, and the wavelet levels of ``config`` fit the image,
    :math:`1 \le J \le \lfloor \log_2 \min(H, W) \rfloor` (levels that do not divide the
    size are then reduced, :mod:`dynmri.recon.cs`)."""
    import math

    from dynmri.errors import ParameterError
    from dynmri.recon.run import check_applicable

    check_applicable(acq, method, source)
    S = acq.kspace.shape[0]
    if slice_ is not None and not 0 <= slice_ < S:
        raise ParameterError(f"--slice must be in 0..{S - 1} ({source} has {S} slice(s)), got {slice_}")
    if config is not None:
        most = int(math.log2(min(acq.image_shape)))
        if config.levels > most:
            raise ParameterError(f"levels must be in 1..{most} for {acq.image_shape[0]}x{acq.image_shape[1]} images, got {config.levels}")


def _with_maps(acq, estimator: str | None):
    """``acq`` with coil maps estimated from its data when ``estimator`` is given."""
    if estimator is None:
        return acq
    from dynmri.recon.coilmaps import with_coil_maps

    return with_coil_maps(acq, estimator)


def _write_outputs(out, video, acq, recon, meta: dict, label: str, slice_: int, fmt: str = "file") -> None:
    """The video and the reconstruction (a dynmri file, a DICOM series or a NIfTI file, with the
    acquisition's geometry and frame times), all of them or none: the one written last is moved
    into place only when the other succeeded."""
    from dynmri.data.export import write_dicom, write_nifti
    from dynmri.data.files import Reconstruction
    from dynmri.eval.figures import save_reconstruction_video
    from dynmri.fileio import atomic_path

    if fmt == "file":
        with atomic_path(out) as tmp:
            Reconstruction(recon, meta).save(tmp)
            if video is not None:
                save_reconstruction_video(video, acq, {label: recon}, slice_)
        return
    with atomic_path(video) if video is not None else nullcontext() as tmp_video:
        if video is not None:
            save_reconstruction_video(tmp_video, acq, {label: recon}, slice_)
        if fmt == "dicom":
            write_dicom(recon, out, meta=acq.meta, method=meta["method"])
        else:
            write_nifti(recon, out, meta=acq.meta)


def evaluate_file(recon: str | os.PathLike, reference: str | os.PathLike, roi: int | None = None,
                  json_out: str | os.PathLike | None = None) -> tuple[str, dict]:
    """Score a reconstruction file against the ground truth (``target``) of an acquisition file:
    ``(method name, evaluate(...))`` (:func:`dynmri.eval.metrics.evaluate`), also written as JSON
    to ``json_out`` (locked while written) when given. ``roi``: the side of a centred square, from
    the SSIM window (11) to the image size."""
    from dynmri.eval.metrics import evaluate
    from dynmri.eval.report import write_json
    from dynmri.fileio import exclusive_lock

    rec, target = load_pair(recon, reference, roi)
    m = evaluate(rec.recon, target, roi=roi)
    if json_out is not None:
        with exclusive_lock(json_out):
            write_json(json_out, m)
    return rec.meta.get("method", Path(recon).name), m


def check_roi(roi: int | None) -> None:
    """``roi`` is at least the SSIM window (11 pixels)."""
    from dynmri.errors import ParameterError

    if roi is not None and roi < SSIM_WINDOW:
        raise ParameterError(f"roi must be >= {SSIM_WINDOW} pixels (the SSIM window), got {roi}")


def load_pair(recon, reference, roi: int | None = None, targets: dict | None = None):
    """``(Reconstruction, target)``: a reconstruction file and the ground truth of its reference
    acquisition, checked (a target exists, the shapes match, ``roi`` fits the images).
    ``targets`` caches the references' targets by path (many reconstructions, one reference)."""
    from dynmri.data.files import Acquisition, Reconstruction
    from dynmri.errors import DataError, ParameterError, ShapeError

    check_roi(roi)
    rec = Reconstruction.load(recon)
    key = Path(reference).resolve()
    target = targets.get(key) if targets is not None else None
    if target is None:
        target = Acquisition.load(reference).target
        if target is None:
            raise DataError(f"{reference}: has no ground truth ('target'); nothing to evaluate against")
        if targets is not None:
            targets[key] = target
    if rec.recon.shape != target.shape:
        raise ShapeError(f"{recon}: recon shape {rec.recon.shape} does not match the reference target {target.shape}")
    if roi is not None and roi > min(target.shape[-2:]):
        raise ParameterError(f"roi must be in {SSIM_WINDOW}..{min(target.shape[-2:])} pixels for these images, got {roi}")
    return rec, target


def pair_references(recons, references) -> list:
    """The reference of each reconstruction: one reference for all, or one per reconstruction
    (in order); anything else is a :class:`~dynmri.errors.ParameterError`."""
    from dynmri.errors import ParameterError

    references = list(references)
    if len(references) == 1:
        return references * len(recons)
    if len(references) != len(recons):
        raise ParameterError(f"--reference: give one for all reconstructions or one per reconstruction "
                             f"({len(recons)}), got {len(references)}")
    return references


def evaluate_files(recons, references, out_dir: str | os.PathLike | None = None, roi: int | None = None,
                   on_file=None) -> tuple[BatchResult, dict[str, dict]]:
    """Score many reconstruction files (:func:`evaluate_file`), each against its reference
    (:func:`pair_references`); every pair is read and checked first. With ``out_dir``, each
    file's metrics go to ``out_dir/NAME.json`` (:func:`batch_outputs`) and the summary, with
    every file's means, to :data:`EVALUATE_SUMMARY`. Returns the runs and ``{input: metrics}``."""
    import time

    from dynmri.eval.metrics import evaluate
    from dynmri.eval.report import write_json

    t_start = time.perf_counter()
    refs = pair_references(recons, references)
    outs = batch_outputs(recons, out_dir, "json") if out_dir is not None else [""] * len(recons)
    targets: dict = {}
    pairs = [load_pair(r, ref, roi, targets) for r, ref in zip(recons, refs, strict=True)]
    result = BatchResult([FileRun(str(r), str(o)) for r, o in zip(recons, outs, strict=True)],
                         validation_seconds=time.perf_counter() - t_start,
                         summary=Path(out_dir) / EVALUATE_SUMMARY if out_dir is not None else None,
                         info={"command": "evaluate", "references": [str(r) for r in refs], "roi": roi})
    scores: dict[str, dict] = {}
    for run, (rec, target) in zip(result.runs, pairs, strict=True):
        t0 = time.perf_counter()
        m = evaluate(rec.recon, target, roi=roi)
        if out_dir is not None:
            write_json(run.output, m)
        scores[run.input] = m
        run.status, run.seconds = "ok", time.perf_counter() - t0
        if on_file is not None:
            on_file(run)
    result.total_seconds = time.perf_counter() - t_start
    if result.summary is not None:
        summary = result.summary_dict()
        for row in summary["files"]:
            row |= {k: scores[row["input"]][k] for k in ("psnr", "psnr_std", "ssim", "ssim_std", "nmse", "nmse_std")}
        write_json(result.summary, summary)
    return result, scores


# --------------------------------------------------------------------------- many files, one start-up
RECONSTRUCT_SUMMARY = "reconstruct-summary.json"
EVALUATE_SUMMARY = "evaluate-summary.json"
"""The machine-readable summaries written in ``--out-dir`` (atomically) by the many-file forms."""
PRELOAD_BYTES = 512 * 2**20
"""Acquisitions read during the up-front validation are kept for the run while they total less
than this; the others are read again when their turn comes."""


def batch_outputs(inputs, out_dir: str | os.PathLike, fmt: str = "file") -> list[Path]:
    """The output of each input in ``out_dir``, named after it: ``a.npz`` -> ``out_dir/a.npz``
    (``.npz``/``.h5`` keep their suffix, scanner files become ``.npz``), ``out_dir/a.nii.gz``
    (NIfTI), ``out_dir/a`` (a DICOM series folder), ``out_dir/a.json`` (``fmt="json"``: the
    metrics of ``evaluate``).

    Raises
    ------
    ParameterError
        No inputs, or two inputs that map to the same output (the same file twice, or the same
        name in two folders).
    """
    from dynmri.data.files import SUFFIXES
    from dynmri.errors import ParameterError

    if not inputs:
        raise ParameterError("no input files")
    if fmt not in (*FORMATS, "json"):
        raise ParameterError(f"--format {fmt!r}: valid formats are {', '.join(FORMATS)}")
    outs, seen = [], {}
    for inp in map(Path, inputs):
        stem = inp.name[: -len(".nii.gz")] if inp.name.lower().endswith(".nii.gz") else inp.stem
        suffix = inp.suffix.lower() if inp.suffix.lower() in SUFFIXES else ".npz"
        name = {"file": stem + suffix, "nifti": stem + ".nii.gz", "dicom": stem, "json": stem + ".json"}[fmt]
        if name in seen:
            raise ParameterError(f"{seen[name]} and {inp} would both be written to {Path(out_dir) / name}; "
                                 "give each input once, with distinct file names")
        seen[name] = inp
        outs.append(Path(out_dir) / name)
    return outs


@dataclass
class FileRun:
    """What happened to one input of a many-file command."""

    input: str
    output: str
    status: str = "not run"  # ok | failed | not run
    seconds: float = 0.0  # the whole file: read (when not preloaded), reconstruct or score, write
    stats: RunStats | None = None
    error: str | None = None

    def row(self) -> dict:
        out = {"input": self.input, "output": self.output, "status": self.status, "seconds": round(self.seconds, 4)}
        if self.stats is not None:
            out |= {"frames": self.stats.frames, "reconstruction_seconds": round(self.stats.seconds, 4),
                    "frames_per_second": round(self.stats.frames_per_second, 2)}
        return out | ({"error": self.error} if self.error else {})


@dataclass
class BatchResult:
    """The runs of a many-file command and its fixed costs (seconds)."""

    runs: list[FileRun]
    validation_seconds: float = 0.0
    network_seconds: float = 0.0
    total_seconds: float = 0.0
    summary: Path | None = None
    info: dict | None = None
    world: int = 1  # processes (torchrun ranks) that shared the files

    def summary_dict(self) -> dict:
        """The summary; with several ranks also ``world_size`` (each file's times are its rank's,
        ``validation_seconds``, ``network_load_seconds`` and ``total_seconds`` are rank 0's)."""
        ok = [r for r in self.runs if r.status == "ok"]
        return {**(self.info or {}), "files": [r.row() for r in self.runs], "finished": len(ok), "of": len(self.runs),
                "validation_seconds": round(self.validation_seconds, 4), "network_load_seconds": round(self.network_seconds, 4),
                "total_seconds": round(self.total_seconds, 4), **({"world_size": self.world} if self.world > 1 else {})}

    def table(self) -> str:
        """Per-file and total times, Markdown."""
        lines = ["| input | output | status | frames | reconstruct s | file s |", "|---|---|---|---:|---:|---:|"]
        for r in self.runs:
            frames, rec = (r.stats.frames, f"{r.stats.seconds:.2f}") if r.stats is not None else ("", "")
            lines.append(f"| {r.input} | {r.output} | {r.status} | {frames} | {rec} | {r.seconds:.2f} |")
        frames = sum(r.stats.frames for r in self.runs if r.stats is not None)
        rec = sum(r.stats.seconds for r in self.runs if r.stats is not None)
        lines.append(f"| total ({len(self.runs)} files) | | | {frames} | {rec:.2f} | {self.total_seconds:.2f} |")
        ranks = (f"\n\n{self.world} ranks: reconstruct s is summed over the ranks' files; the total file s is the wall time"
                 if self.world > 1 else "")
        checked = "read and checked every input" if self.world == 1 else "rank 0 read and checked its share of the inputs"
        return "\n".join(lines) + (f"\n\n{checked} in {self.validation_seconds:.2f} s"
                                    + (f", loaded the network once in {self.network_seconds:.2f} s" if self.network_seconds else "")) + ranks

    def write_summary(self) -> None:
        from dynmri.eval.report import write_json

        if self.summary is not None:
            write_json(self.summary, self.summary_dict())


def _stop(result: BatchResult, failed: FileRun, exc: Exception | None = None):
    """Record the failure of ``failed`` (``exc``; None: recorded already, on another rank), write
    the summary, raise one error naming what was kept."""
    from dynmri.errors import DataError

    if exc is not None:
        _record_failure(failed, exc)
    result.write_summary()
    kept = [r.output for r in result.runs if r.status == "ok"]
    where = f"; summary in {result.summary}" if result.summary is not None else ""
    raise DataError(f"{failed.error} (stopped at {failed.input}, file {result.runs.index(failed) + 1} of {len(result.runs)}; "
                    f"{len(kept)} finished and kept: {', '.join(kept) or 'none'}{where})") from exc


def _record_failure(run: FileRun, exc: Exception) -> None:
    from dynmri.errors import DynMRIError, os_error_message

    run.status, run.error = "failed", str(exc) if isinstance(exc, DynMRIError) else os_error_message(exc)


def reconstruct_files(acquisitions, out_dir: str | os.PathLike, method: str = "zero-filled", *, config_file=None,
                      overrides: Mapping | None = None, window: int | None = None, overlap: int | None = None,
                      progress: bool = True, auto_tune: str | None = None, tune_slices: int | None = 2, fmt: str = "file",
                      coil_maps: str | None = None, device="cpu", precision: str = "fp32", on_file=None, ctx=None) -> BatchResult:
    """Reconstruct many acquisition files with one set-up, each into ``out_dir`` under its own name
    (:func:`batch_outputs`), and write :data:`RECONSTRUCT_SUMMARY` there.

    Order of work: the options are checked (:meth:`ReconJob.checked`), then every input is read
    and checked (:meth:`ReconJob.load`: file, shapes, the method applies, coil maps estimated)
    and the network is loaded, once; only then is anything written. A file that still fails
    while it is reconstructed stops the run: the outputs already finished stay (each is atomic),
    the summary records them, and one :class:`~dynmri.errors.DataError` names them.
    ``on_file(FileRun)`` is called after each finished file. Locks are the caller's (the CLI
    locks every output). Returns the :class:`BatchResult`.

    Many processes (``ctx``, a :class:`dynmri.parallel.Context` of ``world > 1``, under
    ``torchrun``): rank ``r`` checks the options and outputs, reads and checks its share of the
    inputs (files ``r, r + world, ...``: :func:`dynmri.parallel.shard`), loads the network, and
    the ranks agree before anything is written; each rank then reconstructs and writes its files,
    one per rank and round, the runs are gathered and rank 0 alone writes the summary, in input
    order. A failure on any rank stops every rank after that round (the files of later rounds are
    not run, as one process stops at its first failed file) with one error, raised on rank 0
    (:func:`dynmri.parallel.raise_together`); the others raise a quiet
    :class:`~dynmri.parallel.RankError`.
    """
    import time

    from dynmri.parallel import Context, settle, shard

    ctx = ctx or Context()
    t_start = time.perf_counter()
    mine = shard(acquisitions, ctx)
    job, outs, preloaded, t_net = settle(ctx, lambda: _prepare(acquisitions, mine, out_dir, method, fmt, device, config_file, overrides,
                                                                 window, overlap, auto_tune, tune_slices, coil_maps, precision))
    result = BatchResult([FileRun(str(a), str(o)) for a, o in zip(acquisitions, outs, strict=True)],
                         validation_seconds=t_net - t_start, network_seconds=time.perf_counter() - t_net,
                         summary=Path(out_dir) / RECONSTRUCT_SUMMARY, world=ctx.world,
                         info={"command": "reconstruct", "method": method, "device": str(job.device), "precision": precision})
    failure = _run_share(job, result, mine, preloaded, fmt, progress and ctx.main, on_file, ctx)
    if ctx.distributed:
        _merge_runs(ctx, result, mine, failure, t_start)
    elif failure is not None:
        result.total_seconds = time.perf_counter() - t_start
        _stop(result, *failure)
    result.total_seconds = time.perf_counter() - t_start
    settle(ctx, result.write_summary, main_only=True)
    return result


def _prepare(acquisitions, mine: list[int], out_dir, method: str, fmt: str, device, *options):
    """:func:`reconstruct_files`' checks before anything is written: ``(job, outputs, preloaded
    acquisitions of the indices mine, when the network load started)``."""
    import time

    outs = batch_outputs(acquisitions, out_dir, fmt)
    for out in outs:
        check_outputs(out, None, fmt)
    config_file, overrides, window, overlap, auto_tune, tune_slices, coil_maps, precision = options
    job = ReconJob.checked(method, config_file, overrides, window, overlap, auto_tune, tune_slices, coil_maps, device, precision)
    preloaded = _preload(job, [acquisitions[i] for i in mine])
    t_net = time.perf_counter()
    job.load_network()
    return job, outs, preloaded, t_net


def _run_share(job: ReconJob, result: BatchResult, mine: list[int], preloaded: list, fmt: str, progress: bool, on_file,
               ctx) -> tuple | None:
    """Reconstruct the files ``mine`` of ``result.runs`` in order; ``(run, error)`` of the first that
    fails (the others are not run), None when all finished. With several ranks in lockstep rounds
    (one file per rank, then :func:`dynmri.parallel.any_rank`): a failure on any rank stops every
    rank after the file of that round, as one process stops at its first failed file."""
    from dynmri.parallel import any_rank

    rounds = -(-len(result.runs) // ctx.world)  # ceil: the longest share
    for k in range(rounds):
        failure = None
        if k < len(mine):
            failure = _run_file(job, result.runs[mine[k]], preloaded, k, fmt, progress)
            if failure is None and on_file is not None:
                on_file(result.runs[mine[k]])
        if any_rank(ctx, failure is not None):
            return failure
    return None


def _run_file(job: ReconJob, run: FileRun, preloaded: list, k: int, fmt: str, progress: bool) -> tuple | None:
    """Reconstruct and write ``run`` (from ``preloaded[k]``, else read now, then dropped);
    ``(run, error)`` when it fails, else None."""
    import time

    from dynmri.errors import DynMRIError

    t0 = time.perf_counter()
    try:
        acq = preloaded[k] if preloaded[k] is not None else job.load(run.input)
        run.stats = job.run(acq, run.input, run.output, fmt=fmt, progress=progress)
    except (DynMRIError, OSError) as exc:
        run.seconds = time.perf_counter() - t0
        return run, exc
    preloaded[k] = None
    run.status, run.seconds = "ok", time.perf_counter() - t0
    return None


def _merge_runs(ctx, result: BatchResult, mine: list[int], failure, t_start: float) -> None:
    """Gather every rank's runs into ``result`` (input order); when any failed, rank 0 writes the
    summary and raises the error of the first failed file, the others a quiet RankError."""
    import time

    from dynmri.parallel import exchange, raise_together

    error = None
    if failure is not None:
        _record_failure(*failure)
        error = failure[1]
    parts, failures = exchange(ctx, (mine, [result.runs[i] for i in mine]), error)
    for indices, runs in parts:
        for i, run in zip(indices, runs, strict=True):
            result.runs[i] = run
    result.total_seconds = time.perf_counter() - t_start
    if failures and ctx.main:
        try:
            _stop(result, next(r for r in result.runs if r.status == "failed"))
        except Exception as exc:  # noqa: BLE001  the one error rank 0 reports
            error = exc
    raise_together(ctx, error, failures)


def _preload(job: ReconJob, acquisitions) -> list:
    """Read and check every acquisition (:meth:`ReconJob.load`) before anything is written; keep
    them while they total less than :data:`PRELOAD_BYTES` (None for the others)."""
    kept, total = [], 0
    for a in acquisitions:
        acq = job.load(a)
        size = sum(v.nbytes for v in (acq.kspace, acq.mask, acq.target, acq.coil_maps, acq.trajectory) if v is not None)
        total += size
        kept.append(acq if total <= PRELOAD_BYTES else None)
    return kept
