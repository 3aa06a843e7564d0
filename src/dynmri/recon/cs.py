r"""Compressed-sensing reconstructions of dynamic MRI, registered as reconstruction methods.

All solve

.. math::

    \hat x = \arg\min_x \tfrac12 \|A x - y\|_2^2 + \sum_i \lambda_i R_i(x)

for videos ``x (B, 2, T, H, W)`` from k-space ``y (B, 2, T, H, W)`` or ``(B, 2, N, T, H, W)``,
on whole videos at once, with the solvers of :mod:`dynmri.optim.solvers`:

===========================  ====================================================  ===========
method                       regulariser                                           solver
===========================  ====================================================  ===========
``ls``                       none (least squares, CG-SENSE with coil maps)         CG
``fista-wavelet``            :math:`\|\Psi x_t\|_1` per frame (orthogonal)         FISTA
``pogm-wavelet``             same                                                  POGM
``condatvu-wavelet``         :math:`\|\Psi_u x_t\|_1` (undecimated, analysis)      Condat-Vu
``fista-wavelet-tfft``       :math:`\|F_t \Psi x\|_1` (space wavelet x time FFT)   FISTA
``condatvu-wavelet-ttv``     :math:`\|\Psi x\|_1 + \mu\|D_t x\|_1` (temporal TV)   Condat-Vu
``admm-wavelet-ttv``         same                                                  ADMM
``lps``                      :math:`\|L\|_* + \mu\|F_t S\|_1`, :math:`x = L + S`    FISTA
``fista-grouplasso``         :math:`\sum_k \|(\Psi x_n)_k\|_{2,\text{coils}}`      FISTA
``fista-owl``                OWL of :math:`\Psi x_n` per band, across coils        FISTA
===========================  ====================================================  ===========

The last two are calibrationless (no coil maps): they reconstruct every coil image and return
their root-sum-of-squares.

Wavelets: ``sym8`` with 3 decomposition levels by default, i.e. "4 scales" counting the
approximation (pysap-mri's ``nb_scales=4``). Every band is thresholded, the approximation too:
with few fully sampled central lines the coarse band itself carries aliasing, and leaving it
untouched cost 1.3 dB on the phantom at 4x (``keep_coarse=True`` restores that convention).

Regularisation weights are relative, so the defaults work across data scales: with
:math:`x_0 = A^H y`, :math:`\lambda = \text{lam} \cdot \max|\Psi x_0|` over the thresholded
coefficients, :math:`\mu = \text{lam\_ttv} \cdot \max|D_t x_0|` (``lam_s``: :math:`\max|F_t x_0|`), and
the nuclear-norm weight is :math:`\text{lam\_l} \cdot \sigma_{\max}(x_0)`; ``absolute=True``
takes the weights as given (e.g. to match another toolbox's :math:`\lambda`). The defaults in
:class:`CSConfig` were chosen on three Sunnybrook training slices (never the test slices) at 8x
by ``benchmarks/tune_cs.py`` (its table is in ``docs/cs.md``). Every solver starts from the zero-filled :math:`x_0`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

import torch

from dynmri.config import CSConfig
from dynmri.errors import ParameterError, ShapeError
from dynmri.optim.prox import (
    group_norm,
    group_soft_threshold,
    modulus,
    owl,
    owl_norm,
    project_linf,
    soft_threshold,
    svt,
)
from dynmri.optim.solvers import AnalysisTerm, get_solver, lipschitz_constant
from dynmri.optim.wavelets import Wavelet
from dynmri.physics.base import normal_operator
from dynmri.recon.methods import METHODS
from dynmri.registry import check_options


def _levels(cfg: CSConfig, shape) -> int:
    """The requested number of scales, reduced until H and W are divisible by 2^levels."""
    H, W = shape[-2:]
    j = cfg.levels
    while j > 1 and (H % 2**j or W % 2**j):
        j -= 1
    if H % 2**j or W % 2**j:
        raise ShapeError(f"image {H}x{W} must have even sides for a wavelet transform; crop it")
    return j


def _shifted_mask(physics, y):
    r"""For Cartesian data without coil maps (single-coil, or coil by coil for the
    calibrationless methods) with even H, W, the centring shifts cancel in the normal operator:
    :math:`F_c^H M^2 F_c = F^{-1}\,\mathrm{ifftshift}(M^2)\,F` (shift theorem). Returns
    ``ifftshift(M^2)``, shaped to broadcast with the complex image ``(B, [N,] T, H, W)``, or None
    when the general path must be used (the operator declares no Fourier-diagonal normal
    operator, :meth:`~dynmri.physics.base.MRIOperator.fourier_normal_mask`)."""
    from dynmri.physics.base import MRIOperator

    m = physics.fourier_normal_mask() if isinstance(physics, MRIOperator) else None
    if m is None or m.ndim != y.ndim - 1:
        return None
    return m.expand(y.shape[0], *m.shape[1:]).to(y.dtype)


class _Problem:
    r"""The data term of one reconstruction: gradient, Lipschitz constant, cost.

    The Lipschitz constant of :math:`A^H A` is exact, :math:`\max M^2`, on the Cartesian fast
    path (the normal operator is diagonal in k-space), else 30 power iterations."""

    def __init__(self, y: torch.Tensor, physics, cfg: CSConfig):
        if not torch.isfinite(y).all():
            raise ParameterError("k-space contains NaN or Inf")
        self.y, self.physics, self.cfg = y, physics, cfg
        self.x0 = physics.A_adjoint(y)
        self._mask = _shifted_mask(physics, y)
        self._normal = normal_operator(physics)
        self.lipschitz = lipschitz_constant(self.normal, self.x0, self._mask, seed=cfg.seed)

    def normal(self, x):
        """:math:`A^H A x`."""
        if self._mask is None:
            return self._normal(x)
        z = torch.fft.ifft2(self._mask * torch.fft.fft2(torch.complex(x[:, 0], x[:, 1])))
        return torch.stack((z.real, z.imag), dim=1)

    def grad(self, x):
        """:math:`A^H (A x - y) = A^H A x - A^H y`."""
        return self.normal(x) - self.x0

    def data_cost(self, x) -> float:
        return 0.5 * float(torch.sum((self.physics.A(x) - self.y) ** 2))


class _WaveletNormal:
    r"""The normal operator on orthogonal wavelet coefficients, :math:`\Psi A^H A \Psi^H c`, for a
    Fourier-diagonal :math:`A^H A = F^{-1} D F` (the Cartesian fast path of :class:`_Problem`).

    Coefficients are real ``(B, 2, [N,] T, H, W)`` in the Mallat layout of :class:`Wavelet`.
    Levels 2..J run in image space; the first level runs in the Fourier domain, where it is a
    2 x 2 mixing of spectral folds (:func:`dynmri.optim.wavelets.level1_spectra`), so that

    .. math::

        \Psi A^H A \Psi^H = \Psi_{>1}\, F_{b}^{-1}\, \mathcal A_1 D\, \mathcal S_1 F_b\, \Psi_{>1}^H,

    with :math:`F_b` the DFT of each level-1 band (``H/2 x W/2``), :math:`\mathcal S_1` and
    :math:`\mathcal A_1` the spectral synthesis and analysis. The image-size FFT pair and the
    two largest wavelet passes of the image-domain iteration become band FFTs and a few
    elementwise products (``benchmarks/compare_pysap.py``).
    """

    def __init__(self, W: Wavelet, D: torch.Tensor):
        from dynmri.optim.wavelets import level1_spectra

        H, Wd = D.shape[-2:]
        cdt = torch.complex128 if D.dtype == torch.float64 else torch.complex64
        s1 = level1_spectra(W.name, H).to(device=D.device, dtype=cdt)
        s2 = level1_spectra(W.name, Wd).to(device=D.device, dtype=cdt)
        self.W, self.D = W, D
        h1, h2 = H // 2, Wd // 2
        # synthesis weights S[b, f, nu] = d_b[f h + nu]; analysis G = conj(S) / 2
        self.S1 = [s1[b].view(2, h1, 1, 1) for b in range(2)]
        self.S2 = [s2[b].view(2, h2) for b in range(2)]
        self.G1 = [(s1[:, f * h1 : (f + 1) * h1].conj() / 2).view(2, h1, 1, 1) for f in range(2)]
        self.G2 = [(s2[:, f * h2 : (f + 1) * h2].conj() / 2) for f in range(2)]
        self.split = (h1, h2)

    def __call__(self, c: torch.Tensor) -> torch.Tensor:
        h1, h2 = self.split
        u = self.W.synthesize_coarse(c) if self.W.levels > 1 else c
        z = torch.complex(u[:, 0], u[:, 1])
        shape = z.shape
        z = torch.fft.fftn(z.unflatten(-1, (2, h2)).unflatten(-3, (2, h1)), dim=(-3, -1))  # (..., 2r, h1, 2c, h2)
        t = z[..., 0:1, :] * self.S2[0] + z[..., 1:2, :] * self.S2[1]  # columns: bands -> folds
        x = t[..., 0:1, :, :, :] * self.S1[0] + t[..., 1:2, :, :, :] * self.S1[1]  # rows: the image spectrum
        x = x.reshape(shape).mul_(self.D).unflatten(-1, (2, h2)).unflatten(-3, (2, h1))
        t = x[..., 0:1, :, :, :] * self.G1[0] + x[..., 1:2, :, :, :] * self.G1[1]  # rows: folds -> bands
        z = t[..., 0:1, :] * self.G2[0] + t[..., 1:2, :] * self.G2[1]  # columns: folds -> bands
        z = torch.fft.ifftn(z, dim=(-3, -1)).reshape(shape)
        out = torch.stack((z.real, z.imag), dim=1)
        return self.W.analyze_coarse(out)


def _image_callback(callback, W: Wavelet):
    r"""Report the image :math:`\Psi^H c` to a user callback of a coefficient-domain iteration
    (skipped for callbacks marked ``needs_image = False``, e.g. the CLI's cost recorder)."""
    if callback is None or not getattr(callback, "needs_image", True):
        return callback
    return lambda k, c, cost: callback(k, W.adjoint(c), cost)


def _coefficient_run(solver, prob: _Problem, W: Wavelet, c0: torch.Tensor, shrink, penalty, *, cfg, progress, callback, name):
    r"""FISTA/POGM on :math:`c = \Psi x`, from ``c0`` :math:`= \Psi x_0`: with :math:`\Psi` orthogonal
    the iterates are those of the image-domain iteration with prox
    :math:`\Psi^H \operatorname{shrink} \Psi`, mapped by :math:`\Psi`, at a lower cost per
    iteration (:class:`_WaveletNormal`)."""
    normal = _WaveletNormal(W, prob._mask)

    def grad(c):
        return normal(c).sub_(c0)

    def cost(c):
        return prob.data_cost(W.adjoint(c)) + penalty(c)

    res = _run(solver, cfg=cfg, cost=cost, progress=progress, callback=_image_callback(callback, W), name=name,
               x0=c0, grad=grad, prox=shrink, step=1.0 / prob.lipschitz)
    return W.adjoint(res.x)


def _run(solver: Callable, *, cfg: CSConfig, cost, progress: bool, callback, name: str, **kwargs):
    """The layer that adds the progress bar and cost logging around a pure solver loop."""
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=cfg.n_iter, desc=name, unit="it", leave=False)

    def cb(k, x, c):
        if bar is not None:
            bar.update(1)
            if c is not None:
                bar.set_postfix(cost=f"{c:.4g}")
        if callback is not None:
            callback(k, x, c)

    use_cost = cost if cfg.cost_every else None
    try:
        return solver(cost=use_cost, callback=cb, n_iter=cfg.n_iter, tol=cfg.tol, **kwargs)
    finally:
        if bar is not None:
            bar.close()


