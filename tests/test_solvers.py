"""Solvers converge to known minimisers; synthesis equals analysis for orthogonal transforms."""

import math

import pytest
import torch

from dynmri.errors import DataError, ParameterError
from dynmri.optim.prox import project_linf, soft_threshold
from dynmri.optim.solvers import (
    SOLVERS,
    AnalysisTerm,
    SplitTerm,
    TemporalTridiagonal,
    admm,
    condat_vu,
    conjugate_gradient,
    fista,
    get_solver,
    pogm,
    power_iteration,
)
from dynmri.optim.wavelets import Wavelet

g = torch.Generator().manual_seed(0)
A = torch.randn(30, 20, dtype=torch.float64, generator=g) / math.sqrt(30)
b = torch.randn(30, dtype=torch.float64, generator=g)
LAM = 0.1
LIP = float(torch.linalg.matrix_norm(A, ord=2) ** 2)


def grad(x):
    return A.T @ (A @ x - b)


def prox_l1(v, t):
    return torch.sign(v) * torch.clamp(v.abs() - t * LAM, min=0)


def objective(x):
    return 0.5 * float(((A @ x - b) ** 2).sum()) + LAM * float(x.abs().sum())


@pytest.fixture(scope="module")
def reference():
    """L1-regularised least squares solved by 20000 ISTA steps in float64."""
    x = torch.zeros(20, dtype=torch.float64)
    for _ in range(20000):
        x = prox_l1(x - grad(x) / LIP, 1 / LIP)
    return x


@pytest.mark.parametrize("solver", [fista, pogm])
def test_proximal_gradient_converges(solver, reference):
    res = solver(torch.zeros(20, dtype=torch.float64), grad, prox_l1, 1 / LIP, 1000, cost=objective)
    assert torch.allclose(res.x, reference, atol=1e-7)
    assert res.costs[-1] <= objective(reference) + 1e-10
    assert len(res.costs) == res.n_iter == 1000


def test_condat_vu_converges(reference):
    term = AnalysisTerm(lambda x: x, lambda u: u, lambda u, s: torch.clamp(u, -LAM, LAM), norm2=1.0)
    res = condat_vu(torch.zeros(20, dtype=torch.float64), grad, [term], LIP, 5000)
    assert torch.allclose(res.x, reference, atol=1e-6)


def test_synthesis_equals_analysis_for_orthogonal_wavelet():
    """min 0.5||x - y||^2 + lam ||W x||_1: FISTA with the exact prox W^H soft(W .) and
    Condat-Vu with the dual of ||W .||_1 reach the same minimiser."""
    y = torch.randn(1, 2, 1, 16, 16, dtype=torch.float64, generator=torch.Generator().manual_seed(5))
    W = Wavelet("db4", 2)
    lam = 0.3

    def gradf(x):
        return x - y

    syn = fista(torch.zeros_like(y), gradf, lambda v, t: W.adjoint(soft_threshold(W(v), t * lam)), 1.0, 300).x
    closed_form = W.adjoint(soft_threshold(W(y), lam))
    assert torch.allclose(syn, closed_form, atol=1e-10)
    term = AnalysisTerm(W, W.adjoint, lambda u, s: project_linf(u, lam), norm2=1.0)
    ana = condat_vu(torch.zeros_like(y), gradf, [term], 1.0, 3000).x
    assert torch.allclose(ana, closed_form, atol=1e-6)


def test_conjugate_gradient_solves_spd_system():
    M = A.T @ A + 0.1 * torch.eye(20, dtype=torch.float64)
    rhs = A.T @ b
    res = conjugate_gradient(torch.zeros(20, dtype=torch.float64), lambda x: M @ x, rhs, 100, tol=1e-12)
    assert res.converged and torch.allclose(M @ res.x, rhs, atol=1e-9)


def test_power_iteration_finds_lipschitz():
    lam = power_iteration(lambda x: A.T @ (A @ x), torch.randn(20, dtype=torch.float64, generator=torch.Generator().manual_seed(1)), n_iter=500, tol=1e-12)
    assert lam == pytest.approx(LIP, rel=1e-6)


def test_tolerance_stops_early_and_registry():
    res = fista(torch.zeros(20, dtype=torch.float64), grad, prox_l1, 1 / LIP, 10000, tol=1e-8)
    assert res.converged and res.n_iter < 10000
    assert set(SOLVERS) == {"fista", "pogm", "condat-vu", "admm", "cg"} and get_solver("pogm") is pogm
    assert get_solver("admm") is admm
    with pytest.raises(ParameterError, match="unknown solver"):
        get_solver("douglas-rachford")


