"""LPS-Net: untrained it is ``lps`` stopped at K iterations; it trains (gradients reach every weight)."""

import pytest
import torch

from dynmri.config import CSConfig, SimulateConfig
from dynmri.data.acquire import simulate_from_config
from dynmri.models import get_model
from dynmri.recon.cs import low_rank_plus_sparse
from dynmri.recon.methods import _slice_inputs, acquisition_physics


def _problem(**kw):
    acq = simulate_from_config(SimulateConfig(data="phantom", accel=8, frames=8, size=32, **kw))
    y, mask, maps = _slice_inputs(acq, 0, "cpu")
    return y.double(), acquisition_physics(acq, mask, maps, "cpu")


@pytest.mark.parametrize("kw,net_kw", [({}, {}), ({"coils": 4}, {}), ({"trajectory": "radial-golden"}, {}), ({}, {"bands": 3, "ranks": 4})],
                         ids=["single-coil", "multi-coil", "radial", "bands-ranks"])
def test_untrained_lps_net_is_lps_at_k_iterations(kw, net_kw):
    y, physics = _problem(**kw)
    ref = low_rank_plus_sparse(y, physics, config=CSConfig(n_iter=6, tol=0.0))
    with torch.no_grad():
        x = get_model("lps-net", iterations=6, **net_kw)(y, physics)
    # the same arithmetic in float64 (coil maps and the NUFFT stay single precision inside the operator)
    assert float((x - ref).abs().max() / ref.abs().max()) < 1e-6


def test_lps_net_gradients_reach_every_weight():
    y, physics = _problem()
    net = get_model("lps-net", iterations=3, correction=True, channels=4, bands=3, ranks=2).double()
    net(y, physics).pow(2).sum().backward()
    for name, p in net.named_parameters():
        if name.startswith("log_"):
            assert p.grad is not None and torch.isfinite(p.grad).all() and p.grad.abs().sum() > 0, name
        else:  # the correction CNN starts at zero: only its last layer gets a gradient at first
            assert p.grad is not None and torch.isfinite(p.grad).all(), name
    assert net.correction[-1].net[2].weight.grad.abs().sum() > 0


def test_lps_net_rejects_bad_options():
    from dynmri.errors import ParameterError

    for bad in ({"iterations": 0}, {"bands": 0}, {"ranks": 0}):
        with pytest.raises(ParameterError):
            get_model("lps-net", **bad)


def test_band_weights_interpolate_over_the_absolute_frequency():
    from dynmri.models.lpsnet import band_weights

    log_w = torch.tensor([0.0, 2.0], dtype=torch.float64).log1p()  # weights 1 at f = 0, 3 at |f| = 1/2
    w = band_weights(log_w, 4)  # fftfreq(4) = 0, 1/4, -1/2, -1/4
    assert torch.allclose(w, torch.tensor([1.0, 3.0**0.5, 3.0, 3.0**0.5], dtype=torch.float64))
    assert band_weights(torch.zeros(5, dtype=torch.float64), 7).eq(1).all()  # any T, odd too


def test_untrained_lps_crnn_is_lps_net_then_data_consistency():
    """The hybrid's CRNN output layer starts at zero: before training it is LPS-Net followed by
    the cascades' data consistency, and the cascades learn (gradients reach them)."""
    y, physics = _problem()
    net = get_model("lps-crnn", iterations=4, channels=4, cascades=2).double()
    with torch.no_grad():
        x = net.lps(y, physics)
        for dc in net.crnn.dc:
            x = dc(x, y, physics)
        assert torch.allclose(net(y, physics), x, atol=1e-12)
    net(y, physics).pow(2).sum().backward()
    assert net.crnn.out.weight.grad.abs().sum() > 0 and net.lps.log_lam_l.grad.abs().sum() > 0


def _saved(tmp_path, model: str, **model_cfg):
    """A weights file of an untrained-but-perturbed ``model`` (what ``load_trained`` reads)."""
    from dataclasses import asdict

    from dynmri.config import TrainConfig
    from dynmri.models.weights import save_checkpoint

    net = get_model(model, **model_cfg)
    with torch.no_grad():
        for p in net.parameters():
            p.add_(0.01 * torch.arange(p.numel(), dtype=p.dtype).reshape(p.shape))
    file = tmp_path / f"{model}.pt"
    save_checkpoint(file, {"model": net.state_dict(), "config": asdict(TrainConfig(model=model, model_cfg=model_cfg))})
    return file, net


