r"""LPS-Net: low rank + sparse (Otazo et al. 2015) unrolled for ``iterations`` FISTA steps, with
learned per-iteration thresholds and step sizes (in the spirit of L+S-Net, Huang et al. 2021).

The classical method (:func:`dynmri.recon.cs.low_rank_plus_sparse`) solves

.. math::

    \min_{L, S}\ \tfrac12\|A(L + S) - y\|_2^2 + \lambda_L \|L\|_* + \lambda_S \|F_t S\|_1

by FISTA on :math:`z = (L, S)` with step :math:`s = 1 / (2\,\|A^H A\|)`. Iteration :math:`k` of
the network is the same update with its own weights,

.. math::

    g &= A^H(A(z_L + z_S) - y), \quad s_k = e^{\beta_k} s, \\
    L_{k+1} &= \mathrm{SVT}_{s_k \lambda_{L,k}}(z_L - s_k g), \quad
    S_{k+1} = F_t^H\, \mathcal S_{s_k \lambda_{S,k}}\big(F_t (z_S - s_k g)\big),

followed by FISTA's momentum. The weights are relative, as in ``lps``:
:math:`\lambda_{L,k} = e^{a_k} \sigma_{\max}(x_0)` and
:math:`\lambda_{S,k} = e^{b_k} \max|F_t x_0|` with :math:`x_0 = A^H y`, so one network serves any
data scale. Initialised with :math:`e^{a_k} =` ``lam_l``, :math:`e^{b_k} =` ``lam_s`` and
:math:`\beta_k = 0`, the untrained network *is* ``lps`` stopped at ``iterations`` iterations (tested).
An optional ``correction`` adds a small zero-initialised CNN to the sparse part after each
iteration (the learned "rest" of the prior). Any dynamic operator: single/multi-coil, Cartesian or
non-Cartesian; shapes ``y (B, 2, [N,] T, ...)`` -> ``x (B, 2, T, H, W)``.

Examples
--------
>>> import torch
>>> from dynmri.models import get_model
>>> from dynmri.physics.cartesian import make_physics
>>> mask = torch.zeros(4, 16, 16); mask[:, :, ::2] = 1
>>> physics = make_physics(mask)
>>> net = get_model("lps-net", iterations=3)
>>> net(physics.A(torch.randn(1, 2, 4, 16, 16)), physics).shape
torch.Size([1, 2, 4, 16, 16])
"""

from __future__ import annotations

import math
import weakref

import torch
from torch import nn

from dynmri.models.base import MODELS
from dynmri.models.layers import batch_to_frames, frames_to_batch, zero_init


def casorati(x: torch.Tensor) -> torch.Tensor:
    """``(B, 2, T, H, W)`` -> complex Casorati matrices ``(B, T, H W)``."""
    B, _, T, H, W = x.shape
    return torch.complex(x[:, 0], x[:, 1]).reshape(B, T, H * W)


def svt(x: torch.Tensor, lam: torch.Tensor, rank_weights: torch.Tensor | None = None) -> torch.Tensor:
    r"""Singular-value thresholding of the Casorati matrix :math:`X` (``T x HW``), differentiable
    in ``x`` and ``lam`` (a scalar or one value per batch item), through the ``T x T`` Gram matrix:
    :math:`X X^H = V \operatorname{diag}(\sigma^2) V^H` gives
    :math:`\mathrm{SVT}_\lambda(X) = V \operatorname{diag}\big((\sigma - \lambda)_+ / \sigma\big) V^H X`.
    The same values as the SVD (to rounding) and about its cost (``benchmarks/lpsnet_svt.py``);
    zero singular values get a zero, not a NaN, gradient. ``rank_weights`` (``R`` values) scale the
    threshold of the ``r``-th largest singular value by ``w_min(r, R-1)`` (a learned, weighted SVT)."""
    B, _, T, H, W = x.shape
    X = casorati(x)  # (B, T, HW)
    e, V = torch.linalg.eigh(X @ X.mH)
    sigma = e.clamp(min=torch.finfo(e.dtype).tiny).sqrt()
    lam = lam.reshape(-1, 1).to(sigma.dtype)
    if rank_weights is not None:  # eigh sorts ascending: column j holds the (T-1-j)-th largest
        rank = (T - 1 - torch.arange(T, device=x.device)).clamp(max=rank_weights.numel() - 1)
        lam = lam * rank_weights.to(sigma.dtype)[rank]
    f = torch.where(sigma > lam, 1 - lam / sigma, torch.zeros_like(sigma))
    z = ((V * f.unsqueeze(-2).to(V.dtype)) @ (V.mH @ X)).reshape(B, T, H, W)
    return torch.stack((z.real, z.imag), dim=1)


