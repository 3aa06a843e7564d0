"""Training throughput on the CPU: frames/s of the DDEI step through ``train()``, the previous
commit's code and this checkout's side by side (interleaved repeats, median), and whether the
two give the same weights (they must, bit for bit, at batch 1 without workers).

Each measurement is a fresh subprocess that trains ``--steps`` steps for 2 epochs on phantoms
and reports the frames/s of epoch 2 (epoch 1 warms up). The previous code is
``git archive PREV src`` of this repository, unpacked to a temporary folder.

Usage::

    python benchmarks/train_throughput.py                       # PREV = 90e8498, batch 1 and 2
    python benchmarks/train_throughput.py --prev HEAD~3 --repeats 5 --size 128 --window 12
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _before_after import previous_src  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent


def _child(args) -> None:
    """Train once with the ``dynmri`` on ``sys.path``; print one JSON line."""
    import torch

    from dynmri.config import TrainConfig
    from dynmri.learn.train import train

    torch.set_num_threads(args.threads)
    cfg = TrainConfig(data="phantom", n_phantoms=6, phantom_frames=2 * args.window, phantom_size=args.size, crop=None, window=args.window,
                      stride=2, loss="ddei", model_cfg={"channels": 16, "cascades": 3}, epochs=2, steps_per_epoch=args.steps,
                      batch_size=args.batch, val_fraction=0.0)
    with tempfile.TemporaryDirectory() as tmp:
        out = train(cfg, Path(tmp) / "run", progress=False)
        state = torch.load(Path(tmp) / "run" / "checkpoint.pt", weights_only=True, map_location="cpu")
    digest = hashlib.sha1(b"".join(v.numpy().tobytes() for _, v in sorted(state["model"].items()))).hexdigest()[:12]
    print(json.dumps({"fps": out["history"][-1]["frames_per_second"], "weights": digest}))


def _run(src: Path, args, batch: int) -> dict:
    env = os.environ | {"PYTHONPATH": str(src), "OMP_NUM_THREADS": str(args.threads)}
    cmd = [sys.executable, __file__, "--child", "--batch", str(batch), "--steps", str(args.steps), "--size", str(args.size),
           "--window", str(args.window), "--threads", str(args.threads)]
    res = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
    if res.returncode != 0:
        raise SystemExit(f"the run with {src} failed:\n{res.stderr[-3000:]}")
    return json.loads(res.stdout.strip().splitlines()[-1])


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--prev", default="90e8498", help="the previous commit (git archive of its src/)")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--steps", type=int, default=4, help="steps per epoch")
    p.add_argument("--size", type=int, default=64)
    p.add_argument("--window", type=int, default=8)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--batches", default="1,2", help="batch sizes to measure")
    p.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--batch", type=int, default=1, help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.child:
        _child(args)
        return
    with tempfile.TemporaryDirectory() as tmp:
        variants = {f"previous ({args.prev})": previous_src(args.prev, Path(tmp)), "this checkout": ROOT / "src"}
        rows = []
        for batch in (int(b) for b in args.batches.split(",")):
            fps = {name: [] for name in variants}
            weights = {}
            for rep in range(args.repeats):  # interleaved, alternating which goes first: both see the same machine load
                for name, src in list(variants.items())[:: 1 if rep % 2 == 0 else -1]:
                    r = _run(src, args, batch)
                    fps[name].append(r["fps"])
                    weights[name] = r["weights"]
            old, new = (statistics.median(v) for v in fps.values())
            spread = [f"{min(v):.2f}-{max(v):.2f}" for v in fps.values()]
            same = "yes" if len(set(weights.values())) == 1 else "no"
            best = max(fps[list(variants)[1]]) / max(fps[list(variants)[0]])
            rows.append(f"| {batch} | {old:.2f} ({spread[0]}) | {new:.2f} ({spread[1]}) | {new / old:.2f}x | {best:.2f}x | {same} |")
    print(f"DDEI training step through train(), CRNN 16 ch x 3 cascades, {args.window} x {args.size} x {args.size} windows, "
          f"{args.threads} thread(s), median of {args.repeats} (epoch 2 of {args.steps} steps)\n")
    print("| batch | previous frames/s (min-max) | this checkout frames/s (min-max) | ratio of medians | ratio of bests | same weights |\n|---|---|---|---|---|---|")
    print("\n".join(rows))


if __name__ == "__main__":
    main()
