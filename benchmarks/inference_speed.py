"""Speed of the shipped CRNN (``crnn-ddei-sunnybrook-8x``), previous code against this one,
side by side in one run (``benchmarks/_before_after.py``), on 1 and 2 threads.

Usage::

    python benchmarks/inference_speed.py [--before 90e8498] [--repeats 5] [--threads 1 2] [--out bench-out/inference_speed.md]

Rows:

- ``network``: one 12-frame window ``(1, 2, 12, 128, 128)`` through the network (network frames/s);
- ``reconstruct``: what ``dynmri reconstruct --method network:crnn-ddei-sunnybrook-8x`` times
  (:func:`dynmri.recon.run.run_method`, model loading excluded) on a simulated acquisition of
  6 slices x 20 frames at 128 x 128, 8x Gaussian mask: sliding windows of 12 frames overlapping by 6
  (36 network frames per 20 output frames), in output frames/s.

On a shared machine, run it with ``OMP_WAIT_POLICY=PASSIVE``: otherwise a 2-thread OpenMP
region whose second thread is descheduled stalls (about 16 ms per call, measured), and 2-thread
rows come out 5-10x slower than 1-thread ones for both sides.

The last column is the largest absolute difference between the two sides' outputs (the images
peak near 1-3).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _before_after import median, serve, side_by_side  # noqa: E402

WEIGHTS = "crnn-ddei-sunnybrook-8x"
_cache: dict = {}


def _network_case(req: dict):
    import torch

    from dynmri.models.weights import load_trained, resolve_weights
    from dynmri.physics.cartesian import make_physics
    from dynmri.sampling.masks import make_mask

    if "model" not in _cache:
        _cache["model"] = load_trained(resolve_weights(WEIGHTS))[0]
    physics = make_physics(make_mask("gaussian", (12, 128, 128), 8, seed=0))
    y = physics.A(torch.randn(1, 2, 12, 128, 128, generator=torch.Generator().manual_seed(0)))
    with torch.no_grad():
        t0 = time.perf_counter()
        out = _cache["model"](y, physics)
        secs = time.perf_counter() - t0
    return out.numpy(), secs, 12


def _reconstruct_case(req: dict):
    from dynmri.data.files import Acquisition
    from dynmri.recon.run import network_method, run_method

    recon, stats = run_method(Acquisition.load(req["acquisition"]), network_method(WEIGHTS))
    return recon, stats.seconds, stats.frames


def _handle(req: dict) -> dict:
    import numpy as np
    import torch

    torch.set_num_threads(req["threads"])
    out, secs, frames = {"network": _network_case, "reconstruct": _reconstruct_case}[req["case"]](req)
    if req.get("save"):
        np.save(req["save"], out)
    return {"seconds": secs, "fps": frames / secs}


def _acquisition(folder: Path) -> str:
    from dynmri.config import SimulateConfig
    from dynmri.data.acquire import simulate_from_config

    path = folder / "acq.npz"
    simulate_from_config(SimulateConfig(frames=20, size=128, n_phantoms=6, accel=8)).save(path)
    return str(path)


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--before", default="90e8498", help="git commit of the previous code")
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    p.add_argument("--cases", nargs="+", default=["network", "reconstruct"])
    p.add_argument("--out", type=Path, default=None)
    args = p.parse_args()
    import numpy as np

    from dynmri.eval.report import markdown_table, report

    with tempfile.TemporaryDirectory() as tmp:
        acq = _acquisition(Path(tmp))
        reqs = [{"case": c, "threads": n, "acquisition": acq, "save": f"{tmp}/{c}-{n}-{{side}}.npy"} for c in args.cases for n in args.threads]
        results = side_by_side(__file__, args.before, reqs, args.repeats)
        rows = []
        for req, got in zip(reqs, results, strict=True):
            before, after = median(got["before"], "fps"), median(got["after"], "fps")
            diff = np.abs(np.load(req["save"].format(side="before")) - np.load(req["save"].format(side="after"))).max()
            rows.append([req["case"], req["threads"], f"{before:.1f}", f"{after:.1f}", f"{after / before:.2f}x", f"{diff:.1e}"])
    title = f"{WEIGHTS}: frames/s, median of {args.repeats} alternating runs (before = {args.before})"
    report(markdown_table(["case", "threads", "before", "after", "speed-up", "max abs difference"], rows, title), args.out)


if __name__ == "__main__":
    if "--worker" in sys.argv:
        serve(_handle)
    else:
        main()