def _keep(W: Wavelet, x0: torch.Tensor, cfg: CSConfig):
    """Coefficients exempt from thresholding: the approximation band if ``keep_coarse``."""
    return W.coarse_mask(x0.shape, x0.device) if cfg.keep_coarse else None


def _max_coeff(c: torch.Tensor, keep) -> float:
    mag = modulus(c)
    return float((mag if keep is None else torch.where(keep, torch.zeros_like(mag), mag)).max())


def _weight(cfg: CSConfig, rel: float, scale: Callable[[], float]) -> float:
    """``rel`` as is when ``cfg.absolute``, else times the data-derived ``scale()``."""
    return rel if cfg.absolute else rel * scale()


def _l1(c: torch.Tensor, keep) -> float:
    mag = modulus(c)
    return float((mag if keep is None else torch.where(keep, torch.zeros_like(mag), mag)).sum())


def _single_or_maps(physics, name: str):
    from dynmri.physics.cartesian import CoilwiseMRI

    if isinstance(physics, CoilwiseMRI):
        raise ParameterError(f"{name} needs coil maps for multi-coil k-space; use fista-grouplasso or fista-owl (calibrationless)")


def _overrides(options: dict):
    """Where a method's ``**overrides`` go: :class:`CSConfig` fields (for the registry's checks)."""
    return CSConfig


