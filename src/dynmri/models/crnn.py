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

import itertools

import torch
from torch import nn

from dynmri.models.base import MODELS
from dynmri.models.layers import (
    DataConsistency,
    conv_add_relu,
    frames_to_video,
    initial_estimate,
    video_to_frames,
    zero_init,
)


class BCRNNLayer(nn.Module):
    """Bidirectional convolutional RNN over time, with recurrence over iterations."""

    def __init__(self, cin: int, ch: int, k: int = 3):
        super().__init__()
        self.x2h = nn.Conv2d(cin, ch, k, padding=k // 2)
        self.h2h = nn.Conv2d(ch, ch, k, padding=k // 2)
        self.i2h = nn.Conv2d(ch, ch, k, padding=k // 2)

    def forward(self, x: list[torch.Tensor], h_iter: list[torch.Tensor] | None, B: int) -> list[torch.Tensor]:
        r"""Chunks of frames ``x[c] (k B, cin, H, W)`` and ``h_iter[c] (k B, ch, H, W)``
        (time-major, see :class:`CRNN`) -> the same chunks of the sum of the forward and
        backward passes :math:`h_t = \mathrm{ReLU}(W_x x_t + W_i h^{(i-1)}_t + W_h h_{t\mp1})`,
        :math:`h_{-1} = 0`. The first step of each pass skips the convolution of the zero state
        (it is the bias, exactly)."""
        inp = [conv_add_relu(self.x2h, xc) for xc in x]
        if h_iter is not None:
            inp = [conv_add_relu(self.i2h, hc, add=ic) for hc, ic in zip(h_iter, inp, strict=True)]
        steps = [s for c in inp for s in c.split(B)]
        T = len(steps)
        fwd, bwd = self._recur(steps, range(T)), self._recur(steps, range(T - 1, -1, -1))
        out = [f + b for f, b in zip(fwd, reversed(bwd), strict=True)]
        starts = itertools.accumulate((c.shape[0] // B for c in inp), initial=0)
        return [out[a] if b == a + 1 else torch.cat(out[a:b]) for a, b in itertools.pairwise(starts)]

    def _recur(self, steps: list[torch.Tensor], order: range) -> list[torch.Tensor]:
        r"""One pass in ``order``: :math:`h_t = \mathrm{ReLU}(s_t + W_h h_{prev})`, the first step
        the bias alone (the zero state is not convolved); the states in the order visited."""
        h = [torch.relu(steps[order[0]] + self.h2h.bias.view(1, -1, 1, 1))]
        for t in order[1:]:
            h.append(conv_add_relu(self.h2h, h[-1], add=steps[t], relu=True))
        return h


class CRNNiLayer(nn.Module):
    """Convolution over the previous layer plus recurrence over iterations."""

    def __init__(self, ch: int, k: int = 3):
        super().__init__()
        self.x2h = nn.Conv2d(ch, ch, k, padding=k // 2)
        self.i2h = nn.Conv2d(ch, ch, k, padding=k // 2)

    def forward(self, x: torch.Tensor, h_iter: torch.Tensor | None) -> torch.Tensor:
        """Frames ``(N, ch, H, W)`` -> ``ReLU(W_x x + W_i h_iter)`` ``(N, ch, H, W)``."""
        if h_iter is None:
            return conv_add_relu(self.x2h, x, relu=True)
        return conv_add_relu(self.i2h, h_iter, add=conv_add_relu(self.x2h, x), relu=True)


class CRNN(nn.Module):
    """Unrolled CRNN with ``cascades`` iterations of (BCRNN, CRNN-i x (layers - 2), conv, DC).

    The features live as frames ``(T B, ch, H, W)`` in channels-last memory, time-major
    (:func:`~dynmri.models.layers.video_to_frames`), cut into chunks of consecutive frames
    (:attr:`chunk_images`); each convolution with its sum and ReLU is one oneDNN call, with
    its own gradient (:func:`~dynmri.models.layers.conv_add_relu`). The results and gradients
    equal those of the plain NCHW formulation to float rounding (``tests/test_fast_paths.py``)."""

    def __init__(self, channels: int = 32, cascades: int = 4, layers: int = 5, kernel: int = 3, dc_init: float = 0.98):
        super().__init__()
        if layers < 3 or cascades < 1 or channels < 1:
            raise ValueError("CRNN needs layers >= 3, cascades >= 1, channels >= 1")
        self.cascades = cascades
        self.bcrnn = BCRNNLayer(2, channels, kernel)
        self.crnni = nn.ModuleList(CRNNiLayer(channels, kernel) for _ in range(layers - 2))
        self.out = zero_init(nn.Conv2d(channels, 2, kernel, padding=kernel // 2))
        self.dc = nn.ModuleList(DataConsistency(dc_init) for _ in range(cascades))
        self.to(memory_format=torch.channels_last)  # the convolutions' weights, as their inputs
        self.chunk_images = 12
        """Frame images per chunk (``B`` times the frames of a chunk) in the layers that act
        frame by frame: fewer, larger calls, while a chunk's features stay in cache (12 MB at 16
        channels, 128 x 128)."""

    def forward(self, y: torch.Tensor, physics) -> torch.Tensor:
        return self.refine(initial_estimate(y, physics), y, physics)

    def refine(self, x: torch.Tensor, y: torch.Tensor, physics) -> torch.Tensor:
        """The cascades from the estimate ``x (B, 2, T, H, W)`` (``forward`` starts them from
        :math:`A^H y`; :class:`~dynmri.models.hybrid.LPSCRNN` from LPS-Net's output)."""
        B, T = x.shape[0], x.shape[2]
        per_chunk = B * max(1, self.chunk_images // B)
        hidden = [None] * (1 + len(self.crnni))  # per layer: its chunks of frames of the last cascade
        for i in range(self.cascades):
            xs = video_to_frames(x).split(per_chunk)
            hidden[0] = self.bcrnn(xs, hidden[0], B)
            hidden[1:], outs = self._chunk_layers(xs, hidden)
            x = self.dc[i](frames_to_video(torch.cat(outs), T), y, physics)
        return x

    def _chunk_layers(self, xs: list, hidden: list) -> tuple[list, list]:
        """The CRNN-i layers and the output convolution, chunk by chunk (the features of a
        chunk stay in cache through the layers); returns the new hidden states and ``x + W_o h``."""
        new, outs = [[] for _ in self.crnni], []
        for c, h in enumerate(hidden[0]):
            for j, layer in enumerate(self.crnni):
                h = layer(h, None if hidden[j + 1] is None else hidden[j + 1][c])
                new[j].append(h)
            outs.append(conv_add_relu(self.out, h, add=xs[c]))
        return new, outs


@MODELS.register("crnn")
def crnn(channels: int = 32, cascades: int = 4, layers: int = 5, kernel: int = 3, dc_init: float = 0.98) -> CRNN:
    return CRNN(channels=channels, cascades=cascades, layers=layers, kernel=kernel, dc_init=dc_init)
