r"""Proximal operators on real/imaginary-channel tensors ``(B, 2, ...)``.

The modulus of a coefficient is taken over the channel axis (dim 1), so every operator
is the prox of a function of complex numbers:

.. math::

    \operatorname{prox}_{\lambda\|\cdot\|_1}(c) = c \max(0, 1 - \lambda / |c|), \qquad
    \operatorname{prox}_{\lambda\|\cdot\|_{2,1}}(c)_g = c_g \max(0, 1 - \lambda / \|c_g\|_2),

the ordered weighted L1 (OWL) norm :math:`\sum_i w_i |c|_{[i]}` with non-increasing weights
(prox by sorting and isotonic regression, Zeng & Figueiredo 2014), singular-value
thresholding for the nuclear norm, and the projection onto the :math:`\ell_\infty` ball (the
prox of the conjugate of :math:`\lambda\|\cdot\|_1`, used by primal-dual solvers).

Examples
--------
>>> import torch
>>> from dynmri.optim.prox import soft_threshold
>>> c = torch.tensor([[[3.0]], [[4.0]]]).reshape(1, 2, 1)   # the complex number 3 + 4i
>>> soft_threshold(c, 1.0).flatten().tolist()               # |c| = 5 -> 4, same phase
[2.4000000953674316, 3.200000047683716]
"""

from __future__ import annotations

import numpy as np
import torch

from dynmri.errors import ParameterError


def _check_lam(lam):
    if isinstance(lam, (int, float)) and (lam < 0 or not np.isfinite(lam)):
        raise ParameterError(f"regularisation weight must be finite and >= 0, got {lam}")


def modulus(c: torch.Tensor, eps: float = 0.0) -> torch.Tensor:
    """``|c|`` over the real/imag axis: ``(B, 2, ...)`` -> ``(B, 1, ...)``."""
    return torch.sqrt(c[:, :1] ** 2 + c[:, 1:] ** 2 + eps)


def soft_threshold(c: torch.Tensor, lam, keep: torch.Tensor | None = None) -> torch.Tensor:
    """Complex soft-thresholding; entries where ``keep`` is True are left untouched."""
    _check_lam(lam)
    mag = torch.hypot(c[:, :1], c[:, 1:]).clamp_(min=torch.finfo(c.dtype).tiny)
    if isinstance(lam, torch.Tensor):
        scale = (1 - lam / mag).clamp_(min=0)
    else:  # in place on the fresh modulus: no temporaries (this runs every iteration)
        scale = mag.reciprocal_().mul_(-lam).add_(1).clamp_(min=0)
    if keep is not None:
        scale = torch.where(keep, torch.ones_like(scale), scale)
    return c * scale


def group_soft_threshold(c: torch.Tensor, lam, group_dim: int, keep: torch.Tensor | None = None) -> torch.Tensor:
    """Group LASSO prox: groups are the real/imag axis together with ``group_dim`` (e.g. coils)."""
    _check_lam(lam)
    norm = torch.sqrt((c**2).sum(dim=(1, group_dim), keepdim=True))
    scale = torch.clamp(1 - lam / torch.clamp(norm, min=torch.finfo(c.dtype).tiny), min=0)
    if keep is not None:
        scale = torch.where(keep, torch.ones_like(scale), scale)
    return c * scale


def owl_weights(n: int, lam: float, beta: float = 0.0) -> np.ndarray:
    r"""OSCAR-type non-increasing weights :math:`w_i = \lambda (1 + \beta (n - 1 - i)/(n - 1))`."""
    if beta < 0:
        raise ParameterError(f"OWL beta must be >= 0, got {beta}")
    i = np.arange(n)
    return lam * (1 + beta * (n - 1 - i) / max(n - 1, 1))


