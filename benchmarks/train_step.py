"""Cost of one training step of the CRNN (16 channels, 3 cascades, as the shipped networks),
previous code against this one, side by side in one run (``benchmarks/_before_after.py``),
on 1 and 2 threads.

Usage::

    python benchmarks/train_step.py [--before 90e8498] [--repeats 5] [--threads 1 2] [--losses ddei supervised-l2]

On a shared machine, run it with ``OMP_WAIT_POLICY=PASSIVE``: otherwise a 2-thread OpenMP
region whose second thread is descheduled stalls (about 16 ms per call, measured), and 2-thread
rows come out 5-10x slower than 1-thread ones for both sides.

A step is what ``dynmri train`` does per batch: forward, loss, backward, gradient clipping
(norm 1) and an Adam step, on one window ``(1, 2, 12, 128, 128)`` with an 8x Gaussian mask.
``ddei`` uses the shipped network's group (``group="compose"``: time shift, smooth warp and
Fourier rotation composed), so a step runs the network twice (``f(y)`` and ``f(A T f(y))``) and
back. Both sides start from the same weights and draw the same transforms, so their loss values
match step by step: the last column is the largest relative difference over every step run.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _before_after import median, serve, side_by_side  # noqa: E402

_state: dict = {}


def _setup(loss_name: str) -> dict:
    import torch

    from dynmri.learn.losses import get_loss
    from dynmri.models import get_model
    from dynmri.physics.cartesian import make_physics
    from dynmri.sampling.masks import make_mask

    with torch.random.fork_rng(devices=[]):  # the initialisation draws from the global RNG
        torch.manual_seed(0)
        model = get_model("crnn", channels=16, cascades=3)
    loss = get_loss(loss_name, seed=0, **({"group": "compose"} if loss_name == "ddei" else {}))
    physics = make_physics(make_mask("gaussian", (12, 128, 128), 8, seed=0))
    x = torch.randn(1, 2, 12, 128, 128, generator=torch.Generator().manual_seed(0)) * 0.3
    return {"model": model, "loss": loss, "net": loss.adapt_model(model), "opt": torch.optim.Adam(model.parameters(), lr=1e-4),
            "physics": physics, "x": x, "y": physics.A(x)}


def _step(s: dict) -> float:
    import torch

    x_net = s["net"](s["y"], s["physics"], **s["loss"].train_kwargs)
    value = s["loss"](x_net, s["x"], s["y"], s["physics"], s["net"])
    s["opt"].zero_grad()
    value.backward()
    torch.nn.utils.clip_grad_norm_(s["model"].parameters(), 1.0)
    s["opt"].step()
    return float(value.detach())


def _handle(req: dict) -> dict:
    import time

    import torch

    torch.set_num_threads(req["threads"])
    if req["loss"] not in _state:
        _state[req["loss"]] = _setup(req["loss"])
    s = _state[req["loss"]]
    t0 = time.perf_counter()
    value = _step(s)
    secs = time.perf_counter() - t0
    return {"seconds": secs, "fps": 12 / secs, "loss": value}


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--before", default="90e8498", help="git commit of the previous code")
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    p.add_argument("--losses", nargs="+", default=["ddei", "supervised-l2"])
    p.add_argument("--out", type=Path, default=None)
    args = p.parse_args()
    from dynmri.eval.report import markdown_table, report

    reqs = [{"loss": name, "threads": n} for name in args.losses for n in args.threads]
    rows = []
    for req, got in zip(reqs, side_by_side(__file__, args.before, reqs, args.repeats), strict=True):
        before, after = median(got["before"], "seconds"), median(got["after"], "seconds")
        diff = max(abs(a["loss"] - b["loss"]) / abs(b["loss"]) for a, b in zip(got["after"], got["before"], strict=True))
        rows.append([req["loss"], req["threads"], f"{before:.2f}", f"{after:.2f}", f"{12 / before:.1f}", f"{12 / after:.1f}",
                     f"{before / after:.2f}x", f"{diff:.1e}"])
    title = f"CRNN 16 ch, 3 cascades, training step on (1, 2, 12, 128, 128): median of {args.repeats} alternating steps (before = {args.before})"
    header = ["loss", "threads", "before s", "after s", "before frames/s", "after frames/s", "speed-up", "max rel. loss difference"]
    report(markdown_table(header, rows, title), args.out)


if __name__ == "__main__":
    if "--worker" in sys.argv:
        serve(_handle)
    else:
        main()
