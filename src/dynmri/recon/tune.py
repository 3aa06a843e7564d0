r"""Ground-truth-free choice of the compressed-sensing weights and of the stopping iteration.

:func:`auto_tune` picks, from the measurements alone, the regularisation weights a method uses
(:data:`WEIGHTS`: ``lps`` -> ``lam_l, lam_s``; ``condatvu-wavelet-ttv`` and ``admm-wavelet-ttv`` -> ``lam, lam_ttv``;
``fista-wavelet-tfft`` -> ``lam_tfft``; the wavelet methods -> ``lam``) on a log grid around
the configured values, *and* the number of iterations ``n_iter`` among candidates ``iters``.
Each weight setting is one run to ``max(iters)`` iterations per tuning slice; the solver
callback scores the iterate at every candidate iteration, so one run gives the whole curve.

Criteria
--------
``holdout`` (default; needs nothing but the data)
    A seeded random share ``fraction`` of each frame's sampled phase-encoding lines (whole
    lines, :func:`holdout_lines`; non-Cartesian: whole spokes/interleaves,
    :func:`holdout_shots`) is hidden; the method reconstructs from the rest, and the score is
    the normalised residual on the hidden samples,

    .. math::

        E(w, k) = \frac{\|M_h (A x_{w,k} - y)\|_\omega^2}{\|M_h y\|_\omega^2},

    averaged over the tuning slices; the minimiser over the grid and the candidate iterations
    is chosen. Two refinements make it estimate the error that matters, on the *unsampled*
    lines: the calibration lines (sampled in every frame) are never hidden, since no unsampled
    line lies among them; and each hidden line's error is weighted by the odds
    :math:`\omega = (1 - p)/p` of its sampling share :math:`p` (:func:`line_odds`;
    non-Cartesian: 1), because hidden lines are drawn with the sampling density and unsampled
    ones with its complement (measured in ``docs/cs.md``).
    Assumptions: the sampling is random (the lines of a frame are exchangeable given their
    density), and the best setting for 1 - ``fraction`` of the lines is nearly the best for all
    of them (with fewer lines it leans to stronger regularisation).

``discrepancy`` (Morozov)
    The residual on *all* the data, in units of its expected noise energy,

    .. math::

        r(w, k) = \frac{\|A x_{w,k} - y\|^2}{N \sigma^2}

    (``N`` sampled complex values, noise of variance :math:`\sigma^2` per complex sample).
    Weights: those whose final residual (at ``max(iters)``, near convergence) is nearest the
    noise level ``tau``, :math:`\min_w |\log(r(w, K)/\tau)|` (Morozov: fit the data to the
    noise, no closer); iteration: when the residual falls from the start, the first candidate at
    which it reaches :math:`\max(\tau, r(w, K))` (Morozov's stopping rule). Every solver starts
    from the zero-filled :math:`x_0 = A^H y`, which on single-coil Cartesian data fits the
    samples exactly (:math:`r = 0`): the residual then *rises* to its limit within a few
    iterations while the unsampled k-space is still being filled, so it cannot time a stop, and
    ``n_iter`` is ``max(iters)`` (noted in :attr:`TuneResult.notes`). :math:`\sigma` is given
    (``sigma``) or estimated per slice by :func:`estimate_noise_sigma` from the outer ends of the
    fully sampled readout, assumed signal-free.

    Assumptions: white Gaussian noise, a signal-free k-space periphery, and one degree of
    freedom in the weights (with two weights, every point of the curve :math:`r = \tau` fits
    the data equally; the grid point nearest it is taken). Undefined for noise-free data:
    ``sigma=0`` raises. On simulated data without added noise the periphery estimate measures
    the image's own fine detail (for real magnitude images, their noise floor, which is part of
    the target), so the rule smooths that away; when every final residual lies on one side of
    the level, the weights are at the edge of the grid (noted).

Tuning runs on a few slices (``slices``: a count, spread evenly, or indices) and the result
applies to all. Cost: (number of grid points) x (tuning slices) runs of ``max(iters)``
iterations.

Examples
--------
>>> from dynmri.config import SimulateConfig
>>> from dynmri.data.acquire import simulate_from_config
>>> from dynmri.recon.tune import auto_tune
>>> acq = simulate_from_config(SimulateConfig(accel=4, frames=4, size=32))
>>> res = auto_tune(acq, "fista-wavelet", grid={"lam": [1e-4, 1e-3]}, iters=(5, 10))
>>> res.config.lam in (1e-4, 1e-3), res.config.n_iter in (5, 10), len(res.table)
(True, True, 4)
"""

