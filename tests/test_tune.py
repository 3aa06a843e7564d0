"""Ground-truth-free tuning of the compressed-sensing weights and stopping iteration
(dynmri.recon.tune): the hold-out split, the choice, its agreement with the ground-truth-best
choice on a phantom, the discrepancy criterion, and the errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from dynmri.config import CSConfig
from dynmri.errors import ParameterError
from dynmri.eval.metrics import psnr_scorer
from dynmri.recon import tune


@pytest.fixture(scope="module")
def phantom_acq():
    """One single-coil phantom slice, 8 frames, 32x32, 4x Gaussian (5 calibration lines)."""
    from dynmri.data.phantom import phantom_videos
    from dynmri.data.simulate import simulate_acquisition
    from dynmri.sampling.masks import make_mask

    images = phantom_videos(1, 8, (32, 32), seed=1)
    masks = make_mask("gaussian", (8, 32, 32), 4, n=1, seed=0).numpy().astype(np.uint8)
    return simulate_acquisition(images, masks, meta={"source": "test"})


def test_holdout_hides_only_sampled_whole_lines_and_is_seeded(small_acq):
    kept, hidden = tune.split_acquisition(small_acq, 0.3, seed=0)
    mask = small_acq.mask.astype(int)
    assert np.all(hidden.mask <= mask) and np.array_equal(kept.mask + hidden.mask, mask)  # a partition of the samples
    assert np.array_equal(hidden.mask, np.broadcast_to(hidden.mask[:, :, :1], mask.shape))  # whole lines
    calibration = mask.min(axis=1, keepdims=True)  # lines sampled in every frame
    assert not np.any(hidden.mask & calibration)  # never hidden: the unsampled lines all lie outside them
    assert 0 < hidden.mask.sum() < mask.sum()
    np.testing.assert_array_equal(kept.kspace + hidden.kspace, small_acq.kspace)
    assert np.all(hidden.kspace[hidden.mask == 0] == 0)
    again = tune.split_acquisition(small_acq, 0.3, seed=0)[1]
    other = tune.split_acquisition(small_acq, 0.3, seed=1)[1]
    assert np.array_equal(again.mask, hidden.mask) and not np.array_equal(other.mask, hidden.mask)


def test_holdout_lines_is_the_training_split():
    """learn.train's validation split is holdout_lines (same generator stream)."""
    from dynmri.data.datasets import DynamicWindowDataset
    from dynmri.data.phantom import phantom_videos
    from dynmri.learn.data import holdout_masks

    ds = DynamicWindowDataset(phantom_videos(2, 4, (16, 32)), window=4, acceleration=2)
    g = torch.Generator().manual_seed(5)
    want = [tune.holdout_lines(ds[i][2], 0.5, g) for i in range(len(ds))]
    got = holdout_masks(ds, 0.5, seed=5)
    assert all(torch.equal(a, b) for a, b in zip(got, want, strict=True))


def test_noncartesian_holdout_hides_whole_spokes():
    from dynmri.config import SimulateConfig
    from dynmri.data.acquire import simulate_from_config

    acq = simulate_from_config(SimulateConfig(accel=4, frames=3, size=32, trajectory="radial-golden"))
    kept, hidden = tune.split_acquisition(acq, 0.25, seed=0)
    T, shots, ns, _ = acq.trajectory.shape
    assert hidden.trajectory.shape[1] == round(0.25 * shots) and kept.trajectory.shape[1] + hidden.trajectory.shape[1] == shots
    for t in range(T):  # the spokes of both parts are those of the frame, with their samples
        both = np.concatenate([kept.trajectory[t], hidden.trajectory[t]])
        order = np.lexsort(both[:, 0].T)
        np.testing.assert_array_equal(both[order], acq.trajectory[t][np.lexsort(acq.trajectory[t][:, 0].T)])
    k = acq.kspace.reshape(1, T, shots, ns)
    assert hidden.kspace.shape == (1, T, hidden.trajectory.shape[1] * ns)
    first = hidden.trajectory[0, 0]
    spoke = int(np.flatnonzero((acq.trajectory[0] == first).all(axis=(1, 2)))[0])
    np.testing.assert_array_equal(hidden.kspace[0, 0, :ns], k[0, 0, spoke])


def test_auto_tune_returns_a_config_on_the_grid(small_acq):
    grid = {"lam_l": [1e-3, 1e-2], "lam_s": [1e-3]}
    res = tune.auto_tune(small_acq, "lps", grid=grid, iters=(3, 6), config=CSConfig(tol=0.0), slices=1)
    assert isinstance(res.config, CSConfig) and res.config.validate() is res.config
    assert res.config.lam_l in grid["lam_l"] and res.config.lam_s == 1e-3 and res.config.n_iter in (3, 6)
    assert res.weights == {"lam_l": res.config.lam_l, "lam_s": res.config.lam_s} and res.n_iter == res.config.n_iter
    assert len(res.table) == 4 and res.seconds > 0 and res.slices == [0]
    best = min(res.table, key=lambda r: r["value"])
    assert (best["lam_l"], best["n_iter"]) == (res.config.lam_l, res.config.n_iter)
    assert "**" in res.markdown()
    again = tune.auto_tune(small_acq, "lps", grid=grid, iters=(3, 6), config=CSConfig(tol=0.0), slices=1)
    assert again.table == res.table  # deterministic


