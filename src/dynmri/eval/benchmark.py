r"""The benchmark engine: accelerations x methods x trained networks on simulated acquisitions.

``dynmri benchmark`` (:func:`run_benchmark`), ``dynmri demo`` (:func:`run_demo`) and the scripts
of ``benchmarks/`` all run through :func:`run_grid` (or :func:`iter_runs` on one acquisition):
for every acceleration :math:`R`, simulate the acquisition (:func:`dynmri.data.acquire.simulate_from_config`),
reconstruct it with every applicable :class:`Entry` through the run layer
(:func:`dynmri.recon.run.run_method`), and score it (:func:`dynmri.eval.metrics.evaluate`: PSNR,
SSIM, NMSE per frame of the magnitudes, mean and std over slices and frames). Rows, per-frame
PSNR curves, comparison videos and figures are written with :mod:`dynmri.eval.report` and
:mod:`dynmri.eval.figures`.

Devices: :func:`run_benchmark` and :func:`run_demo` run every reconstruction on ``cfg.device``
(:func:`dynmri.devices.resolve_device`, checked before anything is written) and the networks at
``cfg.precision`` (``bf16``: autocast around the networks only, the operators stay float32);
:func:`run_grid` and :func:`iter_runs` take ``device`` and ``precision`` (default: the CPU, fp32).

Examples
--------
>>> from dynmri.config import CSConfig, SimulateConfig
>>> from dynmri.eval.benchmark import method_entries, run_grid
>>> sim = SimulateConfig(frames=4, size=32)
>>> res = run_grid(sim, [4, 8], method_entries(["zero-filled", "lps"], CSConfig(n_iter=3)))
>>> [(r["method"], r["accel"]) for r in res.rows]
[('zero-filled', 4), ('lps', 4), ('zero-filled', 8), ('lps', 8)]
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from dynmri.config import BenchmarkConfig, CSConfig, DemoConfig, SimulateConfig, load_config
from dynmri.devices import check_precision
from dynmri.errors import ParameterError
from dynmri.recon.methods import applicable, method_names
from dynmri.recon.run import NETWORK, RunStats, network_method, run_method, takes_config

METRICS = ("psnr", "psnr_std", "ssim", "ssim_std", "nmse", "nmse_std")

BENCHMARK_WRITES = ("results.csv", "results.json", "results.md", "per_frame_psnr_*x.png", "comparison_*x.gif")
"""What :func:`run_benchmark` writes in its folder (``fnmatch`` patterns)."""
DEMO_WRITES = ("acq.npz", "recon-*.npz", "metrics.md", "metrics.json", "comparison.gif", "comparison.mp4", "mask_kt.png", "xt_profiles.png")
"""What :func:`run_demo` writes in its folder (``fnmatch`` patterns)."""


@dataclass(frozen=True)
class Entry:
    """One thing to benchmark: its row label, the method (registered name or ``"network:SPEC"``),
    the :class:`~dynmri.config.CSConfig` of an iterative method, and ``extra`` columns of its rows."""

    label: str
    method: str
    config: CSConfig | None = None
    extra: dict = field(default_factory=dict)
    tune: str | None = None  # a criterion of dynmri.recon.tune.auto_tune: weights chosen on each acquisition
    tune_slices: int = 2

    def applies_to(self, acq) -> bool:
        """Whether the method can reconstruct ``acq`` (networks are always tried)."""
        return self.method.startswith(NETWORK) or applicable(self.method, acq.multicoil, acq.coil_maps is not None, acq.noncartesian)


@dataclass
class GridResult:
    """Rows (one per acceleration x entry, in run order) and per-frame PSNR curves
    ``curves[R][label]`` (mean over slices, one value per frame)."""

    rows: list[dict] = field(default_factory=list)
    curves: dict[float, dict[str, list[float]]] = field(default_factory=dict)
    world: int = 1  # processes (torchrun ranks) that shared the slices
    wall_seconds: float | None = None  # the grid's wall time, with several ranks (rows' seconds are summed over ranks)


def method_entries(names: Sequence[str] | None = None, config: CSConfig | None = None) -> list[Entry]:
    """Entries of registered methods, in registry order (the zero-filled baseline first); ``names``
    None means all; ``config`` goes to the iterative ones."""
    available = method_names()
    names = available if names is None else list(names)
    unknown = [m for m in names if m not in available]
    if unknown:
        raise ParameterError(f"unknown methods {unknown}; available: {', '.join(available)}")
    return [Entry(m, m, config if takes_config(m) else None) for m in available if m in names]


def tuned_entries(entries: Sequence[Entry], criterion: str, slices: int = 2) -> list[Entry]:
    """For every entry of a method with tunable weights (:data:`dynmri.recon.tune.WEIGHTS`), one
    labelled ``"METHOD (GT-free: CRITERION)"`` whose weights and stopping iteration
    :func:`iter_runs` chooses on each acquisition from its measurements alone."""
    from dynmri.recon.tune import WEIGHTS

    return [Entry(f"{e.method} (GT-free: {criterion})", e.method, e.config, tune=criterion, tune_slices=slices)
            for e in entries if e.method in WEIGHTS and e.tune is None]


def network_label(spec: str) -> str:
    """``model-loss`` and the non-default loss options of a trained network, e.g. ``crnn-ddei group=compose``."""
    from dynmri.models.weights import load_trained, resolve_weights

    cfg = load_trained(resolve_weights(spec))[1]
    return f"{cfg.model}-{cfg.loss}" + "".join(f" {k}={v}" for k, v in sorted(cfg.loss_cfg.items()))


def network_entries(specs: Iterable[str], taken: Iterable[str] = ()) -> list[Entry]:
    """Entries of trained networks (run folders, ``.pt`` files or shipped names), labelled by
    :func:`network_label`; a label already ``taken`` gets its spec appended, ``"label (spec)"``.
    Their rows carry the spec in a ``network`` column (results.json/.csv)."""
    taken, entries = list(taken), []
    for spec in specs:
        label = network_label(spec)
        if label in taken:
            label += f" ({spec})"
        taken.append(label)
        entries.append(Entry(label, network_method(spec), extra={"network": spec}))
    return entries


def iter_runs(acq, entries: Iterable[Entry], progress: bool = False, *, device="cpu", precision: str = "fp32"):
    """Yield ``(entry, recon, stats)`` for every entry that applies to ``acq``, in order, run on
    ``device`` with the networks at ``precision`` (:func:`dynmri.recon.run.run_method`)."""
    check_precision(precision)
    for e in entries:
        if e.applies_to(acq):
            config = e.config
            if e.tune is not None:  # the entry comes back with the choice in its extra columns
                e, config = _tuned(e, acq, device)
            # fp32 is run_method's default; only networks run under autocast
            extra = {"precision": precision} if precision != "fp32" and e.method.startswith(NETWORK) else {}
            recon, stats = run_method(acq, e.method, config, progress=progress, device=str(device), **extra)
            yield e, recon, stats


def _tuned(e: Entry, acq, device) -> tuple[Entry, CSConfig]:
    """``(entry with the choice in its extra columns, the chosen config)`` of a tuned entry on ``acq``."""
    from dynmri.recon.tune import DEFAULT_ITERS, auto_tune

    # the untuned rows' iteration budget: the tuned row may stop earlier, never run longer
    budget = (e.config or CSConfig()).n_iter
    iters = [k for k in DEFAULT_ITERS if k < budget] + [budget]
    res = auto_tune(acq, e.method, criterion=e.tune, config=e.config, slices=e.tune_slices, iters=iters, device=str(device))
    chosen = " ".join(f"{k}={v:g}" for k, v in res.weights.items()) + f" n_iter={res.n_iter}"
    return replace(e, extra=e.extra | {"tuned": chosen, "tune_seconds": res.seconds}), res.config


def score_row(entry: Entry, acq, recon: np.ndarray, stats: RunStats, accel: float) -> tuple[dict, dict]:
    """``(row, metrics)``: the benchmark row of a run (method, requested and achieved R, mean and
    std of PSNR/SSIM/NMSE, time, frames/s, slices, frames, then ``entry.extra``) and the full
    :func:`~dynmri.eval.metrics.evaluate` result."""
    from dynmri.eval.metrics import evaluate

    m = evaluate(recon, acq.target)
    return _row(entry, acq, accel, m, stats), m


def _row(entry: Entry, acq, accel: float, m: dict, stats: RunStats) -> dict:
    """:func:`score_row`'s row from the :func:`~dynmri.eval.metrics.summarize`-d metrics ``m``."""
    return {"method": entry.label, "accel": accel, "achieved_accel": acq.meta["achieved_acceleration"], **{k: m[k] for k in METRICS},
            "seconds": stats.seconds, "frames_per_second": stats.frames_per_second, "slices": acq.kspace.shape[0], "frames": acq.frames,
            **entry.extra}


