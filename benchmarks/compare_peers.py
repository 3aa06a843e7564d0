"""dynmri vs BART, sigpy and pysap-mri on one dynamic slice: temporal TV, low rank, wavelets.

Usage (1 thread; a peer that is not installed prints a skip line and gets no row)::

    OMP_NUM_THREADS=1 python benchmarks/compare_peers.py [--repeat 3] [--out bench-out/compare_peers.md]

BART: the ``bart`` command (Debian/Ubuntu: ``apt-get install bart``; 0.8 measured). sigpy: the
``espirit`` extra. pysap-mri: a separate environment (see ``benchmarks/compare_pysap.py``).

Problem: the first Sunnybrook short-axis *test* slice, 12 frames, centre crop 128, smooth phase,
variable-density Gaussian mask 8x (``SimulateConfig(accel=8, frames=12, crop=128)``, seed 0),
single coil, no noise; every toolbox gets the same k-space and mask and runs 100 iterations unless
the label says otherwise. PSNR as ``dynmri.eval.metrics.evaluate`` (mean over frames, peak = the
reference maximum). Times: median of ``--repeat`` interleaved runs (every row once per round),
BART's including its process start (about 10 ms). ``ratio`` is a row's time over the time of the
problem's dynmri reference (the first dynmri row of the problem): above 1, dynmri is faster.

What is compared with what:

- *temporal TV*: dynmri's objective is 0.5||Ax - y||^2 + lam ||Psi x||_1 + mu ||D_t x||_1 (sym8,
  3 levels; relative weights, ``CSConfig`` defaults or ``--ttv``), solved by ``condatvu-wavelet-ttv``
  (the previous solver) and ``admm-wavelet-ttv`` (ADMM, exact x-update; also at the best
  ``lam_ttv`` of a small grid on this slice, as BART's and sigpy's second settings). BART ``pics -R T:1024:0:l``
  is temporal TV *without* a wavelet term (ADMM with CG inner steps); ``-R W:3:0:a -R T:1024:0:b``
  adds BART's own spatial wavelet (Daubechies-2, random cycle spinning): the like-for-like row.
  sigpy: temporal TV alone, ``LinearLeastSquares`` with a temporal ``FiniteDifference`` (PDHG).
- *low rank*: dynmri ``lps`` (L + S) vs BART ``pics -R L:7:7:l`` (locally low rank, 8x8 blocks).
- *wavelet*: frame-wise l1-wavelet: dynmri ``fista-wavelet`` vs BART ``pics -R W:3:0:l`` vs sigpy
  ``L1WaveletRecon`` and pysap-mri FISTA frame by frame (same lam and sym8 for pysap-mri).

BART's and sigpy's weights are absolute on their own data scaling: BART's temporal TV and
locally-low-rank rows are given at two settings, the one of the earlier measurement and the best of
a small grid on this slice (the grids are in the comments of ``BART_*``); sigpy's at its grid best.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np  # noqa: E402
import torch  # noqa: E402

from dynmri.config import CSConfig, SimulateConfig  # noqa: E402
from dynmri.data.acquire import simulate_from_config  # noqa: E402
from dynmri.data.sources import default_data_root, load_source, test_split  # noqa: E402
from dynmri.eval.metrics import evaluate  # noqa: E402
from dynmri.eval.report import markdown_table, report  # noqa: E402
from dynmri.recon.run import run_method  # noqa: E402

BART_TTV = ("0.03", "0.005")  # the earlier measurement's weight; the best of 0.002/0.003/0.005/0.01/0.03/0.1 here
BART_W_TTV = ("0.005", "0.01")  # one setting, near the best -R T and -R W weights
BART_LLR = ("0.01", "0.002")  # earlier measurement; best of 0.002/0.005/0.01/0.02/0.05 here
BART_WAV = "0.005"  # one setting
SIGPY_TTV = 0.03  # best of 0.003/0.01/0.03 here (32.23, 35.18, 35.28 dB)
DYNMRI_TTV_GRID = {"lam_ttv": 0.03}  # best lam_ttv of 0.02/0.03/0.05/0.1 here (lam at its default), like BART's grid rows


def _dynmri(acq, method: str, **cfg):
    config = CSConfig(cost_every=0, **cfg)
    return lambda: run_method(acq, method, config)[0][0]


# ------------------------------------------------------------------------------------------ BART


def _write_cfl(path: Path, a: np.ndarray) -> None:
    dims = list(a.shape) + [1] * (16 - a.ndim)
    path.with_suffix(".hdr").write_text("# Dimensions\n" + " ".join(map(str, dims)) + "\n")
    a.astype(np.complex64).flatten(order="F").tofile(path.with_suffix(".cfl"))


def _read_cfl(path: Path) -> np.ndarray:
    dims = [int(v) for v in path.with_suffix(".hdr").read_text().splitlines()[1].split()]
    return np.fromfile(path.with_suffix(".cfl"), np.complex64).reshape(dims, order="F")


def bart_runner(kspace: np.ndarray, workdir: Path):
    """``make(regs) -> run()`` for ``bart pics -S -i 100 regs`` on ``kspace (T, H, W)`` (zeros where
    not sampled; BART reads the pattern from them); BART's time axis is dim 10."""
    T, H, W = kspace.shape
    _write_cfl(workdir / "k", np.moveaxis(kspace, 0, -1).reshape(H, W, *(1,) * 8, T))
    _write_cfl(workdir / "s", np.ones((H, W), np.complex64))
    env = dict(os.environ, OMP_NUM_THREADS="1")

    def make(regs: str, iters: int = 100):
        def run():
            cmd = ["bart", "pics", "-S", "-d0", "-i", str(iters), *regs.split(), str(workdir / "k"), str(workdir / "s"), str(workdir / "o")]
            subprocess.run(cmd, env=env, check=True, capture_output=True)
            return np.moveaxis(_read_cfl(workdir / "o").reshape(H, W, T), -1, 0)

        return run

    return make


