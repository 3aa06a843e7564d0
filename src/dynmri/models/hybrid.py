r"""LPS-Net followed by CRNN cascades: the classical prior first, an expressive network after it.

:class:`LPSCRNN` runs :class:`~dynmri.models.lpsnet.LPSNet` (low rank + sparse unrolled, learned
per-iteration thresholds and steps) and refines its estimate with the cascades of a
:class:`~dynmri.models.crnn.CRNN` (bidirectional convolutional recurrence over time, data
consistency after each cascade),

.. math:: x = \mathrm{CRNN}_{\theta}\big(\mathrm{LPSNet}_{\lambda}(y, A), y, A\big).

The CRNN's output layer starts at zero, so before training the hybrid is LPS-Net followed by
data consistency. ``lps_weights`` (a shipped name, a run folder or a ``.pt`` file of an ``lps-net``)
starts the LPS stage from trained weights; ``freeze_lps`` then keeps it fixed and runs it without
autograd (a pre-processor: training updates and differentiates the cascades only, at the cost of
an LPS-Net forward pass, not its backward). A trained hybrid's weights hold its LPS stage too, but
building it reads ``lps_weights`` again, so that name must still resolve (a shipped name always
does). LPS-Net alone has 72 parameters (24 iterations): it cannot learn what its prior does not
hold, for better (no hallucination) and worse (no learned motion model); the
cascades add that capacity (docs/realtime.md measures what it does with gated targets).

Shapes: ``y`` ``(B, 2, T, H, W)`` or ``(B, 2, N, T, H, W)``; ``x`` ``(B, 2, T, H, W)``.

Examples
--------
>>> import torch
>>> from dynmri.models import get_model
>>> from dynmri.physics.cartesian import make_physics
>>> from dynmri.sampling.masks import make_mask
>>> physics = make_physics(make_mask("gaussian", (4, 16, 16), 4, seed=0))
>>> net = get_model("lps-crnn", iterations=3, channels=4, cascades=1)
>>> net(physics.A(torch.randn(1, 2, 4, 16, 16)), physics).shape
torch.Size([1, 2, 4, 16, 16])
"""

from __future__ import annotations

import torch
from torch import nn

from dynmri.models.base import MODELS
from dynmri.models.crnn import CRNN
from dynmri.models.lpsnet import LPSNet


class LPSCRNN(nn.Module):
    """LPS-Net, then CRNN cascades from its estimate (see the module doc)."""

    def __init__(self, iterations: int = 24, lam_l: float = 3e-3, lam_s: float = 1e-3, channels: int = 16, cascades: int = 2,
                 layers: int = 5, lps_weights: str | None = None, freeze_lps: bool = False):
        super().__init__()
        self.lps = LPSNet(iterations, lam_l, lam_s) if lps_weights is None else _trained_lps(lps_weights, iterations)
        self.crnn = CRNN(channels=channels, cascades=cascades, layers=layers)
        self.freeze_lps = freeze_lps
        self.lps.requires_grad_(not freeze_lps)

    def forward(self, y, physics):
        with torch.set_grad_enabled(torch.is_grad_enabled() and not self.freeze_lps):
            x = self.lps(y, physics)
        return self.crnn.refine(x, y, physics)


def _trained_lps(spec: str, iterations: int) -> LPSNet:
    """The trained ``lps-net`` of ``spec`` (shipped name, run folder or file), checked to unroll
    ``iterations`` iterations."""
    from dynmri.errors import ParameterError
    from dynmri.models.weights import load_trained, resolve_weights

    net, _ = load_trained(resolve_weights(spec))
    if not isinstance(net, LPSNet):
        raise ParameterError(f"lps_weights {spec!r} holds a {type(net).__name__}, not an lps-net")
    if net.iterations != iterations:
        raise ParameterError(f"lps_weights {spec!r} unrolls {net.iterations} iterations; set iterations: {net.iterations}")
    return net.train()


@MODELS.register("lps-crnn")
def lps_crnn(iterations: int = 24, lam_l: float = 3e-3, lam_s: float = 1e-3, channels: int = 16, cascades: int = 2,
             layers: int = 5, lps_weights: str | None = None, freeze_lps: bool = False) -> LPSCRNN:
    """LPS-Net of ``iterations`` (from ``lps_weights`` when given; fixed with ``freeze_lps``) then
    ``cascades`` CRNN cascades of ``channels`` (:class:`LPSCRNN`)."""
    return LPSCRNN(iterations, lam_l, lam_s, channels, cascades, layers, lps_weights, freeze_lps)
