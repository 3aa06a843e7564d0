r"""Dual real/imaginary U-Net with attention, fused over time by a light 3D ResNet.

Two 2D U-Nets, one for the real and one for the imaginary part, each taking the ``frames``
frames as channels; channel and spatial attention (CBAM-style) at each bottleneck; dropout
0.3 and LeakyReLU(0.1); then a 3D ResNet over ``(2, T, H, W)`` fuses time, and a 1x1x1
convolution (zero-initialised) gives the residual. The number of frames is fixed at
construction (frames are channels).

Examples
--------
>>> import torch
>>> from dynmri.models import get_model
>>> from dynmri.physics.cartesian import make_physics
>>> physics = make_physics(torch.ones(4, 32, 32))
>>> get_model("dual-unet-resnet3d", frames=4, chans=8)(torch.randn(1, 2, 4, 32, 32), physics).shape
torch.Size([1, 2, 4, 32, 32])
"""

from __future__ import annotations

import torch
from torch import nn

from dynmri.models.base import BACKBONES, MODELS
from dynmri.models.layers import initial_estimate, unet_forward, zero_init


class Attention(nn.Module):
    """Channel attention (squeeze-excite on avg and max) then spatial attention (7x7)."""

    def __init__(self, ch: int, reduction: int = 4):
        super().__init__()
        hid = max(ch // reduction, 1)
        self.mlp = nn.Sequential(nn.Conv2d(ch, hid, 1), nn.LeakyReLU(0.1), nn.Conv2d(hid, ch, 1))
        self.spatial = nn.Conv2d(2, 1, 7, padding=3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        c = torch.sigmoid(self.mlp(x.mean((2, 3), keepdim=True)) + self.mlp(x.amax((2, 3), keepdim=True)))
        x = x * c
        s = torch.sigmoid(self.spatial(torch.cat((x.mean(1, keepdim=True), x.amax(1, keepdim=True)), 1)))
        return x * s


def _block(cin, cout, drop):
    return nn.Sequential(nn.Conv2d(cin, cout, 3, padding=1), nn.LeakyReLU(0.1), nn.Dropout2d(drop),
                         nn.Conv2d(cout, cout, 3, padding=1), nn.LeakyReLU(0.1))


class AttentionUNet(nn.Module):
    def __init__(self, cin: int, chans: int, pools: int = 2, drop: float = 0.3):
        super().__init__()
        self.down = nn.ModuleList()
        ch, c = cin, chans
        for _ in range(pools):
            self.down.append(_block(ch, c, drop))
            ch, c = c, c * 2
        self.bottom = nn.Sequential(_block(ch, c, drop), Attention(c))
        self.up_t, self.up = nn.ModuleList(), nn.ModuleList()
        for _ in range(pools):
            self.up_t.append(nn.ConvTranspose2d(c, c // 2, 2, stride=2))
            self.up.append(_block(c, c // 2, drop))
            c //= 2
        self.final = nn.Conv2d(c, cin, 1)
        self.pools = pools

    def forward(self, x):
        return unet_forward(self, x, nn.functional.max_pool2d)


class ResBlock3d(nn.Module):
    def __init__(self, ch: int):
        super().__init__()
        self.body = nn.Sequential(nn.Conv3d(ch, ch, 3, padding=1), nn.LeakyReLU(0.1), nn.Conv3d(ch, ch, 3, padding=1))

    def forward(self, x):
        return nn.functional.leaky_relu(x + self.body(x), 0.1)


class DualUNetResNet3d(nn.Module):
    """Denoiser ``(B, 2, T, H, W) -> (B, 2, T, H, W)`` (residual)."""

    def __init__(self, frames: int = 12, chans: int = 16, pools: int = 2, drop: float = 0.3, res_ch: int = 8, res_blocks: int = 2):
        super().__init__()
        self.frames = frames
        self.real = AttentionUNet(frames, chans, pools, drop)
        self.imag = AttentionUNet(frames, chans, pools, drop)
        self.lift = nn.Conv3d(2, res_ch, 3, padding=1)
        self.res = nn.Sequential(*(ResBlock3d(res_ch) for _ in range(res_blocks)))
        self.head = zero_init(nn.Conv3d(res_ch, 2, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[2] != self.frames:
            raise ValueError(f"dual-unet-resnet3d was built for {self.frames} frames, got {x.shape[2]}")
        z = torch.stack((self.real(x[:, 0]), self.imag(x[:, 1])), dim=1)  # frames as channels
        return x + self.head(self.res(nn.functional.leaky_relu(self.lift(z), 0.1)))


BACKBONES.register("dual-unet-resnet3d", DualUNetResNet3d)


class _DualModel(nn.Module):
    def __init__(self, **cfg):
        super().__init__()
        self.net = DualUNetResNet3d(**cfg)

    def forward(self, y, physics):
        return self.net(initial_estimate(y, physics))


@MODELS.register("dual-unet-resnet3d")
def dual_unet_resnet3d(frames: int = 12, chans: int = 16, pools: int = 2, drop: float = 0.3, res_ch: int = 8, res_blocks: int = 2):
    return _DualModel(frames=frames, chans=chans, pools=pools, drop=drop, res_ch=res_ch, res_blocks=res_blocks)
