"""Choose the compressed-sensing weights on the Sunnybrook *training* slices (never test).

Usage::

    python benchmarks/tune_cs.py [--accel 8] [--slices 3] [--iters 100] [--out bench-out/tune_cs.md]

For every method and relative weight on a grid, reconstructs ``--slices`` training slices
(12 frames, centre crop 128, Gaussian mask) and prints mean PSNR/SSIM; the best weight of each
method is what ``dynmri.recon.cs.CSConfig`` ships. 1 torch thread.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

from dynmri.config import CSConfig, SimulateConfig
from dynmri.data.acquire import simulate_from_config
from dynmri.data.sources import default_data_root, load_source, test_split
from dynmri.eval.metrics import evaluate
from dynmri.eval.report import report
from dynmri.recon.methods import reconstruct_acquisition

GRID = {
    "fista-wavelet": [{"lam": v} for v in (0.0001, 0.0003, 0.001, 0.003)],
    "fista-wavelet-tfft": [{"lam_tfft": v} for v in (0.0001, 0.0003, 0.001, 0.003)],
    "condatvu-wavelet-ttv": [{"lam": a, "lam_ttv": b} for a in (0.0003, 0.001) for b in (0.03, 0.1, 0.3)],
    "lps": [{"lam_l": a, "lam_s": b} for a in (0.003, 0.01, 0.03) for b in (0.001, 0.003, 0.01)],
}


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", default=str(default_data_root() / "sunnybrook-ep-cine" / "E774S5-shortAxis"))
    p.add_argument("--accel", type=float, default=8)
    p.add_argument("--slices", type=int, default=3)
    p.add_argument("--iters", type=int, default=100)
    p.add_argument("--methods", nargs="+", default=list(GRID))
    p.add_argument("--out", type=Path, default=None)
    args = p.parse_args()
    torch.set_num_threads(1)
    train = test_split(load_source(args.data))["train"]
    pick = train[:: max(1, len(train) // args.slices)][: args.slices]
    cfg = SimulateConfig(data=args.data, accel=args.accel, frames=12, crop=128, slices=",".join(map(str, pick)))
    acq = simulate_from_config(cfg)
    zf = evaluate(reconstruct_acquisition(acq, "zero-filled"), acq.target)
    lines = [f"Tuning on training slices {pick}, {args.accel:g}x Gaussian, 12 frames, crop 128, {args.iters} iterations",
             "", "| method | weight | PSNR (dB) | SSIM |", "|---|---|---|---|", f"| zero-filled | - | {zf['psnr']:.2f} | {zf['ssim']:.3f} |"]
    print(lines[-1], flush=True)
    for method in args.methods:
        for weights in GRID[method]:
            m = evaluate(reconstruct_acquisition(acq, method, config=CSConfig(n_iter=args.iters, cost_every=0, **weights)), acq.target)
            label = ", ".join(f"{k}={v:g}" for k, v in weights.items())
            lines.append(f"| {method} | {label} | {m['psnr']:.2f} | {m['ssim']:.3f} |")
            print(lines[-1], flush=True)
    table = "\n".join(lines)
    print()
    report(table, args.out)


if __name__ == "__main__":
    main()