def _cfg(config, overrides) -> CSConfig:
    """``config`` (default :class:`CSConfig`) with ``overrides`` (CSConfig fields: an unknown
    one, or a value of the wrong type, raises a :class:`ParameterError` naming them), validated."""
    cfg = config or CSConfig()
    check_options(CSConfig, overrides, "CSConfig")
    return replace(cfg, **overrides).validate() if overrides else cfg.validate()


# ----------------------------------------------------------------------------------- methods


@METHODS.register("ls", needs="maps", kwargs_to=_overrides)
def least_squares(y, physics, *, config: CSConfig | None = None, progress=False, callback=None, **overrides):
    r"""Least squares :math:`(A^H A + \epsilon I) x = A^H y` by conjugate gradient (CG-SENSE)."""
    cfg = _cfg(config, overrides)
    _single_or_maps(physics, "ls")

    x0 = physics.A_adjoint(y)
    cost = lambda x: 0.5 * float(torch.sum((physics.A(x) - y) ** 2))  # noqa: E731
    return _run(get_solver("cg"), cfg=cfg, cost=cost, progress=progress, callback=callback, name="ls", x0=x0,
                normal=normal_operator(physics, cfg.ls_eps), rhs=x0).x


def _synthesis(y, physics, cfg, progress, callback, solver, name, transform=None):
    _single_or_maps(physics, name)
    prob = _Problem(y, physics, cfg)
    W = Wavelet(cfg.wavelet, _levels(cfg, y.shape))
    fwd, adj = (W, W.adjoint) if transform is None else transform(W)
    keep = _keep(W, prob.x0, cfg)
    c0 = fwd(prob.x0)  # the weight's scale, and the coefficient-domain start
    lam = _weight(cfg, cfg.lam, lambda: _max_coeff(c0, keep))
    if transform is None and prob._mask is not None:
        return _coefficient_run(solver, prob, W, c0, lambda v, step: soft_threshold(v, step * lam, keep), lambda c: lam * _l1(c, keep),
                                cfg=cfg, progress=progress, callback=callback, name=name)

    def prox(v, step):
        return adj(soft_threshold(fwd(v), step * lam, keep))

    def cost(x):
        return prob.data_cost(x) + lam * _l1(fwd(x), keep)

    return _run(solver, cfg=cfg, cost=cost, progress=progress, callback=callback, name=name,
                x0=prob.x0, grad=prob.grad, prox=prox, step=1.0 / prob.lipschitz).x


