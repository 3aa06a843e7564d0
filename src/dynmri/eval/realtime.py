r"""The real-time scenario scored for motion: what ``dynmri demo`` shows first, and what
``benchmarks/realtime_study.py`` reports.

A real-time series (:func:`dynmri.data.realtime.realtime_series`: irregular RR, one ectopic beat,
free breathing) is sampled with no fully sampled frame, reconstructed by every method and network,
and scored against its true frames by :func:`dynmri.eval.motion.motion_metrics` (PSNR over all and
over the irregular frames, the error of the left-ventricle area curve overall and in the ectopic
beat, the respiratory excursion error). The retrospectively gated cine of the same fully sampled
series (:func:`dynmri.data.realtime.gated_video`, what a clinic would have and what
``supervised-gated`` trains on) is scored beside them: its error in the ectopic beat is the data
crime of supervised training on gated cine, in numbers.

:func:`score_series` and :func:`motion_table` turn reconstructions into rows and a Markdown
table (mean +- std over subjects and seeds); :func:`save_motion_figures` writes the per-frame
PSNR and LV-area curves with the irregular beats shaded, an x-t grid through the ventricle and a
side-by-side video; :func:`run_realtime_demo` is ``dynmri demo`` on this scenario, with the
networks shipped for it (:func:`realtime_networks`).

Shapes: reconstructions ``(S, T, H, W)`` complex (``S`` subjects), a series' video ``(T, H, W)``.

Examples
--------
>>> import numpy as np
>>> from dynmri.data.realtime import realtime_series
>>> from dynmri.eval.realtime import motion_table, score_series
>>> s = realtime_series(seed=2, frames=40, size=32)
>>> rows = score_series({"truth": [(s.video[None], 0.0)]}, [s])
>>> rows["truth"]["lv_area_rmse"]
(0.0, 0.0)
>>> motion_table(rows).splitlines()[2].split(" | ")[3:6]
['0.00', '0.00', '0.00']
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

KEYS = ("psnr", "psnr_irregular", "lv_area_rmse", "lv_area_rmse_irregular", "lv_area_rmse_ectopic", "resp_excursion_error")
"""The :func:`~dynmri.eval.motion.motion_metrics` reported, in table order."""
HEADER = ("method", "PSNR all (dB)", "PSNR irregular (dB)", "LV area RMSE (px)", "irregular", "ectopic",
          "resp. excursion error (px, recon - truth)", "seconds")
GATED = "gated cine (fully sampled, binned)"
"""Row label of the gated cine: the clinic's reference, scored like a reconstruction."""
DEMO_METHODS = ("zero-filled", "admm-wavelet-ttv", "lps")
"""Classical methods of the real-time demo (default weights: no tuning on the test series)."""
REALTIME_WRITES = ("acq.npz", "recon-*.npz", "metrics.md", "metrics.json", "summary.png", "comparison.gif", "comparison.mp4",
                   "per_frame_psnr.png", "lv_area.png", "xt_profiles.png")
"""What :func:`run_realtime_demo` writes in its folder (``fnmatch`` patterns)."""


def score_series(recons: dict[str, list[tuple[np.ndarray, float]]], series: list) -> dict[str, dict]:
    """Rows ``{method: {key: (mean, std), "seconds": float, "n": int}}`` over subjects (and the
    runs of each method, e.g. seeds).

    Parameters
    ----------
    recons : dict
        ``{method: [(recon (S, T, H, W), seconds), ...]}``, one entry per run (seed) of a method;
        subject ``s`` of every recon is ``series[s]``.
    series : list of RealtimeSeries
        The true series of the ``S`` subjects.
    """
    from dynmri.eval.motion import motion_metrics

    rows = {}
    for name, results in recons.items():
        ms = [motion_metrics(r[i], s) for r, _ in results for i, s in enumerate(series)]
        rows[name] = {k: (float(np.mean([m[k] for m in ms])), float(np.std([m[k] for m in ms]))) for k in KEYS}
        rows[name]["seconds"] = float(np.mean([t for _, t in results]))
        rows[name]["n"] = len(ms)
    return rows


