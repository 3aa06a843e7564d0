"""Video transforms for equivariant imaging: deepinv's traps pinned, dynmri's fix checked."""

import pytest
import torch

from dynmri.learn.transforms import (
    compose,
    ddei_transform,
    random_choice,
    rotate,
    smooth_warp,
    time_shift,
)


def _video(seed=0):
    """Distinct frames; the imaginary channel offset by 1000 so that mixing is visible."""
    g = torch.Generator().manual_seed(seed)
    re = torch.rand(1, 1, 6, 16, 16, generator=g) + torch.arange(6).view(1, 1, 6, 1, 1) * 10
    return torch.cat((re, re + 1000), dim=1)


def test_deepinv_shift_first_raises_on_video_about_half_the_time():
    from deepinv.transform import Rotate, ShiftTime

    T = ShiftTime(rng=torch.Generator().manual_seed(0)) | Rotate(rng=torch.Generator().manual_seed(1))
    x = _video()
    failures = 0
    for _ in range(20):
        try:
            T(x)
        except Exception:  # deepinv raises inside Rotate on 5D input
            failures += 1
    assert 0 < failures < 20


def test_deepinv_shift_last_mixes_real_and_imaginary_frames():
    from deepinv.transform import Rotate, ShiftTime

    T = Rotate(rng=torch.Generator().manual_seed(1)) | ShiftTime(padding="wrap", rng=torch.Generator().manual_seed(0))
    x = _video()
    mixed = False
    for _ in range(20):
        y = T(x)
        if T.recent_choice == 0:  # the time shift was drawn (Either picks t1 when choice is 1)
            re, im = y[:, 0], y[:, 1]
            mixed |= bool((re >= 999).any() or (im < 999).any())
    assert mixed


def test_time_shift_moves_whole_complex_frames():
    x = _video()
    T = random_choice(time_shift(seed=3), seed=0)
    for _ in range(5):
        y = T(x)
        for t in range(6):
            # each output frame is one input frame, real and imaginary together
            src = [s for s in range(6) if torch.equal(y[0, 0, t], x[0, 0, s])]
            assert len(src) == 1 and torch.equal(y[0, 1, t], x[0, 1, src[0]])


@pytest.mark.parametrize("make", [lambda: smooth_warp(seed=1), lambda: rotate(seed=2)])
def test_spatial_transforms_warp_every_frame_and_channel_alike(make):
    img = torch.rand(1, 1, 1, 16, 16, generator=torch.Generator().manual_seed(4))
    x = torch.cat((img, 2 * img), dim=1).expand(1, 2, 5, 16, 16).contiguous()
    y = random_choice(make(), seed=0)(x)
    assert not torch.allclose(y, x)
    assert torch.allclose(y[:, :, 1:], y[:, :, :1].expand_as(y[:, :, 1:]), atol=1e-6)  # same warp per frame
    assert torch.allclose(y[:, 1], 2 * y[:, 0], atol=1e-5)  # same warp per channel


def test_ddei_group_draws_each_member_and_is_seeded():
    x = torch.randn(1, 2, 6, 32, 32)
    T = ddei_transform(seed=0)
    choices = []
    for _ in range(30):
        T(x)
        choices.append(T.recent_choice)
    assert set(choices) == {0, 1, 2}
    a, b = ddei_transform(seed=5), ddei_transform(seed=5)
    assert torch.equal(a(x), b(x))
    with pytest.raises(Exception, match="diffeo"):
        ddei_transform(diffeo="elastic")


def test_composed_ddei_group_applies_every_member_in_order():
    x = _video()
    parts = (time_shift(seed=3), rotate(seed=4, max_angle=90.0))
    T = compose(*parts)
    y = T(x)
    shift, rot = T.recent_params
    assert torch.allclose(y, parts[1].transform(parts[0].transform(x, **shift), **rot), atol=1e-5)
    assert torch.allclose(T.inverse(y), x, atol=1e-3)  # Fourier rotation and time shift invert exactly
    # a time shift composed with the identity still moves whole complex frames
    z = compose(time_shift(seed=3))(x)
    for t in range(6):
        src = [s for s in range(6) if torch.equal(z[0, 0, t], x[0, 0, s])]
        assert len(src) == 1 and torch.equal(z[0, 1, t], x[0, 1, src[0]])
    g = ddei_transform(seed=1, group="compose")
    assert g(torch.randn(1, 2, 6, 32, 32)).shape == (1, 2, 6, 32, 32) and len(g.recent_params) == 3
    with pytest.raises(Exception, match="group"):
        ddei_transform(group="product")


def test_smooth_warp_is_small_and_smooth():
    x = torch.linspace(0, 1, 32).view(1, 1, 1, 1, 32).expand(1, 2, 2, 32, 32).contiguous()
    y = random_choice(smooth_warp(strength=0.02, seed=0), seed=0)(x)
    assert (y - x).abs().max() < 0.1  # a ramp moves by about the displacement
    assert (y[..., 1:] - y[..., :-1]).min() > -1e-3  # still monotone: no folding


def _blob(n, y0, x0, s=3.0):
    yy, xx = torch.meshgrid(torch.arange(n, dtype=torch.float64), torch.arange(n, dtype=torch.float64), indexing="ij")
    return torch.exp(-((yy - y0) ** 2 + (xx - x0) ** 2) / (2 * s * s))


@pytest.mark.parametrize("theta", [30.0, -70.0, 100.0, 180.0, -135.0])
def test_fourier_rotation_matches_the_analytic_rotation_and_inverts_exactly(theta):
    import math

    n, c = 64, 31.5
    T = rotate(seed=0)
    img = _blob(n, c + 15, c + 4)[None, None]
    out = T.transform(img, theta=torch.tensor([theta], dtype=torch.float64))[0, 0]
    r = math.radians(-theta)
    ref = _blob(n, c + 15 * math.cos(r) - 4 * math.sin(r), c + 4 * math.cos(r) + 15 * math.sin(r))
    assert (out - ref).abs().max() < 1e-5  # band-limited blob: Fourier interpolation is exact
    x = torch.randn(2, 2, 3, 24, 24, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    p = {"theta": torch.tensor([theta], dtype=torch.float64)}
    y = T.transform(x, **p)
    assert torch.allclose(y.norm(), x.norm())  # orthogonal: nothing lost at the edges
    assert torch.allclose(T.inverse(y, **p), x, atol=1e-10)


def test_bilinear_rotation_blurs_and_fourier_does_not():
    x = torch.randn(1, 2, 2, 32, 32, generator=torch.Generator().manual_seed(2))
    for interp, ok in (("fourier", True), ("bilinear", False)):
        T = rotate(seed=3, interpolation=interp)
        p = T.get_params(x)
        assert torch.allclose(T.inverse(T.transform(x, **p), **p), x, atol=1e-4) is ok
    with pytest.raises(Exception, match="interpolation"):
        rotate(interpolation="nearest")
