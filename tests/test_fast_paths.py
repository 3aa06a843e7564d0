"""The fast paths of issue 14 give the results of the code they replaced (kept here as references):
the CRNN in channels-last frames with fused convolutions, and sliding windows run in batches."""

import pytest
import torch

from dynmri.data.simulate import birdcage_maps
from dynmri.models import get_model
from dynmri.models.layers import batch_to_frames, frames_to_batch, initial_estimate
from dynmri.physics.cartesian import make_physics
from dynmri.recon.network import sliding_window, sliding_windows, stack_physics
from dynmri.sampling.masks import make_mask

H = W = 16


def _reference_bcrnn(layer, x, h_iter):
    B, _, T = x.shape[:3]
    inp = batch_to_frames(layer.x2h(frames_to_batch(x)), T)
    if h_iter is not None:
        inp = inp + batch_to_frames(layer.i2h(frames_to_batch(h_iter)), T)
    out = torch.zeros(B, layer.h2h.out_channels, T, H, W, dtype=x.dtype)
    for order in (range(T), reversed(range(T))):
        h, hs = torch.zeros(B, layer.h2h.out_channels, H, W, dtype=x.dtype), [None] * T
        for t in order:
            h = torch.relu(inp[:, :, t] + layer.h2h(h))
            hs[t] = h
        out = out + torch.stack(hs, dim=2)
    return out


def reference_crnn(net, y, physics):
    """The CRNN as written before (NCHW videos, one convolution per op, zero state convolved)."""
    x = initial_estimate(y, physics)
    T = x.shape[2]
    hidden = [None] * (1 + len(net.crnni))
    for i in range(net.cascades):
        h = hidden[0] = _reference_bcrnn(net.bcrnn, x, hidden[0])
        for j, layer in enumerate(net.crnni, start=1):
            out = layer.x2h(frames_to_batch(h))
            if hidden[j] is not None:
                out = out + layer.i2h(frames_to_batch(hidden[j]))
            h = hidden[j] = batch_to_frames(torch.relu(out), T)
        x = net.dc[i](x + batch_to_frames(net.out(frames_to_batch(h)), T), y, physics)
    return x


def reference_sliding_window(model, y, physics_for, frames, window, overlap, time_dim=-3):
    """The sliding window as written before: one window at a time."""
    if frames <= window:
        return model(y, physics_for(0, frames))
    stride = window - overlap
    starts = list(range(0, frames - window + 1, stride))
    if starts[-1] != frames - window:
        starts.append(frames - window)
    ramp = torch.minimum(torch.arange(1, window + 1), torch.arange(window, 0, -1)).double()
    out, weight = None, torch.zeros(frames, dtype=torch.float64)
    for t0 in starts:
        xw = model(y.narrow(time_dim, t0, window), physics_for(t0, t0 + window)).double()
        if out is None:
            out = torch.zeros(*xw.shape[:2], frames, *xw.shape[3:], dtype=torch.float64)
        out[:, :, t0 : t0 + window] += xw * ramp.view(1, 1, -1, 1, 1)
        weight[t0 : t0 + window] += ramp
    return (out / weight.view(1, 1, -1, 1, 1)).to(y.dtype)


