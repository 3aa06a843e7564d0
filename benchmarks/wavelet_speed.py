"""Orthogonal wavelet transform speed: dynmri's blocked polyphase filter bank against PyWavelets
(and ptwt where installed), forward + inverse of two 256x256 images, 1 thread.

Usage::

    python benchmarks/wavelet_speed.py [--wavelet sym8] [--levels 3] [--repeats 50] [--out bench-out/wavelet_speed.md]

Each row is the median over ``--repeats`` runs after one warm-up, measured side by side in one
run; the last column is the round-trip error (perfect reconstruction).
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import numpy as np
import torch

from dynmri.eval.report import markdown_table, report
from dynmri.optim.wavelets import Wavelet


def _median_ms(fn, repeats: int) -> tuple[float, float]:
    out = fn()  # warm-up (caches filters, first allocation)
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return 1e3 * statistics.median(times), out


def _dynmri(x: np.ndarray, wavelet: str, levels: int):
    W = Wavelet(wavelet, levels)
    xt = torch.from_numpy(x)[None, None, None]  # (1, 1, 1, 2, H, W): channels first, two images
    return lambda: W.adjoint(W(xt)).numpy()[0, 0, 0]


def _pywavelets(x: np.ndarray, wavelet: str, levels: int):
    import pywt

    def run():
        return np.stack([pywt.waverec2(pywt.wavedec2(im, wavelet, mode="periodization", level=levels), wavelet, mode="periodization")
                         for im in x])

    return run


def _ptwt(x: np.ndarray, wavelet: str, levels: int):
    import ptwt
    import pywt

    xt = torch.from_numpy(x)

    def run():
        c = ptwt.wavedec2(xt, pywt.Wavelet(wavelet), level=levels, mode="periodic")
        return ptwt.waverec2(c, pywt.Wavelet(wavelet)).numpy()

    return run


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--wavelet", default="sym8")
    p.add_argument("--levels", type=int, default=3)
    p.add_argument("--repeats", type=int, default=50)
    p.add_argument("--out", type=Path, default=None)
    args = p.parse_args()
    torch.set_num_threads(1)
    x = np.random.default_rng(0).standard_normal((2, 256, 256))
    rows = []
    for name, make in (("dynmri Wavelet", _dynmri), ("PyWavelets (numpy)", _pywavelets), ("ptwt", _ptwt)):
        try:
            ms, out = _median_ms(make(x, args.wavelet, args.levels), args.repeats)
        except ImportError as exc:
            print(f"skipped {name}: {exc.name} is not installed")
            continue
        rows.append([name, f"{ms:.2f}", f"{float(np.abs(out - x).max()):.1e}"])
    title = f"{args.wavelet}, {args.levels} levels, forward + inverse of two 256x256 float64 images, 1 thread, median of {args.repeats}"
    report(markdown_table(["implementation", "time (ms)", "max round-trip error"], rows, title=title), args.out)


if __name__ == "__main__":
    main()