from __future__ import annotations

import itertools
import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace

import numpy as np
import torch

from dynmri.config import CSConfig
from dynmri.errors import DataError, ParameterError

WEIGHTS: dict[str, tuple[str, ...]] = {
    "fista-wavelet": ("lam",),
    "pogm-wavelet": ("lam",),
    "condatvu-wavelet": ("lam",),
    "fista-wavelet-tfft": ("lam_tfft",),
    "condatvu-wavelet-ttv": ("lam", "lam_ttv"),
    "admm-wavelet-ttv": ("lam", "lam_ttv"),
    "lps": ("lam_l", "lam_s"),
    "fista-grouplasso": ("lam",),
    "fista-owl": ("lam",),
}
"""The :class:`CSConfig` weights each tunable method uses."""

CRITERIA = ("holdout", "discrepancy")
DEFAULT_ITERS = (10, 20, 30, 50, 70, 100, 150, 200)
"""Candidate stopping iterations (roughly log-spaced)."""
DEFAULT_FACTORS = (1 / 3, 1.0, 3.0)
"""The default grid: each tuned weight times these factors (3 x 3 = 9 runs for two weights)."""

_ITERATE = {"lps": lambda z: z[0] + z[1]}  # the solver iterate -> the operator's input (L + S)


@dataclass
class TuneResult:
    """What :func:`auto_tune` chose and why.

    ``config``: the input :class:`CSConfig` with the chosen weights and ``n_iter``; ``table``:
    one row per (weights, iteration) candidate, ``{weight: value, ..., "n_iter": k, "value":
    criterion}`` (the criterion averaged over the tuning slices); ``seconds``: wall time;
    ``sigma``: the noise level per tuning slice (``discrepancy``); ``notes``: fallbacks taken."""

    config: CSConfig
    method: str
    criterion: str
    weights: dict[str, float]
    n_iter: int
    table: list[dict]
    seconds: float
    slices: list[int]
    sigma: list[float] | None = None
    notes: list[str] = field(default_factory=list)

    def markdown(self) -> str:
        """The criterion table as Markdown, weights down, candidate iterations across."""
        names = list(self.weights)
        iters = sorted({r["n_iter"] for r in self.table})
        rows: dict[tuple, dict] = {}
        for r in self.table:
            rows.setdefault(tuple(r[n] for n in names), {})[r["n_iter"]] = r["value"]
        head = f"| {', '.join(names)} | " + " | ".join(f"{k} it" for k in iters) + " |"
        lines = [head, "|" + "---|" * (len(iters) + 1)]
        chosen = (tuple(self.weights[n] for n in names), self.n_iter)
        for key, vals in rows.items():
            cells = [f"**{vals[k]:.4g}**" if (key, k) == chosen else f"{vals[k]:.4g}" for k in iters]
            lines.append(f"| {', '.join(f'{v:g}' for v in key)} | " + " | ".join(cells) + " |")
        return "\n".join(lines)