def run_grid(sim: SimulateConfig, accels: Iterable[float], entries: Sequence[Entry], *, progress: bool = False,
             on_row: Callable[[dict], None] | None = None, on_acquisition: Callable | None = None, device="cpu",
             precision: str = "fp32", ctx=None) -> GridResult:
    """Simulate ``sim`` at every acceleration and score every applicable entry on it (on ``device``,
    networks at ``precision``: :func:`iter_runs`).

    ``on_row(row)`` is called after each run; ``on_acquisition(R, acq, recons, rows)`` after each
    acceleration with its reconstructions ``{label: (S, T, H, W)}`` and rows.

    Many processes (``ctx``, a :class:`dynmri.parallel.Context` of ``world > 1``): the slices are
    shared, see :func:`sharded_grid`.
    """
    from dynmri.data.acquire import simulate_from_config

    if ctx is not None and ctx.distributed:
        return sharded_grid(sim, accels, entries, ctx, progress=progress, on_row=on_row, on_acquisition=on_acquisition,
                            device=device, precision=precision)
    res = GridResult()
    accels = list(accels)
    for i, r in enumerate(accels):
        acq = simulate_from_config(replace(sim, accel=r).validate())
        if i == 0:
            check_accelerations(sim, accels[1:], acq)
        recons, rows = {}, []
        for e, recon, stats in iter_runs(acq, entries, progress, device=device, precision=precision):
            row, m = score_row(e, acq, recon, stats, r)
            rows.append(row)
            res.curves.setdefault(r, {})[e.label] = m["per_frame"]["psnr"]
            recons[e.label] = recon
            if on_row is not None:
                on_row(row)
        res.rows += rows
        if on_acquisition is not None:
            on_acquisition(r, acq, recons, rows)
    return res