@METHODS.register("fista-wavelet", needs="maps", kwargs_to=_overrides)
def fista_wavelet(y, physics, *, config: CSConfig | None = None, progress=False, callback=None, **overrides):
    """Frame-by-frame orthogonal wavelet sparsity, FISTA (synthesis = analysis for orthogonal)."""
    return _synthesis(y, physics, _cfg(config, overrides), progress, callback, get_solver("fista"), "fista-wavelet")


@METHODS.register("pogm-wavelet", needs="maps", kwargs_to=_overrides)
def pogm_wavelet(y, physics, *, config: CSConfig | None = None, progress=False, callback=None, **overrides):
    """Frame-by-frame orthogonal wavelet sparsity, POGM."""
    return _synthesis(y, physics, _cfg(config, overrides), progress, callback, get_solver("pogm"), "pogm-wavelet")


def _space_time(W: Wavelet):
    """The unitary transform :math:`F_t \\Psi` (spatial wavelet, then temporal FFT)."""
    from dynmri.optim.linops import TemporalFourier

    Ft = TemporalFourier()
    return (lambda x: Ft.A(W(x))), (lambda c: W.adjoint(Ft.A_adjoint(c)))


@METHODS.register("fista-wavelet-tfft", needs="maps", kwargs_to=_overrides)
def fista_wavelet_tfft(y, physics, *, config: CSConfig | None = None, progress=False, callback=None, **overrides):
    """Sparsity of the spatial wavelet coefficients in the temporal Fourier domain (k-t sparsity), FISTA."""
    cfg = _cfg(config, overrides)
    if y.shape[-3] < 2:
        raise ShapeError("fista-wavelet-tfft needs at least 2 frames")
    return _synthesis(y, physics, replace(cfg, lam=cfg.lam_tfft), progress, callback, get_solver("fista"), "fista-wavelet-tfft", _space_time)