# ------------------------------------------------------------------------------ hold-out split
def holdout_lines(mask: torch.Tensor, fraction: float, generator: torch.Generator, *, spare_calibration: bool = False) -> torch.Tensor:
    """Hide a random ``fraction`` of the sampled phase-encoding *lines* of every frame.

    ``mask (T, H, W)`` in {0, 1}, lines along ``H`` (one ``w`` each); returns the hidden part
    ``(T, H, W)`` (a subset of ``mask``, whole lines), one Bernoulli(``fraction``) draw per
    (frame, line) from ``generator``. Whole lines, not points: the reconstructions (and
    networks) work from line masks, and a point-wise split inside sampled lines is out of
    distribution (shared with :func:`dynmri.learn.data.holdout_masks`'s split). ``spare_calibration``
    never hides the lines sampled in every frame (no unsampled line lies among them; the
    draws stay one per (frame, line), so the generator advances alike)."""
    lines = mask.amax(dim=-2)  # (T, W) sampled lines
    if spare_calibration:
        lines = lines * (1 - lines.amin(dim=0, keepdim=True))
    hide = (torch.rand(lines.shape, generator=generator) < fraction).float() * lines
    return hide[:, None, :].expand_as(mask).clone()


def holdout_shots(frames: int, shots: int, fraction: float, generator: torch.Generator) -> torch.Tensor:
    """Indices ``(T, n_hide)`` of the spokes/interleaves hidden in each frame of a
    non-Cartesian acquisition: ``n_hide = round(fraction * shots)`` (at least 1, at most
    ``shots - 1``) drawn without replacement per frame, so every frame keeps a rectangular
    ``(shots - n_hide)``-shot trajectory."""
    if shots < 2:
        raise ParameterError(f"hold-out needs at least 2 spokes/interleaves per frame, got {shots}")
    n_hide = min(max(1, round(fraction * shots)), shots - 1)
    return torch.stack([torch.randperm(shots, generator=generator)[:n_hide] for _ in range(frames)]).sort(dim=1).values


def split_acquisition(acq, fraction: float = 0.2, seed: int = 0):
    """``(kept, hidden)``: two :class:`~dynmri.data.files.Acquisition` of the same slices that
    partition the sampled data (:func:`holdout_lines` per slice, or :func:`holdout_shots`),
    seeded by ``seed``. Targets and coil maps are carried over."""
    if not 0 < fraction < 1:
        raise ParameterError(f"hold-out fraction must be in (0, 1), got {fraction}")
    g = torch.Generator().manual_seed(seed)
    if acq.noncartesian:
        return _split_shots(acq, fraction, g)
    hide = np.stack([holdout_lines(torch.from_numpy(m.astype(np.float32)), fraction, g, spare_calibration=True).numpy() for m in acq.mask])
    hide = hide.astype(np.uint8)
    keep = acq.mask.astype(np.uint8) - hide
    k_b = (lambda m: m[:, None]) if acq.multicoil else (lambda m: m)
    return (replace(acq, kspace=acq.kspace * k_b(keep), mask=keep), replace(acq, kspace=acq.kspace * k_b(hide), mask=hide))


def _split_shots(acq, fraction: float, g: torch.Generator):
    T, shots, ns, _ = acq.trajectory.shape
    hide = holdout_shots(T, shots, fraction, g).numpy()
    keep = np.stack([np.setdiff1d(np.arange(shots), h) for h in hide])
    meta = acq.meta | {"image_shape": list(acq.image_shape)}

    def part(idx):
        traj = np.take_along_axis(acq.trajectory, idx[:, :, None, None], axis=1)
        k = acq.kspace.reshape(*acq.kspace.shape[:-1], shots, ns)  # (S, [N,] T, shots, ns)
        sel = np.broadcast_to(idx[:, :, None], (T, idx.shape[1], ns))
        k = np.take_along_axis(k, np.broadcast_to(sel, k.shape[:-3] + sel.shape), axis=-2)
        return replace(acq, kspace=np.ascontiguousarray(k.reshape(*k.shape[:-2], -1)), trajectory=traj, meta=meta)

    return part(keep), part(hide)


