"""Projection of readouts onto the gradient/slew limits: dynmri's ``project_to_limits`` (log-barrier
interior point) vs the previous dynmri (dual FISTA, commit 90e8498) vs mri-nufft's
``project_trajectory`` (Chauffert et al. 2016; needs pyproximal 0.10 and pylops 2.4: pyproximal 0.13
changed an interface that mri-nufft 1.5.1 uses).

Usage::

    python benchmarks/trajectory_projection.py [--repeats 3] [--old-rev 90e8498] [--out bench-out/projection.md]

Inputs (image 128 x 128, default ``ScannerLimits``: 40 mT/m, 150 T/m/s, 4 us, FOV 0.2 m): 8 readouts
of 1,280 samples: golden-angle radial spokes plus Gaussian noise (sd 0.002 cycles/pixel), and
Archimedean spirals whose peak slew is 5 %, 20 % and 100 % over the limit. Reported: the distance
to the input (Frobenius, cycles/pixel), the peak gradient and slew over the limits, the samples
that violate a limit or the box (at 1e-6 relative; with ``ramp`` the first slew step counts too),
and the median time of ``--repeats`` runs after a warm-up, interleaved (the previous dynmri runs
in a persistent subprocess on its own source tree). mri-nufft is run with its defaults (1,000 iterations, safety factor 0.99, the echo time detected and held at
the centre of k-space); dynmri is shown without options, with ``te`` (the same echo-time
constraint) and with ``te`` and ``ramp`` (gradient from zero before the first sample). 1 thread.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _before_after import previous_src  # noqa: E402

from dynmri.config import ScannerLimits  # noqa: E402
from dynmri.eval.report import markdown_table, report  # noqa: E402
from dynmri.sampling.trajectories import project_to_limits, radial, spiral_at_slew, violations  # noqa: E402

N, SHOTS, SAMPLES = 128, 8, 1280
LIM = ScannerLimits()

WORKER = """
import json, sys, time
import numpy as np, torch
torch.set_num_threads(1)
from dynmri.config import ScannerLimits
from dynmri.sampling.trajectories import project_to_limits
data = np.load(sys.argv[1])
for line in sys.stdin:
    name = line.strip()
    z = torch.from_numpy(data[name])
    t0 = time.perf_counter()
    try:
        k = project_to_limits(z, int(sys.argv[3]), ScannerLimits())
    except Exception as exc:
        print(json.dumps({"error": type(exc).__name__, "seconds": time.perf_counter() - t0}), flush=True)
        continue
    t = time.perf_counter() - t0
    np.save(sys.argv[2] + "/" + name + ".npy", k.numpy())
    print(json.dumps({"seconds": t}), flush=True)
"""


def overslew_spiral(excess: float) -> torch.Tensor:
    """8 spiral readouts whose peak slew is ``1 + excess`` times the limit."""
    return spiral_at_slew(SHOTS, SAMPLES, N, LIM, 1 + excess)

def cases() -> dict[str, tuple[torch.Tensor, int]]:
    """name -> (input ``(8, 1280, 2)`` float64, sample at the centre of k-space)."""
    g = torch.Generator().manual_seed(0)
    k = radial(SHOTS, SAMPLES, 1)[0].double()
    noisy = (k + 0.002 * torch.randn(k.shape, generator=g, dtype=torch.float64)).clamp(-0.5, 0.5 - 1e-6)
    out = {"radial+noise": (noisy, SAMPLES // 2)}
    out |= {f"spiral +{round(100 * e)}% slew": (overslew_spiral(e), 0) for e in (0.05, 0.2, 1.0)}
    return out


def mrinufft_projector():
    """mri-nufft's ``project_trajectory`` with our limits, or None when pyproximal/pylops are missing."""
    try:
        import pylops  # noqa: F401
        import pyproximal  # noqa: F401
        from mrinufft.trajectories.projection import project_trajectory
        from mrinufft.trajectories.utils import Acquisition, Hardware
    except ImportError as exc:
        print(f"mri-nufft projection skipped: {exc} (pip install pyproximal==0.10.0 pylops==2.4.0)")
        return None
    acq = Acquisition(fov=(LIM.fov,) * 3, img_size=(N,) * 3,
                      hardware=Hardware(gmax=LIM.gmax, smax=LIM.smax, grad_raster_time=LIM.raster))
    return lambda z: torch.from_numpy(np.asarray(project_trajectory(z.numpy().copy(), acq, verbose=0)))


