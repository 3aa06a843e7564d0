"""Non-Cartesian normal operator: Toeplitz embedding (what ``NonCartesianMRI.A_adjoint_A`` does)
against two NUFFTs per frame, ``A_adjoint(A(x))`` (the previous code, kept here as
:class:`TwoNUFFTs`), measured side by side on one real-time window, 1 thread.

Usage::

    python benchmarks/toeplitz_normal.py [--size 64] [--frames 12] [--accel 8] [--coils 0 4] [--repeats 3]
        [--out bench-out/toeplitz_normal.md]

Rows: the normal operator alone; an untrained 24-iteration LPS-Net, forward + backward (what a
training step repeats); classical ``lps`` (100 iterations). Golden-angle radial at ``--accel``
(``spokes_for``), finufft. Medians of ``--repeats``; the kernel (one adjoint NUFFT of ones on the
twice larger grid per frame) is built once per operator, and its cost is its own column; the
last column is the relative difference of the outputs.
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import torch

from dynmri.eval.report import markdown_table, report
from dynmri.models import get_model, lpsnet
from dynmri.physics import nufft
from dynmri.physics.nufft import NonCartesianMRI
from dynmri.sampling.trajectories import radial, spokes_for


class TwoNUFFTs(NonCartesianMRI):
    """The previous normal operator: a forward and an adjoint NUFFT per frame."""

    noncartesian = True

    def A_adjoint_A(self, x, **_):
        return self.A_adjoint(self.A(x))


def _median(fn, repeats: int) -> tuple[float, torch.Tensor]:
    times, out = [], None
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), out


def _cases(physics, x, y, net):
    from dynmri.recon.cs import low_rank_plus_sparse

    def step():
        lpsnet._POWER_ITERATIONS.clear()  # a training step meets a new operator: its power iterations count
        net.zero_grad()
        out = net(y, physics)
        out.pow(2).sum().backward()
        return out.detach()

    return {"normal operator A^H A": lambda: physics.A_adjoint_A(x),
            "LPS-Net (24 iterations), forward + backward": step,
            "lps (100 iterations)": lambda: low_rank_plus_sparse(y, physics, n_iter=100)}


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--size", type=int, default=64)
    p.add_argument("--frames", type=int, default=12)
    p.add_argument("--accel", type=float, default=8.0)
    p.add_argument("--coils", type=int, nargs="+", default=[0, 4])
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--out", type=Path, default=None)
    args = p.parse_args()
    torch.set_num_threads(1)
    n, T = args.size, args.frames
    k = radial(spokes_for(args.accel, n), 2 * n, T)
    g = torch.Generator().manual_seed(0)
    x = torch.randn(1, 2, T, n, n, generator=g)
    net = get_model("lps-net", iterations=24)
    rows = []
    for coils in args.coils:
        maps = torch.randn(coils, n, n, dtype=torch.complex64, generator=g) / coils**0.5 if coils else None
        fast, slow = NonCartesianMRI(k, (n, n), maps), TwoNUFFTs(k, (n, n), maps)
        nufft._KERNELS = nufft._KernelCache(256 * 2**20)  # cold: the set-up column is the build
        t0 = time.perf_counter()
        fast.nufft.toeplitz_kernel(x.device, torch.complex64)
        setup = time.perf_counter() - t0
        y = fast.A(x)
        for (name, before), after in zip(_cases(slow, x, y, net).items(), _cases(fast, x, y, net).values(), strict=True):
            before(), after()  # warm-up
            t_before, out_before = _median(before, args.repeats)
            t_after, out_after = _median(after, args.repeats)
            diff = float((out_after - out_before).norm() / out_before.norm())
            rows.append([name, str(coils or 1), f"{t_before:.3f}", f"{t_after:.3f}", f"{t_before / t_after:.1f}x", f"{setup:.3f}", f"{diff:.1e}"])
    title = (f"Normal operator of golden-angle radial {args.accel:g}x, ({T} frames, {n}x{n}), finufft, 1 thread, "
             f"median of {args.repeats}")
    report(markdown_table(["case", "coils", "two NUFFTs (s)", "Toeplitz (s)", "speed-up", "kernel setup (s)",
                           "relative difference"], rows, title), args.out)


if __name__ == "__main__":
    main()
