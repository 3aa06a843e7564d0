"""The data crime in numbers: a gated cine against the true real-time frames it stands for.

Usage::

    python benchmarks/realtime_gating.py [--subjects 8] [--bins 20] [--out bench-out/realtime_gating.md]

For each phantom subject (seeds 0..N-1) of the real-time scenario
(:data:`dynmri.data.realtime.REALTIME_DEFAULTS`: 240 frames of 40 ms at 96x96, one ectopic beat,
free breathing), the retrospectively gated cine a clinic would have (fully sampled frames binned
by ECG phase, arrhythmia rejection +-20 % RR, :func:`dynmri.data.realtime.gated_video`) is played
back at the real-time frame times and scored as if it were a reconstruction
(:func:`dynmri.eval.motion.motion_metrics`), with respiration gated to end-expiration (40 %
of frames kept) and ignored. No network, no undersampling: this is the best a gated supervised
target can be. Prints mean +- std over subjects.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from dynmri.data.realtime import gated_video, realtime_series
from dynmri.eval.motion import motion_metrics
from dynmri.eval.report import markdown_table, report

KEYS = ["psnr", "psnr_regular", "psnr_irregular", "lv_area_rmse", "lv_area_rmse_irregular", "lv_area_rmse_ectopic",
        "resp_excursion_error"]
HEADER = ["gated cine", "PSNR all (dB)", "PSNR regular", "PSNR irregular", "LV area RMSE (px)", "irregular", "ectopic",
          "resp. excursion error (px)"]


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--subjects", type=int, default=8)
    p.add_argument("--bins", type=int, default=20)
    p.add_argument("--out", type=Path, default=None)
    args = p.parse_args()
    series = [realtime_series(seed=s) for s in range(args.subjects)]
    rows = []
    for label, keep in (("respiration gated to end-expiration", 0.4), ("respiration ignored", 1.0)):
        m = [motion_metrics(gated_video(s, args.bins, resp_keep=keep), s) for s in series]
        rows.append([label] + [f"{np.mean([r[k] for r in m]):.2f} +- {np.std([r[k] for r in m]):.2f}" for k in KEYS])
    area = np.mean([np.ptp(s.lv_area) for s in series])
    title = (f"Gated pseudo ground truth vs the true real-time frames ({args.subjects} subjects, {args.bins} bins; "
             f"true LV-area swing {area:.0f} px)")
    report(markdown_table(HEADER, rows, title), args.out)


if __name__ == "__main__":
    main()
