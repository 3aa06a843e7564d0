"""Choose the compressed-sensing weights on the Sunnybrook *training* slices (never test).

Usage::

    python benchmarks/tune_cs.py [--accel 8] [--slices 3] [--iters 100] [--out bench-out/tune_cs.md]
    python benchmarks/tune_cs.py --gt-free [--accel 8] [--tune-slices 2] [--out bench-out/tune_gt_free.md]

For every method and relative weight on a grid, reconstructs ``--slices`` training slices
(12 frames, centre crop 128, Gaussian mask) and prints mean PSNR/SSIM; the best weight of each
method is what ``dynmri.recon.cs.CSConfig`` ships. 1 torch thread.

``--gt-free``: the ground-truth-free choice of :func:`dynmri.recon.tune.auto_tune` (hold-out
lines and the discrepancy principle, tuned on ``--tune-slices`` of the held-out test slices)
beside the ground-truth-best choice on the same grid and candidate iterations, scored by PSNR on
all test slices (the gap is what tuning without ground truth costs).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch

from dynmri.config import CSConfig, SimulateConfig
from dynmri.data.sources import default_data_root, load_source, test_split
from dynmri.eval.benchmark import Entry, run_grid
from dynmri.eval.metrics import psnr_scorer
from dynmri.eval.report import markdown_row, markdown_table, report

GRID = {
    "fista-wavelet": [{"lam": v} for v in (0.0001, 0.0003, 0.001, 0.003)],
    "fista-wavelet-tfft": [{"lam_tfft": v} for v in (0.0001, 0.0003, 0.001, 0.003)],
    "condatvu-wavelet-ttv": [{"lam": a, "lam_ttv": b} for a in (0.0003, 0.001) for b in (0.03, 0.1, 0.3)],
    "lps": [{"lam_l": a, "lam_s": b} for a in (0.003, 0.01, 0.03) for b in (0.001, 0.003, 0.01)],
}


def entries(methods, iters: int) -> list[Entry]:
    """Zero-filled, then every method at every weight of its grid."""
    out = [Entry("zero-filled", "zero-filled", extra={"weight": "-"})]
    for method in methods:
        for weights in GRID[method]:
            label = ", ".join(f"{k}={v:g}" for k, v in weights.items())
            out.append(Entry(method, method, CSConfig(n_iter=iters, cost_every=0, **weights), {"weight": label}))
    return out


def cells(row: dict) -> list[str]:
    return [row["method"], row["weight"], f"{row['psnr']:.2f}", f"{row['ssim']:.3f}"]


def gt_free(args) -> str:
    """The ``--gt-free`` table (see the module doc)."""
    from dynmri.data.acquire import simulate_from_config
    from dynmri.recon import tune

    test = test_split(load_source(args.data))["test"]
    acq = simulate_from_config(SimulateConfig(data=args.data, accel=args.accel, frames=12, crop=128, slices=",".join(map(str, test))))
    iters, rows = list(tune.DEFAULT_ITERS), []
    for method in args.methods:
        settings, names = tune.grid_settings(method, CSConfig(), None), tune.WEIGHTS[method]
        table = np.stack([tune.score_curve(acq, method, CSConfig(**w), iters, psnr_scorer(acq.target)).mean(axis=0) for w in settings])
        w, j = np.unravel_index(table.argmax(), table.shape)
        label = lambda ws, names=names: ", ".join(f"{n}={ws[n]:g}" for n in names)  # noqa: E731
        choices = [("ground-truth best", settings[w], iters[j], "-")]
        for crit in ("holdout", "discrepancy"):
            res = tune.auto_tune(acq, method, criterion=crit, slices=args.tune_slices)
            choices.append((f"{crit} (slices {[test[s] for s in res.slices]})", res.weights, res.n_iter, f"{res.seconds:.0f}"))
        for name, ws, k, secs in choices:
            v = table[settings.index({n: ws[n] for n in names}), iters.index(k)]
            rows.append([method, name, label(ws), k, f"{v:.2f}", f"{table[w, j] - v:.2f}", secs])
    title = (f"Sunnybrook test slices {test}, {args.accel:g}x Gaussian, 12 frames, crop 128; grid x(1/3, 1, 3) around CSConfig, "
             f"iterations {iters}; auto_tune on {args.tune_slices} slices; PSNR (dB) on all {len(test)}")
    return markdown_table(["method", "choice", "weights", "n_iter", "PSNR (dB)", "gap to GT-best", "tuning time (s)"], rows, title)


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", default=str(default_data_root() / "sunnybrook-ep-cine" / "E774S5-shortAxis"))
    p.add_argument("--accel", type=float, default=8)
    p.add_argument("--slices", type=int, default=3)
    p.add_argument("--iters", type=int, default=100)
    p.add_argument("--methods", nargs="+", default=None)
    p.add_argument("--gt-free", action="store_true", help="ground-truth-free tuning beside the ground-truth best (test slices)")
    p.add_argument("--tune-slices", type=int, default=2)
    p.add_argument("--out", type=Path, default=None)
    args = p.parse_args()
    torch.set_num_threads(1)
    if args.gt_free:
        args.methods = args.methods or ["lps", "condatvu-wavelet-ttv"]
        return report(gt_free(args), args.out)
    args.methods = args.methods or list(GRID)
    train = test_split(load_source(args.data))["train"]
    pick = train[:: max(1, len(train) // args.slices)][: args.slices]
    sim = SimulateConfig(data=args.data, frames=12, crop=128, slices=",".join(map(str, pick)))
    res = run_grid(sim, [args.accel], entries(args.methods, args.iters), on_row=lambda row: print(markdown_row(cells(row)), flush=True))
    title = f"Tuning on training slices {pick}, {args.accel:g}x Gaussian, 12 frames, crop 128, {args.iters} iterations"
    print()
    report(markdown_table(["method", "weight", "PSNR (dB)", "SSIM"], [cells(r) for r in res.rows], title), args.out)


if __name__ == "__main__":
    main()
