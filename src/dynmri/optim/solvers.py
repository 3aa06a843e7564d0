r"""Pure iteration loops (no printing, no progress bars): FISTA, POGM, Condat-Vu, CG.

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
    """The solver registered as ``name`` (``fista``, ``pogm``, ``condat-vu``, ``cg``)."""
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