def sharded_grid(sim: SimulateConfig, accels: Iterable[float], entries: Sequence[Entry], ctx, *, progress: bool = False,
                 on_row: Callable[[dict], None] | None = None, on_acquisition: Callable | None = None, device="cpu",
                 precision: str = "fp32") -> GridResult:
    r""":func:`run_grid` on ``ctx.world`` ranks: the unit of work is the slice. Every rank simulates
    the whole acquisition at each acceleration (the same seeds: the same data), runs every entry on
    its slices ``s = rank, rank + world, ...`` (:func:`dynmri.parallel.shard`; every method
    reconstructs slice by slice) and scores them per frame (:func:`dynmri.eval.metrics.frame_metrics`);
    the per-frame metrics ``(S_r, T)`` are gathered, put back in slice order and reduced as one
    process does (:func:`dynmri.eval.metrics.summarize`), so the rows hold the numbers of a single
    run. A row's ``seconds`` is the sum of the ranks' compute seconds (``frames_per_second`` = all
    frames / that sum, a per-process rate); :attr:`GridResult.wall_seconds` is the wall time.
    Every rank gets the same rows and curves; ``on_acquisition`` gets this rank's reconstructions
    (rank 0: slice 0 first). An error on any rank stops all of them after that acceleration
    (:func:`dynmri.parallel.collect`).
    """
    import functools
    import time

    from dynmri.parallel import collect, settle

    if any(e.tune is not None for e in entries):  # each rank would tune on its own slices
        raise ParameterError("auto-tuned entries are not sharded over torchrun ranks: run them in one process")
    t0, accels = time.perf_counter(), list(accels)
    res = GridResult(world=ctx.world)
    for i, r in enumerate(accels):
        acq, part, recons, error = None, None, {}, None
        try:
            acq, part, recons = _shard_runs(sim, accels, i, entries, ctx, progress, device, precision)
        except Exception as exc:  # noqa: BLE001  any failure must reach the other ranks
            error = exc
        merged = _merged_rows(collect(ctx, part, error), acq, r, entries)
        rows = [row for row, _ in merged.values()]
        res.rows += rows
        for label, (_, m) in merged.items():
            res.curves.setdefault(r, {})[label] = m["per_frame"]["psnr"]
        # the callbacks may run on some ranks only (rank 0 logs): their failure must reach the others too
        settle(ctx, functools.partial(_report, r, acq, recons, rows, on_row, on_acquisition))
    res.wall_seconds = time.perf_counter() - t0
    return res


