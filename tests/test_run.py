"""The run layer (dynmri.recon.run), the benchmark engine (dynmri.eval.benchmark), the report
writers and the KEY=VALUE parser."""

import json

import numpy as np
import pytest

from dynmri.config import (
    BenchmarkConfig,
    CSConfig,
    SimulateConfig,
    TrainConfig,
    load_config,
    parse_assignments,
)
from dynmri.data.acquire import simulate_from_config
from dynmri.errors import ParameterError, ShapeError
from dynmri.recon import reconstruct_acquisition
from dynmri.recon.run import RunStats, network_method, run_method

FAST = CSConfig(n_iter=4, levels=2)


@pytest.fixture(scope="module")
def acq():
    return simulate_from_config(SimulateConfig(accel=4, frames=6, size=32, seed=1))


def test_run_method_returns_the_reconstruction_and_its_stats(acq):
    rec, stats = run_method(acq, "lps", FAST)
    assert rec.shape == (1, 6, 32, 32) and np.iscomplexobj(rec)
    assert isinstance(stats, RunStats) and stats.method == "lps" and stats.frames == 6
    assert stats.seconds > 0 and stats.frames_per_second == pytest.approx(6 / stats.seconds)
    assert len(stats.costs) == 1 and len(stats.costs[0]) == 4 and stats.costs[0][-1] <= stats.costs[0][0]
    assert stats.config["n_iter"] == 4 and stats.network is None
    meta = stats.metadata(acquisition="a.npz")
    assert meta["method"] == "lps" and meta["acquisition"] == "a.npz" and meta["cost_per_iteration"] == stats.costs
    np.testing.assert_array_equal(rec, reconstruct_acquisition(acq, "lps", config=FAST))  # the thin call


def test_run_method_direct_methods_default_config_and_user_callback(acq, tmp_path):
    rec, stats = run_method(acq, "zero-filled")
    assert stats.config is None and stats.costs == [] and "config" not in stats.metadata()
    path = tmp_path / "a.npz"
    acq.save(path)
    np.testing.assert_allclose(run_method(path, "zero-filled")[0], rec)  # a file works too
    seen = []
    _, stats = run_method(acq, "fista-wavelet", callback=lambda k, x, c: seen.append((k, x.shape)))
    assert stats.config == CSConfig().__dict__ and len(seen) == len(stats.costs[0]) and seen[0] == (0, (1, 2, 6, 32, 32))
    _, from_dict = run_method(acq, "lps", {"n_iter": 2})
    assert from_dict.config["n_iter"] == 2
    rec, stats = run_method(acq, "lps", FAST, lam_l=0.01)  # CSConfig fields as options override config
    assert stats.config["lam_l"] == 0.01 and stats.config["n_iter"] == 4
    np.testing.assert_array_equal(rec, run_method(acq, "lps", CSConfig(n_iter=4, levels=2, lam_l=0.01))[0])


def test_run_method_checks_applicability_first(acq, tmp_path):
    path = tmp_path / "a.npz"
    acq.save(path)
    with pytest.raises(ParameterError, match=f"fista-owl needs multi-coil k-space \\(Cartesian\\); {path} has single-coil"):
        run_method(path, "fista-owl")
    with pytest.raises(ShapeError, match="multi-coil"):  # unchecked: the method's own error
        run_method(acq, "fista-owl", check=False)
    with pytest.raises(ParameterError, match="unknown reconstruction method"):
        run_method(acq, "magic")


def test_run_method_runs_a_trained_network(acq):
    from dynmri.recon import reconstruct_with_model

    rec, stats = run_method(acq, network_method("crnn-ddei-sunnybrook-8x"), window=4, overlap=2)
    assert rec.shape == acq.target.shape and stats.method == "network:crnn-ddei-sunnybrook-8x"
    assert stats.network == {"spec": "crnn-ddei-sunnybrook-8x", "model": "crnn", "loss": "ddei", "window": 4, "overlap": 2}
    assert stats.config is None and stats.costs == [] and "config" not in stats.metadata()
    np.testing.assert_array_equal(rec, reconstruct_with_model(acq, "crnn-ddei-sunnybrook-8x", window=4, overlap=2))
    multicoil = type(acq)(kspace=np.stack([acq.kspace] * 2, 1), mask=acq.mask)
    with pytest.raises(ParameterError, match="networks need single-coil"):
        run_method(multicoil, network_method("crnn-ddei-sunnybrook-8x"))


