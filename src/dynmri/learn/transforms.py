r"""Transforms for equivariant imaging of dynamic MRI videos ``(B, 2, T, H, W)``.

DDEI's group draws, at each call, a time shift, or a smooth diffeomorphism, or a rotation.
deepinv 0.5.0's ``A | B`` gets this wrong for videos (tested in ``tests/test_transforms.py``):
its random choice inherits ``flatten_video_input`` from the *first* operand, so

- ``ShiftTime() | (Diffeo | Rotate)`` never flattens, and the spatial transform raises on 5D
  input whenever it is drawn (about half the calls);
- ``(Diffeo | Rotate) | ShiftTime()`` always flattens ``(B, 2, T, H, W)`` to ``(B, 2T, H, W)``,
  so the time shift rolls the mixed real/imaginary-time axis.

:class:`RandomChoice` fixes this in one place: each member handles video input by its own
rule, so a time shift moves whole complex frames and a spatial transform applies the same
warp to every frame and both channels. Every transform gets its own seeded generator
(deepinv transforms created without one share a default seed and draw the same sequence).

:class:`SmoothWarp` is a fast smooth diffeomorphism (a random displacement field, low
resolution upsampled bicubically, small enough to be invertible) offered beside deepinv's CPAB,
which needs ``libcpab``.

Examples
--------
>>> import torch
>>> from dynmri.learn.transforms import ddei_transform
>>> T = ddei_transform(seed=0)
>>> T(torch.randn(1, 2, 6, 32, 32)).shape
torch.Size([1, 2, 6, 32, 32])
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from deepinv.transform import Transform

from dynmri.errors import ParameterError
from dynmri.registry import Registry


def _rng(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(int(seed))


class RandomChoice(Transform):
    """Apply one of ``members``, drawn uniformly at each call from its own seeded generator;
    each member handles video input by its own rule (see the module doc)."""

    def __init__(self, members, seed: int = 0):
        if not members:
            raise ParameterError("random_choice needs at least one transform")
        super().__init__(flatten_video_input=False, rng=_rng(seed))
        self.members = torch.nn.ModuleList(members)
        self.recent_choice = None

    def get_params(self, x: torch.Tensor) -> dict:
        k = int(torch.randint(len(self.members), (1,), generator=self.rng))
        self.recent_choice = k
        return {"choice": k, **self.members[k].get_params(x)}

    def transform(self, x: torch.Tensor, choice: int | None = None, **params) -> torch.Tensor:
        k = self.recent_choice if choice is None else int(choice)
        return self.members[k].transform(x, **params)

    def inverse(self, x: torch.Tensor, choice: int | None = None, **params) -> torch.Tensor:
        k = self.recent_choice if choice is None else int(choice)
        return self.members[k].inverse(x, **params)


def random_choice(*members, seed: int = 0) -> RandomChoice:
    """A transform that applies one of ``members``, drawn uniformly at each call (seeded)."""
    return RandomChoice(members, seed)


class Compose(Transform):
    r"""Apply every member in turn, :math:`T = T_k \circ \dots \circ T_1`, each with fresh
    parameters per call."""

    def __init__(self, members, seed: int = 0):
        if not members:
            raise ParameterError("compose needs at least one transform")
        super().__init__(flatten_video_input=False, rng=_rng(seed))
        self.members = torch.nn.ModuleList(members)
        self.recent_params = None

    def get_params(self, x: torch.Tensor) -> dict:
        self.recent_params = [m.get_params(x) for m in self.members]
        return {"parts": self.recent_params}

    def transform(self, x: torch.Tensor, parts: list | None = None, **_) -> torch.Tensor:
        for m, p in zip(self.members, self.recent_params if parts is None else parts, strict=True):
            x = m.transform(x, **p)
        return x

    def inverse(self, x: torch.Tensor, parts: list | None = None, **_) -> torch.Tensor:
        for m, p in zip(reversed(self.members), reversed(self.recent_params if parts is None else parts), strict=True):
            x = m.inverse(x, **p)
        return x


def compose(*members, seed: int = 0) -> Compose:
    r"""A transform that applies every member in turn, :math:`T = T_k \circ \dots \circ T_1`, each
    with fresh parameters per call: an element of the group the members generate (deepinv's
    ``A * B`` inherits ``flatten_video_input`` from ``A``, as ``A | B`` does). ``seed`` is
    unused (each member owns its generator) and kept for a signature like :func:`random_choice`."""
    return Compose(members, seed)


class SmoothWarp(Transform):
    """Random smooth diffeomorphism (see :func:`smooth_warp`)."""

    def __init__(self, strength: float = 0.04, grid: int = 4, n_trans: int = 1, seed: int = 0):
        if strength < 0 or grid < 2:
            raise ParameterError("smooth_warp needs strength >= 0 and grid >= 2")
        super().__init__(n_trans=n_trans, flatten_video_input=True, rng=_rng(seed))
        self.strength, self.grid = strength, grid

    def _get_params(self, x: torch.Tensor) -> dict:
        coarse = torch.randn(self.n_trans, 2, self.grid, self.grid, generator=self.rng) * self.strength
        return {"field": coarse}

    def _transform(self, x: torch.Tensor, field: torch.Tensor = None, **kwargs) -> torch.Tensor:
        B, _, H, W = x.shape
        disp = F.interpolate(field.to(x.device, x.dtype), size=(H, W), mode="bicubic", align_corners=True)
        ys, xs = torch.meshgrid(torch.linspace(-1, 1, H, device=x.device, dtype=x.dtype), torch.linspace(-1, 1, W, device=x.device, dtype=x.dtype), indexing="ij")
        base = torch.stack((xs, ys), dim=-1)  # (H, W, 2) as grid_sample wants (x, y)
        outs = []
        for d in disp:
            g = (base + d.permute(1, 2, 0)).expand(B, H, W, 2)
            outs.append(F.grid_sample(x, g, mode="bicubic", padding_mode="reflection", align_corners=True))
        return torch.cat(outs, dim=0)

    def inverse(self, x: torch.Tensor, field: torch.Tensor = None, **params) -> torch.Tensor:
        return self.transform(x, field=-field)  # first-order inverse of a small field


def smooth_warp(strength: float = 0.04, grid: int = 4, n_trans: int = 1, seed: int = 0) -> SmoothWarp:
    r"""Random smooth diffeomorphism: a displacement field drawn on a ``grid x grid`` lattice
    (Gaussian, std ``strength`` in normalised [-1, 1] units), upsampled bicubically, applied by
    bicubic ``grid_sample`` with reflection padding (a warp and its approximate inverse give back
    Sunnybrook frames at 38-46 dB PSNR, 38-42 dB with bilinear sampling). The same field warps every frame and both
    channels of a video; a fresh field is drawn per call."""
    return SmoothWarp(strength, grid, n_trans, seed)


def time_shift(seed: int = 0, padding: str = "wrap"):
    """deepinv's ``ShiftTime`` with its own generator (``wrap`` = circular, as for cine)."""
    from deepinv.transform import ShiftTime

    return ShiftTime(padding=padding, rng=_rng(seed))


