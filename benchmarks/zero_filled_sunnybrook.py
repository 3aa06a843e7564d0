"""Zero-filled baseline on the Sunnybrook short-axis cine at 4x/8x/16x, plus achieved accelerations.

Usage::

    python benchmarks/zero_filled_sunnybrook.py [--data DIR] [--frames 12] [--crop 128] [--out bench-out/zero_filled.md]

Every slice (20) is simulated with a smooth seeded phase (single coil, no noise), each mask
kind at each acceleration; metrics are per frame on magnitudes, peak = ground-truth max.
Runs on 1 torch thread; prints a Markdown table (and writes it with --out).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

from dynmri.config import SimulateConfig
from dynmri.data.sources import default_data_root
from dynmri.eval.benchmark import Entry, run_grid
from dynmri.eval.report import markdown_row, markdown_table, mean_std, report

HEADER = ["mask", "R requested", "R achieved", "PSNR (dB)", "SSIM", "NMSE", "recon time (s)"]


def cells(row: dict) -> list[str]:
    return [row["mask"], f"{row['accel']:g}", f"{row['achieved_accel']:.3f}", mean_std(row, "psnr", 2), mean_std(row, "ssim", 3),
            f"{row['nmse']:.4f}", f"{row['seconds']:.2f}"]


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

    cases = [(kind, kind, args.accels, None) for kind in args.masks]
    cases.append(("vd-lines (11 lines)", "vd-lines", [5.0], 11))  # variable-density random, 5x with 11 central lines
    rows = []
    for label, kind, accels, center in cases:
        sim = SimulateConfig(data=args.data, mask=kind, frames=args.frames, crop=args.crop, center_lines=center, seed=0)
        entries = [Entry("zero-filled", "zero-filled", extra={"mask": label})]
        res = run_grid(sim, accels, entries, on_row=lambda row: print(markdown_row(cells(row)), flush=True))
        rows += res.rows
    title = f"Zero-filled on {Path(args.data).name}: all slices, {args.frames} frames, centre crop {args.crop}, single coil, no noise, seed 0"
    print()
    report(markdown_table(HEADER, [cells(r) for r in rows], title), args.out)


if __name__ == "__main__":
    main()