# -------------------------------------------------------------------------------- noise level
def estimate_noise_sigma(acq, s: int = 0, corner: float = 0.125) -> float:
    r"""The noise standard deviation :math:`\sigma` (per complex sample, :math:`E|n|^2 =
    \sigma^2`) of slice ``s``, from the k-space periphery assumed signal-free.

    Cartesian: the sampled entries in the outer ``corner`` share of the fully sampled readout
    (``H``) at both ends; non-Cartesian: the samples at radius >= (1 - ``corner``) of the
    largest. With :math:`|n|^2 \sim \sigma^2\,\mathrm{Exp}(1)`, the median is robust to the
    few signal-bearing samples there: :math:`\hat\sigma^2 = \mathrm{median}|y|^2 / \ln 2`.
    Signal in the periphery biases it upwards (noise-free data give the signal's level)."""
    if not 0 < corner < 1:
        raise ParameterError(f"corner must be in (0, 1), got {corner}")
    k = acq.kspace[s]
    if acq.noncartesian:
        r = np.linalg.norm(acq.trajectory, axis=-1).reshape(acq.trajectory.shape[0], -1)  # (T, M)
        sel = np.broadcast_to(r >= (1 - corner) * r.max(), k.shape)
    else:
        H = k.shape[-2]
        edge = max(1, int(round(corner * H / 2)))
        rows = np.zeros(H, dtype=bool)
        rows[:edge] = rows[H - edge :] = True
        sel = np.broadcast_to(acq.mask[s].astype(bool) & rows[:, None], k.shape)
    vals = np.abs(k[sel]) ** 2
    if vals.size == 0:
        raise DataError("no sampled k-space periphery to estimate the noise from; give sigma")
    return float(math.sqrt(np.median(vals) / math.log(2)))


# ------------------------------------------------------------------------------------- curves
def _iterate_curve(fn, y, physics, cfg: CSConfig, iters: Sequence[int], score, to_image) -> list[float]:
    """Run ``fn`` once to ``cfg.n_iter`` and score the iterate at every candidate iteration of
    ``iters`` (sorted; 0 is the start :math:`A^H y`); candidates after an early stop (``tol``)
    get the final iterate's score."""
    at = {k: j for j, k in enumerate(iters)}
    vals = [math.nan] * len(iters)
    last: dict = {}

    def callback(k, x, cost):
        last["k"], last["x"] = k, x
        if k + 1 in at:
            vals[at[k + 1]] = score(to_image(x))

    with torch.no_grad():
        if 0 in at:
            vals[at[0]] = score(physics.A_adjoint(y))
        fn(y, physics, config=cfg, callback=callback)
        tail = [j for j, k in enumerate(iters) if k > last["k"] + 1]
        if tail:
            final = score(to_image(last["x"]))
            for j in tail:
                vals[j] = final
    return vals


def _operator(acq, s: int, device: str, coilwise: bool = False):
    """``(y, physics)`` of slice ``s``: the method's operator (coil-wise, without the maps, for
    the calibrationless methods, which iterate on coil images)."""
    from dynmri.recon.methods import _slice_inputs, acquisition_physics

    y, mask, maps = _slice_inputs(acq, s, device)
    return y, acquisition_physics(acq, mask, None if coilwise else maps, device)


def score_curve(acq, method: str, config: CSConfig, iters: Sequence[int], make_score: Callable[[int], Callable],
                *, slices: Sequence[int] | None = None, device: str = "cpu") -> np.ndarray:
    """Scores ``(len(slices), len(iters))`` of ``method`` on the slices of ``acq``: one run per
    slice to ``max(iters)`` iterations (``config``'s other fields as given, no cost logging),
    scored by ``make_score(s)(x)`` at each candidate iteration (0: the zero-filled start),
    ``x`` the iterate in the operator's domain ``(1, 2, [N,] T, H, W)`` (coil images for the
    calibrationless methods; L + S for ``lps``). Also how a benchmark scores PSNR against a
    known target along the iterations."""
    from dynmri.recon.methods import get_method, requirement

    fn = get_method(method)
    coilwise = requirement(method) == "multicoil"  # calibrationless: the coil-wise operator, as the method builds it
    iters = sorted(set(iters))
    cfg = replace(config, n_iter=max(max(iters), 1), cost_every=0).validate()
    slices = range(acq.kspace.shape[0]) if slices is None else slices
    to_image = _ITERATE.get(method, lambda x: x)
    out = []
    for s in slices:
        y, physics = _operator(acq, s, device, coilwise)
        out.append(_iterate_curve(fn, y, physics, cfg, iters, make_score(s), to_image))
    return np.asarray(out, dtype=float)


