r"""Pure iteration loops (no printing, no progress bars): FISTA, POGM, Condat-Vu, ADMM, CG.

Each solver takes callables for the smooth gradient and the proximal steps, works on a
single tensor of any shape, and returns a :class:`SolverResult` with the cost of every
iteration (when a ``cost`` callable is given). Progress bars and logs are added by the
caller through ``callback(k, x, cost)`` (see :mod:`dynmri.recon.cs`).

Registry: ``get_solver(name)`` with ``name`` in ``SOLVERS`` (a :class:`~dynmri.registry.Registry`).

Examples
--------
L1-regularised least squares :math:`\min_x \tfrac12\|x - b\|^2 + \lambda\|x\|_1`, whose
minimiser is the soft-thresholded :math:`b`:

>>> import torch
>>> from dynmri.optim.solvers import fista
>>> b = torch.tensor([3.0, -0.5, 1.5])
>>> prox = lambda z, t: torch.sign(z) * torch.clamp(z.abs() - t * 1.0, min=0)
>>> [v + 0.0 for v in fista(torch.zeros(3), lambda x: x - b, prox, step=1.0, n_iter=50).x.tolist()]
[2.0, 0.0, 0.5]
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import torch

from dynmri.errors import DataError, ParameterError
from dynmri.registry import Registry

Tensor = torch.Tensor

SOLVERS = Registry("solver")
"""The iteration loops by name; :mod:`dynmri.recon.cs` looks its solvers up here."""


@dataclass
class SolverResult:
    """Final iterate, per-iteration costs, iterations run and whether ``tol`` was reached."""

    x: Tensor
    costs: list[float] = field(default_factory=list)
    n_iter: int = 0
    converged: bool = False


def _check(x0: Tensor, n_iter: int, step: float | None = None, tol: float = 0.0):
    if n_iter < 1:
        raise ParameterError(f"n_iter must be >= 1, got {n_iter}")
    if step is not None and not (step > 0 and math.isfinite(step)):
        raise ParameterError(f"step must be finite and > 0, got {step}")
    if tol < 0:
        raise ParameterError(f"tol must be >= 0, got {tol}")
    if not torch.isfinite(x0).all():
        raise DataError("initial point contains NaN or Inf (check the data)")


def _rel_change(new: Tensor, old: Tensor) -> float:
    return float(torch.linalg.vector_norm(new - old) / torch.clamp(torch.linalg.vector_norm(old), min=1e-30))


def _finish_step(res: SolverResult, k: int, x_new: Tensor, x_old: Tensor, cost, callback, tol: float) -> bool:
    """Record iteration ``k`` (cost, callback, count); True when the relative change of the
    iterate is below ``tol`` (never at the first iteration, where some solvers do not move)."""
    _record(res, k, x_new, cost, callback)
    res.n_iter = k + 1
    res.converged = bool(tol and k > 0 and _rel_change(x_new, x_old) < tol)  # norms only when asked
    return res.converged


def _record(res: SolverResult, k: int, x: Tensor, cost, callback):
    c = float(cost(x)) if cost is not None else None
    if c is not None:
        if not math.isfinite(c):
            raise DataError(f"cost became {c} at iteration {k}: the problem diverged (step too large or bad data)")
        res.costs.append(c)
    if callback is not None:
        callback(k, x, c)


@SOLVERS.register("fista")
def fista(
    x0: Tensor,
    grad: Callable[[Tensor], Tensor],
    prox: Callable[[Tensor, float], Tensor],
    step: float,
    n_iter: int,
    *,
    tol: float = 0.0,
    cost: Callable[[Tensor], float] | None = None,
    callback: Callable | None = None,
) -> SolverResult:
    r"""FISTA (Beck & Teboulle 2009) for :math:`\min f(x) + g(x)`, :math:`f` smooth with
    gradient ``grad`` and Lipschitz constant :math:`\le 1/\text{step}`:

    .. math::

        x_{k+1} = \operatorname{prox}_{s g}(z_k - s\nabla f(z_k)),\quad
        t_{k+1} = \tfrac{1 + \sqrt{1 + 4t_k^2}}{2},\quad
        z_{k+1} = x_{k+1} + \tfrac{t_k - 1}{t_{k+1}}(x_{k+1} - x_k).

    ``prox(v, s)`` must return :math:`\operatorname{prox}_{s g}(v)`. Stops when the relative
    change of :math:`x` falls below ``tol``.
    """
    _check(x0, n_iter, step, tol)
    res = SolverResult(x0)
    x, z, t = x0, x0, 1.0
    for k in range(n_iter):
        x_new = prox(torch.add(z, grad(z), alpha=-step), step)
        t_new = (1 + math.sqrt(1 + 4 * t * t)) / 2
        z = torch.lerp(x, x_new, 1 + (t - 1) / t_new)  # x_new + (t - 1)/t_new (x_new - x), one pass
        done = _finish_step(res, k, x_new, x, cost, callback, tol)
        x, t = x_new, t_new
        if done:
            break
    res.x = x
    return res


@SOLVERS.register("pogm")
def pogm(
    x0: Tensor,
    grad: Callable[[Tensor], Tensor],
    prox: Callable[[Tensor, float], Tensor],
    step: float,
    n_iter: int,
    *,
    tol: float = 0.0,
    cost: Callable[[Tensor], float] | None = None,
    callback: Callable | None = None,
) -> SolverResult:
    r"""Proximal optimized gradient method (Kim & Fessler 2018; Taylor et al. 2017):

    .. math::

        w_k &= x_{k-1} - \alpha \nabla f(x_{k-1}) \\
        z_k &= w_k + \tfrac{\theta_{k-1}-1}{\theta_k}(w_k - w_{k-1})
              + \tfrac{\theta_{k-1}}{\theta_k}(w_k - x_{k-1})
              + \tfrac{\theta_{k-1}-1}{\gamma_{k-1}\theta_k}\alpha(z_{k-1} - x_{k-1}) \\
        \gamma_k &= \alpha\,\tfrac{2\theta_{k-1} + \theta_k - 1}{\theta_k},\qquad
        x_k = \operatorname{prox}_{\gamma_k g}(z_k),

    with :math:`\theta_k = (1 + \sqrt{4\theta_{k-1}^2 + 1})/2` (:math:`\sqrt{8\theta^2 + 1}` at
    the last iteration) and :math:`\alpha` = ``step``.
    """
    _check(x0, n_iter, step, tol)
    res = SolverResult(x0)
    x, w_prev, z, theta, gamma = x0, x0, x0, 1.0, step
    for k in range(n_iter):
        last = k == n_iter - 1
        theta_new = (1 + math.sqrt((8 if last else 4) * theta * theta + 1)) / 2
        w = x - step * grad(x)
        z = (
            w
            + ((theta - 1) / theta_new) * (w - w_prev)
            + (theta / theta_new) * (w - x)
            + ((theta - 1) / (gamma * theta_new)) * step * (z - x)
        )
        gamma = step * (2 * theta + theta_new - 1) / theta_new
        x_new = prox(z, gamma)
        done = _finish_step(res, k, x_new, x, cost, callback, tol)
        x, w_prev, theta = x_new, w, theta_new
        if done:
            break
    res.x = x
    return res


@dataclass
class AnalysisTerm:
    r"""A term :math:`h(Lx)` for Condat-Vu: ``op`` = :math:`L`, ``adjoint`` = :math:`L^H`,
    ``prox_conj(u, sigma)`` = :math:`\operatorname{prox}_{\sigma h^*}(u)` and ``norm2`` an upper
    bound of :math:`\|L\|^2`."""

    op: Callable[[Tensor], Tensor]
    adjoint: Callable[[Tensor], Tensor]
    prox_conj: Callable[[Tensor, float], Tensor]
    norm2: float = 1.0


@SOLVERS.register("condat-vu")
def condat_vu(
    x0: Tensor,
    grad: Callable[[Tensor], Tensor],
    terms: Sequence[AnalysisTerm],
    lipschitz: float,
    n_iter: int,
    *,
    prox: Callable[[Tensor, float], Tensor] | None = None,
    sigma: float = 0.5,
    tol: float = 0.0,
    cost: Callable[[Tensor], float] | None = None,
    callback: Callable | None = None,
) -> SolverResult:
    r"""Condat-Vu primal-dual splitting for :math:`\min_x f(x) + g(x) + \sum_i h_i(L_i x)`:

    .. math::

        x_{k+1} &= \operatorname{prox}_{\tau g}\big(x_k - \tau(\nabla f(x_k) + \textstyle\sum_i L_i^H u_i)\big) \\
        u_i &\leftarrow \operatorname{prox}_{\sigma h_i^*}\big(u_i + \sigma L_i(2x_{k+1} - x_k)\big),

    with :math:`\tau = 0.99 / (L_f/2 + \sigma\sum_i\|L_i\|^2)`, which satisfies Condat's
    convergence condition :math:`1/\tau - \sigma\|L\|^2 \ge L_f/2`.
    """
    if lipschitz <= 0 or sigma <= 0:
        raise ParameterError(f"lipschitz and sigma must be > 0, got {lipschitz}, {sigma}")
    tau = 0.99 / (lipschitz / 2 + sigma * sum(t.norm2 for t in terms))
    _check(x0, n_iter, tau, tol)
    res = SolverResult(x0)
    x = x0
    duals = [torch.zeros_like(t.op(x0)) for t in terms]
    for k in range(n_iter):
        g = grad(x)
        for t, u in zip(terms, duals, strict=True):
            g = g + t.adjoint(u)
        x_new = x - tau * g
        if prox is not None:
            x_new = prox(x_new, tau)
        bar = 2 * x_new - x
        duals = [t.prox_conj(u + sigma * t.op(bar), sigma) for t, u in zip(terms, duals, strict=True)]
        done = _finish_step(res, k, x_new, x, cost, callback, tol)
        x = x_new
        if done:
            break
    res.x = x
    return res


@dataclass
class SplitTerm:
    r"""A term :math:`h(Lx)` for ADMM: ``op`` = :math:`L`, ``adjoint`` = :math:`L^H`,
    ``prox(v, t)`` = :math:`\operatorname{prox}_{t h}(v)` and ``rho`` > 0 the penalty of the split
    :math:`z = Lx`."""

    op: Callable[[Tensor], Tensor]
    adjoint: Callable[[Tensor], Tensor]
    prox: Callable[[Tensor, float], Tensor]
    rho: float = 1.0


@SOLVERS.register("admm")
def admm(
    x0: Tensor,
    solve: Callable[[Tensor, Tensor], Tensor],
    terms: Sequence[SplitTerm],
    n_iter: int,
    *,
    tol: float = 0.0,
    cost: Callable[[Tensor], float] | None = None,
    callback: Callable | None = None,
) -> SolverResult:
    r"""ADMM (scaled form; Boyd et al. 2011, section 3.1.1) for
    :math:`\min_x f(x) + \sum_i h_i(L_i x)` with the splits :math:`z_i = L_i x`:

    .. math::

        x_{k+1} &= \arg\min_x f(x) + \textstyle\sum_i \tfrac{\rho_i}{2}\|L_i x - z_i + w_i\|^2
                 = \texttt{solve}\big(\textstyle\sum_i \rho_i L_i^H (z_i - w_i),\ x_k\big) \\
        z_i &\leftarrow \operatorname{prox}_{h_i/\rho_i}(L_i x_{k+1} + w_i),\qquad
        w_i \leftarrow w_i + L_i x_{k+1} - z_i,

    from :math:`z_i = L_i x_0`, :math:`w_i = 0`. ``solve(b, x)`` returns the minimiser of
    :math:`f(x) + \sum_i \tfrac{\rho_i}{2}\|L_i x\|^2 - \langle b, x\rangle`; for
    :math:`f = \tfrac12\|Ax - y\|^2` that is :math:`(A^H A + \sum_i \rho_i L_i^H L_i)^{-1}(A^H y + b)`
    (``x``, the current iterate, is a warm start for an iterative solve). Converges for any
    :math:`\rho_i > 0` (convex :math:`f, h_i`), also with an inexact but accurate ``solve``.
    Stops when the relative change of :math:`x` falls below ``tol``.
    """
    if any(not (t.rho > 0 and math.isfinite(t.rho)) for t in terms):
        raise ParameterError(f"ADMM penalties must be finite and > 0, got {[t.rho for t in terms]}")
    _check(x0, n_iter, None, tol)
    res = SolverResult(x0)
    x = x0
    splits = [t.op(x0) for t in terms]
    duals = [torch.zeros_like(z) for z in splits]
    for k in range(n_iter):
        b = sum(t.adjoint((z - w).mul_(t.rho)) for t, z, w in zip(terms, splits, duals, strict=True))
        x_new = solve(b, x)
        for i, t in enumerate(terms):
            v = t.op(x_new) + duals[i]  # out of place: op and prox may return their input
            splits[i] = t.prox(v, 1.0 / t.rho)
            duals[i] = v - splits[i]
        done = _finish_step(res, k, x_new, x, cost, callback, tol)
        x = x_new
        if done:
            break
    res.x = x
    return res


class TemporalTridiagonal:
    r"""Solves :math:`(\operatorname{diag}(a) + \rho D_t^H D_t)\, x = d` along one axis, for every
    position of the other axes at once (the Thomas algorithm, factors computed once).

    :math:`D_t` is the forward difference along the axis (:class:`~dynmri.optim.linops.TemporalDifference`),
    so the matrix is, per position, the symmetric tridiagonal :math:`T \times T` matrix with
    diagonal :math:`a_t + \rho\,(1, 2, \dots, 2, 1)_t` and off-diagonals :math:`-\rho`: strictly
    diagonally dominant for :math:`a > 0`, where the elimination is stable without pivoting.
    With :math:`a = \operatorname{ifftshift}(M^2) + \rho_w` it is the spatial-Fourier-domain normal
    matrix of a Cartesian single-coil ADMM step with temporal TV and an orthogonal transform
    (:func:`dynmri.recon.cs.admm_wavelet_ttv`).

    Parameters
    ----------
    a : Tensor
        Real, > 0, shape ``(..., T, ...)`` with time at ``dim``; ``d`` must broadcast to it.
    rho : float
        The weight of :math:`D_t^H D_t`, >= 0.
    dim : int
        The time axis.

    Examples
    --------
    >>> a = torch.tensor([[1.0], [2.0], [0.5]])     # T = 3 at dim 0, one position
    >>> S = TemporalTridiagonal(a, rho=1.0, dim=0)
    >>> x = torch.tensor([[1.0], [-2.0], [3.0]])
    >>> K = torch.diag(a[:, 0]) + torch.tensor([[1.0, -1, 0], [-1, 2, -1], [0, -1, 1]])
    >>> bool(torch.allclose(S.solve(K @ x), x))
    True
    """

    def __init__(self, a: Tensor, rho: float, dim: int):
        if rho < 0 or not math.isfinite(rho):
            raise ParameterError(f"rho must be finite and >= 0, got {rho}")
        if not bool((a > 0).all()):
            raise ParameterError("the diagonal a must be > 0 everywhere (add a positive shift)")
        self.dim, self.rho = dim, rho
        real = torch.float64 if a.dtype == torch.float64 else torch.float32
        a = a.movedim(dim, 0).double()
        T = a.shape[0]
        deg = torch.full((T,), 2.0, dtype=a.dtype, device=a.device)
        deg[0] = deg[-1] = 1.0 if T > 1 else 0.0
        inv_den, cp = torch.empty_like(a), torch.empty_like(a)
        prev = torch.zeros_like(a[0])
        for t in range(T):
            inv_den[t] = 1.0 / (a[t] + rho * deg[t] + rho * prev)  # den_t = b_t + rho c'_{t-1}
            prev = cp[t] = -rho * inv_den[t]
        self.inv_den, self.cp = inv_den.to(real), cp.to(real)

    def solve(self, d: Tensor) -> Tensor:
        r""":math:`x` with :math:`(\operatorname{diag}(a) + \rho D_t^H D_t) x = d`; ``d`` real or complex."""
        d = d.movedim(self.dim, 0)
        T = d.shape[0]
        out = [d[0] * self.inv_den[0]]
        for t in range(1, T):  # forward elimination: d'_t = (d_t + rho d'_{t-1}) / den_t
            out.append((d[t] + self.rho * out[-1]) * self.inv_den[t])
        for t in range(T - 2, -1, -1):  # back substitution: x_t = d'_t - c'_t x_{t+1}
            out[t] = out[t] - self.cp[t] * out[t + 1]
        return torch.stack(out).movedim(0, self.dim)


@SOLVERS.register("cg")
def conjugate_gradient(
    x0: Tensor,
    normal: Callable[[Tensor], Tensor],
    rhs: Tensor,
    n_iter: int,
    *,
    tol: float = 0.0,
    cost: Callable[[Tensor], float] | None = None,
    callback: Callable | None = None,
) -> SolverResult:
    r"""Conjugate gradient for :math:`N x = b` with :math:`N` self-adjoint positive
    semi-definite (e.g. :math:`A^H A + \epsilon I`: CG-SENSE). Stops when
    :math:`\|r\| / \|b\| <` ``tol``."""
    _check(x0, n_iter, None, tol)
    res = SolverResult(x0)
    x = x0
    r = rhs - normal(x)
    p = r
    rs = float(torch.sum(r * r))
    bnorm = math.sqrt(float(torch.sum(rhs * rhs))) or 1.0
    for k in range(n_iter):
        Np = normal(p)
        denom = float(torch.sum(p * Np))
        if denom <= 0:
            res.converged = True
            break
        alpha = rs / denom
        x = x + alpha * p
        r = r - alpha * Np
        rs_new = float(torch.sum(r * r))
        _record(res, k, x, cost, callback)
        res.n_iter = k + 1
        if tol and math.sqrt(rs_new) / bnorm < tol:
            res.converged = True
            break
        p = r + (rs_new / rs) * p
        rs = rs_new
    res.x = x
    return res


def get_solver(name: str):
    """The solver registered as ``name`` (``fista``, ``pogm``, ``condat-vu``, ``admm``, ``cg``)."""
    return SOLVERS.get(name)


def power_iteration(op: Callable[[Tensor], Tensor], x0: Tensor, n_iter: int = 30, tol: float = 1e-6) -> float:
    r"""Largest eigenvalue of a self-adjoint PSD operator (e.g. :math:`A^H A`: the Lipschitz
    constant of :math:`\nabla \tfrac12\|Ax - y\|^2`)."""
    x = x0 / torch.linalg.vector_norm(x0)
    lam = 0.0
    for _ in range(n_iter):
        y = op(x)
        lam_new = float(torch.sum(x * y))
        x = y / torch.clamp(torch.linalg.vector_norm(y), min=1e-30)
        if abs(lam_new - lam) <= tol * max(abs(lam_new), 1e-30):
            return lam_new
        lam = lam_new
    return lam



def lipschitz_constant(normal: Callable[[Tensor], Tensor], like: Tensor, diagonal: Tensor | None = None, *,
                       seed: int = 0, n_iter: int = 30) -> float:
    r""":math:`\|A^H A\|`, the Lipschitz constant of :math:`\nabla \tfrac12\|Ax - y\|^2`: exact,
    :math:`\max D`, when the normal operator is diagonal in a unitary basis (``diagonal`` = :math:`D`,
    e.g. :meth:`~dynmri.physics.base.MRIOperator.fourier_normal_mask`), else ``n_iter`` power
    iterations of ``normal`` from a start drawn with ``seed`` in the shape of ``like``. At least 1e-12.

    >>> round(lipschitz_constant(lambda x: 2 * x, torch.ones(3)), 4)  # power iterations
    2.0
    >>> lipschitz_constant(None, torch.ones(3), diagonal=torch.tensor([0.5, 1.0]))  # exact
    1.0
    """
    if diagonal is not None:
        return max(float(diagonal.max()), 1e-12)
    gen = torch.Generator(device="cpu").manual_seed(seed)
    v = torch.randn(like.shape, generator=gen, dtype=like.dtype).to(like.device)
    return max(power_iteration(normal, v, n_iter=n_iter), 1e-12)
