r"""Separable 2D wavelet transforms in torch: orthogonal (decimated) and undecimated.

Both act on the last two axes of any real tensor, e.g. videos ``(B, 2, T, H, W)`` (every
frame and the real and imaginary parts independently), on CPU or GPU, float32 or float64.

- ``Wavelet(name, levels)``: the orthogonal DWT with periodic boundaries, identical to
  PyWavelets' ``wavedec2(..., mode="periodization")`` (tested to float precision), in the
  Mallat layout of ``pywt.coeffs_to_array``: coefficients ``(..., H, W)`` with the approximation
  in the top-left ``H/2^J x W/2^J`` block. :math:`\Psi^H \Psi = \Psi \Psi^H = I`.
- ``Wavelet(name, levels, undecimated=True)``: the stationary (a trous) transform with
  filters scaled by :math:`1/\sqrt 2`, a Parseval frame: :math:`\Psi^H \Psi = I`. Coefficients
  ``(..., 3J + 1, H, W)`` with band 0 the approximation.

Why not ptwt or PyWavelets directly: ptwt 1.0 has no periodized (orthogonal) conv mode, and
PyWavelets runs on numpy only (no autograd, no GPU). Here each 1D level is one matrix product
over circularly padded windows (a blocked polyphase filter bank), and the synthesis is its exact
transpose; ``python benchmarks/wavelet_speed.py`` times it against PyWavelets (and ptwt where
installed) side by side: on one thread it is about as fast as PyWavelets' C code.

Examples
--------
>>> import torch
>>> from dynmri.optim.wavelets import Wavelet
>>> W = Wavelet("sym8", levels=3)
>>> x = torch.randn(1, 2, 4, 32, 32, dtype=torch.float64)
>>> bool(torch.allclose(W.adjoint(W(x)), x))
True
"""

from __future__ import annotations

import math
from functools import lru_cache

import torch

from dynmri.errors import ParameterError, ShapeError


@lru_cache(maxsize=32)
def _filters(name: str) -> tuple[tuple[float, ...], tuple[float, ...]]:
    import pywt

    try:
        w = pywt.Wavelet(name)
    except ValueError as exc:
        raise ParameterError(f"unknown wavelet {name!r} (any PyWavelets discrete wavelet, e.g. 'sym8', 'db4', 'haar')") from exc
    if not w.orthogonal:
        raise ParameterError(f"wavelet {name!r} is not orthogonal; use an orthogonal family (haar, db, sym, coif)")
    return tuple(w.dec_lo), tuple(w.dec_hi)


def _block(n_half: int) -> int:
    """Outputs per band and block: the largest divisor of n/2 not above 16."""
    return max(b for b in range(1, min(16, n_half) + 1) if n_half % b == 0)