def old_worker(rev: str, tmp: Path, inputs: Path) -> subprocess.Popen | None:
    """The previous dynmri (``git archive rev src``) in a persistent subprocess."""
    tree = tmp / "old"
    tree.mkdir()
    try:
        src = previous_src(rev, tree)
    except (subprocess.CalledProcessError, FileNotFoundError) as exc:
        print(f"previous dynmri skipped: cannot archive {rev}: {exc}")
        return None
    env = dict(os.environ, PYTHONPATH=str(src), OMP_NUM_THREADS="1")
    return subprocess.Popen([sys.executable, "-c", WORKER, str(inputs), str(tmp), str(N)], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True, env=env)


def run_old(proc: subprocess.Popen, name: str, tmp: Path):
    proc.stdin.write(name + "\n")
    proc.stdin.flush()
    res = json.loads(proc.stdout.readline())
    if "error" in res:
        return None, res["seconds"], res["error"]
    return torch.from_numpy(np.load(tmp / f"{name}.npy")).double(), res["seconds"], None


def timed(f):
    """``(result, seconds, None)``, or ``(None, seconds, error name)`` when ``f`` raises."""
    t0 = time.perf_counter()
    try:
        return f(), time.perf_counter() - t0, None
    except Exception as exc:  # a method that fails on an input is a result of the benchmark
        return None, time.perf_counter() - t0, type(exc).__name__


def row(case: str, method: str, z: torch.Tensor, k: torch.Tensor | None, secs: list[float], ref: float, ramp: bool, error: str | None):
    t = statistics.median(secs)
    if k is None:
        return [case, method, f"error ({error})", "-", "-", "-", f"{t:.2f}", f"{t / ref:.2f}"]
    v = violations(k, N, LIM, ramp=ramp)
    bad = v["gradient_violations"] + v["slew_violations"] + v["outside_box"]
    return [case, method, f"{float((k - z).norm()):.4f}", f"{v['gradient_ratio']:.4f}", f"{v['slew_ratio']:.4f}", str(bad),
            f"{t:.2f}", f"{t / ref:.2f}"]


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--old-rev", default="90e8498", help="the previous dynmri commit ('' to skip it)")
    p.add_argument("--out", type=Path, default=None)
    args = p.parse_args()
    torch.set_num_threads(1)
    data = cases()
    nufft = mrinufft_projector()
    with tempfile.TemporaryDirectory() as tmpdir:
        tmp = Path(tmpdir)
        np.savez(tmp / "inputs.npz", **{f"case{i}": z.numpy() for i, (z, _) in enumerate(data.values())})
        proc = old_worker(args.old_rev, tmp, tmp / "inputs.npz") if args.old_rev else None
        rows = []
        for i, (name, (z, te)) in enumerate(data.items()):
            methods = {"dynmri": lambda z=z: project_to_limits(z, N, LIM),
                       "dynmri te": lambda z=z, te=te: project_to_limits(z, N, LIM, te=te),
                       "dynmri te+ramp": lambda z=z, te=te: project_to_limits(z, N, LIM, te=te, ramp=True)}
            if nufft is not None:
                methods["mri-nufft 1000 it"] = lambda z=z: nufft(z)
            if proc is not None:
                methods["dynmri previous"] = lambda i=i: run_old(proc, f"case{i}", tmp)
            out, secs, err = {}, {m: [] for m in methods}, {}
            if i == 0:  # warm-up (imports, first calls), not timed
                for m, f in methods.items():
                    if m != "dynmri previous":
                        timed(f)
            for _ in range(args.repeats):  # interleaved
                for m, f in methods.items():
                    out[m], s, err[m] = f() if m == "dynmri previous" else timed(f)
                    secs[m].append(s)
            ref = statistics.median(secs["dynmri"])
            rows += [row(name, m, z, out[m], secs[m], ref, m.endswith("ramp"), err.get(m)) for m in methods]
            print(*rows[-len(methods):], sep="\n", flush=True)
        if proc is not None:
            proc.stdin.close()
            proc.wait()
    title = (f"Projection onto the limits: {SHOTS} readouts x {SAMPLES} samples, {N}x{N}, {LIM.gmax * 1e3:g} mT/m, "
             f"{LIM.smax:g} T/m/s, {LIM.raster * 1e6:g} us, FOV {LIM.fov} m; median of {args.repeats} interleaved runs, 1 thread")
    report(markdown_table(["input", "method", "distance to input", "max G / Gmax", "max slew / Smax", "violating samples",
                           "time (s)", "time / dynmri"], rows, title), args.out)


if __name__ == "__main__":
    main()
