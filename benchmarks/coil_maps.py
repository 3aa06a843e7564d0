"""Coil maps estimated from the data vs the true (simulated) maps: SENSE-combined zero-filled and
``lps`` on the simulated 8-coil Sunnybrook acquisition at 8x (held-out test slices).

Usage::

    python benchmarks/coil_maps.py [--iters 50] [--estimators walsh,inati,espirit] [--out bench-out/coil_maps.md]

ESPIRiT needs sigpy (``pip install dynmri[espirit]``); it is skipped with a message otherwise.
1 torch thread; the table gives PSNR (dB, magnitudes, mean over frames) and the difference to the
true maps.
"""

from __future__ import annotations

import argparse
import time
from dataclasses import replace
from pathlib import Path

import torch

from dynmri.config import CSConfig, SimulateConfig
from dynmri.data.acquire import simulate_from_config
from dynmri.data.sources import default_data_root, load_source, test_split
from dynmri.errors import ParameterError
from dynmri.eval.metrics import evaluate
from dynmri.eval.report import markdown_table, report
from dynmri.recon.coilmaps import estimate_coil_maps
from dynmri.recon.run import run_method


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", default=str(default_data_root() / "sunnybrook-ep-cine" / "E774S5-shortAxis"))
    p.add_argument("--iters", type=int, default=50)
    p.add_argument("--estimators", default="walsh,inati,espirit")
    p.add_argument("--out", type=Path, default=None)
    args = p.parse_args()
    torch.set_num_threads(1)
    test = test_split(load_source(args.data))["test"]
    acq = simulate_from_config(SimulateConfig(data=args.data, accel=8, frames=12, coils=8, crop=128, slices=",".join(map(str, test))))
    maps, seconds = {"true": acq.coil_maps}, {"true": None}
    for name in args.estimators.split(","):
        t0 = time.perf_counter()
        try:
            maps[name] = estimate_coil_maps(acq, name)
        except ParameterError as exc:  # an optional estimator that is not installed
            print(f"skipped {name}: {exc}")
            continue
        seconds[name] = time.perf_counter() - t0
    psnr = {name: {m: evaluate(run_method(replace(acq, coil_maps=mp), m, CSConfig(n_iter=args.iters))[0], acq.target)["psnr"]
                   for m in ("zero-filled", "lps")} for name, mp in maps.items()}
    rows = [[name, f"{v['zero-filled']:.2f}", f"{v['lps']:.2f}", f"{v['zero-filled'] - psnr['true']['zero-filled']:+.2f}",
             f"{v['lps'] - psnr['true']['lps']:+.2f}", "-" if seconds[name] is None else f"{seconds[name]:.1f}"] for name, v in psnr.items()]
    title = (f"8-coil simulation of {Path(args.data).name}, test slices {test}, 8x Gaussian, 12 frames, crop 128; "
             f"lps {args.iters} iterations; 1 thread")
    report(markdown_table(["maps", "zero-filled (SENSE) PSNR", "lps PSNR", "zero-filled - true", "lps - true", "estimation (s)"],
                          rows, title), args.out)


if __name__ == "__main__":
    main()
