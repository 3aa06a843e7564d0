import numpy as np
import pytest

from dynmri.data.phantom import cardiac_phantom, phantom_videos
from dynmri.data.simulate import (
    add_noise,
    add_smooth_phase,
    birdcage_maps,
    simulate_acquisition,
    smooth_phase,
)
from dynmri.errors import ParameterError
from dynmri.sampling.masks import make_mask


def test_phantom_is_aperiodic_and_moves():
    ph = cardiac_phantom(100, (64, 64), seed=0)
    assert ph.video.shape == (100, 64, 64) and ph.video.dtype == np.complex64
    rr = ph.rr_intervals
    assert len(rr) >= 5
    assert np.ptp(rr) > 0.05  # beat lengths differ by > 50 ms
    assert ph.contraction.max() > 0.8 and ph.contraction.min() == 0
    # the video changes over time (cardiac and respiratory motion)
    diff = np.abs(np.abs(ph.video[1:]) - np.abs(ph.video[:-1])).mean(axis=(1, 2))
    assert (diff > 0).all()
    # respiration makes consecutive beats' end-diastolic frames differ
    assert np.ptp(ph.respiration) > 0.02


def test_phantom_ectopic_beat():
    ph = cardiac_phantom(80, (32, 32), ectopic=True, seed=2)
    mean_rr = 60 / 70
    short = np.flatnonzero(ph.rr_intervals < 0.6 * mean_rr)
    assert len(short) == 1
    assert ph.rr_intervals[short[0] + 1] > 1.4 * mean_rr  # compensatory pause


def test_phantom_seeded():
    a = cardiac_phantom(8, (32, 32), seed=4).video
    assert np.array_equal(a, cardiac_phantom(8, (32, 32), seed=4).video)
    assert not np.array_equal(a, cardiac_phantom(8, (32, 32), seed=5).video)
    assert phantom_videos(3, 4, (16, 16)).shape == (3, 4, 16, 16)
    with pytest.raises(ParameterError):
        cardiac_phantom(0, (32, 32))


def test_smooth_phase_and_to_complex():
    phi = smooth_phase((32, 32), np.random.default_rng(0), max_phase=1.0)
    assert np.abs(phi).max() == pytest.approx(1.0)
    assert np.abs(np.diff(phi, axis=0)).max() < 0.2  # smooth
    mag = np.random.default_rng(1).uniform(0, 4, (2, 3, 16, 16))
    z = add_smooth_phase(mag, seed=0)
    np.testing.assert_allclose(np.abs(z), mag / mag.reshape(2, -1).max(1)[:, None, None, None], rtol=1e-5)
    assert np.abs(np.angle(z)).max() > 0.1


def test_birdcage_maps_normalised():
    maps = birdcage_maps(8, (32, 32))
    assert maps.shape == (8, 32, 32)
    np.testing.assert_allclose((np.abs(maps) ** 2).sum(0), 1, rtol=1e-5)
    assert not np.allclose(np.abs(maps[0]), np.abs(maps[4]))


def test_noise_snr():
    rng = np.random.default_rng(0)
    k = (rng.standard_normal((4, 64, 64)) + 1j * rng.standard_normal((4, 64, 64))).astype(np.complex64)
    mask = np.zeros((4, 64, 64), np.uint8)
    mask[..., ::2] = 1
    k = k * mask
    noisy = add_noise(k, mask, 20.0, np.random.default_rng(1))
    noise = noisy - k
    assert np.all(noise[mask == 0] == 0)
    snr = 10 * np.log10(np.mean(np.abs(k[mask == 1]) ** 2) / np.mean(np.abs(noise[mask == 1]) ** 2))
    assert snr == pytest.approx(20.0, abs=0.3)


def test_multicoil_simulation_with_noise():
    images = phantom_videos(1, 4, (32, 32))
    masks = make_mask("gaussian", (4, 32, 32), 4, seed=0).numpy().astype(np.uint8)
    maps = birdcage_maps(4, (32, 32))[None]
    acq = simulate_acquisition(images, masks, coil_maps=maps, snr_db=30, seed=0)
    assert acq.kspace.shape == (1, 4, 4, 32, 32)
    acq.validate()
    assert np.all(acq.kspace[:, :, masks[0] == 0] == 0)