def _residual_score(acq, s: int, device: str, coilwise: bool, scale: float | None = None,
                    weight: np.ndarray | None = None) -> Callable:
    r"""``x -> ||A x - y||_w^2 / scale`` on slice ``s`` of ``acq`` (``scale`` None: ``||y||_w^2``),
    ``weight`` ``(W,)`` per phase-encoding line (None: 1)."""
    y, physics = _operator(acq, s, device, coilwise)
    wt = 1.0 if weight is None else torch.as_tensor(weight, dtype=y.dtype, device=y.device)
    denom = float((wt * y.pow(2)).sum()) if scale is None else scale
    if not denom > 0:
        raise DataError(f"slice {s}: the hold-out hid no signal (raise the fraction)" if scale is None else "zero noise level")
    return lambda x: float((wt * (physics.A(x) - y).pow(2)).sum()) / denom


def line_odds(mask: np.ndarray) -> np.ndarray:
    r"""The odds :math:`(1 - p)/p` of every phase-encoding line ``(W,)``, with :math:`p` the share
    of the frames (of every slice) of ``mask (S, T, H, W)`` that sample it (0 where never
    sampled). Weighting each hidden line's error by them makes the hold-out error an estimate
    of the error over the *unsampled* lines (importance weighting: hidden lines are drawn with
    density :math:`p`, unsampled ones with :math:`1 - p`), i.e. of the image-domain error."""
    p = mask.max(axis=-2).reshape(-1, mask.shape[-1]).mean(axis=0).astype(np.float64)
    return np.where(p > 0, (1 - p) / np.maximum(p, 1e-12), 0.0)


def _sampled_count(acq, s: int) -> int:
    """Complex samples of slice ``s`` (coils included)."""
    coils = acq.kspace.shape[1] if acq.multicoil else 1
    if acq.noncartesian:
        return coils * int(np.prod(acq.kspace.shape[-2:]))
    return coils * int(acq.mask[s].sum())


# ------------------------------------------------------------------------------------ choice
def grid_settings(method: str, cfg: CSConfig, grid: Mapping[str, Sequence[float]] | None) -> list[dict[str, float]]:
    """Every weight setting: the product of ``grid``'s values (a weight it omits stays at the
    config's value); default: each of the method's weights times :data:`DEFAULT_FACTORS`."""
    names = WEIGHTS[method]
    if grid is None:
        grid = {n: [float(f"{getattr(cfg, n) * f:.3g}") for f in DEFAULT_FACTORS] for n in names}
    if not isinstance(grid, Mapping) or not grid:
        raise ParameterError(f"grid must map weights of {method} to values; valid weights: {', '.join(names)}")
    unknown = [k for k in grid if k not in names]
    if unknown:
        raise ParameterError(f"{method} does not use {', '.join(map(str, unknown))}; valid weights: {', '.join(names)}")
    for k, vals in grid.items():
        vals = list(vals) if isinstance(vals, Sequence) and not isinstance(vals, str) else None
        if not vals:
            raise ParameterError(f"grid[{k!r}] must be a non-empty list of weights")
        if not all(isinstance(v, int | float) and not isinstance(v, bool) and 0 <= v < math.inf for v in vals):
            raise ParameterError(f"grid[{k!r}] must hold finite numbers >= 0, got {vals}")
    axes = [[float(v) for v in grid[n]] if n in grid else [getattr(cfg, n)] for n in names]
    return [dict(zip(names, combo, strict=True)) for combo in itertools.product(*axes)]


def _choose_holdout(values: np.ndarray, iters: list[int]) -> tuple[int, int, list[str]]:
    """The (weight index, iteration index) of the smallest hold-out error (ties: fewer iterations)."""
    flat = np.nan_to_num(values, nan=np.inf)
    best = np.argwhere(flat == flat.min())
    w, j = min(best.tolist(), key=lambda p: (p[1], p[0]))
    return w, j, []