def _report(accel: float, acq, recons: dict, rows: list[dict], on_row, on_acquisition) -> None:
    """:func:`run_grid`'s callbacks for the rows of one acceleration."""
    for row in rows:
        if on_row is not None:
            on_row(row)
    if on_acquisition is not None:
        on_acquisition(accel, acq, recons, rows)


def _shard_runs(sim: SimulateConfig, accels: list[float], i: int, entries: Sequence[Entry], ctx, progress: bool, device, precision: str):
    """``(acq, part, recons)`` of acceleration ``accels[i]`` on this rank: the whole acquisition,
    ``{label: (per-frame metrics (S_r, T), seconds, frames)}`` and ``{label: recon (S_r, T, H, W)}``
    of its slices (empty when it has none)."""
    from dynmri.data.acquire import simulate_from_config
    from dynmri.eval.metrics import frame_metrics
    from dynmri.parallel import shard

    acq = simulate_from_config(replace(sim, accel=accels[i]).validate())
    if i == 0:
        check_accelerations(sim, accels[1:], acq)
    mine = shard(range(acq.kspace.shape[0]), ctx)
    part, recons = {}, {}
    if mine:
        sub = take_slices(acq, mine)
        for e, recon, stats in iter_runs(sub, entries, progress, device=device, precision=precision):
            part[e.label] = (frame_metrics(recon, sub.target), stats.seconds, stats.frames)
            recons[e.label] = recon
    return acq, part, recons


def _merged_rows(parts: list[dict], acq, accel: float, entries: Sequence[Entry]) -> dict[str, tuple[dict, dict]]:
    """``{label: (row, evaluate-like metrics)}`` from every rank's part (rank order), in entry order."""
    from dynmri.eval.metrics import summarize
    from dynmri.parallel import unshard

    out = {}
    for e in entries:
        got = [p.get(e.label) for p in parts]
        if got[0] is None:
            continue
        fm = {k: np.stack(unshard([list(g[0][k]) if g is not None else [] for g in got])) for k in got[0][0]}
        stats = RunStats(e.method, sum(g[1] for g in got if g is not None), sum(g[2] for g in got if g is not None))
        m = summarize(fm)
        out[e.label] = (_row(e, acq, accel, m, stats), m)
    return out


