"""The one registry helper: every family of named things is a Registry filled at import, and
every entry built with options rejects an unknown option (naming the valid ones) or a bad type."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from dynmri.errors import ParameterError
from dynmri.registry import Registry


def _small_acq():
    from dynmri.data.phantom import phantom_videos
    from dynmri.data.simulate import simulate_acquisition
    from dynmri.sampling.masks import make_mask

    masks = make_mask("gaussian", (4, 16, 16), 4, seed=0).numpy().astype(np.uint8)
    return simulate_acquisition(phantom_videos(1, 4, (16, 16), seed=0), masks)


def _loss(**opts):
    from dynmri.learn.losses import get_loss

    return get_loss("ddei", **opts)


def _model(name="crnn", **opts):
    from dynmri.models import get_model

    return get_model(name, **opts)


def _mask(kind="vd-lines", **opts):
    from dynmri.sampling.masks import make_mask

    return make_mask(kind, (4, 16, 16), 4, **opts)


def _trajectory(kind="spiral", **opts):
    from dynmri.sampling.trajectories import make_trajectory

    return make_trajectory(kind, 16, 4, 1, **opts)


def _method(name="fista-wavelet", **opts):
    from dynmri.recon import reconstruct_acquisition

    return reconstruct_acquisition(_small_acq(), name, **opts)


def _method_direct(**opts):
    from dynmri.physics.cartesian import make_physics
    from dynmri.recon.methods import get_method

    physics = make_physics(torch.ones(2, 8, 8))
    return get_method("ls")(physics.A(torch.zeros(1, 2, 2, 8, 8)), physics, **opts)


UNKNOWN = [
    ("loss", _loss, {"time_paddign": "wrap"}, "unknown option 'time_paddign' for loss 'ddei'; valid options: weight, seed, diffeo, rotation, time_padding, group"),
    ("model", _model, {"widht": 3}, "unknown option 'widht' for model 'crnn'; valid options: channels, cascades, layers, kernel, dc_init"),
    ("model-cascade", lambda **o: _model("cascade", **o), {"chanz": 3}, "unknown option 'chanz' for model 'cascade'; valid options: backbone, n, chans, pools, drop"),
    ("mask", _mask, {"ordre": 3.0}, "unknown option 'ordre' for mask kind 'vd-lines'; valid options: order"),
    ("mask-none", lambda **o: _mask("gaussian", **o), {"order": 3.0}, "unknown option 'order' for mask kind 'gaussian'; valid options: none"),
    ("trajectory", _trajectory, {"readuot": 640}, "unknown option 'readuot' for trajectory 'spiral'; valid options: readout"),
    ("method-cs", _method, {"lamda": 0.1}, "unknown option 'lamda' for reconstruction method 'fista-wavelet'; valid options: config, progress, callback, n_iter, tol, lam,"),
    ("method-cs-direct", _method_direct, {"n_iters": 3}, "unknown option 'n_iters' for CSConfig; valid options: n_iter, tol, lam,"),
    ("method-zero-filled", lambda **o: _method("zero-filled", **o), {"lam": 0.1}, "unknown option 'lam' for reconstruction method 'zero-filled'; valid options: progress, config, callback"),
]


@pytest.mark.parametrize("build, options, message", [r[1:] for r in UNKNOWN], ids=[r[0] for r in UNKNOWN])
def test_unknown_option_names_the_valid_ones(build, options, message):
    with pytest.raises(ParameterError) as info:
        build(**options)
    assert str(info.value).startswith(message), str(info.value)


BAD_TYPE = [
    ("loss", _loss, {"weight": "heavy"}, "option 'weight' of loss 'ddei' must be float, got 'heavy' (str)"),
    ("model", _model, {"channels": 4.5}, "option 'channels' of model 'crnn' must be int, got 4.5 (float)"),
    ("model-backbone", lambda **o: _model("cascade", **o), {"backbone": "dual-unet-resnet3d", "res_ch": 2.5},
     "option 'res_ch' of model 'cascade' must be int, got 2.5 (float)"),
    ("mask", _mask, {"order": "steep"}, "option 'order' of mask kind 'vd-lines' must be float, got 'steep' (str)"),
    ("trajectory", _trajectory, {"readout": "long"}, "option 'readout' of trajectory 'spiral' must be int, got 'long' (str)"),
    ("method-cs", _method, {"levels": 1.5}, "option 'levels' of reconstruction method 'fista-wavelet' must be int, got 1.5 (float)"),
    ("method-cs-direct", _method_direct, {"n_iter": "3"}, "option 'n_iter' of CSConfig must be int, got '3' (str)"),
]


@pytest.mark.parametrize("build, options, message", [r[1:] for r in BAD_TYPE], ids=[r[0] for r in BAD_TYPE])
def test_option_of_the_wrong_type_is_refused(build, options, message):
    with pytest.raises(ParameterError) as info:
        build(**options)
    assert str(info.value) == message


def test_valid_options_still_work():
    assert _mask(order=3.0).shape == (1, 4, 16, 16)
    assert _trajectory(readout=320).shape[0] == 1
    assert _model("cascade", backbone="dual-unet-resnet3d", n=1, frames=4, chans=4) is not None
    assert _loss(time_padding="reflect", seed=2).name == "ddei"
    assert _method("fista-wavelet", n_iter=2, levels=1).shape == (1, 4, 16, 16)


def test_every_family_is_a_registry_filled_at_import():
    from dynmri.learn.losses import LOSSES
    from dynmri.learn.transforms import DIFFEOS
    from dynmri.models import BACKBONES, MODELS
    from dynmri.optim.solvers import SOLVERS
    from dynmri.recon.methods import METHODS
    from dynmri.sampling.masks import MASKS
    from dynmri.sampling.trajectories import TRAJECTORIES

    expected = {
        LOSSES: {"supervised-l2", "supervised-l1", "mc", "ssdu", "ei-rotate", "ei-time", "ddei"},
        DIFFEOS: {"smooth", "cpab"},
        MODELS: {"crnn", "unet", "cascade", "dual-unet-resnet3d", "lps-net", "lps-crnn"},
        BACKBONES: {"unet", "dual-unet-resnet3d"},
        SOLVERS: {"fista", "pogm", "condat-vu", "admm", "cg"},
        METHODS: {"zero-filled", "dcomp-adjoint", "ls", "fista-wavelet", "pogm-wavelet", "fista-wavelet-tfft", "condatvu-wavelet",
                  "condatvu-wavelet-ttv", "admm-wavelet-ttv", "lps", "fista-grouplasso", "fista-owl"},
        MASKS: {"gaussian", "vd-lines", "equispaced"},
        TRAJECTORIES: {"radial-golden", "radial-tiny-golden", "spiral"},
    }
    for reg, names in expected.items():
        assert isinstance(reg, Registry) and set(reg) == names == set(reg.names()) and len(reg) == len(names), reg
        assert all(n in reg for n in names) and "nothing" not in reg


def test_method_requirements_are_entry_metadata():
    from dynmri.recon.methods import METHODS, REQUIRES, applicable, requirement

    assert {n: requirement(n) for n in METHODS} == dict(REQUIRES)
    assert requirement("zero-filled") == "any" and requirement("fista-owl") == "multicoil" and requirement("ls") == "maps"
    assert METHODS.meta("dcomp-adjoint") == {"needs": "noncartesian"}
    assert applicable("fista-owl", multicoil=True, has_maps=False) and not applicable("ls", multicoil=True, has_maps=False)


def test_cs_methods_look_their_solvers_up_in_the_registry(monkeypatch):
    from dynmri.optim import solvers

    used = []
    entry = solvers.SOLVERS.entry("cg")
    spy = lambda *a, **k: used.append("cg") or entry.obj(*a, **k)  # noqa: E731
    monkeypatch.setitem(solvers.SOLVERS._entries, "cg", type(entry)("cg", spy))
    _method_direct(n_iter=2)
    assert used == ["cg"]


def test_registry_errors():
    reg = Registry("widget")

    @reg.register("a", needs="x")
    def a(size: int = 1, scale: float | None = None, tags: tuple[str, ...] = ()):
        return size

    assert reg.options("a") == ["size", "scale", "tags"] and reg.meta("a") == {"needs": "x"}
    with pytest.raises(ValueError, match="registered twice"):
        reg.register("a", lambda: 0)
    reg.register("a", a, needs="x")  # the same object again is fine (a module reloaded)
    assert reg.build("a", size=3, scale=2, tags=("x",)) == 3 and reg["a"] is a and reg.items() == [("a", a)]
    with pytest.raises(ParameterError, match=r"option 'tags' of widget 'a' must be tuple of str, got \('x', 1\)"):
        reg.build("a", tags=("x", 1))
    with pytest.raises(ParameterError, match="unknown widget 'b'; valid: a"):
        reg.get("b")
    with pytest.raises(ParameterError, match=r"unknown widget \['a'\]"):
        reg.get(["a"])
    reg.register("c", object(), requires="no_such_module_dynmri", install="pip install it")
    with pytest.raises(ParameterError, match="widget 'c' needs the optional package no_such_module_dynmri; install it with: pip install it"):
        reg.get("c")