def _choose_discrepancy(values: np.ndarray, iters: list[int], tau: float, start: np.ndarray) -> tuple[int, int, list[str]]:
    r"""Morozov on the grid. Weights: the final residual nearest the noise level,
    :math:`\min_w |\log(r(w, K) / \tau)|` (ties: the first). Iteration: the first candidate whose
    residual reaches :math:`\max(\tau, r(w, K))` when the start's residual ``start[w]`` is above
    that (it falls from the start), else ``K`` (the start already fits the data: the residual
    cannot time a stop)."""
    final = np.nan_to_num(values[:, -1], nan=np.inf)
    w = int(np.argmin(np.abs(np.log(np.clip(final, 1e-300, None) / tau))))
    level = max(tau, float(final[w]))
    notes = []
    if start[w] > level:
        j = int(np.flatnonzero(values[w] <= level)[0])
    else:
        j = len(iters) - 1
        notes.append(f"the residual starts at the noise level or below ({float(start[w]):.3g} x N sigma^2): the zero-filled"
                     f" start fits the data, so it cannot time an early stop; n_iter = {iters[j]}, the last candidate")
    if np.nanmin(final) > tau or np.nanmax(final) < tau:
        side = "above" if np.nanmin(final) > tau else "below"
        why = "; sigma is underestimated or the data are noise-free" if side == "above" else ""
        notes.append(f"every final residual is {side} the noise level (nearest: {float(final[w]):.3g} x N sigma^2, tau = {tau:g}):"
                     f" the weights are at the edge of the grid{why}")
    return w, j, notes


def _check_inputs(acq, method: str, criterion: str, iters) -> list[int]:
    from dynmri.recon.methods import METHODS, applicable

    tunable = ", ".join(WEIGHTS)
    if method not in WEIGHTS:
        why = "has no regularisation weights to tune" if method in METHODS else "is not a reconstruction method"
        raise ParameterError(f"{method!r} {why}; tunable methods: {tunable}")
    if criterion not in CRITERIA:
        raise ParameterError(f"unknown criterion {criterion!r}; valid: {', '.join(CRITERIA)}")
    if not applicable(method, acq.multicoil, acq.coil_maps is not None, acq.noncartesian):
        raise ParameterError(f"{method} cannot reconstruct this acquisition (needs: {METHODS.meta(method).get('needs')})")
    iters = sorted(set(iters)) if isinstance(iters, Sequence) else []
    if not iters or not all(isinstance(k, int) and not isinstance(k, bool) and k >= 1 for k in iters):
        raise ParameterError(f"iters must be a non-empty sequence of iteration counts >= 1, got {iters}")
    return iters


def _pick_slices(acq, slices) -> list[int]:
    n = acq.kspace.shape[0]
    if slices is None:
        return list(range(n))
    if isinstance(slices, int) and not isinstance(slices, bool):
        if slices < 1:
            raise ParameterError(f"slices must be >= 1, got {slices}")
        return sorted({int(round(v)) for v in np.linspace(0, n - 1, min(slices, n))})
    picked = list(slices)
    if not picked or any(not isinstance(s, int) or not 0 <= s < n for s in picked):
        raise ParameterError(f"slices must be indices in 0..{n - 1}, got {picked}")
    return picked


def _sigmas(acq, slices: list[int], sigma: float | None, tau: float) -> list[float]:
    if not (isinstance(tau, int | float) and 0 < tau < math.inf):
        raise ParameterError(f"tau must be a finite number > 0, got {tau!r}")
    if sigma is None:
        sig = [estimate_noise_sigma(acq, s) for s in slices]
    else:
        if not (isinstance(sigma, int | float) and 0 <= sigma < math.inf):
            raise ParameterError(f"sigma must be a finite number >= 0, got {sigma!r}")
        sig = [float(sigma)] * len(slices)
    if min(sig) <= 0:
        raise ParameterError("the discrepancy criterion is undefined for noise-free data (sigma = 0); use criterion='holdout'")
    return sig