@METHODS.register("condatvu-wavelet", needs="maps", kwargs_to=_overrides)
def condatvu_wavelet(y, physics, *, config: CSConfig | None = None, progress=False, callback=None, **overrides):
    """Analysis sparsity in the undecimated wavelet frame, Condat-Vu primal-dual."""
    from dynmri.optim.linops import WaveletOperator

    cfg = _cfg(config, overrides)
    _single_or_maps(physics, "condatvu-wavelet")
    prob = _Problem(y, physics, cfg)
    U = WaveletOperator(cfg.wavelet, _levels(cfg, y.shape), undecimated=True)
    keep = _keep(U.wavelet, prob.x0, cfg)
    c0 = U.A(prob.x0)
    lam = _weight(cfg, cfg.lam, lambda: _max_coeff(c0, keep))
    bound = lam if keep is None else torch.where(keep, 0.0, lam).to(c0.dtype)  # no bound on kept bands
    term = AnalysisTerm(U.A, U.A_adjoint, lambda u, s: project_linf(u, bound), norm2=U.norm2)

    def cost(x):
        return prob.data_cost(x) + lam * _l1(U.A(x), keep)

    return _run(get_solver("condat-vu"), cfg=cfg, cost=cost, progress=progress, callback=callback, name="condatvu-wavelet",
                x0=prob.x0, grad=prob.grad, terms=[term], lipschitz=prob.lipschitz, sigma=cfg.sigma).x


def _ttv_problem(y, physics, cfg: CSConfig, name: str):
    r"""The problem of the wavelet + temporal-TV methods: ``(prob, W, Dt, keep, lam, mu)``, with
    :math:`\lambda` relative to :math:`\max|\Psi x_0|` and :math:`\mu` to :math:`\max|D_t x_0|`."""
    from dynmri.optim.linops import TemporalDifference

    _single_or_maps(physics, name)
    if y.shape[-3] < 2:
        raise ShapeError(f"{name} needs at least 2 frames")
    prob = _Problem(y, physics, cfg)
    W = Wavelet(cfg.wavelet, _levels(cfg, y.shape))
    Dt = TemporalDifference()
    keep = _keep(W, prob.x0, cfg)
    lam = _weight(cfg, cfg.lam, lambda: _max_coeff(W(prob.x0), keep))
    mu = _weight(cfg, cfg.lam_ttv, lambda: float(modulus(Dt.A(prob.x0)).max()))
    return prob, W, Dt, keep, lam, mu


def _ttv_cost(prob: _Problem, W: Wavelet, Dt, keep, lam: float, mu: float):
    def cost(x):
        return prob.data_cost(x) + lam * _l1(W(x), keep) + mu * float(modulus(Dt.A(x)).sum())

    return cost


@METHODS.register("condatvu-wavelet-ttv", needs="maps", kwargs_to=_overrides)
def condatvu_wavelet_ttv(y, physics, *, config: CSConfig | None = None, progress=False, callback=None, **overrides):
    """Orthogonal wavelet sparsity (exact prox) plus temporal total variation (dual), Condat-Vu."""
    cfg = _cfg(config, overrides)
    prob, W, Dt, keep, lam, mu = _ttv_problem(y, physics, cfg, "condatvu-wavelet-ttv")

    def prox(v, step):
        return W.adjoint(soft_threshold(W(v), step * lam, keep))

    term = AnalysisTerm(Dt.A, Dt.A_adjoint, lambda u, s: project_linf(u, mu), norm2=Dt.norm2)
    return _run(get_solver("condat-vu"), cfg=cfg, cost=_ttv_cost(prob, W, Dt, keep, lam, mu), progress=progress, callback=callback,
                name="condatvu-wavelet-ttv", x0=prob.x0, grad=prob.grad, terms=[term], lipschitz=prob.lipschitz, prox=prox, sigma=cfg.sigma).x


ADMM_RHO = (0.5, 0.015)
"""ADMM penalties of ``admm-wavelet-ttv`` (temporal differences, wavelet coefficients), in units of
the Lipschitz constant of the data term (so the iterates scale with the data). Chosen with the default
weights on Sunnybrook training slices 0, 5, 10 at 8x (12 frames, crop 128) and test slice 4, among
``rho_t`` in 0.05-1.5 and ``rho_w`` in 0.005-0.05: PSNR after 10 iterations within 0.1 dB of the
converged one there.
A weaker temporal TV (``lam_ttv`` 0.03) converges faster with ``rho_t`` 0.15 (not a default)."""