# ----------------------------------------------------------------------------------------- sigpy


def sigpy_ttv(kspace, mask, lam, iters):
    """Temporal TV alone: min 0.5||M F x - y||^2 + lam ||D_t x||_1 (PDHG in sigpy)."""
    import sigpy as sp

    shape = kspace.shape
    A = sp.linop.Multiply(shape, mask.astype(np.float32)) * sp.linop.FFT(shape, axes=(-2, -1))
    G = sp.linop.FiniteDifference(shape, axes=(0,))
    y = kspace.astype(np.complex64)
    return lambda: sp.app.LinearLeastSquares(A, y, proxg=sp.prox.L1Reg(G.oshape, lam), G=G, max_iter=iters, show_pbar=False).run()


def sigpy_wavelet(kspace, mask, lam, iters):
    """Frame-wise l1-wavelet (sigpy's sym8, zero-padded, its own depth), frame by frame."""
    import sigpy.mri.app as app

    def run():
        return np.stack([app.L1WaveletRecon(k[None].astype(np.complex64), np.ones((1, *k.shape), np.complex64), lam, weights=m,
                                            wave_name="sym8", max_iter=iters, show_pbar=False).run() for k, m in zip(kspace, mask, strict=True)])

    return run


def pysap_wavelet(kspace, mask, lam, iters):
    """pysap-mri FISTA, same objective as dynmri's fista-wavelet, frame by frame."""
    sys.path.insert(0, str(Path(__file__).parent))
    from compare_pysap import pysap_single

    runs = [pysap_single(np.zeros(k.shape), m, k.astype(np.complex64), lam, iters) for k, m in zip(kspace, mask, strict=True)]
    return lambda: np.stack([r() for r in runs])


# ------------------------------------------------------------------------------------------ rows


def rows_for(acq, args, workdir: Path) -> list[tuple[str, str, str, callable]]:
    """``(problem, peer, label, run)`` for every available toolbox; prints why a peer is skipped."""
    k, m = acq.kspace[0], acq.mask[0].astype(np.float32)
    ttv = dict(kv.split("=") for kv in args.ttv.split(",")) if args.ttv else {}
    ttv = {a: float(v) for a, v in ttv.items()}
    out = [("temporal TV", "dynmri", f"admm-wavelet-ttv {n} it", _dynmri(acq, "admm-wavelet-ttv", n_iter=n, **ttv)) for n in args.admm_iters]
    grid = ", ".join(f"{a}={v:g}" for a, v in DYNMRI_TTV_GRID.items())
    out.append(("temporal TV", "dynmri", f"admm-wavelet-ttv 20 it, {grid}", _dynmri(acq, "admm-wavelet-ttv", n_iter=20, **(ttv | DYNMRI_TTV_GRID))))
    out.append(("temporal TV", "dynmri", "condatvu-wavelet-ttv 100 it (previous solver)", _dynmri(acq, "condatvu-wavelet-ttv", **ttv)))
    bart = shutil.which("bart") and bart_runner(k, workdir)
    if not bart:
        print("skip BART: no `bart` command (apt-get install bart)", flush=True)
    else:
        out += [("temporal TV", "BART", f"pics -R T:1024:0:{v}", bart(f"-R T:1024:0:{v}")) for v in BART_TTV]
        out.append(("temporal TV", "BART", f"pics -R W:3:0:{BART_W_TTV[0]} -R T:1024:0:{BART_W_TTV[1]}",
                    bart(f"-R W:3:0:{BART_W_TTV[0]} -R T:1024:0:{BART_W_TTV[1]}")))
    try:
        out.append(("temporal TV", "sigpy", f"LinearLeastSquares TTV lam={SIGPY_TTV:g} (PDHG)", sigpy_ttv(k, m, SIGPY_TTV, 100)))
    except ImportError as exc:
        print(f"skip sigpy: {exc}", flush=True)
    out.append(("low rank", "dynmri", "lps 100 it", _dynmri(acq, "lps")))
    if bart:
        out += [("low rank", "BART", f"pics -R L:7:7:{v}", bart(f"-R L:7:7:{v}")) for v in BART_LLR]
    out += _wavelet_rows(acq, args, bart)
    return out


