r"""Image-quality metrics on magnitude videos, per frame, via deepinv's metrics.

Each video (sample) is divided by the maximum magnitude of its reference, so that the
peak in PSNR is the reference maximum:

.. math::

    \mathrm{PSNR}_t = 10 \log_{10} \frac{1}{\tfrac{1}{HW}\sum_{h,w} (|\hat x_t| - |x_t|)^2},
    \qquad
    \mathrm{NMSE}_t = \frac{\| |\hat x_t| - |x_t| \|_2^2}{\| |x_t| \|_2^2},

and SSIM uses an 11x11 Gaussian window with data range 1. Videos are ``(S, T, H, W)``
(complex or real); the per-frame results are ``(S, T)`` arrays.

Examples
--------
>>> import numpy as np
>>> from dynmri.eval.metrics import evaluate
>>> ref = np.ones((1, 2, 16, 16)); rec = ref * 0.9
>>> round(evaluate(rec, ref)["psnr"], 2)
20.0
"""

from __future__ import annotations

import numpy as np
import torch

from dynmri._complex import center_crop
from dynmri.errors import ParameterError, ShapeError


def _crop(x: np.ndarray, roi) -> np.ndarray:
    if roi is None:
        return x
    if isinstance(roi, int):
        h, w = x.shape[-2:]
        if not 0 < roi <= min(h, w):
            raise ParameterError(f"roi crop {roi} must be in 1..{min(h, w)}")
        return center_crop(x, roi)
    y0, y1, x0, x1 = roi
    return x[..., y0:y1, x0:x1]


def frame_metrics(recon: np.ndarray, reference: np.ndarray, roi=None) -> dict[str, np.ndarray]:
    """Per-frame PSNR (dB), SSIM and NMSE of ``recon`` against ``reference``, each ``(S, T)``.

    ``roi`` is a centred square size (int) or ``(y0, y1, x0, x1)``; it applies after scaling.
    """
    from deepinv.loss.metric import NMSE, PSNR, SSIM

    if recon.shape != reference.shape or recon.ndim != 4:
        raise ShapeError(f"recon {recon.shape} and reference {reference.shape} must both be (S, T, H, W)")
    mag_ref = np.abs(reference).astype(np.float64)
    peak = mag_ref.reshape(mag_ref.shape[0], -1).max(axis=1)
    if np.any(peak <= 0):
        raise ParameterError("a reference video is all zero: PSNR is undefined")
    scale = peak[:, None, None, None]
    a = _crop(np.abs(recon) / scale, roi)
    b = _crop(mag_ref / scale, roi)
    S, T = a.shape[:2]
    ta = torch.from_numpy(np.ascontiguousarray(a)).float().reshape(S * T, 1, *a.shape[-2:])
    tb = torch.from_numpy(np.ascontiguousarray(b)).float().reshape(S * T, 1, *b.shape[-2:])
    out = {
        "psnr": PSNR(max_pixel=1.0)(ta, tb),
        "ssim": SSIM(max_pixel=1.0)(ta, tb),
        "nmse": NMSE()(ta, tb),
    }
    return {k: v.detach().double().numpy().reshape(S, T) for k, v in out.items()}


def evaluate(recon: np.ndarray, reference: np.ndarray, roi=None) -> dict:
    """Mean and std over all frames, plus per-frame lists (averaged over samples).

    Returns ``{"psnr", "psnr_std", "ssim", "ssim_std", "nmse", "nmse_std", "per_frame": {...},
    "per_sample": {...}}``.
    """
    return summarize(frame_metrics(recon, reference, roi))


def summarize(fm: dict[str, np.ndarray]) -> dict:
    """:func:`evaluate`'s means, stds and lists from per-frame metrics ``{name: (S, T)}``
    (:func:`frame_metrics`; the rows of several runs stacked along ``S`` give the numbers of one run
    on all of them)."""
    out: dict = {}
    for k, v in fm.items():
        out[k] = float(v.mean())
        out[f"{k}_std"] = float(v.std())
    out["per_frame"] = {k: v.mean(axis=0).tolist() for k, v in fm.items()}
    out["per_sample"] = {k: v.mean(axis=1).tolist() for k, v in fm.items()}
    return out


def format_table(rows: dict[str, dict], title: str | None = None) -> str:
    """A Markdown table of ``{name: evaluate(...)}`` rows (:func:`dynmri.eval.report.metrics_table`)."""
    from dynmri.eval.report import metrics_table

    return metrics_table(rows, title)


def psnr_scorer(target: np.ndarray):
    """Ground-truth scorers for :func:`dynmri.recon.tune.score_curve`: ``s -> (x -> mean frame
    PSNR of |x| against the magnitude of ``target[s]``)``, with ``x`` a video ``(1, 2, T, H, W)``
    and the peak the reference maximum, as :func:`evaluate`. For measuring tuning, never for it."""

    def make(s: int):
        ref = torch.from_numpy(np.abs(target[s])).double()
        peak = ref.max()

        def score(x: torch.Tensor) -> float:
            mag = torch.sqrt(x[0, 0] ** 2 + x[0, 1] ** 2).double()
            return float((10 * torch.log10(1 / ((mag - ref) / peak).pow(2).mean(dim=(-2, -1)))).mean())

        return score

    return make
