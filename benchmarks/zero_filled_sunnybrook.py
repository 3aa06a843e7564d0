"""Zero-filled baseline on the Sunnybrook short-axis cine at 4x/8x/16x, plus achieved accelerations.

Usage::

    python benchmarks/zero_filled_sunnybrook.py [--data DIR] [--frames 12] [--crop 128] [--out bench-out/zero_filled.md]

Every slice (20) is simulated with a smooth seeded phase (single coil, no noise), each mask
kind at each acceleration; metrics are per frame on magnitudes, peak = ground-truth max.
Runs on 1 torch thread; prints a Markdown table (and writes it with --out).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch

from dynmri.config import SimulateConfig
from dynmri.data.acquire import simulate_from_config
from dynmri.data.sources import default_data_root
from dynmri.eval.metrics import evaluate
from dynmri.eval.report import report
from dynmri.recon.methods import reconstruct_acquisition


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", default=str(default_data_root() / "sunnybrook-ep-cine" / "E774S5-shortAxis"))
    p.add_argument("--frames", type=int, default=12)
    p.add_argument("--crop", type=int, default=128)
    p.add_argument("--accels", type=float, nargs="+", default=[4, 8, 16])
    p.add_argument("--masks", nargs="+", default=["gaussian", "vd-lines", "equispaced"])
    p.add_argument("--out", type=Path, default=None)
    args = p.parse_args()
    torch.set_num_threads(1)

    lines = [
        f"Zero-filled on {Path(args.data).name}: all slices, {args.frames} frames, centre crop {args.crop}, single coil, no noise, seed 0",
        "",
        "| mask | R requested | R achieved | PSNR (dB) | SSIM | NMSE | recon time (s) |",
        "|---|---|---|---|---|---|---|",
    ]
    cases = [(kind, accel, None) for kind in args.masks for accel in args.accels]
    cases.append(("vd-lines", 5.0, 11))  # variable-density random, 5x with 11 central lines
    for kind, accel, center in cases:
            cfg = SimulateConfig(data=args.data, accel=accel, mask=kind, frames=args.frames, crop=args.crop, center_lines=center, seed=0).validate()
            acq = simulate_from_config(cfg)
            t0 = time.perf_counter()
            rec = reconstruct_acquisition(acq, "zero-filled")
            secs = time.perf_counter() - t0
            m = evaluate(rec, acq.target)
            lines.append(
                f"| {kind}{'' if center is None else f' ({center} lines)'} | {accel:g} | {acq.meta['achieved_acceleration']:.3f} | {m['psnr']:.2f} +- {m['psnr_std']:.2f} "
                f"| {m['ssim']:.3f} +- {m['ssim_std']:.3f} | {m['nmse']:.4f} | {secs:.2f} |"
            )
            print(lines[-1], flush=True)
    table = "\n".join(lines)
    print()
    report(table, args.out)


if __name__ == "__main__":
    main()