def test_lps_crnn_starts_from_trained_lps_weights_and_can_freeze_them(tmp_path):
    """``lps_weights`` loads a trained LPS-Net into the hybrid's first stage; ``freeze_lps`` keeps
    it fixed (no gradients, no autograd graph through it) while the cascades train."""
    y, physics = _problem()
    file, lps = _saved(tmp_path, "lps-net", iterations=3)
    net = get_model("lps-crnn", iterations=3, channels=4, cascades=1, lps_weights=str(file), freeze_lps=True).double()
    assert all(torch.equal(a, b.double()) for a, b in zip(net.lps.state_dict().values(), lps.state_dict().values(), strict=True))
    net(y, physics).pow(2).sum().backward()
    assert all(p.grad is None for p in net.lps.parameters()) and net.crnn.out.weight.grad.abs().sum() > 0
    with torch.no_grad():
        assert torch.allclose(net.lps(y, physics), lps.double()(y, physics), atol=1e-12)
    trainable = get_model("lps-crnn", iterations=3, channels=4, cascades=1, lps_weights=str(file))
    assert all(p.requires_grad for p in trainable.parameters())


@pytest.mark.parametrize("model, cfg, iterations, match", [
    ("lps-net", {"iterations": 3}, 4, "unrolls 3 iterations; set iterations: 3"),
    ("crnn", {"channels": 4, "cascades": 1}, 3, "holds a CRNN, not an lps-net"),
])
def test_lps_crnn_refuses_weights_that_do_not_fit(tmp_path, model, cfg, iterations, match):
    from dynmri.errors import ParameterError

    file, _ = _saved(tmp_path, model, **cfg)
    with pytest.raises(ParameterError, match=match):
        get_model("lps-crnn", iterations=iterations, channels=4, cascades=1, lps_weights=str(file))


def test_weighted_svt_thresholds_the_r_th_largest_singular_value_by_its_weight():
    from dynmri.models.lpsnet import casorati, svt

    g = torch.Generator().manual_seed(0)
    x = torch.randn(2, 2, 5, 4, 3, generator=g, dtype=torch.float64)
    lam, w = torch.tensor([0.5, 1.0], dtype=torch.float64), torch.tensor([0.2, 1.0, 3.0], dtype=torch.float64)
    U, sig, Vh = torch.linalg.svd(casorati(x), full_matrices=False)  # descending
    thr = lam[:, None] * w[torch.arange(5).clamp(max=2)]  # ranks 2, 3, 4 share the last weight
    ref = (U * (sig - thr).clamp(min=0).to(U.dtype).unsqueeze(-2)) @ Vh
    assert torch.allclose(casorati(svt(x, lam, w)), ref, atol=1e-12)


def test_band_weights_act_on_their_temporal_frequencies_and_batches_stay_independent():
    """A band weight on |f| = 1/2 leaves the sparse part's f = 0 coefficients alone; a batch of two
    equals its items run one at a time (thresholds per item, bands shared)."""
    from dynmri.optim.linops import TemporalFourier

    y, physics = _problem()
    y2 = torch.cat([y, 2 * y.flip(-1)])  # a second item, other data and scale
    net = get_model("lps-net", iterations=3, bands=2, ranks=3).double()
    with torch.no_grad():
        net.log_bands[:, 1] = 3.0
        net.log_ranks.normal_(0, 0.5, generator=torch.Generator().manual_seed(1))
        both = net(y2, physics)
        assert torch.allclose(both[:1], net(y, physics), atol=1e-10) and torch.allclose(both[1:], net(y2[1:], physics), atol=1e-10)
    # two iterations: the first one's sparse part is still all zero at the default threshold
    base = get_model("lps-net", iterations=2).double()
    banded = get_model("lps-net", iterations=2, bands=2).double()
    with torch.no_grad():
        banded.log_bands[:, 1] = -3.0  # 1/20 of the threshold at |f| = 1/2, still 1x at f = 0
        d = TemporalFourier().A(banded(y, physics) - base(y, physics))
    assert d[:, :, 0].abs().max() < 1e-12 and d[:, :, 4].abs().max() > 0  # T = 8: index 4 is f = -1/2