def _trained_like_crnn(seed=0):
    """A small CRNN with random (not zero) output weights, as after training."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        net = get_model("crnn", channels=4, cascades=2)
        torch.nn.init.normal_(net.out.weight, std=0.1)
    return net


def _problem(T=5, B=2, multicoil=False, seed=0):
    mask = make_mask("gaussian", (T, H, W), 4, n=B, seed=seed)
    maps = torch.from_numpy(birdcage_maps(3, (H, W)))[None].expand(B, -1, -1, -1) if multicoil else None
    physics = make_physics(mask, maps)
    y = physics.A(torch.randn(B, 2, T, H, W, generator=torch.Generator().manual_seed(seed)))
    return y, physics, mask, maps


@pytest.mark.parametrize("chunk", [1, 4, 12])  # frames per chunk (B = 2): 1, 2 (2 + 2 + 1) and all 5
@pytest.mark.parametrize("grad", [False, True])
def test_crnn_equals_the_nchw_formulation(grad, chunk):
    net = _trained_like_crnn()
    net.chunk_images = chunk
    y, physics, *_ = _problem()
    with torch.set_grad_enabled(grad):
        out, ref = net(y, physics), reference_crnn(net, y, physics)
    assert torch.allclose(out, ref, atol=1e-5), (out - ref).abs().max()
    if grad:
        g_out = torch.autograd.grad(out.square().sum(), list(net.parameters()))
        g_ref = torch.autograd.grad(ref.square().sum(), list(net.parameters()))
        for a, b in zip(g_out, g_ref, strict=True):
            assert torch.allclose(a, b, rtol=1e-4, atol=1e-6)


def test_crnn_in_float64_uses_the_plain_ops():
    net = _trained_like_crnn().double()
    y, physics, *_ = _problem()
    with torch.no_grad():
        assert torch.allclose(net(y.double(), physics), reference_crnn(net, y.double(), physics), atol=1e-12)


@pytest.mark.parametrize("multicoil", [False, True])
@pytest.mark.parametrize(("frames", "window", "overlap"), [(11, 4, 2), (9, 4, 0), (6, 4, 3), (3, 4, 2)])
def test_batched_sliding_windows_equal_one_window_at_a_time(frames, window, overlap, multicoil):
    net = _trained_like_crnn()
    y, _, mask, maps = _problem(T=frames, B=1, multicoil=multicoil)

    def physics_for(t0, t1):
        return make_physics(mask[:, t0:t1], maps)

    with torch.no_grad():
        ref = reference_sliding_window(net, y, physics_for, frames, window, overlap)
        for max_batch in (1, 2, 6):
            out = sliding_window(net, y, physics_for, frames, window, overlap, max_batch=max_batch)
            assert out.shape == ref.shape and torch.allclose(out, ref, atol=1e-5), (max_batch, (out - ref).abs().max())


def test_sliding_windows_over_slices_equal_each_slice_alone():
    net = _trained_like_crnn()
    slices = [_problem(T=9, B=1, seed=s) for s in range(3)]
    videos = [(y, lambda t0, t1, m=mask: make_physics(m[:, t0:t1])) for y, _, mask, _ in slices]
    with torch.no_grad():
        outs = sliding_windows(net, videos, 9, 4, 2, max_batch=4)
        for (y, physics_for), out in zip(videos, outs, strict=True):
            assert torch.allclose(out, reference_sliding_window(net, y, physics_for, 9, 4, 2), atol=1e-5)


def test_only_cartesian_operators_of_one_kind_stack():
    _, p1, mask, maps = _problem(B=1, multicoil=True)
    single = make_physics(mask)
    assert stack_physics([p1, p1]).coil_maps.shape[0] == 2
    assert stack_physics([single, single]).mask.shape[0] == 2
    assert stack_physics([single, p1]) is None


SMALL = {"unet": {"chans": 4, "pools": 2}, "cascade": {"backbone": "unet", "n": 2, "chans": 4, "pools": 2},
         "dual-unet-resnet3d": {"frames": 4, "chans": 4, "res_ch": 2, "res_blocks": 1},
         "lps-net": {"iterations": 2, "correction": True, "channels": 4}, "lps-crnn": {"iterations": 2, "channels": 4, "cascades": 1}}


@pytest.mark.parametrize("name", sorted(SMALL))
def test_every_network_treats_the_windows_of_a_batch_independently(name):
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        net = get_model(name, **SMALL[name]).eval()
    y, _, mask, _ = _problem(T=7, B=1)

    def physics_for(t0, t1):
        return make_physics(mask[:, t0:t1])

    with torch.no_grad():
        ref = reference_sliding_window(net, y, physics_for, 7, 4, 2)
        assert torch.allclose(sliding_window(net, y, physics_for, 7, 4, 2), ref, atol=1e-5)


class _Reference(torch.nn.Module):
    def __init__(self, net):
        super().__init__()
        self.net = net

    def forward(self, y, physics):
        return reference_crnn(self.net, y, physics)


@pytest.mark.parametrize("loss_name", ["ddei", "supervised-l2"])
def test_training_loss_and_gradients_are_unchanged(loss_name):
    from dynmri.learn.losses import get_loss

    net = _trained_like_crnn()
    y, physics, *_ = _problem()
    x = physics.A_adjoint(y)
    values, grads = [], []
    for model in (net, _Reference(net)):
        loss = get_loss(loss_name, seed=0)
        value = loss(model(y, physics), x, y, physics, model)
        values.append(value.item())
        grads.append(torch.autograd.grad(value, list(net.parameters())))
    assert values[0] == pytest.approx(values[1], rel=1e-5)
    for a, b in zip(*grads, strict=True):
        assert torch.allclose(a, b, rtol=1e-4, atol=1e-7)
