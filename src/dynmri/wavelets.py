r"""Separable 2D wavelet transforms in torch: orthogonal (decimated) and undecimated.

Both act on the last two axes of any real tensor, e.g. videos ``(B, 2, T, H, W)`` (every
frame and the real and imaginary parts independently), on CPU or GPU, float32 or float64.

- ``Wavelet(name, levels)``: the orthogonal DWT with periodic boundaries, identical to
  PyWavelets' ``wavedec2(..., mode="periodization")`` (tested to float precision), with the
  coefficients flattened to ``(..., H*W)``: the approximation first, then for each level from
  coarse to fine its (LH, HL, HH) detail bands, each row-major. :math:`\Psi^H \Psi = \Psi \Psi^H = I`.
- ``Wavelet(name, levels, undecimated=True)``: the stationary (a trous) transform with
  filters scaled by :math:`1/\sqrt 2`, a Parseval frame: :math:`\Psi^H \Psi = I`. Coefficients
  ``(..., 3J + 1, H, W)`` with band 0 the approximation.

Why not ptwt or PyWavelets directly: ptwt 1.0 has no periodized (orthogonal) conv mode and its
non-separable conv transform took 36 ms per forward+inverse of two 256x256 images on one thread;
PyWavelets runs on numpy only (7.6 ms). Here each 1D level is one matrix product over
circularly padded windows (a blocked polyphase filter bank), and the synthesis is its exact
transpose; see ``benchmarks/wavelet_speed.py``.

Examples
--------
>>> import torch
>>> from dynmri.wavelets import Wavelet
>>> W = Wavelet("sym8", levels=3)
>>> x = torch.randn(1, 2, 4, 32, 32, dtype=torch.float64)
>>> bool(torch.allclose(W.adjoint(W(x)), x))
True
"""

from __future__ import annotations

import math
from functools import lru_cache

import torch
import torch.nn.functional as F

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


def _bank(name: str, dtype, device, scale: float = 1.0) -> torch.Tensor:
    lo, hi = _filters(name)
    # conv1d correlates: flip the decomposition filters
    return torch.tensor([lo[::-1], hi[::-1]], dtype=dtype, device=device).unsqueeze(1) * scale


def _to_rows(x: torch.Tensor, dim: int) -> tuple[torch.Tensor, tuple[int, ...]]:
    x = x.movedim(dim, -1)
    return x.reshape(-1, x.shape[-1]), x.shape[:-1]