@lru_cache(maxsize=64)
def _gemm_mats(name: str, n: int, dtype, device):
    r"""Block matrices for the periodized DWT along an axis of length ``n`` (even).

    Analysis: padded input :math:`x_p[t] = x[(t + L/2 - L + 1) \bmod n]`, windows of
    :math:`2B + L - 2` samples every :math:`2B`; ``Wa[2k + L - 1 - m, cB + k] = h_c[m]``.
    Synthesis (the exact transpose, polyphase form): coefficient windows of :math:`B + L/2`
    every :math:`B`; ``Ws[c(B + L/2) + k + i + p, 2k + p] = h_c[2i + p]``, output rolled by L/2.
    """
    lo, hi = _filters(name)
    h = torch.tensor([lo, hi], dtype=torch.float64)
    L = h.shape[1]
    B = _block(n // 2)
    Wa = torch.zeros(2 * B + L - 2, 2 * B, dtype=torch.float64)
    Ws = torch.zeros(2 * (B + L // 2), 2 * B, dtype=torch.float64)
    for c in range(2):
        for k in range(B):
            for m in range(L):
                Wa[2 * k + L - 1 - m, c * B + k] = h[c, m]
            for i in range(L // 2):
                for p in range(2):
                    Ws[c * (B + L // 2) + k + i + p, 2 * k + p] += h[c, 2 * i + p]
    pad_a = (torch.arange(n + L - 1) + L // 2 - L + 1) % n
    pad_s = torch.arange(n // 2 + L // 2) % (n // 2)
    return Wa.to(dtype=dtype, device=device), Ws.to(dtype=dtype, device=device), pad_a.to(device), pad_s.to(device), B


def _circ_pad(x: torch.Tensor, left: int, right: int, dim: int) -> torch.Tensor:
    """Periodic padding along ``dim`` (slices and one concatenation: the fast path)."""
    n = x.shape[dim]
    if left <= n and right <= n:
        return torch.cat((x.narrow(dim, n - left, left), x, x.narrow(dim, 0, right)), dim)
    return x.index_select(dim, torch.arange(-left, n + right, device=x.device) % n)


DENSE_MAX = 128  # axes up to this length use one dense n x n product (faster there)


def _dwt_last(x: torch.Tensor, name: str) -> torch.Tensor:
    """One periodized DWT level along the last axis: ``(..., n)`` -> ``(..., n)`` = [lo | hi]."""
    n = x.shape[-1]
    if n <= DENSE_MAX:
        return x @ _dense(name, n, x.dtype, x.device)
    Wa, _, _, _, B = _gemm_mats(name, n, x.dtype, x.device)
    win = Wa.shape[0]
    L = win - 2 * B + 2
    windows = _circ_pad(x, L // 2 - 1, L // 2, -1).unfold(-1, win, 2 * B)
    out = torch.mm(windows.reshape(-1, win), Wa)  # one contiguous GEMM
    return out.view(*x.shape[:-1], n // (2 * B), 2, B).transpose(-3, -2).reshape(x.shape)


def _idwt_last(c: torch.Tensor, name: str) -> torch.Tensor:
    """Inverse (= adjoint) of :func:`_dwt_last`."""
    n = c.shape[-1]
    if n <= DENSE_MAX:
        return c @ _dense(name, n, c.dtype, c.device).T
    _, Ws, _, _, B = _gemm_mats(name, n, c.dtype, c.device)
    L2 = Ws.shape[0] // 2 - B
    # the output is rolled by L2 samples = L2/2 coefficients: start the windows that much earlier
    left = L2 // 2 if L2 % 2 == 0 else 0
    lo, hi = c[..., : n // 2], c[..., n // 2 :]
    wins = torch.cat((_circ_pad(lo, left, L2 - left, -1).unfold(-1, B + L2, B), _circ_pad(hi, left, L2 - left, -1).unfold(-1, B + L2, B)), dim=-1)
    out = torch.mm(wins.reshape(-1, wins.shape[-1]), Ws).view(c.shape)
    return out if left else out.roll(L2, dims=-1)


@lru_cache(maxsize=64)
def _dense(name: str, n: int, dtype, device) -> torch.Tensor:
    """The one-level analysis matrix D (n x n): coefficients [lo | hi] = x @ D."""
    Wa, _, _, _, B = _gemm_mats(name, n, torch.float64, "cpu")
    eye = torch.eye(n, dtype=torch.float64)
    L = Wa.shape[0] - 2 * B + 2
    windows = _circ_pad(eye, L // 2 - 1, L // 2, -1).unfold(-1, Wa.shape[0], 2 * B)
    D = torch.mm(windows.reshape(-1, Wa.shape[0]), Wa).view(n, n // (2 * B), 2, B).transpose(-3, -2).reshape(n, n)
    return D.to(dtype=dtype, device=device)


def _dwt_axis(x: torch.Tensor, name: str, dim: int) -> torch.Tensor:
    """One level along ``dim`` (-1 or -2), output laid out [lo | hi] along that axis."""
    if dim == -1:
        return _dwt_last(x, name)
    n = x.shape[-2]
    if n <= DENSE_MAX:
        return _dense(name, n, x.dtype, x.device).T @ x
    # windows along H as a strided view: one batched GEMM, no transposed copies
    Wa, _, _, _, B = _gemm_mats(name, n, x.dtype, x.device)
    win = Wa.shape[0]
    L = win - 2 * B + 2
    windows = _circ_pad(x, L // 2 - 1, L // 2, -2).unfold(-2, win, 2 * B).transpose(-1, -2)
    out = torch.matmul(Wa.T, windows)  # (..., n / 2B, 2B, W)
    return out.unflatten(-2, (2, B)).transpose(-4, -3).reshape(x.shape)


def _idwt_axis(c: torch.Tensor, name: str, dim: int) -> torch.Tensor:
    if dim == -1:
        return _idwt_last(c, name)
    n = c.shape[-2]
    if n <= DENSE_MAX:
        return _dense(name, n, c.dtype, c.device) @ c
    _, Ws, _, _, B = _gemm_mats(name, n, c.dtype, c.device)
    L2 = Ws.shape[0] // 2 - B
    left = L2 // 2 if L2 % 2 == 0 else 0  # as in _idwt_last: no roll of the output
    lo, hi = c[..., : n // 2, :], c[..., n // 2 :, :]
    wins = torch.cat((_circ_pad(lo, left, L2 - left, -2).unfold(-2, B + L2, B), _circ_pad(hi, left, L2 - left, -2).unfold(-2, B + L2, B)), dim=-1)
    out = torch.matmul(Ws.T, wins.transpose(-1, -2)).reshape(c.shape)  # (..., n / 2B, 2B, W) -> (..., n, W)
    return out if left else out.roll(L2, dims=-2)


@lru_cache(maxsize=16)
def level1_spectra(name: str, n: int) -> torch.Tensor:
    r"""DFT of the level-1 analysis filters along an axis of length ``n``: ``(2, n)`` complex128.

    Band ``b`` (0 = low, 1 = high) of one periodized level is :math:`c_b[k] = \sum_j x[j]\,
    d_b[(j - 2k) \bmod n]`; with unnormalised DFTs :math:`\hat c_b[\nu] = \tfrac12 \sum_{f=0,1}
    \overline{\hat d_b[\nu + f n/2]}\,\hat x[\nu + f n/2]` and, for the inverse,
    :math:`\hat x[\omega] = \sum_b \hat d_b[\omega]\,\hat c_b[\omega \bmod n/2]`. Returns
    :math:`\hat d_b`, so that a level can run in the Fourier domain (see :mod:`dynmri.recon.cs`).
    """
    D = _dense(name, n, torch.float64, "cpu")
    return torch.fft.fft(D[:, [0, n // 2]].T.contiguous(), dim=-1)


@lru_cache(maxsize=64)
def _circulant(name: str, n: int, dtype, device) -> torch.Tensor:
    r"""``(n, 2n)`` matrix M with ``[a_lo | a_hi] = x @ M`` for the undilated periodic filter
    :math:`a_b[i] = \sum_m h_b[m] x[(i - m + L/2) \bmod n] / \sqrt 2`."""
    lo, hi = _filters(name)
    L = len(lo)
    M = torch.zeros(n, 2 * n, dtype=torch.float64)
    for b, h in enumerate((lo, hi)):
        for i in range(n):
            for m in range(L):
                M[(i - m + L // 2) % n, b * n + i] += h[m] / math.sqrt(2)
    return M.to(dtype=dtype, device=device)


def _swt_axis(x: torch.Tensor, name: str, dim: int, d: int) -> torch.Tensor:
    """Undecimated level with dilation ``d`` along ``dim``: ``(2, ...)`` (lo, hi).

    With :math:`x_r[i] = x[i d + r]`, the dilated filter is an undilated one on each of the ``d``
    interleaved sequences, so the level is one reshape and one dense GEMM.
    """
    x = x.movedim(dim, -1)
    n = x.shape[-1]
    nr = n // d
    xr = x.reshape(*x.shape[:-1], nr, d).transpose(-1, -2)  # (..., d, nr)
    out = xr @ _circulant(name, nr, x.dtype, x.device)  # (..., d, 2 nr)
    out = out.view(*x.shape[:-1], d, 2, nr).permute(-2, *range(x.dim() - 1), -1, -3).reshape(2, *x.shape)
    return out.movedim(-1, dim if dim < 0 else dim + 1)


def _iswt_axis(c: torch.Tensor, name: str, dim: int, d: int) -> torch.Tensor:
    """Adjoint of :func:`_swt_axis`: ``(2, ...)`` -> ``(...)``."""
    c = c.movedim(dim if dim < 0 else dim + 1, -1)
    n = c.shape[-1]
    nr = n // d
    cr = c.reshape(2, *c.shape[1:-1], nr, d).transpose(-1, -2)  # (2, ..., d, nr)
    cr = torch.cat((cr[0], cr[1]), dim=-1)  # (..., d, 2 nr)
    x = cr @ _circulant(name, nr, c.dtype, c.device).T  # (..., d, nr)
    return x.transpose(-1, -2).reshape(*c.shape[1:]).movedim(-1, dim)


class Wavelet:
    r"""2D wavelet transform :math:`\Psi` over the last two axes (see the module docstring).

    Parameters
    ----------
    name : str
        An orthogonal PyWavelets wavelet, default ``"sym8"``.
    levels : int
        Number of scales :math:`J` (default 4). The decimated transform needs ``H`` and ``W``
        divisible by :math:`2^J`.
    undecimated : bool
        Stationary (redundant, shift-invariant) transform instead of the orthogonal one.
    """

    def __init__(self, name: str = "sym8", levels: int = 4, undecimated: bool = False):
        if levels < 1:
            raise ParameterError(f"levels must be >= 1, got {levels}")
        _filters(name)
        self.name, self.levels, self.undecimated = name, levels, undecimated

    def _check(self, x: torch.Tensor):
        H, W = x.shape[-2:]
        if H % 2**self.levels or W % 2**self.levels:
            raise ShapeError(f"image {H}x{W} is not divisible by 2^{self.levels} = {2**self.levels}: crop it or use fewer levels")

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        """Analysis :math:`\\Psi x`: ``(..., H, W)`` -> ``(..., H, W)`` (Mallat) or ``(..., 3J+1, H, W)``."""
        self._check(x)
        if self.undecimated:
            return self._swt(x)
        return self.analyze_coarse(_dwt_axis(_dwt_axis(x, self.name, -1), self.name, -2))

    def adjoint(self, c: torch.Tensor) -> torch.Tensor:
        """Synthesis :math:`\\Psi^H c` (the inverse for the orthogonal transform)."""
        if self.undecimated:
            return self._iswt(c)
        return _idwt_axis(_idwt_axis(self.synthesize_coarse(c), self.name, -2), self.name, -1)

    def analyze_coarse(self, c: torch.Tensor) -> torch.Tensor:
        """Levels 2..J of the orthogonal transform, in place on the top-left (approximation)
        quadrant of level-1 coefficients ``(..., H, W)``: ``W(x) = W.analyze_coarse(level1(x))``."""
        h, w = c.shape[-2:]
        for _ in range(self.levels - 1):
            h, w = h // 2, w // 2
            c[..., :h, :w] = _dwt_axis(_dwt_axis(c[..., :h, :w], self.name, -1), self.name, -2)
        return c

    def synthesize_coarse(self, c: torch.Tensor) -> torch.Tensor:
        """Inverse of :meth:`analyze_coarse` (on a copy): the level-1 coefficients of ``W.adjoint(c)``."""
        H, W = c.shape[-2:]
        c = c.clone()
        for j in reversed(range(1, self.levels)):
            h, w = H >> j, W >> j
            c[..., :h, :w] = _idwt_axis(_idwt_axis(c[..., :h, :w], self.name, -2), self.name, -1)
        return c

    def _swt(self, x):
        bands, approx = [], x
        for j in range(self.levels):
            a = _swt_axis(approx, self.name, -2, 2**j)
            lo = _swt_axis(a[0], self.name, -1, 2**j)
            hi = _swt_axis(a[1], self.name, -1, 2**j)
            bands += [lo[1], hi[0], hi[1]]
            approx = lo[0]
        return torch.stack([approx] + bands[::-1], dim=-3)

    def _iswt(self, c):
        approx = c[..., 0, :, :]
        details = c[..., 1:, :, :].flip(-3)  # back to fine-to-coarse order
        for j in reversed(range(self.levels)):
            lh, hl, hh = (details[..., 3 * j + k, :, :] for k in range(3))
            lo = _iswt_axis(torch.stack((approx, lh)), self.name, -1, 2**j)
            hi = _iswt_axis(torch.stack((hl, hh)), self.name, -1, 2**j)
            approx = _iswt_axis(torch.stack((lo, hi)), self.name, -2, 2**j)
        return approx

    def coarse_mask(self, shape: tuple[int, ...], device=None) -> torch.Tensor:
        """Boolean mask (broadcastable to the coefficients) of the approximation coefficients."""
        H, W = shape[-2:]
        if self.undecimated:
            m = torch.zeros(3 * self.levels + 1, 1, 1, dtype=torch.bool, device=device)
            m[0] = True
            return m
        m = torch.zeros(H, W, dtype=torch.bool, device=device)
        m[: H >> self.levels, : W >> self.levels] = True
        return m

    def band_index(self, shape: tuple[int, ...], device=None) -> torch.Tensor:
        """Integer band label of every coefficient (0 = approximation)."""
        H, W = shape[-2:]
        if self.undecimated:
            return torch.arange(3 * self.levels + 1, device=device).view(-1, 1, 1).expand(-1, H, W)
        lab = torch.zeros(H, W, dtype=torch.long, device=device)
        k = 1
        for j in range(self.levels):
            h, w = H >> j, W >> j
            lab[: h // 2, w // 2 : w] = k
            lab[h // 2 : h, : w // 2] = k + 1
            lab[h // 2 : h, w // 2 : w] = k + 2
            k += 3
        return lab