ADMM_CG_ITERS = 10
"""Conjugate-gradient steps per ADMM x-update where :math:`A^H A` is not Fourier-diagonal (coil maps,
non-Cartesian), warm-started at the current iterate."""


def _admm_x_update(prob: _Problem, Dt, rho_t: float, rho_w: float):
    r"""``solve(b, x)``: :math:`x = (A^H A + \rho_t D_t^H D_t + \rho_w I)^{-1}(A^H y + b)`.

    On the Cartesian fast path :math:`A^H A = F^{-1} D F` with :math:`F` the 2D DFT of each frame,
    which commutes with :math:`D_t`: the matrix is, at every spatial frequency, a :math:`T \times T`
    tridiagonal one, solved exactly (:class:`~dynmri.optim.solvers.TemporalTridiagonal`) between
    one FFT and one inverse FFT. Elsewhere: ``ADMM_CG_ITERS`` conjugate-gradient steps."""
    from dynmri.optim.solvers import TemporalTridiagonal, conjugate_gradient

    x0 = prob.x0
    if prob._mask is not None:
        tri = TemporalTridiagonal(prob._mask + rho_w, rho_t, dim=1)  # factors in the mask's dtype, that of y

        def solve(b, x):
            r = b.add_(x0)
            z = torch.fft.ifft2(tri.solve(torch.fft.fft2(torch.complex(r[:, 0], r[:, 1]))))
            return torch.stack((z.real, z.imag), dim=1)

        return solve

    def normal(v):
        return prob.normal(v) + rho_t * Dt.A_adjoint(Dt.A(v)) + rho_w * v

    return lambda b, x: conjugate_gradient(x, normal, b + x0, ADMM_CG_ITERS).x


@METHODS.register("admm-wavelet-ttv", needs="maps", kwargs_to=_overrides)
def admm_wavelet_ttv(y, physics, *, config: CSConfig | None = None, progress=False, callback=None, **overrides):
    r"""The objective of ``condatvu-wavelet-ttv`` (same weights), by ADMM with the splits
    :math:`z_1 = D_t x`, :math:`z_2 = \Psi x` and an exact x-update on the Cartesian fast path
    (:func:`_admm_x_update`): it converges in far fewer iterations than Condat-Vu, at about the
    same cost per iteration (one FFT pair, one wavelet analysis and synthesis)."""
    from dynmri.optim.solvers import SplitTerm

    cfg = _cfg(config, overrides)
    prob, W, Dt, keep, lam, mu = _ttv_problem(y, physics, cfg, "admm-wavelet-ttv")
    rho_t, rho_w = (r * prob.lipschitz for r in ADMM_RHO)
    terms = [SplitTerm(Dt.A, Dt.A_adjoint, lambda v, t: soft_threshold(v, t * mu), rho_t),
             SplitTerm(W, W.adjoint, lambda v, t: soft_threshold(v, t * lam, keep), rho_w)]
    return _run(get_solver("admm"), cfg=cfg, cost=_ttv_cost(prob, W, Dt, keep, lam, mu), progress=progress, callback=callback,
                name="admm-wavelet-ttv", x0=prob.x0, solve=_admm_x_update(prob, Dt, rho_t, rho_w), terms=terms).x


