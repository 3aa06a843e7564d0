"""Solvers converge to known minimisers; synthesis equals analysis for orthogonal transforms."""

import math

import pytest
import torch

from dynmri.errors import DataError, ParameterError
from dynmri.optim.prox import project_linf, soft_threshold
from dynmri.optim.solvers import (
    SOLVERS,
    AnalysisTerm,
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
    assert set(SOLVERS) == {"fista", "pogm", "condat-vu", "cg"} and get_solver("pogm") is pogm
    with pytest.raises(ParameterError, match="unknown solver"):
        get_solver("admm")


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
