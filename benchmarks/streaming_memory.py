"""Peak memory of one training epoch on a 20-slice and a 200-slice on-disk source, loaded
(``stream: false``) and streamed (``stream: true``, one window at a time).

Usage::

    python benchmarks/streaming_memory.py [--frames 24] [--size 128] [--repeats 1] [--out bench-out/streaming_memory.md]

The synthetic sources (phantom magnitudes, float32 ``[S, T, H, W]`` in an uncompressed ``.npz``:
200 slices of 24 x 128 x 128 are 315 MB) are written to a temporary folder. Every case runs in a
fresh subprocess (1 torch thread) that trains a tiny CRNN (4 channels, 1 cascade, DDEI) for one
epoch of 5 steps with validation, and reports its peak resident memory (``ru_maxrss``) and wall
time. Validation uses the default ``val_fraction`` (so the 200-slice source validates on 10x the
windows of the 20-slice one); ``learn.train.holdout_scores`` scores item by item, so its memory
does not grow with the validation set (it once held every validation reconstruction and scored
them at once: 42 windows of 4 x 64 x 64 took 360 MB more than 6). Cases are interleaved over repeats; the table gives the median and the ratio of the
200-slice to the 20-slice peak (the goal for streaming: within 1.2). Not a timed test.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SLICES = (20, 200)


def _write_source(folder: Path, n: int, frames: int, size: int) -> Path:
    """``n`` slices of phantom magnitudes (16 distinct phantoms, repeated) as ``[S, T, H, W]`` float32."""
    import numpy as np

    from dynmri.data.phantom import phantom_videos

    base = np.abs(phantom_videos(min(n, 16), frames, (size, size))).astype(np.float32)
    path = folder / f"cine{n}.npz"
    np.savez(path, cine=base[np.arange(n) % len(base)])
    return path


def _case(data: str, stream: bool) -> dict:
    """Train one epoch (in this process) and return peak RSS (MB) and seconds."""
    import tempfile

    import torch

    torch.set_num_threads(1)
    from dynmri.config import TrainConfig
    from dynmri.devices import peak_memory_mb
    from dynmri.learn.train import train

    cfg = TrainConfig(data=data, stream=stream, model="crnn", model_cfg={"channels": 4, "cascades": 1}, loss="ddei", window=4,
                      stride=4, crop=64, epochs=1, steps_per_epoch=5)
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory() as out:
        train(cfg, Path(out) / "run", progress=False)
    return {"peak_mb": peak_memory_mb("cpu")["peak_rss_mb"], "seconds": time.perf_counter() - t0}


def _run(data: Path, stream: bool) -> dict:
    cmd = [sys.executable, __file__, "--case", str(data), "--stream", str(int(stream))]
    res = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if res.returncode:
        raise SystemExit(f"case {data.name} stream={stream} failed:\n{res.stderr[-2000:]}")
    return json.loads(res.stdout.strip().splitlines()[-1])


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--frames", type=int, default=24)
    p.add_argument("--size", type=int, default=128)
    p.add_argument("--repeats", type=int, default=1)
    p.add_argument("--out", type=Path, default=None)
    p.add_argument("--case", help=argparse.SUPPRESS)
    p.add_argument("--stream", type=int, default=0, help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.case:
        print(json.dumps(_case(args.case, bool(args.stream))))
        return
    results = {(s, n): [] for s in (False, True) for n in SLICES}
    with tempfile.TemporaryDirectory() as tmp:
        paths = {n: _write_source(Path(tmp), n, args.frames, args.size) for n in SLICES}
        for _ in range(args.repeats):
            for stream in (False, True):
                for n in SLICES:
                    results[(stream, n)].append(_run(paths[n], stream))
        sizes = {n: paths[n].stat().st_size / 2**20 for n in SLICES}
    lines = [f"source: phantom magnitudes {args.frames} x {args.size} x {args.size} float32 (.npz, stored); "
             f"1 epoch of 5 steps + validation (default fraction: 2 and 21 slices), tiny CRNN, crop 64; median of {args.repeats}",
             "", "| source | file MB | loaded: peak MB | streamed: peak MB | loaded s | streamed s |", "|---|---|---|---|---|---|"]
    med = {k: {m: statistics.median(r[m] for r in v) for m in ("peak_mb", "seconds")} for k, v in results.items()}
    for n in SLICES:
        lines.append(f"| {n} slices | {sizes[n]:.0f} | {med[(False, n)]['peak_mb']:.0f} | {med[(True, n)]['peak_mb']:.0f} | "
                     f"{med[(False, n)]['seconds']:.1f} | {med[(True, n)]['seconds']:.1f} |")
    ratio = {s: med[(s, SLICES[1])]["peak_mb"] / med[(s, SLICES[0])]["peak_mb"] for s in (False, True)}
    lines.append(f"| ratio 200/20 | {sizes[SLICES[1]] / sizes[SLICES[0]]:.1f} | {ratio[False]:.2f} | {ratio[True]:.2f} | | |")
    text = "\n".join(lines)
    print(text)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text + "\n")


if __name__ == "__main__":
    main()
