"""dynmri vs pysap-mri (and sigpy) on the same frame, mask and regularisation, 1 thread.

Needs pysap-mri, modopt and sigpy, which are *not* dynmri dependencies; install them in a
separate environment (see README "Benchmarks")::

    python3 -m venv .venv-bench && .venv-bench/bin/pip install torch==2.14.1 && \\
        .venv-bench/bin/pip install pysap-mri modopt sigpy python-pysap && .venv-bench/bin/pip install -e .
    OMP_NUM_THREADS=1 .venv-bench/bin/python benchmarks/compare_pysap.py [--out bench-out/compare_pysap.md]

Problem: frame 0 of the first Sunnybrook short-axis *test* slice, 256x256, scaled to max 1 with
dynmri's smooth phase; variable-density Gaussian mask (8x); single coil, and 8 birdcage coils
for the calibrationless case. Objective: 0.5||A x - y||^2 + lam ||Psi x||_1 with Psi = sym8,
periodized, 4 scales (pysap ``nb_scales=4`` = 3 decomposition levels), every band thresholded:
the same objective in pysap-mri and dynmri (sigpy's wavelet pads with zeros and picks its own
depth, so its objective differs slightly). FISTA, 100 iterations, no cost evaluation (pysap's
default). Calibrationless: GroupLASSO across coils, RSS of the coil images.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np  # noqa: E402
import torch  # noqa: E402

from dynmri._complex import channels_to_np, np_to_channels  # noqa: E402
from dynmri.config import CSConfig  # noqa: E402
from dynmri.data.simulate import add_smooth_phase, birdcage_maps  # noqa: E402
from dynmri.data.sources import default_data_root, load_source, test_split  # noqa: E402
from dynmri.eval.metrics import evaluate  # noqa: E402
from dynmri.eval.report import markdown_table, report  # noqa: E402
from dynmri.physics.cartesian import coilwise_mri, make_physics  # noqa: E402
from dynmri.recon.methods import get_method  # noqa: E402
from dynmri.sampling.masks import make_mask  # noqa: E402


def _fft(x):
    return np.fft.fftshift(np.fft.fft2(np.fft.ifftshift(x, axes=(-2, -1)), norm="ortho", axes=(-2, -1)), axes=(-2, -1))


def _timed(fn, repeat: int):
    fn()  # warm-up (imports, plans)
    best = float("inf")
    for _ in range(repeat):
        t = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t)
    return out, best


def _score(x, ref):
    m = evaluate(np.abs(x)[None, None], np.abs(ref)[None, None])
    return m["ssim"], m["psnr"]


def pysap_single(img, mask, y, lam, iters):
    from modopt.opt.linear import Identity
    from modopt.opt.proximity import SparseThreshold
    from mri.operators import FFT, WaveletN
    from mri.reconstructors import SingleChannelReconstructor

    fourier = FFT(mask=mask, shape=img.shape)
    linear = WaveletN(wavelet_name="sym8", nb_scales=4, padding_mode="periodization")
    rec = SingleChannelReconstructor(fourier_op=fourier, linear_op=linear, regularizer_op=SparseThreshold(Identity(), lam, thresh_type="soft"),
                                     gradient_formulation="synthesis", verbose=0)
    g = rec.gradient_op  # numpy-2 scalars fail modopt's float check: cast them
    g.spec_rad, g.inv_spec_rad = float(g.spec_rad), float(g.inv_spec_rad)
    return lambda: rec.reconstruct(kspace_data=y, optimization_alg="fista", num_iterations=iters)[0]


def pysap_calibrationless(img_shape, mask, y, lam, iters, n_coils):
    from modopt.opt.proximity import GroupLASSO
    from mri.operators import FFT, WaveletN
    from mri.reconstructors import CalibrationlessReconstructor

    fourier = FFT(mask=mask, shape=img_shape, n_coils=n_coils)
    linear = WaveletN(wavelet_name="sym8", nb_scales=4, n_coils=n_coils, n_jobs=1, padding_mode="periodization")
    rec = CalibrationlessReconstructor(fourier_op=fourier, linear_op=linear, regularizer_op=GroupLASSO(weights=lam),
                                       gradient_formulation="synthesis", verbose=0)
    g = rec.gradient_op
    g.spec_rad, g.inv_spec_rad = float(g.spec_rad), float(g.inv_spec_rad)
    return lambda: np.sqrt((np.abs(rec.reconstruct(kspace_data=y, optimization_alg="fista", num_iterations=iters)[0]) ** 2).sum(0))


def sigpy_single(y, lam, iters):
    import sigpy.mri.app as app

    maps = np.ones((1, *y.shape), np.complex64)
    return lambda: app.L1WaveletRecon(y[None].astype(np.complex64), maps, lam, wave_name="sym8", max_iter=iters, show_pbar=False).run()


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", default=str(default_data_root() / "sunnybrook-ep-cine" / "E774S5-shortAxis"))
    p.add_argument("--accel", type=float, default=8)
    p.add_argument("--lam", type=float, default=3e-4, help="absolute weight, the same in every toolbox")
    p.add_argument("--iters", type=int, default=100)
    p.add_argument("--coils", type=int, default=8)
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--out", type=Path, default=None)
    args = p.parse_args()
    torch.set_num_threads(1)

    src = load_source(args.data)
    s = test_split(src)["test"][0]
    img = add_smooth_phase(src.videos[s : s + 1, :1], seed=0)[0, 0]  # (256, 256) complex, max 1
    H, W = img.shape
    mask = make_mask("gaussian", (1, H, W), args.accel, seed=0)[0, 0].numpy()
    cfg = CSConfig(lam=args.lam, absolute=True, n_iter=args.iters, tol=0.0, levels=3, cost_every=0)
    rows = []

    # ---- single coil
    y = (_fft(img) * mask).astype(np.complex64)
    zf = np.fft.fftshift(np.fft.ifft2(np.fft.ifftshift(y), norm="ortho"))
    rows.append(("single-coil", "zero-filled", *_score(zf, img), float("nan")))
    physics = make_physics(torch.from_numpy(mask[None, None]).float())
    yt = np_to_channels(y[None, None])
    ours, t_ours = _timed(lambda: channels_to_np(get_method("fista-wavelet")(yt, physics, config=cfg))[0, 0], args.repeat)
    rows.append(("single-coil", "dynmri fista-wavelet", *_score(ours, img), t_ours))
    ours_p, t_pogm = _timed(lambda: channels_to_np(get_method("pogm-wavelet")(yt, physics, config=cfg))[0, 0], args.repeat)
    rows.append(("single-coil", "dynmri pogm-wavelet", *_score(ours_p, img), t_pogm))
    ref, t_ref = _timed(pysap_single(img, mask, y, args.lam, args.iters), args.repeat)
    rows.append(("single-coil", "pysap-mri FISTA", *_score(ref, img), t_ref))
    sp, t_sp = _timed(sigpy_single(y, args.lam, args.iters), args.repeat)
    rows.append(("single-coil", "sigpy L1WaveletRecon", *_score(sp, img), t_sp))
    speed = {"single-coil": t_ref}

    # ---- multi-coil calibrationless (GroupLASSO)
    maps = birdcage_maps(args.coils, (H, W))
    yc = (_fft(maps * img[None]) * mask[None]).astype(np.complex64)
    rss_zf = np.sqrt((np.abs(np.fft.fftshift(np.fft.ifft2(np.fft.ifftshift(yc, axes=(-2, -1)), norm="ortho", axes=(-2, -1)), axes=(-2, -1))) ** 2).sum(0))
    rows.append(("calibrationless", "zero-filled (RSS)", *_score(rss_zf, img), float("nan")))
    phys_c = coilwise_mri(torch.from_numpy(mask[None, None]).float())
    ytc = np_to_channels(yc[None, :, None])  # (1, 2, N, 1, H, W)
    ours_c, t_oc = _timed(lambda: channels_to_np(get_method("fista-grouplasso")(ytc, phys_c, config=cfg))[0, 0], args.repeat)
    rows.append(("calibrationless", "dynmri fista-grouplasso", *_score(ours_c, img), t_oc))
    ref_c, t_rc = _timed(pysap_calibrationless((H, W), mask, yc, args.lam, args.iters, args.coils), max(1, args.repeat - 2))
    rows.append(("calibrationless", "pysap-mri FISTA GroupLASSO", *_score(ref_c, img), t_rc))
    speed["calibrationless"] = t_rc

    title = (f"Sunnybrook SAX test slice {s}, frame 0, {H}x{W}, Gaussian {args.accel:g}x, sym8 4 scales, lam={args.lam:g}, "
             f"{args.iters} iterations, 1 thread, best of {args.repeat}")
    header = ["problem", "method", "SSIM", "PSNR (dB)", "s / 100 it", "pysap time / this"]
    table = [[prob, name, f"{ssim:.4f}", f"{psnr:.2f}", "-" if t != t else f"{t * 100 / args.iters:.3f}", "" if t != t else f"{speed[prob] / t:.1f}x"]
             for prob, name, ssim, psnr, t in rows]
    report(markdown_table(header, table, title), args.out)


if __name__ == "__main__":
    main()