def soft(c: torch.Tensor, lam: torch.Tensor) -> torch.Tensor:
    """Complex soft-thresholding of ``(B, 2, ...)`` with a threshold per batch item (or any
    ``lam`` of ``c``'s rank that broadcasts to it); the modulus is clamped *before* the square root,
    so that zero coefficients get a zero (not NaN) gradient."""
    mag = c.pow(2).sum(1, keepdim=True).clamp(min=torch.finfo(c.dtype).tiny).sqrt()
    if lam.ndim != c.ndim:  # one threshold per batch item, else already broadcastable
        lam = lam.reshape(-1, *([1] * (c.ndim - 1)))
    return c * torch.clamp(1 - lam / mag, min=0)


_POWER_ITERATIONS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
"""Power-iteration results per non-Cartesian operator: a DDEI step runs the network twice on one operator."""


def lipschitz(physics, x0: torch.Tensor, seed: int = 0) -> torch.Tensor:
    r""":math:`\|A^H A\|` as :mod:`dynmri.recon.cs` computes it (exact where the operator declares a
    Fourier-diagonal normal, else seeded power iterations, remembered per non-Cartesian operator,
    shape, dtype, device, seed and trajectory version); no gradient."""
    from dynmri.optim.solvers import lipschitz_constant
    from dynmri.physics.base import MRIOperator, normal_operator
    from dynmri.physics.nufft import NonCartesianMRI

    with torch.no_grad():
        d = physics.fourier_normal_mask() if isinstance(physics, MRIOperator) else None
        compute = lambda: lipschitz_constant(normal_operator(physics), x0, d, seed=seed)  # noqa: E731
        if d is not None or not isinstance(physics, NonCartesianMRI) or physics.nufft.k.requires_grad:
            return torch.as_tensor(compute())
        known = _POWER_ITERATIONS.setdefault(physics, {})
        key = (tuple(x0.shape), x0.dtype, x0.device, seed, physics.nufft.version)
        if key not in known:
            known[key] = compute()
        return torch.as_tensor(known[key])


class SparseCorrection(nn.Module):
    """A small zero-initialised residual CNN on each frame of the sparse part. Leaky ReLU: the
    sparse part is often all zero in the first iterations, where ReLU units whose biases start
    negative would be dead for good (about one initialisation in 16 with 4 channels)."""

    def __init__(self, channels: int = 16):
        super().__init__()
        self.net = nn.Sequential(nn.Conv2d(2, channels, 3, padding=1), nn.LeakyReLU(0.1), zero_init(nn.Conv2d(channels, 2, 3, padding=1)))

    def forward(self, s: torch.Tensor) -> torch.Tensor:
        return s + batch_to_frames(self.net(frames_to_batch(s)), s.shape[2])


def band_weights(log_w: torch.Tensor, T: int) -> torch.Tensor:
    r"""Per temporal frequency weights ``(T,)`` from ``log_w`` (``(n,)``, ``n >= 2``): the log-weights
    sit at ``n`` equally spaced points of the absolute normalised frequency :math:`|f| \in [0, 1/2]`
    and are interpolated linearly, so one network serves any number of frames ``T``
    (``torch.fft.fftfreq`` order, as :class:`~dynmri.optim.linops.TemporalFourier`)."""
    pos = torch.fft.fftfreq(T, dtype=log_w.dtype, device=log_w.device).abs() * 2 * (log_w.numel() - 1)
    lo = pos.floor().long().clamp(max=log_w.numel() - 2)
    return torch.exp(torch.lerp(log_w[lo], log_w[lo + 1], pos - lo))


