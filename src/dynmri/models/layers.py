"""Building blocks shared by the networks: data consistency and video/frame reshapes."""

from __future__ import annotations

import torch
from torch import nn


class DataConsistency(nn.Module):
    r"""A learnable data-consistency step :math:`x \leftarrow x - \eta A^H(Ax - y)`,
    :math:`\eta = \sigma(p) \in (0, 1)`.

    For single-coil Cartesian MRI this is exactly the noise-weighted k-space replacement of
    Qin et al. with :math:`\eta = \nu/(1 + \nu)`: sampled k-space becomes
    :math:`(F x + \nu y)/(1 + \nu)`, the rest is kept. For other operators (coil maps, split
    physics in SSDU) it is a gradient step with step :math:`\eta \le 1 / \|A\|^2`. Every
    instance owns its parameter (the public reference shared one through a default argument).
    """

    def __init__(self, init_step: float = 0.98):
        super().__init__()
        self.p = nn.Parameter(torch.logit(torch.tensor(float(init_step))))

    @property
    def step(self) -> torch.Tensor:
        return torch.sigmoid(self.p)

    def forward(self, x: torch.Tensor, y: torch.Tensor, physics) -> torch.Tensor:
        return x - self.step * physics.A_adjoint(physics.A(x) - y)


def frames_to_batch(x: torch.Tensor) -> torch.Tensor:
    """``(B, C, T, H, W)`` -> ``(B T, C, H, W)``."""
    B, C, T, H, W = x.shape
    return x.transpose(1, 2).reshape(B * T, C, H, W)