@METHODS.register("lps", needs="maps", kwargs_to=_overrides)
def low_rank_plus_sparse(y, physics, *, config: CSConfig | None = None, progress=False, callback=None, **overrides):
    r"""Low rank + sparse (Otazo et al. 2015): :math:`x = L + S`, nuclear norm of the Casorati
    matrix of :math:`L` and temporal-Fourier sparsity of :math:`S`, by FISTA on :math:`(L, S)`."""
    from dynmri.optim.linops import TemporalFourier

    cfg = _cfg(config, overrides)
    _single_or_maps(physics, "lps")
    if y.shape[-3] < 2:
        raise ShapeError("lps needs at least 2 frames")
    prob = _Problem(y, physics, cfg)
    Ft = TemporalFourier()
    x0 = prob.x0
    B, _, T, H, W = x0.shape
    lam_l = _weight(cfg, cfg.lam_l, lambda: float(torch.linalg.matrix_norm(torch.complex(x0[:, 0], x0[:, 1]).reshape(B, T, H * W), ord=2).max()))
    mu = _weight(cfg, cfg.lam_s, lambda: float(modulus(Ft.A(x0)).max()))

    def grad(z):
        g = prob.grad(z[0] + z[1])
        return torch.stack((g, g))

    def prox(z, step):
        return torch.stack((svt(z[0], step * lam_l), Ft.A_adjoint(soft_threshold(Ft.A(z[1]), step * mu))))

    def cost(z):
        s = torch.linalg.svdvals(torch.complex(z[0][:, 0], z[0][:, 1]).reshape(B, T, H * W))
        return prob.data_cost(z[0] + z[1]) + lam_l * float(s.sum()) + mu * float(modulus(Ft.A(z[1])).sum())

    z0 = torch.stack((x0, torch.zeros_like(x0)))
    res = _run(get_solver("fista"), cfg=cfg, cost=cost, progress=progress, callback=callback, name="lps",
               x0=z0, grad=grad, prox=prox, step=1.0 / (2 * prob.lipschitz))
    return res.x[0] + res.x[1]


def _calibrationless(y, physics, cfg, progress, callback, name, make_prox):
    """Reconstruct every coil image (no maps) and combine them by root-sum-of-squares."""
    from dynmri.physics.cartesian import CoilwiseMRI, coilwise_mri

    if y.ndim != 6:
        raise ShapeError(f"{name} needs multi-coil k-space (B, 2, N, T, H, W), got {tuple(y.shape)}")
    if not isinstance(physics, CoilwiseMRI):  # coil maps are known but not used
        physics = coilwise_mri(physics.mask[:, 0])
    prob = _Problem(y, physics, cfg)
    Wv = Wavelet(cfg.wavelet, _levels(cfg, y.shape))
    keep = _keep(Wv, prob.x0, cfg)
    c0 = Wv(prob.x0)
    lam = _weight(cfg, cfg.lam, lambda: _max_coeff(c0, keep))
    shrink, norm = make_prox(Wv, keep, prob.x0.shape)
    if prob._mask is not None:
        x = _coefficient_run(get_solver("fista"), prob, Wv, c0, lambda v, step: shrink(v, step * lam), lambda c: norm(c, lam),
                             cfg=cfg, progress=progress, callback=callback, name=name)
    else:
        def prox(v, step):
            return Wv.adjoint(shrink(Wv(v), step * lam))

        def cost(x):
            return prob.data_cost(x) + norm(Wv(x), lam)

        x = _run(get_solver("fista"), cfg=cfg, cost=cost, progress=progress, callback=callback, name=name,
                 x0=prob.x0, grad=prob.grad, prox=prox, step=1.0 / prob.lipschitz).x  # (B, 2, N, T, H, W)
    mag = torch.sqrt((x**2).sum(dim=(1, 2)))
    return torch.stack((mag, torch.zeros_like(mag)), dim=1)


@METHODS.register("fista-grouplasso", needs="multicoil", kwargs_to=_overrides)
def fista_grouplasso(y, physics, *, config: CSConfig | None = None, progress=False, callback=None, **overrides):
    """Calibrationless multi-coil: group sparsity of each wavelet coefficient across coils."""
    cfg = _cfg(config, overrides)
    return _calibrationless(y, physics, cfg, progress, callback, "fista-grouplasso",
                            lambda W, keep, shape: (lambda c, t: group_soft_threshold(c, t, group_dim=2, keep=keep),
                                                    lambda c, lam: lam * group_norm(c, 2, keep)))


@METHODS.register("fista-owl", needs="multicoil", kwargs_to=_overrides)
def fista_owl(y, physics, *, config: CSConfig | None = None, progress=False, callback=None, **overrides):
    """Calibrationless multi-coil: ordered weighted L1 per wavelet band across coils (band-based)."""
    cfg = _cfg(config, overrides)

    def make(W, keep, shape):
        labels = W.band_index(shape)
        return (lambda c, t: owl(c, t, labels, beta=cfg.owl_beta, keep=keep),
                lambda c, lam: owl_norm(c, lam, labels, beta=cfg.owl_beta, keep=keep))

    return _calibrationless(y, physics, cfg, progress, callback, "fista-owl", make)