class LPSNet(nn.Module):
    r"""Unrolled low rank + sparse with learned per-iteration weights (see the module doc).

    ``bands > 1``: the sparsity threshold of iteration ``k`` also varies with the temporal frequency,
    :math:`\lambda_{S,k}(f) = \lambda_{S,k}\, w_k(|f|)` (:func:`band_weights`, ``bands`` learned
    log-weights per iteration); ``ranks > 1``: the singular-value threshold of the ``r``-th largest
    singular value is :math:`\lambda_{L,k}\, v_{k,\min(r, R-1)}` (``ranks`` learned log-weights per
    iteration). Both start at weight 1, so the untrained network is still ``lps``."""

    def __init__(self, iterations: int = 12, lam_l: float = 3e-3, lam_s: float = 1e-3, learn_steps: bool = True,
                 correction: bool = False, channels: int = 16, bands: int = 1, ranks: int = 1):
        super().__init__()
        if iterations < 1 or lam_l <= 0 or lam_s <= 0 or bands < 1 or ranks < 1:
            from dynmri.errors import ParameterError

            raise ParameterError("lps-net needs iterations >= 1, lam_l, lam_s > 0 and bands, ranks >= 1")
        self.log_lam_l = nn.Parameter(torch.full((iterations,), math.log(lam_l), dtype=torch.float64))
        self.log_lam_s = nn.Parameter(torch.full((iterations,), math.log(lam_s), dtype=torch.float64))
        self.log_step = nn.Parameter(torch.zeros(iterations, dtype=torch.float64), requires_grad=learn_steps)
        self.correction = nn.ModuleList(SparseCorrection(channels) for _ in range(iterations)) if correction else None
        # present only when asked for, so that checkpoints of the plain network load unchanged
        self.log_bands = nn.Parameter(torch.zeros(iterations, bands, dtype=torch.float64)) if bands > 1 else None
        self.log_ranks = nn.Parameter(torch.zeros(iterations, ranks, dtype=torch.float64)) if ranks > 1 else None

    @property
    def iterations(self) -> int:
        return self.log_step.numel()

    def forward(self, y: torch.Tensor, physics) -> torch.Tensor:
        # deepinv (under linops) is imported when a network runs, not when dynmri.models is
        from dynmri.optim.linops import TemporalFourier
        from dynmri.physics.base import normal_operator

        Ft = TemporalFourier()
        x0 = physics.A_adjoint(y)
        B = x0.shape[0]
        with torch.no_grad():  # the data-derived scales of the relative weights
            scale_l = torch.linalg.matrix_norm(casorati(x0), ord=2).to(torch.float64)
            scale_s = Ft.A(x0).pow(2).sum(1).sqrt().reshape(B, -1).amax(1).to(torch.float64)
        base = 1.0 / (2 * lipschitz(physics, x0).to(torch.float64))
        normal = normal_operator(physics)
        L, S, zL, zS, t = x0, torch.zeros_like(x0), x0, torch.zeros_like(x0), 1.0
        T = x0.shape[2]
        for k in range(self.iterations):
            step = base * torch.exp(self.log_step[k])
            g = normal(zL + zS) - x0
            ranks = None if self.log_ranks is None else torch.exp(self.log_ranks[k])
            L_new = svt(zL - step.to(x0.dtype) * g, (step * torch.exp(self.log_lam_l[k]) * scale_l).to(x0.dtype), ranks)
            lam_s = (step * torch.exp(self.log_lam_s[k]) * scale_s).to(x0.dtype)
            if self.log_bands is not None:
                lam_s = lam_s.reshape(B, 1, 1, 1, 1) * band_weights(self.log_bands[k], T).to(x0.dtype).reshape(1, 1, T, 1, 1)
            S_new = Ft.A_adjoint(soft(Ft.A(zS - step.to(x0.dtype) * g), lam_s))
            if self.correction is not None:
                S_new = self.correction[k](S_new)
            t_new = (1 + math.sqrt(1 + 4 * t * t)) / 2
            zL = torch.lerp(L, L_new, 1 + (t - 1) / t_new)
            zS = torch.lerp(S, S_new, 1 + (t - 1) / t_new)
            L, S, t = L_new, S_new, t_new
        return L + S


@MODELS.register("lps-net")
def lps_net(iterations: int = 12, lam_l: float = 3e-3, lam_s: float = 1e-3, learn_steps: bool = True,
            correction: bool = False, channels: int = 16, bands: int = 1, ranks: int = 1) -> LPSNet:
    """LPS unrolled for ``iterations`` FISTA steps (:class:`LPSNet`)."""
    return LPSNet(iterations, lam_l, lam_s, learn_steps, correction, channels, bands, ranks)