def take_slices(acq, indices: Sequence[int]):
    """The acquisition of slices ``indices`` of ``acq``: k-space ``(S, ...)``, mask and target
    ``(S, T, H, W)`` and coil maps ``(S, N, H, W)`` become ``(len(indices), ...)``; the trajectory
    (the same for every slice) and the metadata (which still describe all ``S`` slices) are shared."""
    idx = list(indices)
    pick = lambda a: None if a is None else a[idx]  # noqa: E731
    return replace(acq, kspace=acq.kspace[idx], mask=pick(acq.mask), target=pick(acq.target), coil_maps=pick(acq.coil_maps))


def check_accelerations(sim: SimulateConfig, accels: Iterable[float], acq) -> None:
    """Raise now, not after the first acceleration's runs, when a Cartesian mask of one of
    ``accels`` is impossible for the images of ``acq`` (simulated at the first acceleration)."""
    if sim.trajectory is not None or acq.noncartesian:
        return
    from dynmri.sampling.masks import make_mask

    for r in accels:
        make_mask(sim.mask, (acq.frames, *acq.image_shape), r, n=1, center_lines=sim.center_lines, seed=sim.seed)


def best_panels(acq, recons: dict[str, np.ndarray], rows: Sequence[dict], n_best: int = 2) -> dict[str, np.ndarray]:
    """Panels ``(T, H, W)`` of the first slice: ground truth, zero-filled and the ``n_best`` other
    rows of highest PSNR."""
    psnr = {x["method"]: x["psnr"] for x in rows}
    best = sorted((k for k in recons if k != "zero-filled"), key=lambda k: -psnr[k])[:n_best]
    return {"ground truth": acq.target[0]} | {k: recons[k][0] for k in ["zero-filled", *best] if k in recons}


def benchmark_slices(data: str) -> str:
    """The slices a benchmark scores: all of the phantom (seeded test phantoms), else the held-out
    test split of the data (:func:`dynmri.data.sources.test_split`)."""
    if data == "phantom":
        return "all"
    from dynmri.data.sources import load_source, test_split

    return ",".join(map(str, test_split(load_source(data))["test"]))


def progress_line(row: dict) -> str:
    """One line per run: ``"8x lps: PSNR 33.66 SSIM 0.951 (2.1 s)"``."""
    return f"{row['accel']:g}x {row['method']}: PSNR {row['psnr']:.2f} SSIM {row['ssim']:.3f} ({row['seconds']:.1f} s)"


def run_benchmark(cfg: BenchmarkConfig, out: str | Path, *, progress: bool = True, log: Callable[[str], None] | None = None,
                  ctx=None) -> str:
    """Run ``dynmri benchmark``; writes in ``out``: ``results.csv/.json/.md``,
    ``per_frame_psnr_{R}x.png`` and ``comparison_{R}x.gif``; returns the Markdown table.

    The configuration, the data, the methods, the networks and every acceleration are checked
    before the first run; ``out`` is locked (:func:`dynmri.fileio.exclusive_lock`) and created
    only when every run has finished, then written: a failed benchmark leaves no folder.
    ``log`` gets :func:`progress_line` of every run as it finishes.

    Many processes (``ctx`` of ``world > 1``, under ``torchrun``): every rank checks the set-up
    and the ranks agree; the slices are shared (:func:`sharded_grid`); rank 0 alone locks ``out``,
    logs and writes the files (the others return the same table). ``results.json`` then also holds
    ``world_size`` and ``wall_seconds``, and the table's title says that the times are the sums of
    the ranks' compute seconds.
    """
    import contextlib

    from dynmri.parallel import Context, settle

    ctx = ctx or Context()
    with contextlib.ExitStack() as stack:
        cfg, device, cs, entries, slices, sim = settle(ctx, lambda: _benchmark_setup(cfg, out, stack if ctx.main else None, ctx.distributed))
        comparisons = {}
        keep = (lambda r, acq, recons, rows: comparisons.__setitem__(r, (best_panels(acq, recons, rows), acq.target[0]))) if ctx.main else None
        res = run_grid(sim, cfg.accel, entries, progress=progress and ctx.main, device=device, precision=cfg.precision, ctx=ctx,
                       on_row=None if log is None or not ctx.main else lambda row: log(progress_line(row)), on_acquisition=keep)
        table = settle(ctx, lambda: _write_benchmark(Path(out), cfg, cs, slices, res, comparisons, device), main_only=True)
    return table if ctx.main else _table(cfg, cs, slices, res, device)


