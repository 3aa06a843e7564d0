"""Start-up: the subpackages that dynmri defers (dynmri._compat.defer_imports) are not loaded by
what dynmri runs, and are loaded, whole and working, as soon as something uses them. Each check
runs in a fresh interpreter (the test process has imported everything already)."""

from __future__ import annotations

import subprocess
import sys

import pytest

LOADED = "lambda m: m in sys.modules and type(sys.modules[m]).__name__ == 'module'"


def _python(code: str) -> str:
    res = subprocess.run([sys.executable, "-c", f"import sys\nloaded = {LOADED}\n{code}"], capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    return res.stdout.strip()


def test_import_dynmri_defers_without_importing_or_registering_anything():
    out = _python("import dynmri\n"
                  "print(sorted(m for m in sys.modules if m.split('.')[0] in ('torch', 'torchvision', 'deepinv')),"
                  " type(sys.meta_path[0]).__name__)")
    assert out == "[] _DeferOnImport"


def test_deepinv_physics_works_without_torchvision_models_and_dynamo():
    """What dynmri runs (deepinv's MRI physics, a reconstruction, the metrics' imports) leaves
    torchvision.models/ops, torch._dynamo and deepinv.datasets unloaded; the physics is exact."""
    out = _python(
        "import torch, dynmri\n"
        "from dynmri.config import SimulateConfig\n"
        "from dynmri.data.acquire import simulate_from_config\n"
        "from dynmri.recon.run import run_method\n"
        "acq = simulate_from_config(SimulateConfig(accel=4, frames=4, size=32))\n"
        "rec, _ = run_method(acq, 'lps', {'n_iter': 2})\n"
        "from dynmri.physics.cartesian import make_physics\n"
        "from dynmri.sampling.masks import make_mask\n"
        "p = make_physics(make_mask('gaussian', (4, 16, 16), 4, seed=0))\n"
        "x = torch.randn(1, 2, 4, 16, 16, dtype=torch.float64); y = torch.randn_like(p.A(x))\n"
        "ok = abs(float((p.A(x) * y).sum() - (x * p.A_adjoint(y)).sum())) < 1e-9\n"
        "print(ok, [m for m in ('torchvision.models', 'torchvision.ops', 'torch._dynamo', 'deepinv.datasets', 'h5py') if loaded(m)],"
        " 'torchvision.transforms' in sys.modules)")
    assert out == "True [] True"


def test_a_deferred_subpackage_loads_when_used():
    """``inspect.getmodule`` (which scans ``sys.modules`` for ``__file__``) loads nothing; an
    attribute, a ``from`` import or a submodule import loads the real code, which works."""
    out = _python(
        "import dynmri, inspect, deepinv.physics\n"
        "inspect.getmodule(deepinv.physics.MRI)\n"
        "before = [loaded(m) for m in ('torchvision.models', 'torchvision.ops', 'deepinv.datasets')]\n"
        "import torch, torchvision\n"
        "from torchvision.ops import nms\n"
        "keep = nms(torch.tensor([[0., 0, 1, 1], [0, 0, 1, 1]]), torch.tensor([1., .5]), 0.5).tolist()\n"
        "import torchvision.models.resnet as r\n"
        "net = torchvision.models.resnet18(weights=None)\n"
        "import deepinv\n"
        "print(before, keep, type(net).__name__, deepinv.datasets.HDF5Dataset.__name__,"
        " [loaded(m) for m in ('torchvision.models', 'torchvision.ops', 'deepinv.datasets', 'torch._dynamo')])")
    assert out == "[False, False, False] [0] ResNet HDF5Dataset [True, True, True, True]"


def test_packages_imported_before_dynmri_are_left_alone():
    out = _python("import torchvision, dynmri\nprint(loaded('torchvision.models'), any(type(f).__name__ == '_DeferOnImport' for f in sys.meta_path))")
    assert out == "True True"  # deepinv is still to come, so the finder waits for it


def test_a_failed_deferred_load_is_a_failed_import(tmp_path, monkeypatch):
    """A deferred module whose code raises: the error comes at its first use, and the module
    leaves ``sys.modules`` (the next import retries), as after any failed import."""
    from dynmri import _compat

    pkg = tmp_path / "dynmri_fake_pkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("from dynmri_fake_pkg import bad, good\n")
    (pkg / "bad.py").write_text("raise RuntimeError('broken on purpose')\n")
    (pkg / "good.py").write_text("VALUE = 42\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    try:
        assert _compat._install("dynmri_fake_pkg", ("bad", "good", "absent")) == ["dynmri_fake_pkg.bad", "dynmri_fake_pkg.good"]
        import dynmri_fake_pkg

        assert type(dynmri_fake_pkg.good) is _compat._Deferred and dynmri_fake_pkg.good.VALUE == 42
        with pytest.raises(RuntimeError, match="broken on purpose"):
            dynmri_fake_pkg.bad.anything  # noqa: B018
        assert "dynmri_fake_pkg.bad" not in sys.modules
    finally:
        for name in [m for m in sys.modules if m.startswith("dynmri_fake_pkg")]:
            del sys.modules[name]