def _shear(x: torch.Tensor, amount: float, axis: int) -> torch.Tensor:
    r"""Shear the last two axes of real ``x (..., H, W)`` by Fourier phase ramps.

    ``axis=-1`` shifts row :math:`y` by :math:`a (y - c_y)` pixels along :math:`x`
    (``axis=-2`` swaps the roles), :math:`c = (N - 1) / 2`. Each row is multiplied in Fourier by
    :math:`e^{-2\pi i k s / N}`, with the Nyquist bin left alone so that a real image stays real;
    the operator is orthogonal and shearing by ``-a`` inverts it exactly.
    """
    n = x.shape[axis]
    m = x.shape[-2] if axis == -1 else x.shape[-1]
    k = torch.fft.fftfreq(n, device=x.device, dtype=x.dtype) * n
    if n % 2 == 0:
        k[n // 2] = 0  # Nyquist: no shift, keeps the output real and the shear orthogonal
    s = amount * (torch.arange(m, device=x.device, dtype=x.dtype) - (m - 1) / 2)
    phase = torch.polar(torch.ones((), device=x.device, dtype=x.dtype), -2 * torch.pi * s[:, None] * k[None, :] / n)
    if axis == -2:
        phase = phase.T  # (n, m): rows indexed by y, shift varies along x
    return torch.fft.ifft(torch.fft.fft(x, dim=axis) * phase, dim=axis).real


class FourierRotate(Transform):
    """Exact rotation by quarter turns and three Fourier shears (see :func:`rotate`)."""

    def __init__(self, max_angle: float = 180.0, seed: int = 0):
        super().__init__(n_trans=1, flatten_video_input=True, rng=_rng(seed))
        self.max_angle = max_angle

    def _get_params(self, x: torch.Tensor) -> dict:
        return {"theta": (torch.rand(self.n_trans, generator=self.rng, dtype=torch.float64) * 2 - 1) * self.max_angle}

    @staticmethod
    def _quarter_turns(x: torch.Tensor, theta: float) -> tuple[int, float]:
        k = round(theta / 90.0)
        if x.shape[-1] != x.shape[-2] and k % 2:  # quarter turns of a rectangle change its shape
            k -= 1 if theta < 90 * k else -1
        return k, theta - 90.0 * k

    @staticmethod
    def _shears(x: torch.Tensor, phi: float) -> torch.Tensor:
        if phi == 0:
            return x
        r = math.radians(phi)
        a, b = -math.tan(r / 2), math.sin(r)
        return _shear(_shear(_shear(x, a, -1), b, -2), a, -1)

    def invert_params(self, params: dict) -> dict:
        # the exact inverse undoes the shears, then the quarter turns (they do not commute)
        return {"theta": -params["theta"], "inverse": torch.ones_like(params["theta"])}

    def _transform(self, x: torch.Tensor, theta: torch.Tensor = None, inverse=None, **kwargs) -> torch.Tensor:
        outs = []
        for t in theta.tolist():
            if inverse is None:
                k, phi = self._quarter_turns(x, t)
                outs.append(self._shears(torch.rot90(x, -k, dims=(-2, -1)), phi))
            else:
                k, phi = self._quarter_turns(x, -t)
                outs.append(torch.rot90(self._shears(x, -phi), k, dims=(-2, -1)))
        return torch.cat(outs, dim=0)


def rotate(seed: int = 0, interpolation: str = "fourier", max_angle: float = 180.0):
    r"""Random in-plane rotation of every frame by one angle :math:`\theta \sim U(-m, m)` degrees.

    ``interpolation="fourier"`` (default) rotates by quarter turns (exact) and then by the rest,
    :math:`|\varphi| \le 45^\circ`, with three Fourier shears (Unser et al., 1995):

    .. math:: R_\varphi = S_x(-\tan\tfrac{\varphi}{2})\, S_y(\sin\varphi)\, S_x(-\tan\tfrac{\varphi}{2}).

    Each shear is orthogonal, so the rotation loses nothing and its inverse is exact; MR images
    are band-limited by acquisition, which is what Fourier interpolation assumes. Content sheared
    past an edge wraps around (the periodic field of view of the DFT). Bilinear interpolation
    blurs: a bilinear rotation followed by its inverse gives back Sunnybrook frames at only 34-40 dB
    PSNR, a blur that equivariant losses then teach the network as a target. ``interpolation="bilinear"`` keeps
    deepinv's ``Rotate`` (integer degrees). Input ``(B, 2, T, H, W)`` or ``(B, C, H, W)``.
    """
    if interpolation == "bilinear":
        from deepinv.transform import Rotate

        return Rotate(rng=_rng(seed), multiples=1, positive=False, interpolation_mode="bilinear")
    if interpolation != "fourier":
        raise ParameterError(f"interpolation must be 'fourier' or 'bilinear', got {interpolation!r}")
    if not 0 < max_angle <= 180:
        raise ParameterError(f"max_angle must be in (0, 180] degrees, got {max_angle}")
    return FourierRotate(max_angle, seed)


def cpab(seed: int = 0):
    """deepinv's CPAB diffeomorphism (needs ``pip install libcpab``)."""
    try:
        from deepinv.transform import CPABDiffeomorphism

        return CPABDiffeomorphism(rng=_rng(seed))
    except ImportError as exc:  # pragma: no cover - depends on the optional extra
        raise ParameterError("the CPAB diffeomorphism needs libcpab: pip install libcpab (or use diffeo='smooth')") from exc


DIFFEOS = Registry("diffeo")
"""DDEI's diffeomorphisms: name -> builder(seed=...) -> deepinv ``Transform``."""
DIFFEOS.register("smooth", smooth_warp)
DIFFEOS.register("cpab", cpab, requires="libcpab", install="pip install libcpab (or use diffeo='smooth')")


def ddei_transform(seed: int = 0, diffeo: str = "smooth", rotation: str = "fourier", time_padding: str = "wrap", group: str = "choice"):
    """DDEI's group. ``group="choice"``: a time shift, or a (smooth or CPAB) diffeomorphism, or a
    rotation (Fourier or bilinear, see :func:`rotate`), each drawn with probability 1/3 (deepinv's
    nested ``A | (B | C)`` gives 1/2, 1/4, 1/4). ``group="compose"``: all three at once, the
    rotation of the warp of the time-shifted video (every EI sample then carries a rotation, as
    EI-rotate's do; dynmri's shipped DDEI network is trained so, see ``docs/training.md``). ``time_padding``: ``wrap`` (circular, exact for a whole cardiac cycle) or ``reflect``
    (continuous at the edges of a window shorter than a cycle, where wrapping joins the last
    frame to the first)."""
    make_diffeo = DIFFEOS.get(diffeo)
    if group not in ("choice", "compose"):
        raise ParameterError(f"group must be 'choice' or 'compose', got {group!r}")
    members = (time_shift(seed + 1, padding=time_padding), make_diffeo(seed=seed + 2), rotate(seed + 3, interpolation=rotation))
    return (random_choice if group == "choice" else compose)(*members, seed=seed)