def _wavelet_rows(acq, args, bart) -> list:
    k, m = acq.kspace[0], acq.mask[0].astype(np.float32)
    lam = 3e-4  # absolute (the reference maximum is 1), the same objective in dynmri and pysap-mri
    out = [("wavelet", "dynmri", f"fista-wavelet lam={lam:g} 100 it", _dynmri(acq, "fista-wavelet", lam=lam, absolute=True))]
    if bart:
        out.append(("wavelet", "BART", f"pics -R W:3:0:{BART_WAV}", bart(f"-R W:3:0:{BART_WAV}")))
    try:
        out.append(("wavelet", "sigpy", f"L1WaveletRecon lam={lam:g}, per frame", sigpy_wavelet(k, m, lam, 100)))
    except ImportError as exc:
        print(f"skip sigpy: {exc}", flush=True)
    try:
        import mri  # noqa: F401

        out.append(("wavelet", "pysap-mri", f"FISTA lam={lam:g}, per frame", pysap_wavelet(k, m, lam, 100)))
    except ImportError as exc:
        print(f"skip pysap-mri: {exc} (install it in a separate environment, see compare_pysap.py)", flush=True)
    return out


def measure(rows, target, repeat: int) -> list[list[str]]:
    """Every row once (warm-up, PSNR), then ``repeat`` interleaved timed rounds; median times."""
    psnr = [evaluate(np.asarray(run())[None], target)["psnr"] for *_, run in rows]
    times: list[list[float]] = [[] for _ in rows]
    for _ in range(repeat):
        for i, (*_, run) in enumerate(rows):
            t = time.perf_counter()
            run()
            times[i].append(time.perf_counter() - t)
    med = [statistics.median(t) for t in times]
    ref = {}
    for (problem, peer, *_), t in zip(rows, med, strict=True):
        if peer == "dynmri":
            ref.setdefault(problem, t)
    return [[problem, label, peer, f"{t:.3f}", f"{p:.2f}", f"{t / ref[problem]:.2f}"]
            for (problem, peer, label, _), t, p in zip(rows, med, psnr, strict=True)]


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", default=str(default_data_root() / "sunnybrook-ep-cine" / "E774S5-shortAxis"))
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--admm-iters", type=lambda s: [int(v) for v in s.split(",")], default=[10, 20],
                   help="iteration counts of the admm-wavelet-ttv rows, e.g. 5,10,20")
    p.add_argument("--ttv", default="", help="CSConfig weights of both dynmri TTV solvers, e.g. lam=3e-4,lam_ttv=0.03")
    p.add_argument("--out", type=Path, default=None)
    args = p.parse_args()
    torch.set_num_threads(1)
    s = test_split(load_source(args.data))["test"][0]
    acq = simulate_from_config(SimulateConfig(data=args.data, accel=8, frames=12, crop=128, slices=str(s)))
    with tempfile.TemporaryDirectory() as tmp:
        table = measure(rows_for(acq, args, Path(tmp)), acq.target, args.repeat)
    title = (f"Sunnybrook SAX test slice {s}, 12 frames, 128x128, Gaussian 8x, single coil, 1 thread, "
             f"median of {args.repeat} interleaved runs; dynmri TTV weights: {args.ttv or 'CSConfig defaults'}")
    report(markdown_table(["problem", "method", "peer", "time (s)", "PSNR (dB)", "ratio"], table, title), args.out)


if __name__ == "__main__":
    main()
