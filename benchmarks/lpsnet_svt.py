"""LPS-Net training-step cost: singular-value thresholding through the T x T Gram matrix (what
``dynmri.models.lpsnet.svt`` does) against the SVD of the Casorati matrix (the previous code,
kept here), measured side by side on one video (1, 2, 12, 128, 128), 1 thread.

Usage::

    python benchmarks/lpsnet_svt.py [--iterations 12] [--repeats 3] [--out bench-out/lpsnet_svt.md]

Each row is the median forward + backward time of an untrained LPS-Net on an 8x Gaussian mask;
the last column is the largest difference of the reconstructions from the Gram version.
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import torch

from dynmri.eval.report import markdown_table, report
from dynmri.models import get_model, lpsnet
from dynmri.physics.cartesian import make_physics
from dynmri.sampling.masks import make_mask


def svt_svd(x: torch.Tensor, lam: torch.Tensor) -> torch.Tensor:
    """The previous LPS-Net SVT: the SVD of the (H W x T) Casorati matrix."""
    B, _, T, H, W = x.shape
    U, s, Vh = torch.linalg.svd(lpsnet.casorati(x).transpose(1, 2), full_matrices=False)
    s = torch.clamp(s - lam.reshape(-1, 1), min=0)
    z = ((U * s.unsqueeze(-2).to(U.dtype)) @ Vh).transpose(1, 2).reshape(B, T, H, W)
    return torch.stack((z.real, z.imag), dim=1)


def _time(net, y, physics, repeats: int) -> tuple[float, torch.Tensor]:
    times = []
    for _ in range(repeats):
        net.zero_grad()
        t0 = time.perf_counter()
        out = net(y, physics)
        out.pow(2).sum().backward()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), out.detach()


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--iterations", type=int, default=12)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--out", type=Path, default=None)
    args = p.parse_args()
    torch.set_num_threads(1)
    physics = make_physics(make_mask("gaussian", (12, 128, 128), 8, seed=0))
    y = physics.A(torch.randn(1, 2, 12, 128, 128, generator=torch.Generator().manual_seed(0)))
    net = get_model("lps-net", iterations=args.iterations)
    gram_s, gram_out = _time(net, y, physics, args.repeats)
    gram_svt = lpsnet.svt
    lpsnet.svt = svt_svd
    try:
        svd_s, svd_out = _time(net, y, physics, args.repeats)
    finally:
        lpsnet.svt = gram_svt
    diff = float((svd_out - gram_out).abs().max() / gram_out.abs().max())
    rows = [["SVD of the Casorati matrix (previous)", f"{svd_s:.2f}", "1.0x", f"{diff:.1e}"],
            ["T x T Gram matrix (eigh)", f"{gram_s:.2f}", f"{svd_s / gram_s:.1f}x", "0"]]
    title = f"LPS-Net, {args.iterations} iterations, forward + backward on (1, 2, 12, 128, 128), 1 thread, median of {args.repeats}"
    report(markdown_table(["SVT", "seconds", "speed-up", "max relative difference"], rows, title), args.out)


if __name__ == "__main__":
    main()