def test_bf16_network_physics_runs_in_float32_for_stacked_windows_too(acq, monkeypatch):
    """Under bf16 the operator a network receives, one window's or the stack of several, casts a
    bf16 input to float32 and runs outside autocast (8 frames, window 4: three stacked windows)."""
    import torch

    from dynmri.physics.cartesian import DynamicSingleCoilMRI
    from dynmri.recon.run import LoadedNetwork

    seen, adjoint = [], DynamicSingleCoilMRI.A_adjoint

    def recording(self, y, *args, **kwargs):
        seen.append((y.dtype, torch.is_autocast_enabled("cpu"), y.shape[0]))
        return adjoint(self, y, *args, **kwargs)

    monkeypatch.setattr(DynamicSingleCoilMRI, "A_adjoint", recording)

    class Probe(torch.nn.Module):
        def forward(self, y, physics):
            return physics.A_adjoint(y.to(torch.bfloat16))

    net = LoadedNetwork("probe", Probe(), TrainConfig(window=4), torch.device("cpu"), 0.0)
    run_method(acq, network_method("probe"), window=4, overlap=2, network=net, precision="bf16")
    assert seen and max(b for *_, b in seen) > 1
    assert all(dtype == torch.float32 and not autocast for dtype, autocast, _ in seen), seen


def test_run_method_network_loaded_once_device_and_precision(acq):
    """``network=`` (loaded once) gives what loading it per call gives; ``precision="bf16"`` runs
    the network under autocast with its physics in float32 (close to fp32, not equal); bad
    ``precision``/``device`` and a network loaded for another spec are ParameterErrors."""
    import torch

    from dynmri.recon.run import LoadedNetwork, load_network

    spec = "crnn-ddei-sunnybrook-8x"
    net = load_network(spec, "cpu")
    assert isinstance(net, LoadedNetwork) and net.device == torch.device("cpu") and not net.model.training
    fresh, _ = run_method(acq, network_method(spec), window=4, overlap=2)
    shared, stats = run_method(acq, network_method(spec), window=4, overlap=2, network=net)
    np.testing.assert_array_equal(shared, fresh)
    assert "precision" not in stats.network  # fp32 records nothing new
    half, stats = run_method(acq, network_method(spec), window=4, overlap=2, network=net, precision="bf16", device="cpu")
    assert half.dtype == fresh.dtype and stats.network["precision"] == "bf16" and not np.array_equal(half, fresh)
    err = np.linalg.norm(half - fresh) / np.linalg.norm(fresh)
    assert err < 0.05, err  # bf16 keeps ~3 significant digits inside the network
    zf, _ = run_method(acq, "zero-filled", precision="bf16")  # the registered methods ignore it
    np.testing.assert_array_equal(zf, run_method(acq, "zero-filled")[0])
    with pytest.raises(ParameterError, match="precision must be one of fp32, bf16"):
        run_method(acq, "zero-filled", precision="fp16")
    with pytest.raises(ParameterError, match="device 'cuda:99': this machine has"):
        run_method(acq, "zero-filled", device="cuda:99")
    with pytest.raises(ParameterError, match="was loaded for another method"):
        run_method(acq, network_method("crnn-ssdu-sunnybrook-8x"), network=net)


def test_bf16_physics_runs_in_float32():
    """Under bf16 autocast the wrapped operator gets float32 input and returns float32 (its FFT
    never sees bf16); the wrapper keeps the operator's class (dispatch by type)."""
    import torch

    from dynmri.devices import autocast
    from dynmri.physics.cartesian import make_physics
    from dynmri.recon.run import _full_precision_physics
    from dynmri.sampling.masks import make_mask

    physics = make_physics(make_mask("gaussian", (4, 16, 16), 4, seed=0))
    cls = type(physics)
    wrapped = _full_precision_physics(physics, "cpu")
    x = torch.randn(1, 2, 4, 16, 16, generator=torch.Generator().manual_seed(0))
    with autocast("bf16", "cpu"):
        y = wrapped.A(x.bfloat16())
        back = wrapped.A_adjoint(y)
    assert type(wrapped) is cls and y.dtype == back.dtype == torch.float32
    torch.testing.assert_close(y, make_physics(make_mask("gaussian", (4, 16, 16), 4, seed=0)).A(x.bfloat16().float()))


