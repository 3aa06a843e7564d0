r"""fastMRI-style 2D U-Net applied frame by frame, and unrolled cascades of any backbone.

``unet``: :math:`x = x_0 + U(x_0)` with :math:`x_0 = A^H y`, the U-Net applied to every frame
with real and imaginary parts as its two channels (conv 3x3, instance norm, LeakyReLU(0.2),
dropout; transposed-conv upsampling; skip connections; a zero-initialised 1x1 output).

``cascade``: ``n`` iterations of (backbone residual, data consistency) with any backbone.

Examples
--------
>>> import torch
>>> from dynmri.models import get_model
>>> from dynmri.physics.cartesian import make_physics
>>> physics = make_physics(torch.ones(3, 32, 32))
>>> get_model("cascade", backbone="unet", n=2, chans=4, pools=2)(torch.randn(1, 2, 3, 32, 32), physics).shape
torch.Size([1, 2, 3, 32, 32])
"""

from __future__ import annotations

import torch
from torch import nn

from dynmri.errors import ParameterError
from dynmri.models.base import BACKBONES, MODELS
from dynmri.models.layers import (
    DataConsistency,
    batch_to_frames,
    frames_to_batch,
    initial_estimate,
    unet_forward,
    zero_init,
)


def _block(cin: int, cout: int, drop: float) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.InstanceNorm2d(cout), nn.LeakyReLU(0.2), nn.Dropout2d(drop),
        nn.Conv2d(cout, cout, 3, padding=1, bias=False), nn.InstanceNorm2d(cout), nn.LeakyReLU(0.2), nn.Dropout2d(drop),
    )


class UNet2d(nn.Module):
    """fastMRI's U-Net: ``pools`` down/up levels starting at ``chans`` channels."""

    def __init__(self, cin: int = 2, cout: int = 2, chans: int = 16, pools: int = 3, drop: float = 0.0):
        super().__init__()
        self.pools = pools
        self.down = nn.ModuleList([_block(cin, chans, drop)])
        ch = chans
        for _ in range(pools - 1):
            self.down.append(_block(ch, ch * 2, drop))
            ch *= 2
        self.bottom = _block(ch, ch * 2, drop)
        self.up_t, self.up = nn.ModuleList(), nn.ModuleList()
        for _ in range(pools):
            self.up_t.append(nn.Sequential(nn.ConvTranspose2d(ch * 2, ch, 2, stride=2, bias=False), nn.InstanceNorm2d(ch), nn.LeakyReLU(0.2)))
            self.up.append(_block(ch * 2, ch, drop))
            ch //= 2
        self.final = zero_init(nn.Conv2d(chans, cout, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return unet_forward(self, x, nn.functional.avg_pool2d, pad_mode="reflect")


class FrameUNet(nn.Module):
    """Denoiser ``(B, 2, T, H, W) -> (B, 2, T, H, W)``: residual U-Net on every frame."""

    def __init__(self, chans: int = 16, pools: int = 3, drop: float = 0.0):
        super().__init__()
        self.net = UNet2d(2, 2, chans, pools, drop)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + batch_to_frames(self.net(frames_to_batch(x)), x.shape[2])


class Unrolled(nn.Module):
    """``model(y, physics)``: from :math:`A^H y`, each denoiser then (optionally) data consistency."""

    def __init__(self, denoisers: list[nn.Module], dc: bool = True):
        super().__init__()
        self.denoisers = nn.ModuleList(denoisers)
        self.dc = nn.ModuleList(DataConsistency() for _ in denoisers) if dc else None

    def forward(self, y: torch.Tensor, physics) -> torch.Tensor:
        x = initial_estimate(y, physics)
        for i, f in enumerate(self.denoisers):
            x = f(x)
            if self.dc is not None:
                x = self.dc[i](x, y, physics)
        return x


BACKBONES.register("unet", FrameUNet)


@MODELS.register("unet")
def unet(chans: int = 16, pools: int = 3, drop: float = 0.0) -> Unrolled:
    return Unrolled([FrameUNet(chans, pools, drop)], dc=False)


@MODELS.register("cascade", kwargs_to=lambda options: BACKBONES.get(options.get("backbone", "unet")))
def cascade(backbone: str = "unet", n: int = 3, **backbone_cfg) -> Unrolled:
    """``n`` copies of the backbone registered as ``backbone`` (in :data:`BACKBONES`), each
    followed by data consistency; ``backbone_cfg`` are that backbone's options."""
    if n < 1:
        raise ParameterError(f"cascade needs n >= 1, got {n}")
    return Unrolled([BACKBONES.build(backbone, **backbone_cfg) for _ in range(n)], dc=True)