def prox_owl_vector(v: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Prox of the OWL norm for a vector of magnitudes ``v >= 0`` and weights ``w`` (non-increasing)."""
    from scipy.optimize import isotonic_regression

    order = np.argsort(-v, kind="stable")
    z = v[order] - w
    z = np.clip(isotonic_regression(z, increasing=False).x, 0, None)
    out = np.empty_like(v)
    out[order] = z
    return out


def owl(c: torch.Tensor, lam: float, labels: torch.Tensor, beta: float = 0.0, keep: torch.Tensor | None = None) -> torch.Tensor:
    """OWL prox applied separately to each group of coefficients sharing a label.

    ``labels`` (broadcastable to the modulus ``(B, 1, ...)``) gives each coefficient its group,
    e.g. its wavelet band ("band-based": all coils and positions of a band in one group).
    Runs on the CPU (SciPy's isotonic regression); the result returns to ``c``'s device.
    """
    _check_lam(lam)
    mag = modulus(c)
    lab = torch.broadcast_to(labels.to(mag.device), mag.shape).reshape(-1).cpu().numpy()
    m = mag.reshape(-1).detach().cpu().double().numpy()
    new = m.copy()
    for g in np.unique(lab):
        sel = np.flatnonzero(lab == g)
        new[sel] = prox_owl_vector(m[sel], owl_weights(sel.size, lam, beta))
    new = torch.from_numpy(new).to(c.device, c.dtype).reshape(mag.shape)
    scale = new / torch.clamp(mag, min=torch.finfo(c.dtype).tiny)
    if keep is not None:
        scale = torch.where(keep, torch.ones_like(scale), scale)
    return c * scale


def group_norm(c: torch.Tensor, group_dim: int, keep: torch.Tensor | None = None) -> float:
    """:math:`\\sum_g \\|c_g\\|_2` over groups (real/imag and ``group_dim``), skipping ``keep``."""
    norm = torch.sqrt((c**2).sum(dim=(1, group_dim), keepdim=True))
    if keep is not None:
        norm = torch.where(keep, torch.zeros_like(norm), norm)
    return float(norm.sum())


def owl_norm(c: torch.Tensor, lam: float, labels: torch.Tensor, beta: float = 0.0, keep: torch.Tensor | None = None) -> float:
    """The OWL norm :math:`\\sum_i w_i |c|_{[i]}` summed over the groups of ``labels`` (see :func:`owl`)."""
    mag = modulus(c)
    if keep is not None:
        mag = torch.where(keep, torch.zeros_like(mag), mag)
    lab = torch.broadcast_to(labels.to(mag.device), mag.shape).reshape(-1).cpu().numpy()
    m = mag.reshape(-1).detach().cpu().double().numpy()
    total = 0.0
    for g in np.unique(lab):
        v = -np.sort(-m[lab == g])
        total += float(np.dot(owl_weights(v.size, lam, beta), v))
    return total


def project_linf(u: torch.Tensor, lam) -> torch.Tensor:
    r"""Projection onto :math:`\{|u| \le \lambda\}` = :math:`\operatorname{prox}_{\sigma (\lambda\|\cdot\|_1)^*}`."""
    mag = modulus(u)
    return u * torch.clamp(lam / torch.clamp(mag, min=torch.finfo(u.dtype).tiny), max=1)


def svt(x: torch.Tensor, lam: float) -> torch.Tensor:
    r"""Singular-value thresholding of the Casorati matrix (space x time) of ``x (B, 2, T, H, W)``:
    the prox of :math:`\lambda \|X\|_*`."""
    _check_lam(lam)
    B, _, T, H, W = x.shape
    z = torch.complex(x[:, 0], x[:, 1]).reshape(B, T, H * W).transpose(1, 2)
    U, s, Vh = torch.linalg.svd(z, full_matrices=False)
    z = (U * torch.clamp(s - lam, min=0).unsqueeze(-2).to(U.dtype)) @ Vh
    z = z.transpose(1, 2).reshape(B, T, H, W)
    return torch.stack((z.real, z.imag), dim=1)