def test_run_grid_rows_curves_and_extra_columns():
    from dynmri.eval.benchmark import Entry, method_entries, network_entries, run_grid

    entries = method_entries(["lps", "zero-filled"], FAST)  # registry order, the baseline first
    assert [e.label for e in entries] == ["zero-filled", "lps"] and entries[0].config is None and entries[1].config == FAST
    entries.append(Entry("owl", "fista-owl", FAST, {"note": "skipped: single coil"}))
    seen, acqs = [], []
    res = run_grid(SimulateConfig(frames=4, size=32), [4.0, 8.0], entries, on_row=seen.append,
                   on_acquisition=lambda r, a, recons, rows: acqs.append((r, sorted(recons), len(rows))))
    assert [(r["method"], r["accel"]) for r in res.rows] == [("zero-filled", 4), ("lps", 4), ("zero-filled", 8), ("lps", 8)]
    assert seen == res.rows and acqs == [(4.0, ["lps", "zero-filled"], 2), (8.0, ["lps", "zero-filled"], 2)]
    assert list(res.rows[0])[:4] == ["method", "accel", "achieved_accel", "psnr"] and res.rows[0]["frames"] == 4
    assert len(res.curves[8.0]["lps"]) == 4 and res.rows[1]["psnr"] > res.rows[0]["psnr"]
    with pytest.raises(ParameterError, match="unknown methods"):
        method_entries(["magic"])
    nets = network_entries(["crnn-ddei-sunnybrook-8x", "crnn-ddei-sunnybrook-8x"])
    assert [e.label for e in nets] == ["crnn-ddei group=compose", "crnn-ddei group=compose (crnn-ddei-sunnybrook-8x)"]
    assert nets[0].extra == {"network": "crnn-ddei-sunnybrook-8x"}  # the spec travels to the rows


def test_report_tables_and_writers(tmp_path):
    from dynmri.eval.metrics import format_table
    from dynmri.eval.report import (
        benchmark_table,
        markdown_table,
        metrics_table,
        write_csv,
        write_json,
    )

    m = {"psnr": 30.0, "psnr_std": 1.0, "ssim": 0.9, "ssim_std": 0.01, "nmse": 0.01}
    assert metrics_table({"a": m}, "T") == "**T**\n\n| method | PSNR (dB) | SSIM | NMSE |\n|---|---|---|---|\n| a | 30.00 +- 1.00 | 0.900 +- 0.010 | 0.0100 |"
    assert format_table({"a": m}, "T") == metrics_table({"a": m}, "T")
    row = {"method": "a", "accel": 8.0, **m, "seconds": 1.25, "frames_per_second": 9.6}
    assert benchmark_table([row]).splitlines()[-1] == "| a | 8 | 30.00 +- 1.00 | 0.900 +- 0.010 | 0.0100 | 1.2 | 9.6 |"
    assert markdown_table(["x"], [], title="t").splitlines() == ["t", "", "| x |", "|---|"]
    write_csv(tmp_path / "r.csv", [row])
    assert (tmp_path / "r.csv").read_text().splitlines()[0] == ",".join(row)
    write_json(tmp_path / "r.json", {"rows": [row]})
    assert json.loads((tmp_path / "r.json").read_text())["rows"][0] == row


def test_parse_assignments_typed_and_yaml():
    assert parse_assignments(["lam=0.01", "levels=2", "keep_coarse=true", "wavelet=db4"], CSConfig, "--set") == {
        "lam": 0.01, "levels": 2, "keep_coarse": True, "wavelet": "db4"}
    assert parse_assignments(["crop=none", "steps_per_epoch=3"], TrainConfig) == {"crop": None, "steps_per_epoch": 3}
    assert parse_assignments(["a=reflect", "b=3", "c=0.5", "d=true", "e=[1, 2]"], None, "--loss-opt") == {
        "a": "reflect", "b": 3, "c": 0.5, "d": True, "e": [1, 2]}
    with pytest.raises(ParameterError, match="--set 'nope=1': expected FIELD=VALUE with FIELD one of n_iter"):
        parse_assignments(["nope=1"], CSConfig, "--set")
    with pytest.raises(ParameterError, match="'many' is not a valid int"):
        parse_assignments(["n_iter=many"], CSConfig, "--set")
    with pytest.raises(ParameterError, match="not a valid bool"):
        parse_assignments(["absolute=maybe"], CSConfig)
    with pytest.raises(ParameterError, match="--loss-opt 'noequals': expected KEY=VALUE"):
        parse_assignments(["noequals"], None, "--loss-opt")


def test_benchmark_config_is_normalised_and_validated(tmp_path):
    cfg = BenchmarkConfig()
    assert cfg.accel == (4.0, 8.0, 16.0) and cfg.methods is None and cfg.networks == () and cfg.crop == 128
    path = tmp_path / "b.yaml"
    path.write_text("accel: 8\nmethods: [lps]\nnetworks: [crnn-ddei-sunnybrook-8x]\n")
    cfg = load_config(BenchmarkConfig, path, frames=6)
    assert cfg.accel == (8.0,) and cfg.methods == ("lps",) and cfg.networks == ("crnn-ddei-sunnybrook-8x",) and cfg.frames == 6
    with pytest.raises(ParameterError, match="acceleration must be > 1"):
        load_config(BenchmarkConfig, None, accel=(4.0, 1.0))
    with pytest.raises(ParameterError, match="accel must be tuple of float"):
        load_config(BenchmarkConfig, None, accel=("x",))
