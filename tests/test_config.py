"""Typed configurations: every shipped YAML loads, and bad files or values fail in one line."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from dynmri import config as config_module
from dynmri.config import (
    CSConfig,
    LearnTrajectoryConfig,
    SimulateConfig,
    TrainConfig,
    check_types,
    load_config,
)
from dynmri.errors import DataError, ParameterError

PKG = Path(config_module.__file__).parent
SHIPPED = sorted((PKG / "configs").glob("*.yaml")) + sorted((PKG / "weights").glob("*.yaml"))
KINDS = {"simulate": SimulateConfig, "train": TrainConfig}


def _kind(path: Path):
    """The config class of a shipped YAML: by its file-name prefix, TrainConfig for weights."""
    return TrainConfig if path.parent.name == "weights" else KINDS[path.name.split("-")[0]]


@pytest.mark.parametrize("path", SHIPPED, ids=[f"{p.parent.name}/{p.name}" for p in SHIPPED])
def test_every_shipped_yaml_loads_and_validates(path):
    cfg = load_config(_kind(path), path)
    assert cfg.validate() == cfg


@pytest.mark.parametrize("path", sorted((PKG / "weights").glob("*.pt")), ids=lambda p: p.name)
def test_shipped_weights_config_dicts_still_load(path):
    import torch

    stored = torch.load(path, map_location="cpu", weights_only=False)["config"]
    cfg = TrainConfig(**stored).validate()
    d = dataclasses.asdict(cfg)
    assert {k: d[k] for k in stored} == stored  # fields added since take their defaults
    assert all(d[k] == getattr(TrainConfig(), k) for k in set(d) - set(stored))


def test_train_config_asdict_structure_is_unchanged():
    # checkpoints compare it on resume, and shipped weights store it
    d = dataclasses.asdict(TrainConfig())
    assert list(d) == ["data", "model", "model_cfg", "loss", "loss_cfg", "accel", "mask", "window", "stride", "crop", "epochs",
                       "batch_size", "lr", "lr_min", "schedule", "step_size", "gamma", "grad_clip", "seed", "val_fraction",
                       "holdout", "steps_per_epoch", "n_phantoms", "phantom_frames", "phantom_size",
                       "device", "precision", "workers", "coils", "snr", "trajectory", "stream", "n_samples", "accel_mix"]  # new fields: appended only
    assert d["model_cfg"] == {"channels": 16, "cascades": 3} and d["loss_cfg"] == {}


def test_every_config_is_a_frozen_dataclass():
    classes = [c for n, c in vars(config_module).items() if n.endswith("Config") and isinstance(c, type)]
    assert {SimulateConfig, CSConfig, TrainConfig, LearnTrajectoryConfig} <= set(classes)
    for cls in classes:
        assert dataclasses.is_dataclass(cls) and cls.__dataclass_params__.frozen, cls.__name__
        if all(f.default is not dataclasses.MISSING or f.default_factory is not dataclasses.MISSING for f in dataclasses.fields(cls)):
            check_types(cls())  # the defaults match the annotations


@pytest.mark.parametrize(
    "cls, text, match",
    [
        (SimulateConfig, "accel: eight\n", r"accel must be float, got 'eight' \(str\)"),
        (SimulateConfig, "frames: 3.5\n", r"frames must be int, got 3.5 \(float\)"),
        (SimulateConfig, "frames: true\n", r"frames must be int, got True \(bool\)"),
        (SimulateConfig, "snr: [30]\n", r"snr must be float or None, got \[30\] \(list\)"),
        (SimulateConfig, "mask: 3\n", r"mask must be str, got 3 \(int\)"),
        (TrainConfig, "epochs: ten\n", r"epochs must be int, got 'ten' \(str\)"),
        (TrainConfig, "model_cfg: 5\n", r"model_cfg must be dict, got 5 \(int\)"),
        (TrainConfig, "crop: 12.5\n", r"crop must be int or None, got 12.5"),
        (CSConfig, "keep_coarse: 1\n", r"keep_coarse must be bool, got 1 \(int\)"),
        (LearnTrajectoryConfig, "steps: many\n", r"steps must be int, got 'many'"),
        (SimulateConfig, "acceleration: 4\n", r"unknown config keys \['acceleration'\]; valid keys: \[.*'accel'"),
        (SimulateConfig, "1: 2\n", r"unknown config keys \['1'\]"),
        (SimulateConfig, "- 1\n- 2\n", "config must be a mapping"),
    ],
)
def test_bad_yaml_values_fail_in_one_line_naming_the_file_and_field(tmp_path, cls, text, match):
    path = tmp_path / "c.yaml"
    path.write_text(text)
    with pytest.raises(DataError, match=match) as info:
        load_config(cls, path)
    assert str(info.value).startswith(f"{path}: ") and "\n" not in str(info.value)


def test_yaml_syntax_error_is_one_line_with_line_and_column(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("accel: 4\nframes: : 3\n")
    with pytest.raises(DataError, match=r"invalid YAML at line 2, column 9: mapping values are not allowed") as info:
        load_config(SimulateConfig, path)
    assert "\n" not in str(info.value)


def test_non_utf8_yaml_is_a_data_error(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_bytes(b"data: caf\xe9\n")
    with pytest.raises(DataError, match=r"not UTF-8 text \(byte 0xe9 at offset 9\)"):
        load_config(SimulateConfig, path)


def test_missing_file_and_empty_file(tmp_path):
    with pytest.raises(DataError, match="config file not found"):
        load_config(SimulateConfig, tmp_path / "none.yaml")
    (tmp_path / "empty.yaml").write_text("# nothing\n")
    assert load_config(SimulateConfig, tmp_path / "empty.yaml") == SimulateConfig()


def test_yaml_numbers_and_overrides(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("lam: 1e-4\nn_iter: 20\n")  # YAML 1.1 reads 1e-4 as a string; a float field takes it
    cfg = load_config(CSConfig, path, n_iter=None, tol=0)
    assert cfg.lam == 1e-4 and cfg.n_iter == 20 and cfg.tol == 0
    assert load_config(SimulateConfig, path=None, accel=4).accel == 4  # an int is a float
    with pytest.raises(ParameterError, match=r"unknown SimulateConfig fields \['franes'\]; valid fields: data, accel"):
        load_config(SimulateConfig, frames=3, franes=4)
    with pytest.raises(ParameterError, match=r"frames must be int, got '3' \(str\)"):
        load_config(SimulateConfig, frames="3")
    path.write_text("wavelet: 1e-4\n")  # a str field keeps its string
    assert load_config(CSConfig, path).wavelet == "1e-4"


def test_validate_checks_types_then_ranges():
    with pytest.raises(ParameterError, match=r"levels must be int, got 2.5 \(float\)"):
        CSConfig(levels=2.5).validate()
    with pytest.raises(ParameterError, match="frames must be >= 1"):
        SimulateConfig(frames=0).validate()
    with pytest.raises(ParameterError, match="decimation must be a power of 2"):
        LearnTrajectoryConfig(decimation=3).validate()
    with pytest.raises(ParameterError, match="lr must be > 0"):
        TrainConfig(lr=0.0).validate()


@pytest.mark.parametrize(
    "changes, match",
    [
        ({"model_cfg": {"chanels": 4}}, r"model_cfg: unknown option 'chanels' for model 'crnn'; valid options: channels, cascades"),
        ({"model_cfg": {"channels": 4.5}}, r"model_cfg: option 'channels' of model 'crnn' must be int, got 4.5"),
        ({"model": "cascade", "model_cfg": {"n": 2, "chans": 4, "res_ch": 2}}, r"unknown option 'res_ch' for model 'cascade'; valid options: backbone, n, chans"),
        ({"loss_cfg": {"time_paddign": "wrap"}}, r"loss_cfg: unknown option 'time_paddign' for loss 'ddei'; valid options: weight, diffeo, rotation, time_padding, group"),
        ({"loss_cfg": {"seed": 1}}, r"loss_cfg: unknown option 'seed'"),  # training passes its own seed
        ({"loss_cfg": {"weight": "heavy"}}, r"option 'weight' of loss 'ddei' must be float, got 'heavy'"),
        ({"loss": "mc", "loss_cfg": {"weight": 2.0}}, r"unknown option 'weight' for loss 'mc'; valid options: none"),
        ({"model": "transformer"}, r"unknown model 'transformer'; valid: .*crnn"),
        ({"loss": "noise2noise"}, r"unknown loss 'noise2noise'; valid: .*ddei"),
    ],
)
def test_model_and_loss_options_are_checked_when_the_config_is_built(changes, match):
    with pytest.raises(ParameterError, match=match):
        dataclasses.replace(TrainConfig(), **changes).validate()


def test_model_and_loss_options_from_yaml(tmp_path):
    path = tmp_path / "t.yaml"
    path.write_text("model: cascade\nmodel_cfg: {backbone: dual-unet-resnet3d, n: 2, res_ch: 4}\nloss_cfg: {group: compose, time_padding: reflect}\n")
    cfg = load_config(TrainConfig, path)
    assert cfg.model_cfg["res_ch"] == 4 and cfg.loss_cfg == {"group": "compose", "time_padding": "reflect"}
    path.write_text("loss_cfg: {time_paddign: reflect}\n")
    with pytest.raises(ParameterError, match="valid options: weight, diffeo, rotation, time_padding, group"):
        load_config(TrainConfig, path)


def test_changing_the_model_or_loss_drops_options_written_for_the_old_one(tmp_path):
    """Options belong to their name: a YAML or a flag that changes ``model``/``loss`` without
    giving ``model_cfg``/``loss_cfg`` starts from the new builder's defaults (before, ``--model
    dual-unet-resnet3d`` failed on the CRNN's ``channels`` and ``--loss ei-rotate`` on a DDEI
    YAML's ``group``); options given with the name, or a name left unchanged, are kept."""
    assert load_config(TrainConfig, model="dual-unet-resnet3d").model_cfg == {}
    assert load_config(TrainConfig, model="crnn").model_cfg == {"channels": 16, "cascades": 3}
    path = tmp_path / "t.yaml"
    path.write_text("model: lps-net\nmodel_cfg: {iterations: 4}\nloss: ddei\nloss_cfg: {group: compose}\n")
    cfg = load_config(TrainConfig, path, loss="ei-rotate", model="unet")
    assert (cfg.loss_cfg, cfg.model_cfg) == ({}, {})
    assert load_config(TrainConfig, path, loss="ddei", model="lps-net").loss_cfg == {"group": "compose"}
    path.write_text("model: unet\n")  # the YAML changes the model: the CRNN defaults go
    assert load_config(TrainConfig, path).model_cfg == {}
    assert load_config(TrainConfig, path, model="crnn").model_cfg == TrainConfig().model_cfg  # back to the default's
    with pytest.raises(ParameterError, match="n_samples .* needs a trajectory"):
        load_config(TrainConfig, n_samples=64)
