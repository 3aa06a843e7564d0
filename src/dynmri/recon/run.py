r"""The run layer: one call that reconstructs an acquisition with any method or trained network.

:func:`run_method` is the public entry point (in the spirit of sigpy's ``App`` over its pure
``Alg`` loops): the registered methods (:mod:`dynmri.recon.methods`, :mod:`dynmri.recon.cs`) and
the solvers under them (:mod:`dynmri.optim.solvers`) are pure per-slice loops; this layer adds
what a user of a whole acquisition wants around them: the loop over slices, the progress bar,
the timing (frames per second) and the cost history of iterative methods.

A method is a registered name (``dynmri info``) or ``"network:SPEC"``, a trained network given by
its run folder, ``.pt`` weights file or shipped name (``dynmri weights``), run window by window
(:func:`dynmri.recon.network.sliding_window`).

Shapes: an acquisition of ``S`` slices of ``T`` frames gives a complex reconstruction
``(S, T, H, W)``.

Examples
--------
>>> from dynmri.config import CSConfig, SimulateConfig
>>> from dynmri.data.acquire import simulate_from_config
>>> from dynmri.recon.run import run_method
>>> acq = simulate_from_config(SimulateConfig(accel=4, frames=4, size=32))
>>> recon, stats = run_method(acq, "lps", CSConfig(n_iter=3))
>>> recon.shape, stats.method, len(stats.costs[0])
((1, 4, 32, 32), 'lps', 3)
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path

import numpy as np
import torch

from dynmri.config import CSConfig
from dynmri.errors import ParameterError
from dynmri.recon.methods import (
    REQUIRES,
    _slice_inputs,
    acquisition_physics,
    applicable,
    check_options,
    get_method,
)

NETWORK = "network:"
"""Prefix of a method that is a trained network: ``"network:" + run folder, .pt file or shipped name``."""


@dataclass
class RunStats:
    """What a run cost and used.

    Attributes
    ----------
    method : str
        The method as given (``"network:SPEC"`` for networks).
    seconds : float
        Wall time of the reconstruction (model loading and first imports excluded).
    frames : int
        Frames reconstructed, ``S * T``.
    costs : list of list of float
        Objective value at each iteration, one list per slice (empty for direct methods and networks).
    config : dict or None
        The :class:`~dynmri.config.CSConfig` used by an iterative method, as a dict; None otherwise.
    network : dict or None
        For networks: the weights spec, model, loss, window and overlap used.
    tuning : dict or None
        When the weights were chosen from the data (``--auto-tune``): criterion, weights, ``n_iter``.
    """

    method: str
    seconds: float
    frames: int
    costs: list[list[float]] = field(default_factory=list)
    config: dict | None = None
    network: dict | None = None
    tuning: dict | None = None

    @property
    def frames_per_second(self) -> float:
        return self.frames / self.seconds if self.seconds > 0 else float("inf")

    def metadata(self, **extra) -> dict:
        """The metadata of a :class:`~dynmri.data.files.Reconstruction` file of this run: method,
        ``extra`` (e.g. the acquisition's path), time, and the configuration and per-slice costs
        of an iterative method."""
        meta = {"method": self.method, **extra, "seconds": self.seconds, "frames_per_second": self.frames_per_second}
        if self.config is not None:
            meta |= {"config": self.config, "cost_per_iteration": self.costs}
        if self.tuning is not None:
            meta |= {"auto_tune": self.tuning}
        return meta


def network_method(spec: str | os.PathLike) -> str:
    """The method name of a trained network (run folder, ``.pt`` file or shipped name)."""
    return NETWORK + str(spec)


def takes_config(method: str) -> bool:
    """Whether a registered method is iterative and takes a :class:`~dynmri.config.CSConfig`."""
    return not method.startswith(NETWORK) and REQUIRES[method] != "any"


def check_applicable(acq, method: str, source: str = "the acquisition") -> None:
    """Raise a :class:`~dynmri.errors.ParameterError` naming what ``method`` needs when it cannot
    reconstruct ``acq`` (``source`` names the acquisition in the message)."""
    if method.startswith(NETWORK):
        return  # checked by the network runner, once its weights are found
    get_method(method)
    if applicable(method, acq.multicoil, acq.coil_maps is not None, acq.noncartesian):
        return
    need = {"multicoil": "multi-coil k-space (Cartesian)", "noncartesian": "non-Cartesian k-space (single-coil or with maps)"}.get(
        REQUIRES[method], "single-coil k-space or coil maps")
    have = ("multi-coil k-space without coil maps" if acq.coil_maps is None else "multi-coil k-space") if acq.multicoil else "single-coil k-space"
    have = ("non-Cartesian " if acq.noncartesian else "") + have
    raise ParameterError(f"{method} needs {need}; {source} has {have}")


def _cost_recorder(costs: list, user: Callable | None):
    """``callback(k, x, cost)`` appending each slice's costs to a new list of ``costs`` (one per
    slice, started at iteration 0) and calling ``user`` after it. Without ``user`` it asks for no
    image, so coefficient-domain solvers skip the synthesis."""

    def record(k, x, c):
        if k == 0:
            costs.append([])
        if c is not None:
            costs[-1].append(c)
        if user is not None:
            user(k, x, c)

    record.needs_image = user is not None and getattr(user, "needs_image", True)
    return record


def _classical(acq, method: str, config, device: str, progress: bool, callback, options: dict):
    """``(name, per-slice function, stats fields)`` of a registered method."""
    fn = get_method(method)
    costs: list[list[float]] = []
    extra: dict = {}
    if takes_config(method):
        config = CSConfig(**config) if isinstance(config, dict) else (config or CSConfig())
        names = {f.name for f in fields(CSConfig)}  # CSConfig fields among the options override it
        config = replace(config, **{k: v for k, v in options.items() if k in names}).validate()
        options = {k: v for k, v in options.items() if k not in names}
        options |= {"config": config, "callback": _cost_recorder(costs, callback)}
        extra["config"] = asdict(config)
    elif callback is not None:
        options = {"callback": callback, **options}

    def one(y, mask, maps):
        physics = acquisition_physics(acq, mask, maps, device)
        return fn(y, physics, progress=progress, **options)

    return method, one, {"costs": costs, **extra}


def _network(acq, spec: str, device: str, window: int | None, overlap: int | None):
    """``(progress label, per-slice function, stats fields)`` of a trained network."""
    from dynmri.models.weights import load_trained, resolve_weights
    from dynmri.recon.network import sliding_window

    model, cfg = load_trained(resolve_weights(spec))
    if acq.multicoil and acq.coil_maps is None:
        raise ParameterError("networks need single-coil k-space or coil maps")
    model = model.to(device)
    window = window or cfg.window
    overlap = window // 2 if overlap is None else overlap
    time_dim = -2 if acq.noncartesian else -3

    def one(y, mask, maps):
        phys = lambda a, b: acquisition_physics(acq, mask, maps, device, a, b)  # noqa: E731
        return sliding_window(model, y, phys, acq.frames, window, overlap, time_dim=time_dim)

    info = {"spec": spec, "model": cfg.model, "loss": cfg.loss, "window": window, "overlap": overlap}
    return f"{cfg.model}-{cfg.loss}", one, {"network": info}


def run_method(acquisition, method: str = "zero-filled", config: CSConfig | dict | None = None, *, progress: bool = False,
               device: str = "cpu", window: int | None = None, overlap: int | None = None, callback: Callable | None = None,
               check: bool = True, **options) -> tuple[np.ndarray, RunStats]:
    r"""Reconstruct every slice of an acquisition; returns ``(recon, stats)``.

    Parameters
    ----------
    acquisition : Acquisition or path
        An :class:`~dynmri.data.files.Acquisition` or its file (``.npz``/``.h5``).
    method : str
        A registered method (``dynmri info``) or ``"network:SPEC"`` (:func:`network_method`), SPEC a
        run folder, ``.pt`` file or shipped name.
    config : CSConfig or dict, optional
        Settings of an iterative method (default :class:`~dynmri.config.CSConfig`); ignored by
        direct methods (zero-filled) and networks.
    progress : bool
        Progress bars: one over slices, and the iterations of iterative methods.
    window, overlap : int, optional
        Networks only: frames per window (default: the training window) and overlap of
        consecutive windows (default: half a window).
    callback : callable, optional
        ``callback(k, x, cost)`` at every iteration of an iterative method, after the cost record.
    check : bool
        First raise a :class:`~dynmri.errors.ParameterError` naming what the method needs when it
        does not apply to the data (:func:`check_applicable`); False leaves that to the method.
    **options
        Passed on to the method (e.g. ``density_method="pipe"``, or CSConfig fields overriding
        ``config``). ``device`` is the torch device.

    Returns
    -------
    recon : numpy.ndarray
        Complex ``(S, T, H, W)``.
    stats : RunStats
        Time, frames per second, per-slice cost history (``stats.costs[s][k]``: cost of
        iteration ``k`` on slice ``s``), the configuration used.
    """
    import deepinv.physics  # noqa: F401  (its first import, ~2 s, is not reconstruction time)

    source = "the acquisition"
    if isinstance(acquisition, (str, os.PathLike)):
        from dynmri.data.files import Acquisition

        source, acquisition = str(acquisition), Acquisition.load(Path(acquisition))
    if check:
        check_applicable(acquisition, method, source)
    if method.startswith(NETWORK):
        label, one, fields_ = _network(acquisition, method[len(NETWORK):], device, window, overlap)
    else:
        label, one, fields_ = _classical(acquisition, method, config, device, progress, callback, options)
    t0 = time.perf_counter()
    recon = _over_slices(acquisition, one, label, device, progress)
    secs = time.perf_counter() - t0
    return recon, RunStats(method, secs, recon.shape[0] * recon.shape[1], **fields_)


def _over_slices(acq, one: Callable, label: str, device: str, progress: bool) -> np.ndarray:
    """``one(y, mask, maps)`` on every slice (no autograd), with a progress bar; complex ``(S, T, H, W)``."""
    from tqdm.auto import tqdm

    from dynmri._complex import channels_to_np

    out = []
    for s in tqdm(range(acq.kspace.shape[0]), desc=label, disable=not progress, unit="slice"):
        y, mask, maps = _slice_inputs(acq, s, device)
        with torch.no_grad():
            out.append(channels_to_np(one(y, mask, maps))[0])
    return np.stack(out)


def reconstruct_acquisition(acq, method: str = "zero-filled", *, device: str = "cpu", progress: bool = False, **options) -> np.ndarray:
    """Reconstruct every sample of an :class:`~dynmri.data.files.Acquisition`; returns complex ``(S, T, H, W)``.

    ``options`` go to the method (e.g. ``config=CSConfig(...)`` for compressed sensing), checked
    first (:func:`check_options`). Multi-coil k-space without coil maps gets the coil-wise
    operator (calibrationless). A thin call of :func:`dynmri.recon.run.run_method` (which also
    returns time and cost history).
    """
    check_options(method, {"progress": progress, **options})
    config = options.pop("config", None)
    return run_method(acq, method, config, device=device, progress=progress, check=False, **options)[0]


def reconstruct_with_model(acq, weights, *, window: int | None = None, overlap: int | None = None, device: str = "cpu", progress: bool = False) -> np.ndarray:
    """Reconstruct an :class:`~dynmri.data.files.Acquisition` with a trained network (run folder, weights
    file or shipped name), window by window for videos longer than its training window.

    A thin call of :func:`dynmri.recon.run.run_method` with method ``"network:" + weights``."""
    return run_method(acq, network_method(weights), window=window, overlap=overlap, device=device, progress=progress, check=False)[0]
