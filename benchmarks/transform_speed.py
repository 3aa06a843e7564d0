"""Cost of DDEI's diffeomorphisms on one video (1, 2, 12, 128, 128), 1 thread.

Usage::

    python benchmarks/transform_speed.py            # smooth warp only
    .venv-bench/bin/python benchmarks/transform_speed.py   # also CPAB, where libcpab is installed
"""

from __future__ import annotations

import time

import torch

from dynmri.errors import ParameterError
from dynmri.eval.report import markdown_table, report
from dynmri.learn.transforms import cpab, random_choice, rotate, smooth_warp, time_shift


def _ms(T, x, k):
    T(x)
    t = time.perf_counter()
    for _ in range(k):
        T(x)
    return (time.perf_counter() - t) / k * 1e3


def main():
    torch.set_num_threads(1)
    x = torch.randn(1, 2, 12, 128, 128)
    makers = [("time shift", time_shift), ("rotation", rotate), ("smooth warp (dynmri)", smooth_warp), ("CPAB (libcpab)", cpab)]
    rows = []
    for name, make in makers:
        try:
            rows.append([name, f"{_ms(random_choice(make(seed=0), seed=0), x, 3 if 'CPAB' in name else 10):.1f}"])
        except ParameterError as exc:
            rows.append([name, f"not available: {exc}"])
    report(markdown_table(["transform", "ms per video"], rows))


if __name__ == "__main__":
    main()
