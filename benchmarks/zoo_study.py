"""Networks x paradigms on Sunnybrook (issue 12): the zoo (``unet`` and ``dual-unet-resnet3d``
trained with ``supervised-l1``, ``supervised-l2`` and ``ddei`` under the protocol of the
dual-U-Net's origin: variable-density random lines at 5x with 11 central lines, dropout 0.3, a
learning-rate schedule; and at 8x Gaussian) and the LPS-Net under every paradigm, then
benchmarked on the held-out test slices.

Usage::

    python benchmarks/zoo_study.py --out runs/zoo [--models unet dual-unet-resnet3d]
        [--paradigms supervised-l1 supervised-l2 ddei] [--protocols vd5 gaussian8] [--seeds 0]
        [--epochs N] [--steps-per-epoch N] [--data DIR] [--accel 4 8 16] [--auto-tune holdout]
        [--train-only | --eval-only | --summary]
    python benchmarks/zoo_study.py --out runs/lpsnet --models lps-net --protocols gaussian8 \
        --paradigms ddei ddei-compose ei-rotate ssdu mc supervised-l2 --seeds 0 1 --accel 4 8 16 --auto-tune holdout

Each model's YAML (``src/dynmri/configs/train-unet-sunnybrook.yaml``, ``train-dual-sunnybrook.yaml``,
``src/dynmri/weights/lpsnet-ddei-sunnybrook-8x.yaml``) is the single source of its settings; this
script overrides only ``loss`` and ``loss_cfg`` (``_paradigms.py``), ``accel``, ``mask`` and ``seed``. Runs go to ``OUT/PROTOCOL/MODEL-PARADIGM-seedS``; rerunning continues unfinished
runs from their checkpoints. The evaluation is ``dynmri benchmark`` (:func:`run_benchmark`) per
protocol, on that protocol's mask at its acceleration (or ``--accel``), with zero-filled and
``lps`` (and ``--auto-tune``'s ground-truth-free rows), into ``OUT/PROTOCOL/benchmark``.
``--summary`` prints, per run, the epochs done, the training time (the sum of the epochs' seconds),
the peak memory ``metrics.csv`` recorded and the last epoch's validation PSNR, and trains nothing.
"""

from __future__ import annotations

import argparse
import csv
import sys
import time
from dataclasses import replace
from pathlib import Path

import torch

from dynmri.config import BenchmarkConfig, TrainConfig, load_config
from dynmri.data.sources import default_data_root

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _paradigms import PARADIGMS, paradigm_fields  # noqa: E402

SRC = Path(__file__).resolve().parents[1] / "src" / "dynmri"
MODELS = {"unet": SRC / "configs" / "train-unet-sunnybrook.yaml", "dual-unet-resnet3d": SRC / "configs" / "train-dual-sunnybrook.yaml",
          "lps-net": SRC / "weights" / "lpsnet-ddei-sunnybrook-8x.yaml"}
PROTOCOLS = {"vd5": {"accel": 5.0, "mask": "vd-lines"}, "gaussian8": {"accel": 8.0, "mask": "gaussian"}}
ZOO_PARADIGMS = ("supervised-l1", "supervised-l2", "ddei")


def run_config(args, model: str, protocol: str, paradigm: str, seed: int) -> TrainConfig:
    over = {k: v for k, v in {"epochs": args.epochs, "steps_per_epoch": args.steps_per_epoch}.items() if v is not None}
    base = load_config(TrainConfig, MODELS[model], data=args.data, **over)
    return replace(base, seed=seed, **PROTOCOLS[protocol], **paradigm_fields(paradigm)).validate()


def run_summary(runs: list[Path]) -> str:
    """A markdown table of the runs' training logs (``metrics.csv``): epochs, minutes, peak memory (of the
    training process so far: one process trains every run of an invocation), last validation PSNR."""
    lines = ["| run | epochs | training (min) | peak RSS of the process (GiB) | val PSNR, last epoch (dB) |", "|---|---|---|---|---|"]
    for r in runs:
        rows = []
        if (r / "metrics.csv").exists():
            with (r / "metrics.csv").open() as f:
                rows = list(csv.DictReader(f))
        if not rows:
            lines.append(f"| {r.name} | 0 | - | - | - |")
            continue
        peaks = [float(x["peak_rss_mb"]) for x in rows if x.get("peak_rss_mb")]
        val = rows[-1].get("val_psnr")
        lines.append(f"| {r.name} | {rows[-1]['epoch']} | {sum(float(x['seconds']) for x in rows) / 60:.0f} | "
                     f"{f'{max(peaks) / 1024:.2f}' if peaks else '-'} | {f'{float(val):.2f}' if val else '-'} |")
    return "\n".join(lines)


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--data", default=str(default_data_root() / "sunnybrook-ep-cine" / "E774S5-shortAxis"))
    p.add_argument("--models", nargs="+", default=["unet", "dual-unet-resnet3d"], choices=list(MODELS))
    p.add_argument("--paradigms", nargs="+", default=list(ZOO_PARADIGMS), choices=list(PARADIGMS))
    p.add_argument("--protocols", nargs="+", default=list(PROTOCOLS), choices=list(PROTOCOLS))
    p.add_argument("--seeds", nargs="+", type=int, default=[0])
    p.add_argument("--epochs", type=int)
    p.add_argument("--steps-per-epoch", type=int)
    p.add_argument("--methods", default="zero-filled,lps", help="classical rows of the benchmark")
    p.add_argument("--accel", nargs="+", type=float, help="benchmark accelerations (default: the protocol's)")
    p.add_argument("--auto-tune", choices=["holdout", "discrepancy"], help="also the classical methods tuned without ground truth")
    p.add_argument("--eval-only", action="store_true")
    p.add_argument("--train-only", action="store_true")
    p.add_argument("--summary", action="store_true", help="print the runs' training time, memory and validation; train nothing")
    args = p.parse_args()
    torch.set_num_threads(1)
    from dynmri.eval.benchmark import run_benchmark
    from dynmri.learn.train import train

    for protocol in args.protocols:
        runs = []
        for model in args.models:
            for paradigm in args.paradigms:
                for seed in args.seeds:
                    cfg = run_config(args, model, protocol, paradigm, seed)  # every config checked before training
                    run_dir = args.out / protocol / f"{model}-{paradigm}-seed{seed}"
                    runs.append(run_dir)
                    if args.eval_only or args.summary:
                        continue
                    t0 = time.perf_counter()
                    print(f"training {protocol} {model} {paradigm} seed {seed} -> {run_dir}", flush=True)
                    train(cfg, run_dir, resume=(run_dir / "checkpoint.pt").exists(), progress=False)
                    print(f"  done in {time.perf_counter() - t0:.0f} s", flush=True)
        if args.summary:
            print(f"{protocol}:\n{run_summary(runs)}", flush=True)
            continue
        if args.train_only:
            continue
        done = tuple(str(r) for r in runs if (r / "checkpoint.pt").exists())
        bench = BenchmarkConfig(data=args.data, accel=tuple(args.accel or [PROTOCOLS[protocol]["accel"]]), mask=PROTOCOLS[protocol]["mask"],
                                methods=tuple(args.methods.split(",")), networks=done, auto_tune=args.auto_tune).validate()
        print(run_benchmark(bench, args.out / protocol / "benchmark", progress=False), flush=True)


if __name__ == "__main__":
    main()