def _benchmark_setup(cfg: BenchmarkConfig, out, stack, distributed: bool = False):
    """:func:`run_benchmark`'s checks and set-up (``out`` locked on ``stack`` unless None):
    ``(cfg, device, cs, entries, slices, sim)``."""
    from dynmri.devices import resolve_device
    from dynmri.fileio import exclusive_lock

    cfg = cfg.validate()
    if distributed and cfg.auto_tune is not None:  # each rank would tune on its own slices
        raise ParameterError("auto_tune is not sharded over torchrun ranks: run the benchmark in one process")
    device = resolve_device(cfg.device)
    cs = load_config(CSConfig, None, n_iter=cfg.iters)
    entries = method_entries(cfg.methods, cs)
    slices = benchmark_slices(cfg.data)
    if cfg.auto_tune is not None:
        entries += tuned_entries(entries, cfg.auto_tune, cfg.tune_slices)
    entries += network_entries(cfg.networks, [e.label for e in entries])
    sim = SimulateConfig(data=cfg.data, accel=cfg.accel[0], mask=cfg.mask, frames=cfg.frames, crop=cfg.crop or None, slices=slices,
                         seed=cfg.seed, n_phantoms=cfg.n_phantoms)
    if stack is not None:
        stack.enter_context(exclusive_lock(out))
    return cfg, device, cs, entries, slices, sim


def _write_benchmark(out: Path, cfg: BenchmarkConfig, cs: CSConfig, slices: str, res: GridResult, comparisons: dict, device) -> str:
    """The files of :func:`run_benchmark` (each atomically); returns the Markdown table."""
    from dynmri.eval.figures import save_comparison, save_frame_curves
    from dynmri.eval.report import write_csv, write_json, write_markdown

    for r, (panels, reference) in comparisons.items():
        save_comparison(out / f"comparison_{r:g}x.gif", panels, reference=reference)
    write_csv(out / "results.csv", res.rows)
    ranks = {"world_size": res.world, "wall_seconds": res.wall_seconds,
             "timing": "seconds: the sum of the ranks' compute seconds; wall_seconds: the grid's wall time"} if res.world > 1 else {}
    write_json(out / "results.json", {"data": cfg.data, "slices": slices, "device": str(device), "precision": cfg.precision, **ranks,
                                      "rows": res.rows, "per_frame_psnr": {f"{r:g}": c for r, c in res.curves.items()}})
    table = _table(cfg, cs, slices, res, device)
    write_markdown(out / "results.md", table)
    for r, c in res.curves.items():
        save_frame_curves(out / f"per_frame_psnr_{r:g}x.png", c, title=f"{r:g}x, mean over test slices")
    return table


def _table(cfg: BenchmarkConfig, cs: CSConfig, slices: str, res: GridResult, device) -> str:
    """The Markdown table of a benchmark, its title naming the set-up (and, with several ranks,
    that the times are the sums of the ranks' compute seconds)."""
    import torch

    from dynmri.eval.report import benchmark_table

    where = f"{torch.get_num_threads()} thread(s)" if device.type == "cpu" else str(device)
    if res.world > 1:
        where = (f"{res.world} ranks x {where}; seconds and frames/s: the sum of the ranks' compute seconds, "
                 f"wall time {res.wall_seconds:.1f} s")
    title = (f"{cfg.data}: test slices {slices}, {cfg.frames} frames, crop {cfg.crop}, {cfg.mask} mask, seed {cfg.seed}, "
             f"{cs.n_iter} iterations, {where}" + (", networks in bf16" if cfg.precision == "bf16" else ""))
    return benchmark_table(res.rows, title)


