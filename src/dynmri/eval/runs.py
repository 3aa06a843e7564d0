"""File to file: reconstruct an acquisition file into a reconstruction file (and a comparison
video), score a reconstruction file against the ground truth of its acquisition; what
``dynmri reconstruct`` and ``dynmri evaluate`` run."""

from __future__ import annotations

import os
from collections.abc import Mapping
from contextlib import nullcontext
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
) -> RunStats:
    """Reconstruct every slice of an acquisition file (dynmri, ISMRMRD or twix) and write ``out``.

    Everything is checked before the reconstruction runs (output format and suffixes, the method
    and its configuration, ``window``/``overlap``, the acquisition, ``slice_``, the wavelet levels,
    ``auto_tune``, ``coil_maps``). The outputs are written together at the end, so a failure leaves
    none; ``out`` and ``video`` are locked while in use (:func:`dynmri.fileio.exclusive_lock`).

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

    Returns the :class:`~dynmri.recon.run.RunStats`, also stored in a dynmri file's metadata.
    """
    from dynmri.data.files import Acquisition
    from dynmri.fileio import exclusive_lock
    from dynmri.recon.run import run_method

    check_outputs(out, video, fmt)
    check_windows(window, overlap)
    network = method.startswith(NETWORK)
    config = _checked_config(method, network, config_file, overrides)
    check_tuning(method, auto_tune, tune_slices, coil_maps)
    with exclusive_lock(out), (exclusive_lock(video) if video is not None else nullcontext()):
        acq = _with_maps(Acquisition.load(acquisition), coil_maps)
        check_against(acq, method, config, str(acquisition), slice_ if video is not None else None)
        config, tuned = _tuned(acq, method, config, auto_tune, tune_slices)
        recon, stats = run_method(acq, method, config, progress=progress, window=window, overlap=overlap, check=False)
        stats.tuning = tuned
        _write_outputs(out, video, acq, recon, stats.metadata(acquisition=str(acquisition)), "network" if network else method, slice_, fmt)
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
    from dynmri.data.files import Acquisition, Reconstruction
    from dynmri.errors import DataError, ParameterError, ShapeError
    from dynmri.eval.metrics import evaluate
    from dynmri.eval.report import write_json
    from dynmri.fileio import exclusive_lock

    if roi is not None and roi < SSIM_WINDOW:
        raise ParameterError(f"roi must be >= {SSIM_WINDOW} pixels (the SSIM window), got {roi}")
    rec = Reconstruction.load(recon)
    acq = Acquisition.load(reference)
    if acq.target is None:
        raise DataError(f"{reference}: has no ground truth ('target'); nothing to evaluate against")
    if rec.recon.shape != acq.target.shape:
        raise ShapeError(f"{recon}: recon shape {rec.recon.shape} does not match the reference target {acq.target.shape}")
    if roi is not None and roi > min(acq.target.shape[-2:]):
        raise ParameterError(f"roi must be in {SSIM_WINDOW}..{min(acq.target.shape[-2:])} pixels for these images, got {roi}")
    m = evaluate(rec.recon, acq.target, roi=roi)
    if json_out is not None:
        with exclusive_lock(json_out):
            write_json(json_out, m)
    return rec.meta.get("method", Path(recon).name), m