def _analysis(x: torch.Tensor, bank: torch.Tensor, dim: int, dilation: int, decimate: bool) -> torch.Tensor:
    r"""Periodic two-channel filter bank along ``dim``: returns ``(2, ..., n', ...)``.

    .. math:: a_b[k] = \sum_m h_b[m]\, x[(s k + d L/2 - d m) \bmod n],

    with stride :math:`s` (2 decimated, 1 undecimated) and dilation :math:`d`.
    """
    rows, shape = _to_rows(x, dim)
    n = rows.shape[-1]
    L = bank.shape[-1]
    span = dilation * (L - 1)
    idx = (torch.arange(n + span, device=x.device) + dilation * (L // 2) - span) % n
    out = F.conv1d(rows.index_select(-1, idx).unsqueeze(1), bank, stride=2 if decimate else 1, dilation=dilation)
    m = out.shape[-1]
    return out.transpose(0, 1).reshape(2, *shape, m).movedim(-1, dim)


def _synthesis(c: torch.Tensor, bank: torch.Tensor, dim: int, dilation: int, decimate: bool, n: int) -> torch.Tensor:
    """Exact adjoint of :func:`_analysis` as a regular (fast) convolution; ``c`` is ``(2, ...)``."""
    lo, hi = _to_rows(c[0], dim)[0], _to_rows(c[1], dim)[0]
    shape = c[0].movedim(dim, -1).shape[:-1]
    a = torch.stack((lo, hi), dim=1)  # (M, 2, n')
    m = a.shape[-1]
    L = bank.shape[-1]
    h = bank[:, 0].flip(-1)  # (2, L) the filters h_b[m]
    if decimate:
        # x[2u + p + L/2] = sum_b sum_i h_b[2i + p] a_b[u + i + p]  (indices mod n/2)
        half = L // 2
        w = torch.zeros(2, 2, half + 1, dtype=c.dtype, device=c.device)
        w[0, :, :half] = h[:, 0::2]
        w[1, :, 1:] = h[:, 1::2]
        ap = a.index_select(-1, torch.arange(m + half, device=c.device) % m)
        out = F.conv1d(ap, w)  # (M, 2 phases, n/2)
        x = out.transpose(1, 2).reshape(-1, n).roll(half, dims=-1)
    else:
        # x[q] = sum_b sum_m h_b[m] a_b[(q + d m - d L/2) mod n]
        span = dilation * (L - 1)
        ap = a.index_select(-1, (torch.arange(n + span, device=c.device) - dilation * (L // 2)) % n)
        x = F.conv1d(ap, h.unsqueeze(0), dilation=dilation)[:, 0]
    return x.reshape(*shape, n).movedim(-1, dim)


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
    lo, hi = c[..., : n // 2], c[..., n // 2 :]
    wins = torch.cat((_circ_pad(lo, 0, L2, -1).unfold(-1, B + L2, B), _circ_pad(hi, 0, L2, -1).unfold(-1, B + L2, B)), dim=-1)
    out = torch.mm(wins.reshape(-1, wins.shape[-1]), Ws)
    return out.view(c.shape).roll(L2, dims=-1)


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
    return _dwt_last(x.transpose(-1, -2).contiguous(), name).transpose(-1, -2)


def _idwt_axis(c: torch.Tensor, name: str, dim: int) -> torch.Tensor:
    if dim == -1:
        return _idwt_last(c, name)
    n = c.shape[-2]
    if n <= DENSE_MAX:
        return _dense(name, n, c.dtype, c.device) @ c
    return _idwt_last(c.transpose(-1, -2).contiguous(), name).transpose(-1, -2)


def _dwt2(x: torch.Tensor, name: str):
    """One 2D level: ``(..., h, w)`` -> approximation and the (LH, HL, HH) details."""
    h, w = x.shape[-2:]
    c = _dwt_axis(_dwt_axis(x, name, -1), name, -2)
    return c[..., : h // 2, : w // 2], (c[..., h // 2 :, : w // 2], c[..., : h // 2, w // 2 :], c[..., h // 2 :, w // 2 :])


def _idwt2(ll, details, name: str):
    lh, hl, hh = details
    c = torch.cat((torch.cat((ll, hl), -1), torch.cat((lh, hh), -1)), -2)
    return _idwt_axis(_idwt_axis(c, name, -2), name, -1)


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
        self._shape = (H, W)
        if not self.undecimated and (H % 2**self.levels or W % 2**self.levels):
            raise ShapeError(f"image {H}x{W} is not divisible by 2^{self.levels} = {2**self.levels}: crop it or use fewer levels")

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        """Analysis :math:`\\Psi x`: ``(..., H, W)`` -> ``(..., H, W)`` or ``(..., 3J+1, H, W)``."""
        self._check(x)
        if self.undecimated:
            return self._swt(x)
        pieces, approx = [], x
        for _ in range(self.levels):
            approx, details = _dwt2(approx, self.name)
            pieces = [d.flatten(-2) for d in details] + pieces
        return torch.cat([approx.flatten(-2)] + pieces, dim=-1)

    def adjoint(self, c: torch.Tensor) -> torch.Tensor:
        """Synthesis :math:`\\Psi^H c` (the inverse for the orthogonal transform)."""
        if self.undecimated:
            return self._iswt(c)
        H, W = self._shape
        h, w = H >> self.levels, W >> self.levels
        approx = c[..., : h * w].unflatten(-1, (h, w))
        pos = h * w
        for _ in range(self.levels):
            details = tuple(c[..., pos + k * h * w : pos + (k + 1) * h * w].unflatten(-1, (h, w)) for k in range(3))
            pos += 3 * h * w
            approx = _idwt2(approx, details, self.name)
            h, w = 2 * h, 2 * w
        return approx

    def _swt(self, x):
        bank = _bank(self.name, x.dtype, x.device, scale=1 / math.sqrt(2))
        bands, approx = [], x
        for j in range(self.levels):
            a = _analysis(approx, bank, -2, 2**j, False)
            lo = _analysis(a[0], bank, -1, 2**j, False)
            hi = _analysis(a[1], bank, -1, 2**j, False)
            bands += [lo[1], hi[0], hi[1]]
            approx = lo[0]
        return torch.stack([approx] + bands[::-1], dim=-3)

    def _iswt(self, c):
        bank = _bank(self.name, c.dtype, c.device, scale=1 / math.sqrt(2))
        H, W = c.shape[-2:]
        approx = c[..., 0, :, :]
        details = c[..., 1:, :, :].flip(-3)  # back to fine-to-coarse order
        for j in reversed(range(self.levels)):
            lh, hl, hh = (details[..., 3 * j + k, :, :] for k in range(3))
            lo = _synthesis(torch.stack((approx, lh)), bank, -1, 2**j, False, W)
            hi = _synthesis(torch.stack((hl, hh)), bank, -1, 2**j, False, W)
            approx = _synthesis(torch.stack((lo, hi)), bank, -2, 2**j, False, H)
        return approx

    def coarse_mask(self, shape: tuple[int, ...], device=None) -> torch.Tensor:
        """Boolean mask (broadcastable to the coefficients) of the approximation coefficients."""
        H, W = shape[-2:]
        if self.undecimated:
            m = torch.zeros(3 * self.levels + 1, 1, 1, dtype=torch.bool, device=device)
            m[0] = True
            return m
        m = torch.zeros(H * W, dtype=torch.bool, device=device)
        m[: (H >> self.levels) * (W >> self.levels)] = True
        return m

    def band_index(self, shape: tuple[int, ...], device=None) -> torch.Tensor:
        """Integer band label of every coefficient (0 = approximation, then coarse to fine)."""
        H, W = shape[-2:]
        if self.undecimated:
            return torch.arange(3 * self.levels + 1, device=device).view(-1, 1, 1).expand(-1, H, W)
        sizes = [(H >> self.levels) * (W >> self.levels)]
        for j in reversed(range(self.levels)):
            sizes += [(H >> (j + 1)) * (W >> (j + 1))] * 3
        return torch.repeat_interleave(torch.arange(len(sizes), device=device), torch.tensor(sizes, device=device))
