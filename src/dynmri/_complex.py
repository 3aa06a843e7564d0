"""Array helpers: conversions between the two complex layouts used in dynmri, and cropping.

Tensors in the API are real with a channel axis of size 2 at dim 1
(``(B, 2, ...)``: real, imaginary); files hold complex arrays without that axis.
"""

from __future__ import annotations

import numpy as np
import torch


def to_complex(x: torch.Tensor) -> torch.Tensor:
    """``(B, 2, ...)`` real -> ``(B, ...)`` complex."""
    if x.shape[1] != 2:
        raise ValueError(f"expected a real/imaginary channel axis of size 2 at dim 1, got shape {tuple(x.shape)}")
    return torch.complex(x[:, 0], x[:, 1])


def from_complex(z: torch.Tensor) -> torch.Tensor:
    """``(B, ...)`` complex -> ``(B, 2, ...)`` real."""
    return torch.stack((z.real, z.imag), dim=1)


def np_to_channels(z: np.ndarray, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """Complex numpy ``(B, ...)`` -> real tensor ``(B, 2, ...)``."""
    z = np.asarray(z)
    return torch.from_numpy(np.stack((z.real, z.imag), axis=1)).to(dtype)


def channels_to_np(x: torch.Tensor) -> np.ndarray:
    """Real tensor ``(B, 2, ...)`` -> complex64 numpy ``(B, ...)``."""
    x = x.detach().cpu()
    return (x[:, 0].numpy() + 1j * x[:, 1].numpy()).astype(np.complex64)


def center_crop(x, size: int):
    """The centred ``size x size`` window of the last two axes (numpy or torch); no bounds check."""
    h, w = x.shape[-2:]
    y0, x0 = (h - size) // 2, (w - size) // 2
    return x[..., y0 : y0 + size, x0 : x0 + size]


def centered_fft(x: np.ndarray, axes: tuple[int, ...] = (-2, -1), inverse: bool = False) -> np.ndarray:
    """The centred orthonormal (inverse) DFT of numpy ``x`` over ``axes``, dynmri's k-space
    convention (``docs/conventions.md``): ``fftshift(fft(ifftshift(x)), norm="ortho")``.

    >>> k = centered_fft(np.ones((4, 4)))
    >>> float(abs(k[2, 2])), float(abs(k).sum())
    (4.0, 4.0)
    """
    f = np.fft.ifftn if inverse else np.fft.fftn
    return np.fft.fftshift(f(np.fft.ifftshift(x, axes=axes), axes=axes, norm="ortho"), axes=axes)