def motion_table(rows: dict[str, dict], title: str | None = None) -> str:
    """The Markdown table of :func:`score_series` rows (``mean +- std`` cells; the mean alone for a
    row of one subject and run)."""
    from dynmri.eval.report import markdown_table

    def cell(r, k):
        return f"{r[k][0]:.2f}" if r["n"] == 1 else f"{r[k][0]:.2f} +- {r[k][1]:.2f}"

    cells = [[name] + [cell(r, k) for k in KEYS] + [f"{r['seconds']:.1f}"] for name, r in rows.items()]
    return markdown_table(HEADER, cells, title)


def save_motion_figures(out: Path, recons: dict[str, np.ndarray], series, gated: np.ndarray, *,
                        video: tuple[str, ...] = ("supervised-gated", "ddei", "lps"), fps: float = 25.0) -> None:
    """The figures of one subject in ``out``: ``summary.png`` (LV area and PSNR over time of the
    truth, the gated cine and the methods picked by ``video``: the result at a glance),
    ``per_frame_psnr.png`` and ``lv_area.png`` (one curve per method, irregular beats shaded), ``xt_profiles.png`` (truth, gated cine and every
    method through the ventricle along the respiratory direction) and ``comparison.gif`` (truth,
    gated cine and the methods of ``recons`` named by ``video``, in that order: a label equal to an entry,
    starting with it and a space, or holding it between dashes as shipped names do).

    ``recons``: ``{method: recon (T, H, W)}``; ``gated``: the gated cine played back ``(T, H, W)``.
    """
    from dynmri.data.realtime import REALTIME_DEFAULTS, lv_area_curve
    from dynmri.eval.figures import (
        save_comparison,
        save_frame_curves,
        save_motion_summary,
        save_xt_profiles,
    )
    from dynmri.eval.motion import frame_psnr

    panels = {"truth": series.video, "gated cine": gated} | recons
    psnr = {k: frame_psnr(v, series.video) for k, v in panels.items() if k != "truth"}
    area = {k: lv_area_curve(v, series) for k, v in panels.items()}
    save_frame_curves(out / "per_frame_psnr.png", psnr, events=series.irregular, title="PSNR per frame")
    save_frame_curves(out / "lv_area.png", area, ylabel="LV blood pool (pixels)", events=series.irregular, title="left-ventricle area")
    save_xt_profiles(out / "xt_profiles.png", panels, column=int(round(series.lv_centre[:, 1].mean())), events=series.irregular)
    keep = ["truth", "gated cine"] + list(dict.fromkeys(k for want in video for k in recons if _names(k, want)))
    save_motion_summary(out / "summary.png", {k: area[k] for k in keep}, {k: psnr[k] for k in keep[1:]}, series.irregular,
                        REALTIME_DEFAULTS["frame_duration"])
    save_comparison(out / "comparison.gif", {k: panels[k] for k in keep}, reference=series.video, fps=fps)


def _names(label: str, want: str) -> bool:
    """Whether a row ``label`` is the method or paradigm ``want``: ``lps`` is ``lps`` or
    ``lps (GT-free tuned)``, ``ddei`` is ``ddei`` or a shipped ``lpsnet-ddei-realtime-8x``."""
    return label == want or label.startswith(want + " ") or f"-{want}-" in label


def realtime_networks() -> list[str]:
    """Names of the shipped networks trained on the real-time scenario (``dynmri weights``)."""
    from dynmri.models.weights import shipped_for

    return list(shipped_for(realtime=True))