def test_default_grid_is_log_spaced_around_the_config():
    cfg = CSConfig()
    settings = tune.grid_settings("condatvu-wavelet-ttv", cfg, None)
    assert len(settings) == 9
    assert sorted({s["lam_ttv"] for s in settings}) == pytest.approx([cfg.lam_ttv / 3, cfg.lam_ttv, cfg.lam_ttv * 3], rel=1e-2)
    assert [s["lam_tfft"] for s in tune.grid_settings("fista-wavelet-tfft", cfg, None)] == pytest.approx([1e-4, 3e-4, 9e-4], rel=1e-2)


def test_an_early_stop_scores_later_candidates_at_the_final_iterate(small_acq):
    seen = []

    def make(s):
        return lambda x: seen.append(x.clone()) or float(x.pow(2).sum())

    vals = tune.score_curve(small_acq, "fista-wavelet", CSConfig(tol=0.5), (1, 2, 50, 60), make, slices=[0])
    assert vals.shape == (1, 4) and vals[0, 2] == vals[0, 3] and np.all(np.isfinite(vals))


def test_holdout_choice_is_close_to_the_ground_truth_best(phantom_acq):
    """On a phantom, the hold-out choice's PSNR is within 0.5 dB of the best on the same grid."""
    iters = (5, 10, 20, 40)
    res = tune.auto_tune(phantom_acq, "condatvu-wavelet-ttv", iters=iters)
    psnr = {}
    for w in tune.grid_settings("condatvu-wavelet-ttv", CSConfig(), None):
        curve = tune.score_curve(phantom_acq, "condatvu-wavelet-ttv", CSConfig(**w), iters, psnr_scorer(phantom_acq.target))[0]
        psnr |= {(w["lam"], w["lam_ttv"], k): v for k, v in zip(iters, curve, strict=True)}
    chosen = psnr[(res.config.lam, res.config.lam_ttv, res.config.n_iter)]
    assert chosen >= max(psnr.values()) - 0.5, (res.weights, res.n_iter, chosen, max(psnr.values()))
    assert chosen >= np.median(list(psnr.values())) + 1.0  # better than a typical grid point


def _noisy(acq, sigma: float, seed: int = 0):
    """``acq`` with complex white noise of variance ``sigma**2`` on its sampled entries."""
    from dataclasses import replace

    rng = np.random.default_rng(seed)
    noise = (rng.standard_normal(acq.kspace.shape) + 1j * rng.standard_normal(acq.kspace.shape)) * sigma / np.sqrt(2)
    sampled = acq.mask[:, None] if acq.multicoil else acq.mask
    return replace(acq, kspace=(acq.kspace + noise * sampled).astype(np.complex64))


@pytest.fixture(scope="module")
def multicoil_acq(phantom_acq):
    """The phantom through 4 birdcage coils, with noise of sigma = 0.03 (SNR about 19 dB)."""
    from dynmri.data.simulate import birdcage_maps, simulate_acquisition

    maps = birdcage_maps(4, (32, 32))[None]
    return _noisy(simulate_acquisition(phantom_acq.target, phantom_acq.mask, coil_maps=maps), 0.03)


def test_noise_level_estimate_from_the_readout_ends(phantom_acq, multicoil_acq):
    sigma = 0.05
    assert tune.estimate_noise_sigma(_noisy(phantom_acq, sigma), 0) == pytest.approx(sigma, rel=0.1)
    assert tune.estimate_noise_sigma(multicoil_acq, 0) == pytest.approx(0.03, rel=0.1)
    assert tune.estimate_noise_sigma(phantom_acq, 0) < sigma / 5  # noise-free: the (small) signal level there


def test_discrepancy_with_known_noise_stops_where_the_residual_reaches_it(multicoil_acq):
    """With coil maps the zero-filled start does not fit the data: Morozov's stop applies."""
    iters, grid = (2, 5, 10, 20, 40, 80), {"lam_tfft": [1e-3, 3e-3, 1e-2, 3e-2]}
    res = tune.auto_tune(multicoil_acq, "fista-wavelet-tfft", criterion="discrepancy", grid=grid, iters=iters, sigma=0.03,
                         config=CSConfig(tol=0.0))
    r = {(row["lam_tfft"], row["n_iter"]): row["value"] for row in res.table}
    final = {lam: r[(lam, 80)] for lam in grid["lam_tfft"]}
    assert res.config.lam_tfft == min(final, key=lambda lam: abs(np.log(final[lam])))  # the fit nearest the noise
    curve = [r[(res.config.lam_tfft, k)] for k in iters]
    k = iters.index(res.n_iter)
    level = max(1.0, curve[-1])
    assert curve[0] > level and curve[k] <= level and all(v > level for v in curve[:k]) and k < len(iters) - 1
    assert res.sigma == [0.03] and not res.notes
    psnr = tune.score_curve(multicoil_acq, "fista-wavelet-tfft", res.config, iters, psnr_scorer(multicoil_acq.target))[0]
    assert psnr[k] >= psnr.max() - 0.5 and psnr[k] > psnr[0] + 5  # stopped near the best of its curve