def demo_entries(acq, networks: bool = True) -> list[Entry]:
    """Every registered method that applies to ``acq`` (default settings), then the shipped networks
    (single-coil data only), labelled by their names."""
    entries = [e for e in method_entries() if e.applies_to(acq)]
    if networks and not acq.multicoil:
        from dynmri.models.weights import shipped_for

        # the real-time scenario's networks run in its own demo (dynmri.eval.realtime)
        entries += [Entry(name, network_method(name)) for name in shipped_for(realtime=False)]
    return entries


def save_demo_figures(out: Path, acq, recons: dict[str, np.ndarray], fps: float) -> None:
    """``comparison.gif/.mp4`` (first slice, every reconstruction), ``mask_kt.png`` and ``xt_profiles.png``."""
    from dynmri.eval.figures import save_kt_mask, save_reconstruction_video, save_xt_profiles

    for suffix in (".gif", ".mp4"):
        save_reconstruction_video(out / f"comparison{suffix}", acq, recons, 0, fps=fps)
    save_kt_mask(out / "mask_kt.png", acq.mask[0])
    save_xt_profiles(out / "xt_profiles.png", {"ground truth": acq.target[0]} | {k: v[0] for k, v in recons.items()})


def run_demo(cfg: DemoConfig, out: str | Path, *, progress: bool = True) -> str:
    """Run ``dynmri demo``: the real-time scenario (default, :func:`dynmri.eval.realtime.run_realtime_demo`),
    or on any other ``data``: simulate one acquisition, reconstruct it with every method and shipped
    network; writes in ``out``: ``acq.npz``, ``recon-{label}.npz``, ``metrics.md/.json``, the videos
    and figures of :func:`save_demo_figures`; returns the Markdown table.

    ``out`` is locked while in use and created only when every reconstruction has finished: a
    failed demo leaves no folder. Runs on ``cfg.device``, the networks at ``cfg.precision``."""
    from dynmri.data.acquire import simulate_from_config
    from dynmri.devices import resolve_device
    from dynmri.eval.metrics import evaluate
    from dynmri.eval.report import metrics_table
    from dynmri.fileio import exclusive_lock

    cfg = cfg.validate().resolved()
    if cfg.realtime:
        from dynmri.eval.realtime import run_realtime_demo

        return run_realtime_demo(cfg, out, progress=progress)
    device = resolve_device(cfg.device)
    sim = SimulateConfig(data=cfg.data, accel=cfg.accel, mask=cfg.mask, frames=cfg.frames, seed=cfg.seed, crop=cfg.crop,
                         slices=cfg.slices, size=cfg.size).validate()
    with exclusive_lock(out):
        acq = simulate_from_config(sim)
        runs = list(iter_runs(acq, demo_entries(acq, cfg.networks), progress, device=device, precision=cfg.precision))
        rows = {e.label: evaluate(recon, acq.target) for e, recon, _ in runs}
        title = f"{cfg.data}, {acq.meta['mask_kind']} mask, R = {acq.meta['achieved_acceleration']:.2f}, {acq.kspace.shape[0]} slice(s) x {cfg.frames} frames"
        table = metrics_table(rows, title)
        _write_demo(Path(out), acq, runs, rows, table, cfg.fps)
    return table


def _write_demo(out: Path, acq, runs: list, rows: dict, table: str, fps: float) -> None:
    """The files of :func:`run_demo` (each atomically)."""
    from dynmri.eval.report import write_runs

    write_runs(out, acq, [(e.label, recon, stats) for e, recon, stats in runs], rows, table)
    save_demo_figures(out, acq, {e.label: recon for e, recon, _ in runs}, fps)