def demo_series(cfg):
    """``(series list, acquisition)`` of the real-time demo: the subjects ``cfg.slices`` sampled as
    ``cfg`` (resolved, :meth:`~dynmri.config.DemoConfig.resolved`) says. Every subject must hold its
    ectopic beat within ``cfg.frames`` (else a ParameterError naming the frames it needs)."""
    from dynmri.config import SimulateConfig
    from dynmri.data.acquire import parse_slices, simulate_from_config
    from dynmri.data.realtime import REALTIME_SUBJECTS, realtime_series
    from dynmri.errors import ParameterError

    subjects = parse_slices(cfg.slices, REALTIME_SUBJECTS)
    series = [realtime_series(seed=i, frames=cfg.frames, size=cfg.size) for i in subjects]
    short = [i for i, s in zip(subjects, series, strict=True) if not (s.beat == s.ectopic_beat).any()]
    if short:
        need = max(int(np.flatnonzero(realtime_series(seed=i, size=16).irregular).max()) + 1 for i in short)
        raise ParameterError(f"--frames {cfg.frames}: subject {short[0]}'s ectopic beat is not within the series; "
                             f"the demo scores it (use --frames {need} or more)")
    sim = SimulateConfig(data="phantom-realtime", accel=cfg.accel, mask=cfg.mask, frames=cfg.frames, size=cfg.size, n_phantoms=max(subjects) + 1,
                         slices=",".join(map(str, subjects)), seed=cfg.seed).validate()
    return series, simulate_from_config(sim)


def run_realtime_demo(cfg, out: str | Path, *, progress: bool = True) -> str:
    """``dynmri demo`` on the real-time scenario (:class:`~dynmri.config.DemoConfig` with
    ``data="phantom-realtime"``): simulate the series, reconstruct it with :data:`DEMO_METHODS` and
    the networks shipped for it, score the motion (:func:`score_series`, gated cine included) and
    write :data:`REALTIME_WRITES` in ``out`` (created only when everything has run); returns the
    table."""
    from dynmri.data.realtime import REALTIME_DEFAULTS, gated_video
    from dynmri.devices import check_precision, resolve_device
    from dynmri.fileio import exclusive_lock
    from dynmri.recon.run import NETWORK, network_method, run_method

    cfg = cfg.resolved()
    device, _ = resolve_device(cfg.device), check_precision(cfg.precision)
    series, acq = demo_series(cfg)
    methods = {name: name for name in DEMO_METHODS}
    if cfg.networks:
        methods |= {name: network_method(name) for name in realtime_networks()}
    with exclusive_lock(out):
        runs = []
        for label, method in methods.items():
            extra = {"precision": cfg.precision} if method.startswith(NETWORK) else {}  # autocast: networks only
            runs.append((label, *run_method(acq, method, progress=progress, device=str(device), **extra)))
        gated = np.stack([gated_video(s) for s in series])
        recons = {GATED: [(gated, 0.0)]} | {label: [(recon, stats.seconds)] for label, recon, stats in runs}
        rows = score_series(recons, series)
        subjects = ", ".join(str(g) for g in acq.meta["groups"])
        ms = 1000 * REALTIME_DEFAULTS["frame_duration"]
        title = (f"**real-time series ({subjects}: {acq.frames} frames of {ms:g} ms, {cfg.size}x{cfg.size}), "
                 f"{acq.meta['mask_kind']} mask R = {acq.meta['achieved_acceleration']:.2f}, no fully sampled frame"
                 + ("; networks trained at 64x64" if cfg.networks and cfg.size != 64 else "") + "**")
        table = motion_table(rows, title)
        _write_realtime(Path(out), acq, runs, rows, table, series[0], gated[0], cfg.fps)
    return table


def _write_realtime(out: Path, acq, runs: list[tuple], rows: dict, table: str, series, gated: np.ndarray, fps: float) -> None:
    """The files of :func:`run_realtime_demo` (each atomically); ``runs``: ``(label, recon (S, T, H, W), RunStats)``."""
    from dynmri.eval.figures import save_reconstruction_video
    from dynmri.eval.report import write_runs

    write_runs(out, acq, runs, rows, table)
    save_motion_figures(out, {label: recon[0] for label, recon, _ in runs}, series, gated, fps=fps)
    save_reconstruction_video(out / "comparison.mp4", acq, {label: recon for label, recon, _ in runs}, 0, fps=fps)
