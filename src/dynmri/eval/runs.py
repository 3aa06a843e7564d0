"""File to file: reconstruct an acquisition file into a reconstruction file (and a comparison
video), score a reconstruction file against the ground truth of its acquisition; what
``dynmri reconstruct`` and ``dynmri evaluate`` run."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from dynmri.recon.run import NETWORK, RunStats


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
) -> RunStats:
    """Reconstruct every slice of an acquisition file and write the reconstruction file ``out``.

    Parameters
    ----------
    acquisition, out : path
        Acquisition and reconstruction files (``.npz`` or ``.h5``).
    method : str
        A registered method or ``"network:SPEC"`` (:func:`dynmri.recon.run.run_method`).
    config_file, overrides :
        An iterative method's :class:`~dynmri.config.CSConfig`: its defaults, then the YAML file,
        then the non-None ``overrides`` (unused by direct methods and networks).
    window, overlap : int, optional
        Networks: frames per window and overlap.
    video : path, optional
        Also write a comparison video (``.gif``/``.mp4``) of slice ``slice_``.

    Returns
    -------
    RunStats
        Also stored in the file's metadata (with the configuration and per-slice cost history of
        an iterative method).
    """
    from dynmri.config import CSConfig, load_config
    from dynmri.data.files import Acquisition, Reconstruction
    from dynmri.eval.figures import save_reconstruction_video
    from dynmri.recon.methods import get_method
    from dynmri.recon.run import check_applicable, run_method, takes_config

    network = method.startswith(NETWORK)
    if not network:
        get_method(method)  # an unknown method fails before anything is read
    config = load_config(CSConfig, config_file, **dict(overrides or {})) if takes_config(method) else None
    acq = Acquisition.load(acquisition)
    check_applicable(acq, method, str(acquisition))
    recon, stats = run_method(acq, method, config, progress=progress, window=window, overlap=overlap, check=False)
    Reconstruction(recon, stats.metadata(acquisition=str(acquisition))).save(out)
    if video is not None:
        save_reconstruction_video(video, acq, {"network" if network else method: recon}, slice_)
    return stats


def evaluate_file(recon: str | os.PathLike, reference: str | os.PathLike, roi: int | None = None,
                  json_out: str | os.PathLike | None = None) -> tuple[str, dict]:
    """Score a reconstruction file against the ground truth (``target``) of an acquisition file:
    ``(method name, evaluate(...))`` (:func:`dynmri.eval.metrics.evaluate`), also written as JSON
    to ``json_out`` when given."""
    from dynmri.data.files import Acquisition, Reconstruction
    from dynmri.errors import DataError, ShapeError
    from dynmri.eval.metrics import evaluate
    from dynmri.eval.report import write_json

    rec = Reconstruction.load(recon)
    acq = Acquisition.load(reference)
    if acq.target is None:
        raise DataError(f"{reference}: has no ground truth ('target'); nothing to evaluate against")
    if rec.recon.shape != acq.target.shape:
        raise ShapeError(f"{recon}: recon shape {rec.recon.shape} does not match the reference target {acq.target.shape}")
    m = evaluate(rec.recon, acq.target, roi=roi)
    if json_out is not None:
        write_json(json_out, m)
    return rec.meta.get("method", Path(recon).name), m
