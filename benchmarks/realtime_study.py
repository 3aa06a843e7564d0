"""Real-time irregular motion: does DDEI recover what gated ground truth hides? (issue 13)

Usage::

    python benchmarks/realtime_study.py --out runs/realtime [--settings cartesian-8x cartesian-16x radial-8x]
        [--paradigms ddei ei-rotate supervised-gated supervised-oracle ...] [--seeds 0 1] [--epochs N]
        [--steps-per-epoch N] [--size 64] [--frames 240] [--config YAML] [--window N] [--report-dir DIR] [--eval-only | --train-only]

Scenario (:mod:`dynmri.data.realtime`; ``--config``, default ``src/dynmri/configs/train-lpsnet-realtime.yaml``,
or ``train-crnn-realtime.yaml`` for the CRNN):
10 phantom subjects, each one free-running series (240 frames of 40 ms at 64x64: about 11 beats,
RR varying 8 %, one ectopic beat with its compensatory pause, free breathing with drift), split
by subject (7 train incl. validation, 3 test: the canonical split). No frame is ever fully sampled:
time-varying Gaussian Cartesian masks, or golden-angle radial with the same samples and readouts per frame
(``radial-8x``: 8 spokes of 64 samples, like Cartesian 8x's 8 lines of 64).

Paradigms (one network each, of ``--config``: the LPS-net by default; :data:`PARADIGMS`): ``supervised-oracle`` (targets: the true real-time
frames; only possible in simulation), ``supervised-gated`` (targets: the retrospectively gated
cine of the same series, :func:`dynmri.data.realtime.gated_video`; what a clinic has),
``ddei`` / ``ddei-compose`` (``-reflect``: time shifts reflected at the window's ends, not wrapped) / ``ei-rotate`` / ``ei-time`` / ``ssdu`` (measurements only). Classical:
``lps`` and ``condatvu-wavelet-ttv`` with ground-truth-free weights (hold-out k-space,
:func:`dynmri.recon.tune.auto_tune`), and zero-filled.

Every network (its last epoch, the rule of shipped weights) reconstructs each test series whole (sliding windows). Scores
(:func:`dynmri.eval.motion.motion_metrics`): PSNR over all / irregular frames, LV-area RMSE (all,
irregular, ectopic), respiratory excursion error, mean +- std over test subjects (and seeds).
Writes ``report.md``, ``results.json``, per-frame PSNR and LV-area curves, an x-t grid and a
side-by-side video of the first test subject, per setting. Training is resumable: rerunning
continues unfinished runs from their checkpoints (``--resume`` semantics of ``dynmri train``).
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

from dynmri.config import CSConfig, SimulateConfig, TrainConfig, load_config

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _paradigms import PARADIGMS as SHARED  # noqa: E402
from _paradigms import paradigm_fields  # noqa: E402

CONFIG = Path(__file__).resolve().parents[1] / "src" / "dynmri" / "configs" / "train-lpsnet-realtime.yaml"

PARADIGMS = {
    "supervised-oracle": {"data": "phantom-realtime", "loss": "supervised-l2"},
    "supervised-gated": {"data": "phantom-realtime-gated", "loss": "supervised-l2"},
    **{k: SHARED[k] for k in ("ddei", "ddei-compose", "ddei-reflect", "ddei-compose-reflect", "ei-rotate", "ei-time", "ssdu")},
}
# radial-8x: golden-angle radial with the samples (and readouts) per frame of Cartesian 8x: 8 spokes of 64 samples
# on 64 x 64 (sampling.trajectories.matching_cartesian), not dynmri's radial 8x (13 spokes of 128: 3.25x the samples)
SETTINGS = {"cartesian-8x": (8.0, None), "cartesian-16x": (16.0, None), "radial-8x": (8.0, "radial-golden")}
CLASSICAL = ("zero-filled", "lps", "condatvu-wavelet-ttv")


def base_config(args) -> TrainConfig:
    over = {k: v for k, v in {"epochs": args.epochs, "steps_per_epoch": args.steps_per_epoch, "phantom_size": args.size,
                               "phantom_frames": args.frames, "n_phantoms": args.subjects}.items() if v is not None}
    return load_config(TrainConfig, args.config, **over)


def sampling(setting: str, size: int) -> dict:
    """``accel``, ``trajectory`` and ``n_samples`` of a setting on ``size x size`` images."""
    accel, trajectory = SETTINGS[setting]
    if trajectory is None:
        return {"accel": accel, "trajectory": None, "n_samples": None}
    from dynmri.sampling.trajectories import matching_cartesian

    radial_accel, n_samples = matching_cartesian(accel, size)
    return {"accel": radial_accel, "trajectory": trajectory, "n_samples": n_samples}


def run_config(base: TrainConfig, setting: str, paradigm: str, seed: int) -> TrainConfig:
    return replace(base, **sampling(setting, base.phantom_size), seed=seed, **paradigm_fields(paradigm, PARADIGMS))


def train_all(base: TrainConfig, args) -> dict[tuple[str, str, int], Path]:
    """Train (or continue) every (setting, paradigm, seed); returns the run folders."""
    from dynmri.learn.train import train

    runs = {}
    for setting in args.settings:
        for paradigm in args.paradigms:
            for seed in args.seeds:
                run_dir = args.out / setting / f"{paradigm}-seed{seed}"
                runs[setting, paradigm, seed] = run_dir
                if args.eval_only:
                    continue
                t0 = time.perf_counter()
                print(f"training {setting} {paradigm} seed {seed} -> {run_dir}", flush=True)
                train(run_config(base, setting, paradigm, seed), run_dir, resume=(run_dir / "checkpoint.pt").exists(), progress=False)
                print(f"  done in {time.perf_counter() - t0:.0f} s", flush=True)
    return runs


def test_acquisition(base: TrainConfig, setting: str, test: list[int]):
    from dynmri.data.acquire import simulate_from_config

    sim = SimulateConfig(data=base.data, **sampling(setting, base.phantom_size), mask=base.mask, frames=base.phantom_frames,
                         size=base.phantom_size, n_phantoms=base.n_phantoms, slices=",".join(map(str, test)), seed=12345)
    return simulate_from_config(sim.validate())


def reconstructions(acq, runs: dict, setting: str, classical=CLASSICAL, window: int | None = None) -> dict[str, list[tuple[np.ndarray, float]]]:
    """``{method: [(recon (S, T, H, W), seconds), ...]}`` (one entry per seed for networks)."""
    from dynmri.recon.run import run_method
    from dynmri.recon.tune import auto_tune

    out = {}
    for method in classical:
        cfg = load_config(CSConfig)
        if method != "zero-filled":
            cfg = auto_tune(acq, method, criterion="holdout", config=cfg, slices=1).config
        recon, stats = run_method(acq, method, cfg)
        out[method + (" (GT-free tuned)" if method != "zero-filled" else "")] = [(recon, stats.seconds)]
    for (s, paradigm, _seed), run_dir in runs.items():
        # the last epoch, as shipped weights are (dynmri.models.weights.export_weights): one rule for every paradigm
        if s == setting and (run_dir / "checkpoint.pt").exists():
            recon, stats = run_method(acq, f"network:{run_dir / 'checkpoint.pt'}", window=window)
            out.setdefault(paradigm, []).append((recon, stats.seconds))
    return out


def test_subjects(base: TrainConfig) -> tuple[list[int], list, list[np.ndarray]]:
    """The test subjects (the canonical split), their real-time series and gated cines (the same
    for every setting: rendered once)."""
    from dynmri.data.realtime import gated_video, realtime_series
    from dynmri.data.sources import load_source, test_split

    test = test_split(load_source(base.data, frames=base.phantom_frames, size=(base.phantom_size,) * 2, n_phantoms=base.n_phantoms))["test"]
    series = [realtime_series(seed=i, frames=base.phantom_frames, size=base.phantom_size) for i in test]
    return test, series, [gated_video(s) for s in series]


def evaluate_setting(base: TrainConfig, setting: str, runs: dict, subjects: tuple, out_root: Path, classical=CLASSICAL,
                     window: int | None = None) -> str:
    from dynmri.eval.realtime import GATED, motion_table, save_motion_figures, score_series
    from dynmri.eval.report import write_json

    test, series, gated = subjects
    acq = test_acquisition(base, setting, test)
    recons = {GATED: [(np.stack(gated), 0.0)]} | reconstructions(acq, runs, setting, classical, window)
    rows = score_series(recons, series)
    out = out_root / setting
    out.mkdir(parents=True, exist_ok=True)
    save_motion_figures(out, {k: v[0][0][0] for k, v in recons.items() if k != GATED}, series[0], gated[0])
    write_json(out / "results.json", rows)
    frames = f", networks on {window}-frame windows" if window else ""
    return motion_table(rows, f"{setting}: test subjects {test}, mean +- std over subjects (and seeds){frames}")


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--config", type=Path, default=CONFIG, help="training YAML of the network (default: the LPS-net's)")
    p.add_argument("--settings", nargs="+", default=list(SETTINGS), choices=list(SETTINGS))
    p.add_argument("--paradigms", nargs="+", default=list(PARADIGMS), choices=list(PARADIGMS))
    p.add_argument("--seeds", nargs="+", type=int, default=[0])
    p.add_argument("--epochs", type=int)
    p.add_argument("--steps-per-epoch", type=int)
    p.add_argument("--size", type=int)
    p.add_argument("--frames", type=int)
    p.add_argument("--subjects", type=int)
    p.add_argument("--classical", nargs="*", default=list(CLASSICAL), choices=list(CLASSICAL), help="classical rows (default: all)")
    p.add_argument("--report-dir", type=Path, help="where the evaluation writes report.md and figures (default: --out)")
    p.add_argument("--window", type=int, help="frames per inference window of the networks (default: their training window)")
    p.add_argument("--eval-only", action="store_true")
    p.add_argument("--train-only", action="store_true", help="train, skip the evaluation (e.g. several training processes, one --eval-only)")
    args = p.parse_args()
    torch.set_num_threads(1)
    base = base_config(args)
    runs = train_all(base, args)
    if args.train_only:
        return
    subjects = test_subjects(base)
    report_dir = args.report_dir or args.out
    report = [evaluate_setting(base, s, runs, subjects, report_dir, args.classical, args.window) for s in args.settings]
    from dynmri.eval.report import report as write

    write("\n\n".join(report), report_dir / "report.md")


if __name__ == "__main__":
    main()
