r"""Linear operators of the regularisers (deepinv ``LinearPhysics``, one top-level class each).

Videos are real ``(B, 2, T, H, W)``, real and imaginary parts at dim 1, time at dim 2 (the
wavelet acts on the last two axes of any shape, coil images ``(B, 2, N, T, H, W)`` too):

- :class:`TemporalDifference`: :math:`(D_t x)_t = x_{t+1} - x_t`, ``T -> T-1`` frames
  (temporal total variation);
- :class:`TemporalFourier`: the orthonormal DFT along time (unitary; k-t sparsity, L+S);
- :class:`WaveletOperator`: the 2D wavelet analysis :math:`\Psi` of every frame
  (:class:`~dynmri.optim.wavelets.Wavelet`, orthogonal or undecimated), adjoint the synthesis.

``norm2`` is an upper bound of :math:`\|L\|^2` (4 for the difference, 1 for the others), as
the primal-dual solvers need. Every operator is enrolled in the shared adjointness, gradient,
dtype and device tests (``tests/test_operators.py``).

Examples
--------
>>> import torch
>>> from dynmri.optim.linops import TemporalDifference
>>> D = TemporalDifference()
>>> x = torch.randn(1, 2, 5, 8, 8)
>>> tuple(D.A(x).shape), tuple(D.A_adjoint(D.A(x)).shape)
((1, 2, 4, 8, 8), (1, 2, 5, 8, 8))
"""

from __future__ import annotations

import torch
from deepinv.physics import LinearPhysics

from dynmri.errors import ShapeError
from dynmri.optim.wavelets import Wavelet

__all__ = ["TemporalDifference", "TemporalFourier", "WaveletOperator"]


def _check_video(x: torch.Tensor, what: str) -> None:
    if x.ndim < 3 or x.shape[1] != 2:
        raise ShapeError(f"{what} must be (B, 2, T, ...) with real/imaginary at dim 1, got shape {tuple(x.shape)}")


class TemporalDifference(LinearPhysics):
    r"""Forward difference along time: ``(B, 2, T, ...) -> (B, 2, T-1, ...)``,
    :math:`(D_t x)_t = x_{t+1} - x_t`, with the adjoint
    :math:`(D_t^H u)_t = u_{t-1} - u_t` (:math:`u_{-1} = u_{T-1} = 0`) and
    :math:`\|D_t\|^2 \le 4`."""

    norm2 = 4.0

    def A(self, x: torch.Tensor, **_) -> torch.Tensor:
        _check_video(x, "video")
        return x[:, :, 1:] - x[:, :, :-1]

    def A_adjoint(self, u: torch.Tensor, **_) -> torch.Tensor:
        _check_video(u, "temporal differences")
        z = torch.zeros_like(u[:, :, :1])
        return torch.cat((z, u), dim=2) - torch.cat((u, z), dim=2)


class TemporalFourier(LinearPhysics):
    r"""Orthonormal DFT along time of ``(B, 2, T, ...)`` (same shape):
    :math:`(F_t x)_f = T^{-1/2} \sum_t x_t e^{-2\pi i f t / T}`; unitary, so
    :math:`F_t^H = F_t^{-1}` and :meth:`A_dagger` is the adjoint."""

    norm2 = 1.0

    @staticmethod
    def _fft(x: torch.Tensor, inverse: bool) -> torch.Tensor:
        _check_video(x, "video")
        z = torch.complex(x[:, 0], x[:, 1])
        z = (torch.fft.ifft if inverse else torch.fft.fft)(z, dim=1, norm="ortho")
        return torch.stack((z.real, z.imag), dim=1)

    def A(self, x: torch.Tensor, **_) -> torch.Tensor:
        return self._fft(x, inverse=False)

    def A_adjoint(self, y: torch.Tensor, **_) -> torch.Tensor:
        return self._fft(y, inverse=True)

    def A_dagger(self, y: torch.Tensor, **_) -> torch.Tensor:
        return self.A_adjoint(y)


class WaveletOperator(LinearPhysics):
    r"""Frame-by-frame 2D wavelet analysis :math:`\Psi` over the last two axes
    (:class:`dynmri.optim.wavelets.Wavelet`), adjoint the synthesis :math:`\Psi^H`.

    Orthogonal: ``(..., H, W) -> (..., H, W)`` (Mallat layout), :math:`\Psi^H \Psi = \Psi \Psi^H = I`;
    undecimated: ``(..., H, W) -> (..., 3J+1, H, W)``, a Parseval frame (:math:`\Psi^H \Psi = I`).

    Parameters
    ----------
    wavelet : str or Wavelet
        A PyWavelets orthogonal wavelet name (default ``"sym8"``) or a ready :class:`Wavelet`
        (then ``levels`` and ``undecimated`` are ignored).
    levels : int
        Number of scales :math:`J`.
    undecimated : bool
        Stationary (redundant) transform instead of the orthogonal one.
    """

    norm2 = 1.0

    def __init__(self, wavelet: str | Wavelet = "sym8", levels: int = 4, undecimated: bool = False):
        super().__init__()
        self.wavelet = wavelet if isinstance(wavelet, Wavelet) else Wavelet(wavelet, levels, undecimated)

    def A(self, x: torch.Tensor, **_) -> torch.Tensor:
        return self.wavelet(x)

    def A_adjoint(self, c: torch.Tensor, **_) -> torch.Tensor:
        return self.wavelet.adjoint(c)
