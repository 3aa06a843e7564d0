"""Is the window the limit of networks on the real-time scenario? Classical ``lps`` inside windows vs whole series.

Usage::

    python benchmarks/realtime_windows.py [--windows 12 48 240] [--iterations 100] [--setting cartesian-8x]
        [--config src/dynmri/configs/train-lpsnet-realtime.yaml]

The networks of ``benchmarks/realtime_study.py`` see 12-frame windows of a 240-frame series; classical ``lps``
sees the whole series. This runs ``lps`` (default weights, ``--iterations`` FISTA steps) window by window,
blended exactly as a network's sliding-window inference is (:func:`dynmri.recon.network.sliding_window`; an
untrained ``lps-net`` of that many iterations *is* ``lps``, :mod:`dynmri.models.lpsnet`), on the same test
subjects and acquisition as the study, and prints PSNR per subject and the LV-area error. If ``lps`` in 12-frame
windows stays near ``lps`` on the whole series, the window is not what holds a network back.
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
import realtime_study as study  # noqa: E402


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--windows", nargs="+", type=int, default=[12, 48, 240])
    p.add_argument("--iterations", type=int, default=100)
    p.add_argument("--setting", default="cartesian-8x", choices=list(study.SETTINGS))
    p.add_argument("--config", type=Path, default=study.CONFIG)
    args = p.parse_args()
    torch.set_num_threads(1)
    from dynmri.eval.motion import motion_metrics
    from dynmri.eval.report import markdown_table
    from dynmri.models.lpsnet import LPSNet
    from dynmri.recon.run import LoadedNetwork, run_method

    base = study.base_config(argparse.Namespace(config=args.config, epochs=None, steps_per_epoch=None, size=None, frames=None, subjects=None))
    test, series, _ = study.test_subjects(base)
    acq = study.test_acquisition(base, args.setting, test)
    rows = []
    for w in args.windows:
        w = min(w, base.phantom_frames)
        net = LoadedNetwork("lps", LPSNet(iterations=args.iterations).float().eval(), replace(base, model="lps-net", window=w), torch.device("cpu"))
        t0 = time.perf_counter()
        with torch.no_grad():
            recon, _ = run_method(acq, "network:lps", network=net, window=w, overlap=w // 2 if w < base.phantom_frames else 0)
        ms = [motion_metrics(recon[i], s) for i, s in enumerate(series)]
        rows.append([f"lps, {args.iterations} iterations, {w}-frame windows"] + [f"{m['psnr']:.2f}" for m in ms]
                    + [f"{np.mean([m['psnr'] for m in ms]):.2f}", f"{np.mean([m['lv_area_rmse'] for m in ms]):.2f}", f"{time.perf_counter() - t0:.1f}"])
    header = ["method"] + [f"PSNR subject {i} (dB)" for i in test] + ["mean PSNR", "LV area RMSE (px)", "seconds"]
    print(markdown_table(header, rows, f"{args.setting}, {base.phantom_frames} frames {base.phantom_size}x{base.phantom_size}, test subjects {test}"))


if __name__ == "__main__":
    main()