def batch_to_frames(x: torch.Tensor, T: int) -> torch.Tensor:
    """``(B T, C, H, W)`` -> ``(B, C, T, H, W)``."""
    BT, C, H, W = x.shape
    return x.reshape(BT // T, T, C, H, W).transpose(1, 2)


def video_to_frames(x: torch.Tensor) -> torch.Tensor:
    """``(B, C, T, H, W)`` -> ``(T B, C, H, W)`` in channels-last memory, time-major (frame
    ``t`` of every video is the contiguous block ``t B : (t + 1) B``), the layout of the CRNN's
    features: oneDNN's 3x3 convolutions with few channels run about 3x faster on channels-last
    input than on NCHW (``benchmarks/inference_speed.py``)."""
    B, C, T, H, W = x.shape
    return x.permute(2, 0, 3, 4, 1).reshape(T * B, H, W, C).permute(0, 3, 1, 2)


def frames_to_video(x: torch.Tensor, T: int) -> torch.Tensor:
    """Inverse of :func:`video_to_frames`: ``(T B, C, H, W)`` -> ``(B, C, T, H, W)`` (contiguous)."""
    TB, C, H, W = x.shape
    return x.reshape(T, TB // T, C, H, W).permute(1, 2, 0, 3, 4).contiguous()


def _fusable(layer: nn.Module, x: torch.Tensor) -> bool:
    """Whether oneDNN's fused convolution can run ``layer`` on ``x`` (float32 on a CPU, autocast
    off: under ``--precision bf16`` the plain ops run, so that autocast applies to them)."""
    return (x.device.type == "cpu" and x.dtype == torch.float32 and layer.weight.dtype == torch.float32
            and not torch.is_autocast_enabled("cpu")
            and torch.backends.mkldnn.is_available() and torch.backends.mkldnn.enabled
            and isinstance(layer, nn.Conv2d) and layer.padding_mode == "zeros" and not isinstance(layer.padding, str))


def _fused(x, add, weight, bias, geometry: tuple, relu: bool) -> torch.Tensor:
    """``[ReLU](conv(x) + add)`` in one oneDNN call (``add`` may be None)."""
    if add is None:
        return torch.ops.mkldnn._convolution_pointwise(x, weight, bias, *geometry, "relu" if relu else "none", [], "")
    return torch.ops.mkldnn._convolution_pointwise.binary(x, add, weight, bias, *geometry, "add", 1.0, "relu" if relu else None, [], "")


class _ConvAddReLU(torch.autograd.Function):
    r"""The fused call with its gradient: :math:`g' = g \odot [y > 0]` (ReLU), then the
    convolution's gradients from :math:`g'` and :math:`\partial/\partial\,\mathrm{add} = g'`."""

    @staticmethod
    def forward(ctx, x, add, weight, bias, geometry, relu):
        out = _fused(x, add, weight, bias, geometry, relu)
        ctx.save_for_backward(x, weight, out if relu else None)
        ctx.geometry, ctx.relu, ctx.bias_size = geometry, relu, None if bias is None else [bias.shape[0]]
        return out

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad):
        x, weight, out = ctx.saved_tensors
        if ctx.relu:
            grad = torch.ops.aten.threshold_backward(grad, out, 0)
        grad = grad.contiguous(memory_format=torch.channels_last) if x.is_contiguous(memory_format=torch.channels_last) else grad.contiguous()
        padding, stride, dilation, groups = ctx.geometry
        need = ctx.needs_input_grad
        gx, gw, gb = torch.ops.aten.convolution_backward(grad, x, weight, ctx.bias_size, stride, padding, dilation, False, [0, 0], groups,
                                                         [need[0], need[2], need[3] and ctx.bias_size is not None])
        return gx, grad if need[1] else None, gw, gb, None, None


def conv_add_relu(layer: nn.Conv2d, x: torch.Tensor, add: torch.Tensor | None = None, relu: bool = False) -> torch.Tensor:
    r"""``layer(x) + add``, then ReLU if ``relu``: one fused oneDNN call (binary add and ReLU
    post-ops) on float32 CPU tensors, with its own gradient (:class:`_ConvAddReLU`), the plain
    ops otherwise. ``x`` and ``add`` ``(N, C, H, W)``, best in channels-last memory."""
    if not _fusable(layer, x):
        out = layer(x)
        out = out if add is None else out + add
        return torch.relu(out) if relu else out
    if add is not None:
        add = add.contiguous(memory_format=torch.channels_last) if x.is_contiguous(memory_format=torch.channels_last) else add.contiguous()
    geometry = (list(layer.padding), list(layer.stride), list(layer.dilation), layer.groups)
    if torch.is_grad_enabled() and any(t is not None and t.requires_grad for t in (x, add, layer.weight, layer.bias)):
        return _ConvAddReLU.apply(x, add, layer.weight, layer.bias, geometry, relu)
    return _fused(x, add, layer.weight, layer.bias, geometry, relu)


def zero_init(layer: nn.Module) -> nn.Module:
    nn.init.zeros_(layer.weight)
    if getattr(layer, "bias", None) is not None:
        nn.init.zeros_(layer.bias)
    return layer


def initial_estimate(y: torch.Tensor, physics) -> torch.Tensor:
    """The networks' starting point: :math:`A^H y`, or the density-compensated adjoint
    :math:`A^H D y` for non-Cartesian operators (whose plain adjoint is not an image estimate)."""
    from dynmri.physics.nufft import NonCartesianMRI

    return physics.A_dagger_dcomp(y) if isinstance(physics, NonCartesianMRI) else physics.A_adjoint(y)


def unet_forward(net: nn.Module, x: torch.Tensor, pool, pad_mode: str = "constant") -> torch.Tensor:
    """The encoder-decoder pass shared by the U-Nets: pad ``x (B, C, H, W)`` to a multiple of
    ``2**net.pools``, run ``net.down`` (keeping skips, ``pool`` between levels), ``net.bottom``,
    then ``net.up_t``/``net.up`` with the skips and ``net.final``, and crop back to ``H x W``.
    ``pad_mode="reflect"`` falls back to zeros when the image is smaller than the padding."""
    H, W = x.shape[-2:]
    m = 2**net.pools
    ph, pw = (-H) % m, (-W) % m
    mode = "reflect" if pad_mode == "reflect" and min(H, W) > max(ph, pw) else "constant"
    out = nn.functional.pad(x, (0, pw, 0, ph), mode=mode)
    skips = []
    for blk in net.down:
        out = blk(out)
        skips.append(out)
        out = pool(out, 2)
    out = net.bottom(out)
    for up_t, up in zip(net.up_t, net.up, strict=True):
        out = up(torch.cat((up_t(out), skips.pop()), dim=1))
    return net.final(out)[..., :H, :W]
