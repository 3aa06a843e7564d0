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


@dataclass
class LoadedNetwork:
    """A trained network loaded once (:func:`load_network`) and run on any number of acquisitions
    (``run_method(acq, network_method(spec), network=loaded)``).

    Attributes
    ----------
    spec : str
        The run folder, ``.pt`` file or shipped name it was loaded from.
    model : torch.nn.Module
        The network, on ``device``, in evaluation mode.
    config : TrainConfig
        Its training configuration (model, loss, window).
    device : torch.device
    seconds : float
        Time taken to find, load and move the weights.
    """

    spec: str
    model: torch.nn.Module
    config: object
    device: torch.device
    seconds: float = 0.0


def load_network(spec: str | os.PathLike, device="cpu") -> LoadedNetwork:
    """Find and load a trained network (run folder, ``.pt`` file or shipped name) onto ``device``
    once; untrusted files are refused (:func:`dynmri.models.weights.load_trained`)."""
    from dynmri.devices import resolve_device
    from dynmri.models.weights import load_trained, resolve_weights

    t0 = time.perf_counter()
    device = resolve_device(device)
    model, cfg = load_trained(resolve_weights(str(spec)))
    return LoadedNetwork(str(spec), model.to(device), cfg, device, time.perf_counter() - t0)


def _full_precision_physics(physics, device):
    """``physics`` whose operator calls run in float32 under autocast (:func:`dynmri.devices.full_precision`):
    a bfloat16 input is cast to float32 first, so FFTs, NUFFTs and data consistency never run in
    bf16. The methods are replaced on the instance, so ``isinstance`` dispatch is unchanged."""
    import functools

    from dynmri.devices import full_precision

    def wrap(fn):
        @functools.wraps(fn)
        def call(*args, **kwargs):
            args = [a.float() if torch.is_tensor(a) and a.dtype in (torch.bfloat16, torch.float16) else a for a in args]
            with full_precision(device):
                return fn(*args, **kwargs)

        return call

    for name in ("A", "A_adjoint", "A_dagger", "A_dagger_dcomp", "forward", "A_vjp", "prox_l2", "A_adjoint_A", "A_A_adjoint"):
        if callable(getattr(physics, name, None)):
            object.__setattr__(physics, name, wrap(getattr(physics, name)))
    return physics


def _network(acq, spec: str, device, window: int | None, overlap: int | None, precision: str = "fp32",
             loaded: LoadedNetwork | None = None):
    """``(progress label, per-slice function, stats fields)`` of a trained network (loaded here
    unless ``loaded`` is given); ``precision="bf16"`` runs it under autocast, its physics in float32."""
    from dynmri.devices import autocast
    from dynmri.recon.network import sliding_window

    if acq.multicoil and acq.coil_maps is None:
        raise ParameterError("networks need single-coil k-space or coil maps")
    if loaded is None:
        loaded = load_network(spec, device)
    elif loaded.spec != spec:
        raise ParameterError(f"network={loaded.spec!r} was loaded for another method than {NETWORK}{spec}")
    model, cfg = loaded.model.to(device), loaded.config
    window = window or cfg.window
    overlap = window // 2 if overlap is None else overlap
    time_dim = -2 if acq.noncartesian else -3
    bf16 = precision == "bf16"

    # bf16: the operator the network receives (one window's, or the stack of several) runs in float32
    net = (lambda y, p: model(y, _full_precision_physics(p, device))) if bf16 else model

    def one(y, mask, maps):
        phys = lambda a, b: acquisition_physics(acq, mask, maps, device, a, b)  # noqa: E731
        with autocast(precision, device):
            x = sliding_window(net, y, phys, acq.frames, window, overlap, time_dim=time_dim)
        return x.to(y.dtype) if bf16 else x

    info = {"spec": spec, "model": cfg.model, "loss": cfg.loss, "window": window, "overlap": overlap}
    if bf16:
        info["precision"] = precision
    return f"{cfg.model}-{cfg.loss}", one, {"network": info}


def run_method(acquisition, method: str = "zero-filled", config: CSConfig | dict | None = None, *, progress: bool = False,
               device="cpu", precision: str = "fp32", window: int | None = None, overlap: int | None = None,
               callback: Callable | None = None, check: bool = True, network: LoadedNetwork | None = None,
               **options) -> tuple[np.ndarray, RunStats]:
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
    device : str or torch.device
        ``"cpu"`` (default), ``"auto"``, ``"cuda"``, ``"cuda:N"`` (:func:`dynmri.devices.resolve_device`).
    precision : str
        ``"fp32"`` or ``"bf16"``: networks under ``torch.autocast``, their operators (FFT, NUFFT,
        data consistency) in float32 (:mod:`dynmri.devices`); registered methods ignore it.
    window, overlap : int, optional
        Networks only: frames per window (default: the training window) and overlap of
        consecutive windows (default: half a window).
    callback : callable, optional
        ``callback(k, x, cost)`` at every iteration of an iterative method, after the cost record.
    check : bool
        First raise a :class:`~dynmri.errors.ParameterError` naming what the method needs when it
        does not apply to the data (:func:`check_applicable`); False leaves that to the method.
    network : LoadedNetwork, optional
        The network of ``method``, loaded once (:func:`load_network`) for many acquisitions.
    **options
        Passed on to the method (e.g. ``density_method="pipe"``, CSConfig fields overriding ``config``).

    Returns
    -------
    recon : numpy.ndarray
        Complex ``(S, T, H, W)``.
    stats : RunStats
        Time, frames per second, per-slice cost history (``stats.costs[s][k]``: cost of
        iteration ``k`` on slice ``s``), the configuration used.
    """
    import deepinv.physics  # noqa: F401  (its first import is not reconstruction time)

    from dynmri.devices import check_precision, resolve_device

    check_precision(precision)
    device, (source, acquisition) = resolve_device(device), _source(acquisition)
    if check:
        check_applicable(acquisition, method, source)
    if method.startswith(NETWORK):
        label, one, fields_ = _network(acquisition, method[len(NETWORK):], device, window, overlap, precision, network)
    else:
        label, one, fields_ = _classical(acquisition, method, config, device, progress, callback, options)
    t0 = time.perf_counter()
    recon = _over_slices(acquisition, one, label, device, progress)
    secs = time.perf_counter() - t0
    return recon, RunStats(method, secs, recon.shape[0] * recon.shape[1], **fields_)


def _source(acquisition):
    """``(name for messages, Acquisition)`` of an acquisition or its file."""
    if not isinstance(acquisition, (str, os.PathLike)):
        return "the acquisition", acquisition
    from dynmri.data.files import Acquisition

    return str(acquisition), Acquisition.load(Path(acquisition))


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