def test_bad_parameters_raise():
    x0 = torch.zeros(20, dtype=torch.float64)
    with pytest.raises(ParameterError, match="n_iter"):
        fista(x0, grad, prox_l1, 1 / LIP, 0)
    with pytest.raises(ParameterError, match="step"):
        pogm(x0, grad, prox_l1, -1.0, 10)
    with pytest.raises(DataError, match="NaN"):
        fista(torch.full((20,), float("nan"), dtype=torch.float64), grad, prox_l1, 1 / LIP, 10)
    with pytest.raises(DataError, match="diverged"):
        fista(x0, grad, prox_l1, 100.0, 200, cost=objective)  # step far above 1/L
    with pytest.raises(ParameterError, match="lipschitz"):
        condat_vu(x0, grad, [], 0.0, 10)


def test_admm_converges(reference):
    """ADMM with the split z = x and the exact x-update (A^T A + rho I)^-1 (A^T b + v)."""
    rho = 0.5
    M = A.T @ A + rho * torch.eye(20, dtype=torch.float64)
    solve = lambda v, x: torch.linalg.solve(M, A.T @ b + v)  # noqa: E731
    term = SplitTerm(lambda x: x, lambda u: u, prox_l1, rho)
    res = admm(torch.zeros(20, dtype=torch.float64), solve, [term], 500, cost=objective)
    assert torch.allclose(res.x, reference, atol=1e-7)
    assert len(res.costs) == res.n_iter == 500 and res.costs[-1] <= objective(reference) + 1e-9
    early = admm(torch.zeros(20, dtype=torch.float64), solve, [term], 10000, tol=1e-10)
    assert early.converged and early.n_iter < 10000


def test_admm_and_condat_vu_agree_on_two_terms():
    """min 0.5||x - y||^2 + lam ||W x||_1 + mu ||D_t x||_1 (wavelet + temporal TV): ADMM with two
    splits and Condat-Vu (wavelet prox, TV dual) reach the same minimiser."""
    from dynmri.optim.linops import TemporalDifference

    y = torch.randn(1, 2, 5, 16, 16, dtype=torch.float64, generator=torch.Generator().manual_seed(7))
    W, Dt, lam, mu = Wavelet("db2", 2), TemporalDifference(), 0.2, 0.3
    rho_t, rho_w = 1.0, 0.5
    tri = TemporalTridiagonal(torch.full((1, 1, 5, 1, 1), 1.0 + rho_w, dtype=torch.float64), rho_t, dim=2)
    terms = [SplitTerm(Dt.A, Dt.A_adjoint, lambda v, t: soft_threshold(v, t * mu), rho_t),
             SplitTerm(W, W.adjoint, lambda v, t: soft_threshold(v, t * lam), rho_w)]
    x_admm = admm(y, lambda v, x: tri.solve(y + v), terms, 3000).x
    dual = AnalysisTerm(Dt.A, Dt.A_adjoint, lambda u, s: project_linf(u, mu), norm2=Dt.norm2)
    x_cv = condat_vu(y, lambda x: x - y, [dual], 1.0, 6000, prox=lambda v, t: W.adjoint(soft_threshold(W(v), t * lam))).x
    assert torch.allclose(x_admm, x_cv, atol=1e-6)


@pytest.mark.parametrize("T, dim", [(1, 0), (2, 1), (7, 1), (12, 2)])
def test_temporal_tridiagonal_solves_the_dense_system(T, dim):
    """(diag(a) + rho D^T D) x = d at every position, real and complex d, float64 and float32."""
    gen = torch.Generator().manual_seed(T)
    shape = [3, 4, 5]
    shape.insert(dim, T)
    a = 0.1 + torch.rand(shape, dtype=torch.float64, generator=gen)
    d = torch.randn(shape, dtype=torch.complex128, generator=gen)
    rho = 2.5
    S = TemporalTridiagonal(a, rho, dim=dim)
    D = torch.diff(torch.eye(T, dtype=torch.float64), dim=0)  # (T-1, T): rows e_{t+1} - e_t
    K = torch.diag_embed(a.movedim(dim, -1)) + rho * D.T @ D
    dense = torch.linalg.solve(K.to(d.dtype), d.movedim(dim, -1).unsqueeze(-1)).squeeze(-1).movedim(-1, dim)
    assert torch.allclose(S.solve(d), dense, atol=1e-12)
    assert torch.allclose(S.solve(d.real), dense.real, atol=1e-12)
    S32 = TemporalTridiagonal(a.float(), rho, dim=dim)
    assert S32.inv_den.dtype == torch.float32 and torch.allclose(S32.solve(d.to(torch.complex64)), dense.to(torch.complex64), atol=1e-5)


def test_admm_and_tridiagonal_bad_parameters():
    x0 = torch.zeros(20, dtype=torch.float64)
    for rho in (0.0, -1.0, float("inf")):
        with pytest.raises(ParameterError, match="penalties"):
            admm(x0, lambda v, x: v, [SplitTerm(lambda x: x, lambda u: u, prox_l1, rho)], 5)
    with pytest.raises(ParameterError, match="a must be > 0"):
        TemporalTridiagonal(torch.zeros(3, 2), 1.0, dim=0)
    with pytest.raises(ParameterError, match="rho"):
        TemporalTridiagonal(torch.ones(3, 2), -1.0, dim=0)
