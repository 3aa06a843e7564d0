"""Every network: output shape, gradients, identity at initialisation, own DC parameters."""

import pytest
import torch

from dynmri.data.simulate import birdcage_maps
from dynmri.errors import ParameterError
from dynmri.models import count_parameters, get_model, model_names
from dynmri.physics.cartesian import make_physics
from dynmri.sampling.masks import make_mask

T, H, W = 4, 16, 16
SMALL = {
    "crnn": {"channels": 4, "cascades": 2},
    "unet": {"chans": 4, "pools": 2},
    "cascade": {"backbone": "unet", "n": 2, "chans": 4, "pools": 2},
    "dual-unet-resnet3d": {"frames": T, "chans": 4, "res_ch": 2, "res_blocks": 1},
    "lps-net": {"iterations": 2, "correction": True, "channels": 4, "bands": 2, "ranks": 2},
    "lps-crnn": {"iterations": 2, "channels": 4, "cascades": 1},
}
STARTS_AS_LPS = {"lps-net", "lps-crnn"}  # the unrolled classical method (tests/test_lpsnet.py), not A^H y


def _physics(multicoil: bool):
    mask = make_mask("gaussian", (T, H, W), 4, n=2, seed=0)
    maps = torch.from_numpy(birdcage_maps(3, (H, W)))[None].expand(2, -1, -1, -1) if multicoil else None
    return make_physics(mask, maps)


def test_every_model_has_a_small_config():
    assert set(SMALL) == set(model_names())


@pytest.mark.parametrize("multicoil", [False, True])
@pytest.mark.parametrize("name", sorted(SMALL))
def test_shape_gradient_and_identity_at_init(name, multicoil):
    torch.manual_seed(0)
    physics = _physics(multicoil)
    x = torch.randn(2, 2, T, H, W)
    y = physics.A(x)
    net = get_model(name, **SMALL[name])
    out = net(y, physics)
    assert out.shape == (2, 2, T, H, W)
    out.pow(2).mean().backward()
    grads = [p.grad for p in net.parameters() if p.requires_grad]
    assert grads and any(g is not None and g.abs().sum() > 0 for g in grads)
    net.eval()
    with torch.no_grad():
        x0 = physics.A_adjoint(y)
        expected = x0 if not multicoil and name not in STARTS_AS_LPS else None
        if expected is not None:  # Cartesian single coil: DC leaves A^H y unchanged
            assert torch.allclose(net(y, physics), expected, atol=1e-5)


def test_each_instance_owns_its_dc_parameters():
    a, b = get_model("crnn", **SMALL["crnn"]), get_model("crnn", **SMALL["crnn"])
    with torch.no_grad():
        a.dc[0].p.fill_(-3.0)
    assert b.dc[0].p.item() != -3.0
    assert a.dc[0].p is not a.dc[1].p


def test_counts_and_errors():
    assert count_parameters(get_model("crnn", channels=16, cascades=2)) > count_parameters(get_model("crnn", channels=8, cascades=2))
    with pytest.raises(ParameterError, match="unknown model"):
        get_model("transformer")
    with pytest.raises(ParameterError, match="unknown option 'widht' for model 'crnn'; valid options: channels"):
        get_model("crnn", widht=3)
    with pytest.raises(ParameterError, match="unknown backbone"):
        get_model("cascade", backbone="resnet")


def test_shipped_networks_are_split_by_the_data_they_were_trained_on(tmp_path, monkeypatch):
    """The classic demo runs the shipped networks not trained on the real-time scenario (and those
    whose data is unknown), the real-time demo the others (models.weights.trained_data)."""
    import json

    from dynmri.config import SimulateConfig
    from dynmri.data.acquire import simulate_from_config
    from dynmri.eval.benchmark import demo_entries
    from dynmri.eval.realtime import realtime_networks
    from dynmri.models import weights

    for name, data in [("cine", "phantom"), ("rt", "phantom-realtime"), ("gated", "phantom-realtime-gated"), ("bare", None)]:
        (tmp_path / f"{name}.pt").write_bytes(b"")
        if data is not None:
            (tmp_path / f"{name}.json").write_text(json.dumps({"config": {"data": data}}))
    monkeypatch.setattr(weights, "weights_dir", lambda: tmp_path)
    assert {n: weights.trained_data(p) for n, p in weights.shipped_weights().items()} == \
           {"bare": None, "cine": "phantom", "gated": "phantom-realtime-gated", "rt": "phantom-realtime"}
    acq = simulate_from_config(SimulateConfig(data="phantom", accel=4, frames=2, size=16).validate())
    networks = [e.label for e in demo_entries(acq) if e.method.startswith("network:")]
    assert networks == ["bare", "cine"] and realtime_networks() == ["gated", "rt"]
