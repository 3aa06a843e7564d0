"""Each training loss decreases on a tiny problem; ground-truth losses refuse data without it."""

import pytest
import torch

from dynmri.data.datasets import DynamicWindowDataset
from dynmri.data.phantom import phantom_videos
from dynmri.errors import ParameterError
from dynmri.learn.losses import LOSSES, get_loss
from dynmri.models import get_model
from dynmri.physics.cartesian import make_physics


@pytest.fixture(scope="module")
def batch():
    ds = DynamicWindowDataset(phantom_videos(1, 4, (16, 16), seed=0), window=4, acceleration=4)
    x, y, mask = ds[0]
    return x[None], y[None], mask[None]


@pytest.mark.parametrize("name, cfg", [(n, {}) for n in sorted(LOSSES)] + [("ddei", {"group": "compose"}), ("ddei", {"time_padding": "reflect"})])
def test_loss_decreases(name, cfg, batch):
    torch.manual_seed(0)
    x, y, mask = batch
    physics = make_physics(mask)
    loss = get_loss(name, seed=0, **cfg)
    model = loss.adapt_model(get_model("crnn", channels=4, cascades=1))
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    values = []
    for _ in range(25):
        x_net = model(y, physics, **loss.train_kwargs)
        value = loss(x_net, x, y, physics, model)
        opt.zero_grad()
        value.backward()
        opt.step()
        values.append(float(value))
    assert all(v == v for v in values)  # finite
    assert sum(values[-5:]) < sum(values[:5])


def test_ground_truth_losses_refuse_missing_target(batch):
    x, y, mask = batch
    physics = make_physics(mask)
    model = get_model("crnn", channels=4, cascades=1)
    with pytest.raises(ParameterError, match="needs ground truth"):
        get_loss("supervised-l2")(model(y, physics), None, y, physics, model)
    with pytest.raises(ParameterError, match="unknown loss"):
        get_loss("noise2noise")
