"""How much unmeasured k-space each equivariance transform reveals (why EI-rotate and DDEI differ).

Usage::

    python benchmarks/ei_transforms.py [--data DIR] [--accel 8] [--draws 20] [--out bench-out/ei_transforms.md]
    python benchmarks/ei_transforms.py --data phantom-realtime [--stride 48]   # 12-frame windows of the real-time series

Equivariant imaging learns the null space of A from transforms that move it into the measured
range: with :math:`P = A^H A` (a projector for binary masks) and the unmeasured part
:math:`n = (I - P) x` of a ground-truth video, a transform :math:`T` helps where
:math:`\\|P T n\\|^2 / \\|n\\|^2` is large. The script reports that fraction on the Sunnybrook test
slices (12-frame windows, crop 128, the Gaussian time-varying masks of ``dynmri benchmark``),
for all of :math:`n` and for its part at outer phase encodes (:math:`|k_y| > W/8`, beyond the
densely sampled centre, where the aliasing that networks must remove comes from), for each member of DDEI's group, its random choice (``ddei``) and its composition
(``ddei group=compose``), and EI-rotate's rotation. Runs on 1 torch thread.

``--data phantom-realtime``: the real-time scenario's test subjects (240 frames at 64 x 64, as
``benchmarks/realtime_study.py``), windows of ``--frames`` every ``--stride`` frames.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch

from dynmri.config import SimulateConfig
from dynmri.data.acquire import simulate_from_config
from dynmri.data.sources import default_data_root, load_source, test_split
from dynmri.eval.report import markdown_table, report
from dynmri.learn.transforms import compose, ddei_transform, rotate, smooth_warp, time_shift
from dynmri.physics.cartesian import make_physics


def transforms(seed: int) -> dict:
    return {
        "time shift (wrap)": time_shift(seed, padding="wrap"),
        "time shift (reflect)": time_shift(seed, padding="reflect"),
        "smooth warp": smooth_warp(seed=seed),
        "rotation (EI-rotate)": rotate(seed),
        "ddei (one of shift, warp, rotation)": ddei_transform(seed),
        "ddei group=compose (shift, then warp, then rotation)": compose(time_shift(seed + 1), smooth_warp(seed=seed + 2), rotate(seed + 3)),
    }


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", default=str(default_data_root() / "sunnybrook-ep-cine" / "E774S5-shortAxis"))
    p.add_argument("--accel", type=float, default=8)
    p.add_argument("--frames", type=int, default=12)
    p.add_argument("--draws", type=int, default=20)
    p.add_argument("--stride", type=int, default=48, help="frames between windows of a longer series (real-time)")
    p.add_argument("--out", type=Path, default=None)
    args = p.parse_args()
    torch.set_num_threads(1)

    realtime = args.data == "phantom-realtime"
    shape = {"frames": 240, "size": 64, "n_phantoms": 10} if realtime else {"frames": args.frames, "crop": 128}
    src = load_source(args.data, frames=shape["frames"], size=(64, 64), n_phantoms=10) if realtime else load_source(args.data)
    test = test_split(src)["test"]
    acq = simulate_from_config(SimulateConfig(data=args.data, accel=args.accel, slices=",".join(map(str, test)), seed=0, **shape).validate())
    W = acq.target.shape[-1]
    ky = torch.arange(W) - W // 2
    outer = (ky.abs() > W // 8).to(torch.float64)  # phase encodes along the last axis (the mask's lines)

    def outer_part(v):  # keep the outer phase encodes of a video (B, 2, T, H, W), centred orthonormal FFT
        from deepinv.utils.mixins import MRIMixin

        k = MRIMixin.fft(torch.complex(v[:, 0], v[:, 1])) * outer
        z = MRIMixin.ifft(k)
        return torch.stack((z.real, z.imag), dim=1)
    results = {name: ([], []) for name in transforms(0)}
    windows = [(s, t) for s in range(acq.target.shape[0]) for t in range(0, acq.target.shape[1] - args.frames + 1, args.stride)]
    for s, t in windows:
        x = torch.from_numpy(np.stack((acq.target[s, t : t + args.frames].real, acq.target[s, t : t + args.frames].imag))[None]).double()
        physics = make_physics(torch.from_numpy(acq.mask[s : s + 1, t : t + args.frames]).double())
        n = x - physics.A_adjoint(physics.A(x))
        n_out = outer_part(n)
        norms = float((n**2).sum()), float((n_out**2).sum())
        for name, T in transforms(100 * s + 1000 * t).items():
            for _ in range(args.draws):
                for i, v in enumerate((n, n_out)):
                    y = physics.A(T(v))  # ||A v||^2 = ||P v||^2
                    results[name][i].append(float((y**2).sum()) / norms[i])
    where = (f"real-time test subjects {test}, {len(windows)} windows of {args.frames} frames at 64 x 64" if realtime
             else f"Sunnybrook test slices {test}, {args.frames} frames, crop 128")
    title = (f"Unmeasured energy revealed, ||A^H A T n||^2 / ||n||^2 with n = (I - A^H A) x: {where}, "
             f"Gaussian {args.accel:g}x, {args.draws} draws per window (mean +- std over draws)")
    header = ["transform", "revealed fraction of n", "revealed fraction of n at outer phase encodes (abs(ky) > W/8)"]
    rows = [[name, f"{np.mean(tot):.4f} +- {np.std(tot):.4f}", f"{np.mean(out):.4f} +- {np.std(out):.4f}"] for name, (tot, out) in results.items()]
    report(markdown_table(header, rows, title), args.out)


if __name__ == "__main__":
    main()