def _scores(acq, method: str, cfg: CSConfig, settings: list[dict], iters: list[int], slices: list[int], device: str, *,
            hold: tuple[float, int] | None, sigma: list[float] | None) -> np.ndarray:
    r"""The criterion ``(settings, candidates)`` averaged over ``slices``: the hold-out error
    (``hold = (fraction, seed)``) at ``iters``, or the residual in units of :math:`N\sigma^2`
    (``sigma`` per slice) at ``[0, *iters]`` (0: the zero-filled start)."""
    from dynmri.recon.methods import requirement

    coilwise = requirement(method) == "multicoil"
    if hold is not None:
        run_on, hidden = split_acquisition(acq, *hold)
        cand, odds = iters, None if acq.noncartesian else line_odds(acq.mask)
        scorer = lambda s: _residual_score(hidden, s, device, coilwise, weight=odds)  # noqa: E731
    else:
        run_on, cand = acq, [0, *iters]
        scale = {s: _sampled_count(acq, s) * v**2 for s, v in zip(slices, sigma, strict=True)}
        scorer = lambda s: _residual_score(acq, s, device, coilwise, scale[s])  # noqa: E731
    return np.stack([score_curve(run_on, method, replace(cfg, **w), cand, scorer, slices=slices, device=device).mean(axis=0)
                     for w in settings])


def auto_tune(acquisition, method: str, *, criterion: str = "holdout", grid: Mapping[str, Sequence[float]] | None = None,
              iters: Sequence[int] = DEFAULT_ITERS, config: CSConfig | None = None, seed: int = 0,
              slices: int | Sequence[int] | None = None, fraction: float = 0.2, sigma: float | None = None,
              tau: float = 1.0, device: str = "cpu") -> TuneResult:
    r"""Choose ``method``'s weights (:data:`WEIGHTS`) and ``n_iter`` from the data alone.

    Parameters
    ----------
    acquisition : Acquisition
        Cartesian ``(S, [N,] T, H, W)`` or non-Cartesian k-space; its ``target`` is never read.
    method : str
        A key of :data:`WEIGHTS`.
    criterion : str
        ``"holdout"`` or ``"discrepancy"`` (module docstring).
    grid : mapping, optional
        Weight name -> candidate values (their product is searched; an omitted weight keeps
        ``config``'s value). Default: each weight times :data:`DEFAULT_FACTORS`.
    iters : sequence of int
        Candidate stopping iterations; each run goes to ``max(iters)``.
    config : CSConfig, optional
        Every other setting (default :class:`CSConfig`); returned with the choice.
    seed : int
        Seed of the hold-out split.
    slices : int or sequence of int, optional
        Tuning slices: a count (spread evenly) or indices; default all.
    fraction : float
        Hold-out share of each frame's sampled lines (spokes).
    sigma : float, optional
        Noise level per complex sample for ``discrepancy`` (default: :func:`estimate_noise_sigma`).
    tau : float
        Discrepancy target: :math:`\|Ax - y\|^2 \le \tau N \sigma^2`.

    Returns
    -------
    TuneResult
    """
    t0 = time.perf_counter()
    acquisition.validate()
    iters = _check_inputs(acquisition, method, criterion, iters)
    cfg = (config or CSConfig()).validate()
    settings = grid_settings(method, cfg, grid)
    picked = _pick_slices(acquisition, slices)
    sig = _sigmas(acquisition, picked, sigma, tau) if criterion == "discrepancy" else None
    values = _scores(acquisition, method, cfg, settings, iters, picked, device, hold=(fraction, seed) if sig is None else None, sigma=sig)
    if criterion == "holdout":
        w, j, notes = _choose_holdout(values, iters)
    else:  # column 0: the start's residual
        w, j, notes = _choose_discrepancy(values[:, 1:], iters, tau, values[:, 0])
        values = values[:, 1:]
    table = [settings[a] | {"n_iter": k, "value": float(values[a, b])} for a in range(len(settings)) for b, k in enumerate(iters)]
    chosen = replace(cfg, **settings[w], n_iter=iters[j]).validate()
    return TuneResult(chosen, method, criterion, dict(settings[w]), iters[j], table, time.perf_counter() - t0, picked, sig, notes)
