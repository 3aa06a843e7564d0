r"""CRNN: convolutional recurrent network unrolled with data consistency (Qin et al. 2018).

Each of ``cascades`` iterations refines :math:`x` with a residual network whose first layer
is a *bidirectional* convolutional RNN over time (BCRNN) and whose next layers are
convolutional RNNs over the iterations (CRNN-i), then applies data consistency:

.. math::

    h_t = \mathrm{ReLU}(W_x * x_t + W_h * h_{t\mp1} + W_i * h^{(i-1)}_t), \quad
    x^{(i)} = \mathrm{DC}\big(x^{(i-1)} + W_o * h^{(i)}\big).

Input and output videos ``(B, 2, T, H, W)``; k-space of any dynamic physics.

Examples
--------
>>> import torch
>>> from dynmri.models import get_model, count_parameters
>>> from dynmri.physics.cartesian import make_physics
>>> mask = torch.ones(4, 16, 16); mask[:, :, 1::2] = 0
>>> physics = make_physics(mask)
>>> y = physics.A(torch.randn(1, 2, 4, 16, 16))
>>> net = get_model("crnn", channels=8, cascades=2)
>>> torch.allclose(net(y, physics), physics.A_adjoint(y), atol=1e-6)  # starts as zero-filled
True
"""

from __future__ import annotations

import torch
from torch import nn

from dynmri.models.base import MODELS
from dynmri.models.layers import (
    DataConsistency,
    batch_to_frames,
    frames_to_batch,
    initial_estimate,
    zero_init,
)


class BCRNNLayer(nn.Module):
    """Bidirectional convolutional RNN over time, with recurrence over iterations."""

    def __init__(self, cin: int, ch: int, k: int = 3):
        super().__init__()
        self.ch = ch
        self.x2h = nn.Conv2d(cin, ch, k, padding=k // 2)
        self.h2h = nn.Conv2d(ch, ch, k, padding=k // 2)
        self.i2h = nn.Conv2d(ch, ch, k, padding=k // 2)
        self.act = nn.ReLU()

    def forward(self, x: torch.Tensor, h_iter: torch.Tensor | None) -> torch.Tensor:
        B, _, T, H, W = x.shape
        inp = batch_to_frames(self.x2h(frames_to_batch(x)), T)  # (B, ch, T, H, W)
        if h_iter is not None:
            inp = inp + batch_to_frames(self.i2h(frames_to_batch(h_iter)), T)
        out = torch.zeros(B, self.ch, T, H, W, dtype=x.dtype, device=x.device)
        for order in (range(T), reversed(range(T))):
            h = torch.zeros(B, self.ch, H, W, dtype=x.dtype, device=x.device)
            hs = [None] * T
            for t in order:
                h = self.act(inp[:, :, t] + self.h2h(h))
                hs[t] = h
            out = out + torch.stack(hs, dim=2)
        return out


class CRNNiLayer(nn.Module):
    """Convolution over the previous layer plus recurrence over iterations."""

    def __init__(self, ch: int, k: int = 3):
        super().__init__()
        self.x2h = nn.Conv2d(ch, ch, k, padding=k // 2)
        self.i2h = nn.Conv2d(ch, ch, k, padding=k // 2)
        self.act = nn.ReLU()

    def forward(self, x: torch.Tensor, h_iter: torch.Tensor | None) -> torch.Tensor:
        T = x.shape[2]
        out = self.x2h(frames_to_batch(x))
        if h_iter is not None:
            out = out + self.i2h(frames_to_batch(h_iter))
        return batch_to_frames(self.act(out), T)


class CRNN(nn.Module):
    """Unrolled CRNN with ``cascades`` iterations of (BCRNN, CRNN-i x (layers - 2), conv, DC)."""

    def __init__(self, channels: int = 32, cascades: int = 4, layers: int = 5, kernel: int = 3, dc_init: float = 0.98):
        super().__init__()
        if layers < 3 or cascades < 1 or channels < 1:
            raise ValueError("CRNN needs layers >= 3, cascades >= 1, channels >= 1")
        self.cascades = cascades
        self.bcrnn = BCRNNLayer(2, channels, kernel)
        self.crnni = nn.ModuleList(CRNNiLayer(channels, kernel) for _ in range(layers - 2))
        self.out = zero_init(nn.Conv2d(channels, 2, kernel, padding=kernel // 2))
        self.dc = nn.ModuleList(DataConsistency(dc_init) for _ in range(cascades))

    def forward(self, y: torch.Tensor, physics) -> torch.Tensor:
        x = initial_estimate(y, physics)
        T = x.shape[2]
        hidden = [None] * (1 + len(self.crnni))
        for i in range(self.cascades):
            h = self.bcrnn(x, hidden[0])
            hidden[0] = h
            for j, layer in enumerate(self.crnni, start=1):
                h = layer(h, hidden[j])
                hidden[j] = h
            x = x + batch_to_frames(self.out(frames_to_batch(h)), T)
            x = self.dc[i](x, y, physics)
        return x


@MODELS.register("crnn")
def crnn(channels: int = 32, cascades: int = 4, layers: int = 5, kernel: int = 3, dc_init: float = 0.98) -> CRNN:
    return CRNN(channels=channels, cascades=cascades, layers=layers, kernel=kernel, dc_init=dc_init)