def test_discrepancy_runs_to_the_end_when_the_start_fits_the_data(phantom_acq):
    noisy = _noisy(phantom_acq, 0.05)
    res = tune.auto_tune(noisy, "fista-wavelet", criterion="discrepancy", grid={"lam": [1e-3, 1e-2, 1e-1]}, iters=(10, 20),
                         config=CSConfig(tol=0.0))
    assert res.n_iter == 20 and "cannot time an early stop" in res.notes[0]
    final = {row["lam"]: row["value"] for row in res.table if row["n_iter"] == 20}
    assert final[1e-3] < 1 < final[1e-1] and res.config.lam == min(final, key=lambda lam: abs(np.log(final[lam])))
    assert res.sigma[0] == pytest.approx(0.05, rel=0.1)  # estimated


def test_discrepancy_undefined_without_noise(phantom_acq):
    with pytest.raises(ParameterError, match="noise-free"):
        tune.auto_tune(phantom_acq, "fista-wavelet", criterion="discrepancy", sigma=0.0, iters=(2,))
    res = tune.auto_tune(phantom_acq, "fista-wavelet", criterion="discrepancy", sigma=1e-9, iters=(2, 4),
                         grid={"lam": [1e-4, 1e-3]}, config=CSConfig(tol=0.0))
    assert any("every final residual is above" in n for n in res.notes)
    assert res.config.lam == 1e-4  # the smallest residual: the weakest weight


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"method": "no-such"}, "tunable methods: fista-wavelet"),
    ({"method": "ls"}, "has no regularisation weights.*tunable methods: .*lps"),
    ({"method": "zero-filled"}, "has no regularisation weights"),
    ({"grid": {}}, "valid weights: lam_l, lam_s"),
    ({"grid": {"lam_l": []}}, "non-empty"),
    ({"grid": {"lam": [1e-3]}}, "lps does not use lam; valid weights: lam_l, lam_s"),
    ({"grid": {"lam_l": [-1.0]}}, "finite numbers >= 0"),
    ({"criterion": "sure"}, "valid: holdout, discrepancy"),
    ({"iters": ()}, "iters must be"),
    ({"iters": (0, 5)}, "iters must be"),
    ({"fraction": 1.0}, "fraction"),
    ({"slices": [7]}, "slices must be indices in 0..1"),
    ({"criterion": "discrepancy", "tau": 0.0}, "tau must be"),
    ({"criterion": "discrepancy", "sigma": -1.0}, "sigma must be"),
])
def test_bad_inputs_name_the_valid_choices(small_acq, kwargs, match):
    kwargs = {"method": "lps", "iters": (2,)} | kwargs
    with pytest.raises(ParameterError, match=match):
        tune.auto_tune(small_acq, kwargs.pop("method"), **kwargs)


def test_every_compressed_sensing_method_with_weights_is_tunable():
    from dataclasses import fields

    from dynmri.recon.methods import METHODS

    cs = [n for n in METHODS if METHODS.entry(n).kwargs_to is not None]
    assert sorted(set(cs) - {"ls"}) == sorted(tune.WEIGHTS)
    names = {f.name for f in fields(CSConfig)}
    assert all(set(w) <= names for w in tune.WEIGHTS.values())


def test_calibrationless_methods_are_scored_on_coil_images(multicoil_acq):
    """fista-grouplasso iterates on coil images even when the acquisition has coil maps."""
    for criterion in ("holdout", "discrepancy"):
        res = tune.auto_tune(multicoil_acq, "fista-grouplasso", criterion=criterion, grid={"lam": [1e-3]}, iters=(2, 4))
        assert res.config.lam == 1e-3 and all(np.isfinite(row["value"]) for row in res.table)


def test_line_odds_weight_the_rarely_sampled_lines():
    mask = np.zeros((1, 4, 2, 5), dtype=np.uint8)
    mask[..., 2] = 1  # every frame: odds 0
    mask[0, :2, :, 0] = 1  # half of the frames: odds 1
    mask[0, :1, :, 4] = 1  # a quarter: odds 3
    np.testing.assert_allclose(tune.line_odds(mask), [1.0, 0.0, 0.0, 0.0, 3.0])


def test_auto_tune_on_noncartesian_data():
    from dynmri.config import SimulateConfig
    from dynmri.data.acquire import simulate_from_config

    acq = simulate_from_config(SimulateConfig(accel=4, frames=3, size=32, trajectory="radial-golden", snr=30.0))
    for criterion in ("holdout", "discrepancy"):
        res = tune.auto_tune(acq, "lps", criterion=criterion, grid={"lam_l": [1e-3, 1e-2]}, iters=(2, 4))
        assert res.config.lam_l in (1e-3, 1e-2) and all(np.isfinite(row["value"]) for row in res.table)
    assert res.sigma[0] > 0
