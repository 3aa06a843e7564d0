"""The CLI end to end, and one clear error line for every bad input."""

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from dynmri.cli import app
from dynmri.data.files import Acquisition, Reconstruction

runner = CliRunner()
CONFIGS = sorted((Path(__file__).parents[1] / "src" / "dynmri" / "configs").glob("*.yaml"))
WEIGHT_CONFIGS = sorted((Path(__file__).parents[1] / "src" / "dynmri" / "weights").glob("*.yaml"))


def run(*args, ok=True):
    res = runner.invoke(app, [str(a) for a in args])
    if ok:
        assert res.exit_code == 0, res.output + str(res.exception)
    return res


def fails(*args, match: str):
    """Exit status 2 and exactly one ``error:`` line on stderr, holding ``match`` (tests/test_cli_errors.py has the full table)."""
    res = run(*args, ok=False)
    assert res.exit_code == 2, res.output
    errors = [line for line in res.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1 and match in errors[0], res.output
    assert "Traceback" not in res.output
    return res


@pytest.fixture
def acq_file(tmp_path):
    out = tmp_path / "acq.npz"
    run("simulate", "--data", "phantom", "--accel", 4, "--frames", 6, "--size", 32, "--out", out)
    return out


@pytest.mark.parametrize("suffix", [".npz", ".h5"])
def test_simulate_reconstruct_evaluate(tmp_path, suffix):
    acq = tmp_path / f"acq{suffix}"
    res = run("simulate", "--data", "phantom", "--accel", 8, "--mask", "gaussian", "--frames", 8, "--size", 64, "--seed", 3, "--out", acq)
    assert "achieved 8.000" in res.output
    a = Acquisition.load(acq)
    assert a.kspace.shape == (1, 8, 64, 64)
    assert a.meta["requested_acceleration"] == 8 and a.meta["achieved_acceleration"] == pytest.approx(8)
    assert a.meta["mask_kind"] == "gaussian" and a.meta["seed"] == 3 and len(a.meta["frame_times_ms"][0]) == 8
    rec = tmp_path / f"rec{suffix}"
    res = run("reconstruct", acq, "--method", "zero-filled", "--out", rec, "--video", tmp_path / "v.gif")
    assert "frames/s" in res.output and (tmp_path / "v.gif").stat().st_size > 0
    assert Reconstruction.load(rec).recon.shape == (1, 8, 64, 64)
    res = run("evaluate", rec, "--reference", acq, "--json", tmp_path / "m.json")
    assert "| zero-filled |" in res.output
    m = json.loads((tmp_path / "m.json").read_text())
    assert {"psnr", "ssim", "nmse"} <= set(m) and len(m["per_frame"]["psnr"]) == 8
    assert 15 < m["psnr"] < 40 and 0 < m["ssim"] < 1


def test_multicoil_noise_vdlines(tmp_path):
    acq = tmp_path / "mc.npz"
    run("simulate", "--accel", 5, "--mask", "vd-lines", "--center-lines", 11, "--coils", 4, "--snr", 30, "--frames", 4, "--size", 64, "--out", acq)
    a = Acquisition.load(acq)
    assert a.kspace.shape == (1, 4, 4, 64, 64) and a.coil_maps.shape == (1, 4, 64, 64)
    assert abs(a.meta["achieved_acceleration"] / 5 - 1) < 0.02
    run("reconstruct", acq, "--out", tmp_path / "r.npz")
    run("evaluate", tmp_path / "r.npz", "--reference", acq)


@pytest.mark.parametrize("config", CONFIGS, ids=[c.name for c in CONFIGS])
def test_every_shipped_config_loads(config):
    from dynmri.config import SimulateConfig, TrainConfig, load_config

    kind = {"simulate": SimulateConfig, "train": TrainConfig}[config.name.split("-")[0]]
    cfg = load_config(kind, config)
    assert cfg.accel > 1


@pytest.mark.parametrize("config", WEIGHT_CONFIGS, ids=[c.name for c in WEIGHT_CONFIGS])
def test_every_shipped_weights_config_loads_and_matches_its_weights(config):
    import json

    from dynmri.config import TrainConfig, load_config

    cfg = load_config(TrainConfig, config)
    info = json.loads(config.with_suffix(".json").read_text())
    assert cfg == TrainConfig(**info["config"]) and info["retrain"].startswith(f"dynmri train --config src/dynmri/weights/{config.name}")


def test_config_file_and_flag_override(tmp_path):
    cfg = tmp_path / "c.yaml"
    cfg.write_text("accel: 4\nframes: 4\nsize: 32\nmask: equispaced\n")
    run("simulate", "--config", cfg, "--seed", 2, "--out", tmp_path / "a.npz")
    meta = Acquisition.load(tmp_path / "a.npz").meta
    assert meta["mask_kind"] == "equispaced" and meta["requested_acceleration"] == 4 and meta["seed"] == 2
    cfg.write_text("acceleration: 4\n")
    fails("simulate", "--config", cfg, "--out", tmp_path / "b.npz", match="unknown config keys")


def test_flags_always_win_over_the_config_file(tmp_path):
    """A flag equal to its default still overrides the file (it was dropped: R = 4 was simulated)."""
    cfg = tmp_path / "s.yaml"
    cfg.write_text("accel: 4\nframes: 4\nsize: 32\nseed: 5\n")
    run("simulate", "--config", cfg, "--accel", 8, "--seed", 0, "--out", tmp_path / "a.npz")
    meta = Acquisition.load(tmp_path / "a.npz").meta
    assert meta["requested_acceleration"] == 8 and meta["seed"] == 0
    run("simulate", "--config", cfg, "--out", tmp_path / "b.npz")
    assert Acquisition.load(tmp_path / "b.npz").meta["requested_acceleration"] == 4  # the file over the defaults
    bench = tmp_path / "b.yaml"
    bench.write_text("accel: [4, 6]\nmethods: [zero-filled]\nframes: 4\ncrop: 32\nmask: equispaced\n")
    run("benchmark", "--config", bench, "--accel", "8,4", "--mask", "gaussian", "--out", tmp_path / "bench")
    rows = json.loads((tmp_path / "bench" / "results.json").read_text())["rows"]
    assert [(r["method"], r["accel"]) for r in rows] == [("zero-filled", 8), ("zero-filled", 4)]
    assert rows[0]["frames"] == 4 and rows[0]["achieved_accel"] == pytest.approx(8, rel=0.05)
    assert "(default: 8)" in run("simulate", "--help").output and "(default: 4,8,16)" in run("benchmark", "--help").output


def test_both_app_imports_are_the_typer_app():
    import typer

    from dynmri.cli.app import app as app2

    assert isinstance(app, typer.Typer) and app2 is app


def test_bad_inputs(tmp_path, acq_file):
    out = tmp_path / "o.npz"
    fails("simulate", "--accel", 0.5, "--out", out, match="acceleration must be > 1")
    fails("simulate", "--accel", 500, "--size", 32, "--frames", 2, "--out", out, match="impossible")
    fails("simulate", "--data", tmp_path / "missing", "--out", out, match="no such file")
    fails("simulate", "--mask", "spiral", "--frames", 2, "--size", 32, "--out", out, match="unknown mask kind")
    fails("simulate", "--frames", 2, "--size", 32, "--crop", 64, "--out", out, match="larger than the images")
    fails("demo", "--data", tmp_path / "missing", "--out", tmp_path / "d", match="no such file")
    fails("demo", "--accel", 1, "--out", tmp_path / "d", match="acceleration must be > 1")
    fails("reconstruct", tmp_path / "missing.npz", "--out", out, match="file not found")
    fails("reconstruct", acq_file, "--method", "magic", "--out", out, match="unknown reconstruction method")

    a = Acquisition.load(acq_file)
    data = acq_file.read_bytes()
    (tmp_path / "cut.npz").write_bytes(data[: len(data) // 3])
    fails("reconstruct", tmp_path / "cut.npz", "--out", out, match="truncated")
    k = a.kspace.copy()
    k[0, 0, 0, 0] = np.nan
    np.savez(tmp_path / "nan.npz", kspace=k, mask=a.mask)
    fails("reconstruct", tmp_path / "nan.npz", "--out", out, match="NaN or Inf")
    np.savez(tmp_path / "empty.npz", kspace=a.kspace, mask=np.zeros_like(a.mask))
    fails("reconstruct", tmp_path / "empty.npz", "--out", out, match="mask is empty")
    np.savez(tmp_path / "ones.npz", kspace=a.kspace, mask=np.ones_like(a.mask))
    fails("reconstruct", tmp_path / "ones.npz", "--out", out, match="samples all of k-space")
    np.savez(tmp_path / "mismatch.npz", kspace=a.kspace, mask=a.mask[..., :-2])
    fails("reconstruct", tmp_path / "mismatch.npz", "--out", out, match="does not match k-space")
    np.savez(tmp_path / "flat.npz", kspace=a.kspace[0], mask=a.mask[0])
    fails("reconstruct", tmp_path / "flat.npz", "--out", out, match="must be (S, T, H, W)")
    np.savez(tmp_path / "nomask.npz", kspace=a.kspace)
    fails("reconstruct", tmp_path / "nomask.npz", "--out", out, match="missing key 'mask'")
    np.savez(tmp_path / "notarget.npz", kspace=a.kspace, mask=a.mask)
    run("reconstruct", acq_file, "--out", tmp_path / "r.npz")
    fails("evaluate", tmp_path / "r.npz", "--reference", tmp_path / "notarget.npz", match="no ground truth")
    fails("evaluate", acq_file, "--reference", acq_file, match="missing key 'recon'")
    assert not out.exists()  # nothing half-written


def test_demo_and_info(tmp_path):
    res = run("demo", "--data", "phantom", "--out", tmp_path / "d", "--frames", 6)
    assert "| zero-filled |" in res.output
    for name in ["acq.npz", "recon-zero-filled.npz", "metrics.json", "metrics.md", "comparison.gif", "comparison.mp4", "mask_kt.png", "xt_profiles.png"]:
        assert (tmp_path / "d" / name).stat().st_size > 0, name
    assert (tmp_path / "d" / "recon-lps.npz").stat().st_size > 0  # every applicable method ran
    assert "| lps |" in res.output and "| fista-owl |" not in res.output  # calibrationless needs coils
    info = run("info").output
    assert "zero-filled" in info and "fista-wavelet-tfft" in info and "fista-grouplasso" in info


def test_demo_realtime_scenario(tmp_path):
    """The default demo: a real-time series with an ectopic beat, scored for motion, the gated cine
    a clinic would have beside the reconstructions; lps beats it on the irregular frames."""
    import json

    from dynmri.eval.realtime import REALTIME_WRITES

    res = run("demo", "--out", tmp_path / "d", "--frames", 80, "--size", 48)
    assert "real-time series (subject0: 80 frames of 40 ms, 48x48)" in res.output and "networks trained at 64x64" in res.output
    for name in [w for w in REALTIME_WRITES if "*" not in w] + ["recon-lps.npz", "recon-zero-filled.npz"]:  # summary.png too
        assert (tmp_path / "d" / name).stat().st_size > 0, name
    rows = json.loads((tmp_path / "d" / "metrics.json").read_text())
    networks = [f"lpsnet-{p}-realtime-8x" for p in ("ddei", "supervised-gated", "supervised-oracle")]  # shipped for it
    assert list(rows) == ["gated cine (fully sampled, binned)", "zero-filled", "admm-wavelet-ttv", "lps", *networks]
    assert all(rows[n]["psnr"][0] > rows["zero-filled"]["psnr"][0] + 8 for n in networks)
    assert rows["lps"]["psnr_irregular"][0] > rows["gated cine (fully sampled, binned)"]["psnr_irregular"][0]
    assert rows["lps"]["lv_area_rmse_ectopic"][0] < rows["zero-filled"]["lv_area_rmse_ectopic"][0]


@pytest.mark.parametrize("command", ["simulate", "reconstruct", "evaluate", "demo", "benchmark", "learn-trajectory", "train", "weights", "models", "info"])
def test_help_has_examples(command):
    res = run(command, "--help")
    assert "Example" in res.output and f"dynmri {command}" in res.output


def test_console_script_and_fast_import(tmp_path):
    code = "import time, sys; t = time.perf_counter(); import dynmri; dt = time.perf_counter() - t; print(dt, 'torch' in sys.modules)"
    dt, torch_loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert float(dt) < 1.0 and torch_loaded == "False"
    res = subprocess.run([sys.executable, "-m", "dynmri", "simulate", "--accel", "0", "--out", str(tmp_path / "a.npz")], capture_output=True, text=True)
    assert res.returncode == 2 and res.stderr.strip() == "error: acceleration must be > 1, got 0.0"


def test_reconstruct_cs_options(tmp_path, acq_file):
    out = tmp_path / "r.npz"
    run("reconstruct", acq_file, "--method", "fista-wavelet-tfft", "--iters", 5, "--set", "lam_tfft=0.001", "--set", "levels=2", "--out", out)
    meta = Reconstruction.load(out).meta
    assert meta["config"]["n_iter"] == 5 and meta["config"]["lam_tfft"] == 0.001 and meta["config"]["levels"] == 2
    assert len(meta["cost_per_iteration"]) == 1 and 1 <= len(meta["cost_per_iteration"][0]) <= 5
    cfg = tmp_path / "cs.yaml"
    cfg.write_text("n_iter: 3\nwavelet: db4\n")
    run("reconstruct", acq_file, "--method", "lps", "--config", cfg, "--out", out)
    assert Reconstruction.load(out).meta["config"]["wavelet"] == "db4"
    fails("reconstruct", acq_file, "--method", "lps", "--set", "nope=1", "--out", out, match="expected FIELD=VALUE")
    fails("reconstruct", acq_file, "--method", "lps", "--set", "n_iter=many", "--out", out, match="not a valid int")
    fails("reconstruct", acq_file, "--method", "fista-wavelet", "--lam", -1, "--out", out, match="lam must be")
    fails("reconstruct", acq_file, "--method", "pogm-wavelet", "--iters", 0, "--out", out, match="n_iter must be")
    fails("reconstruct", acq_file, "--method", "fista-owl", "--out", out, match="needs multi-coil k-space")


def test_benchmark_command(tmp_path):
    out = tmp_path / "b"
    res = run("benchmark", "--data", "phantom", "--accel", "4,8", "--methods", "lps,zero-filled", "--frames", 4, "--crop", 32, "--iters", 5, "--out", out)
    assert "| zero-filled | 4 |" in res.output and "| lps | 8 |" in res.output
    rows = json.loads((out / "results.json").read_text())["rows"]
    assert [(r["method"], r["accel"]) for r in rows] == [("zero-filled", 4), ("lps", 4), ("zero-filled", 8), ("lps", 8)]
    assert all(r["psnr"] > 10 and r["frames_per_second"] > 0 for r in rows)
    for name in ["results.csv", "results.md", "per_frame_psnr_4x.png", "per_frame_psnr_8x.png", "comparison_4x.gif", "comparison_8x.gif"]:
        assert (out / name).stat().st_size > 0, name
    fails("benchmark", "--methods", "magic", "--out", out, match="unknown methods")


def test_benchmark_auto_tune_adds_ground_truth_free_rows(tmp_path):
    """--auto-tune adds a row per tunable method, its weights and stopping iteration chosen on
    each acquisition without ground truth, recorded in results.json/csv (other rows leave the
    cells empty)."""
    out = tmp_path / "b"
    res = run("benchmark", "--data", "phantom", "--accel", "8", "--methods", "zero-filled,lps", "--frames", 4, "--crop", 32,
              "--iters", 5, "--auto-tune", "holdout", "--tune-slices", 1, "--out", out)
    assert "| lps (GT-free: holdout) | 8 |" in res.output
    rows = json.loads((out / "results.json").read_text())["rows"]
    assert [r["method"] for r in rows] == ["zero-filled", "lps", "lps (GT-free: holdout)"]
    assert rows[2]["tuned"].startswith("lam_l=") and "n_iter=" in rows[2]["tuned"] and rows[2]["tune_seconds"] > 0
    assert rows[2]["psnr"] > rows[0]["psnr"]
    header, *lines = (out / "results.csv").read_text().splitlines()
    assert header.endswith(",tuned,tune_seconds") and lines[0].endswith(",,")


def test_benchmark_tells_networks_with_the_same_loss_apart(tmp_path):
    from dynmri.models.weights import shipped_weights

    path = shipped_weights()["crnn-ddei-sunnybrook-8x"]
    out = tmp_path / "b"
    run("benchmark", "--data", "phantom", "--accel", "8", "--methods", "zero-filled", "--frames", 4, "--crop", 32,
        "--models", f"crnn-ddei-sunnybrook-8x,{path}", "--out", out)
    rows = json.loads((out / "results.json").read_text())["rows"]
    assert [r["method"] for r in rows] == ["zero-filled", "crnn-ddei group=compose", f"crnn-ddei group=compose ({path})"]
    assert rows[1]["psnr"] == rows[2]["psnr"]
    fails("benchmark", "--accel", "4,x", "--out", out, match="comma-separated numbers")


def test_weights_export_bad_inputs(tmp_path):
    fails("weights", "--export", tmp_path, match="--export needs --name")
    fails("weights", "--export", tmp_path / "nothing", "--name", "x", match="no checkpoint.pt")
    fails("train", "--loss", "ddei", "--loss-opt", "group=product", "--data", "phantom", "--epochs", 1, "--out", tmp_path / "r", match="group must be")


def test_reconstruct_auto_tune_records_its_choice(tmp_path):
    """``--auto-tune holdout`` picks the weights and iterations from the data and records them."""
    from dynmri.data.files import Reconstruction

    acq, out = tmp_path / "a.npz", tmp_path / "r.npz"
    assert runner.invoke(app, ["simulate", "--out", str(acq), "--frames", "4", "--size", "32"]).exit_code == 0
    res = runner.invoke(app, ["reconstruct", str(acq), "--method", "lps", "--auto-tune", "holdout", "--out", str(out)])
    assert res.exit_code == 0, res.output
    assert "auto-tune (holdout" in res.output
    meta = Reconstruction.load(out).meta
    tuned = meta["auto_tune"]
    assert tuned["criterion"] == "holdout" and set(tuned["weights"]) == {"lam_l", "lam_s"}
    assert meta["config"]["n_iter"] == tuned["n_iter"] and meta["config"]["lam_l"] == tuned["weights"]["lam_l"]


# --------------------------------------------------------------------------- many files, one start-up


@pytest.fixture
def three_acqs(tmp_path):
    for i in range(3):
        run("simulate", "--data", "phantom", "--accel", 4, "--frames", 4, "--size", 32, "--seed", i, "--out", tmp_path / "in" / f"a{i}.npz")
    return sorted((tmp_path / "in").glob("*.npz"))


def test_reconstruct_many_files_equals_one_at_a_time(tmp_path, three_acqs):
    """A quoted glob and --out-dir: each output named after its input and equal to the one-file
    command's; a table of per-file and total times; a summary JSON."""
    res = run("reconstruct", str(tmp_path / "in" / "a*.npz"), "--method", "lps", "--iters", 3, "--out-dir", tmp_path / "o")
    assert "| total (3 files) |" in res.output and "reconstruct-summary.json" in res.output
    summary = json.loads((tmp_path / "o" / "reconstruct-summary.json").read_text())
    assert summary["finished"] == summary["of"] == 3 and summary["method"] == "lps" and summary["precision"] == "fp32"
    assert [Path(f["output"]).name for f in summary["files"]] == ["a0.npz", "a1.npz", "a2.npz"]
    assert all(f["status"] == "ok" and f["frames"] == 4 and f["seconds"] > 0 for f in summary["files"])
    for acq in three_acqs:
        run("reconstruct", acq, "--method", "lps", "--iters", 3, "--out", tmp_path / "one.npz")
        np.testing.assert_array_equal(Reconstruction.load(tmp_path / "o" / acq.name).recon, Reconstruction.load(tmp_path / "one.npz").recon)
    assert sorted(p.name for p in (tmp_path / "o").iterdir()) == ["a0.npz", "a1.npz", "a2.npz", "reconstruct-summary.json"]


def test_reconstruct_many_files_loads_the_network_once(tmp_path, three_acqs, monkeypatch):
    import dynmri.models.weights as weights

    real, loads = weights.load_trained, []
    monkeypatch.setattr(weights, "load_trained", lambda path: loads.append(path) or real(path))
    res = run("reconstruct", *three_acqs, "--model", "crnn-ddei-sunnybrook-8x", "--device", "cpu", "--out-dir", tmp_path / "o")
    assert len(loads) == 1 and "loaded the network once" in res.output
    run("reconstruct", three_acqs[1], "--model", "crnn-ddei-sunnybrook-8x", "--out", tmp_path / "one.npz")
    np.testing.assert_array_equal(Reconstruction.load(tmp_path / "o" / "a1.npz").recon, Reconstruction.load(tmp_path / "one.npz").recon)


def test_reconstruct_bf16_on_cpu_is_close_to_fp32(tmp_path, acq_file):
    """--precision bf16 runs the network under autocast (its physics in float32): a different
    reconstruction, as good as fp32 (PSNR within 0.3 dB)."""
    psnr = {}
    for precision in ("fp32", "bf16"):
        out = tmp_path / f"{precision}.npz"
        run("reconstruct", acq_file, "--model", "crnn-ddei-sunnybrook-8x", "--device", "cpu", "--precision", precision, "--out", out)
        run("evaluate", out, "--reference", acq_file, "--json", tmp_path / f"{precision}.json")
        psnr[precision] = json.loads((tmp_path / f"{precision}.json").read_text())["psnr"]
    a, b = (Reconstruction.load(tmp_path / f"{p}.npz").recon for p in ("fp32", "bf16"))
    assert not np.array_equal(a, b) and abs(psnr["bf16"] - psnr["fp32"]) < 0.3, psnr


def test_evaluate_many_files(tmp_path, three_acqs):
    """Several reconstructions of one acquisition against one reference, and one reference each."""
    recs = []
    for method in ("zero-filled", "lps"):
        recs.append(tmp_path / f"{method}.npz")
        run("reconstruct", three_acqs[0], "--method", method, "--iters", 2, "--out", recs[-1])
    res = run("evaluate", *recs, "--reference", three_acqs[0], "--out-dir", tmp_path / "scores")
    assert f"| {recs[0]} |" in res.output and "| total (2 files) |" in res.output
    run("evaluate", recs[1], "--reference", three_acqs[0], "--json", tmp_path / "m.json")
    one = json.loads((tmp_path / "m.json").read_text())
    assert json.loads((tmp_path / "scores" / "lps.json").read_text()) == one
    summary = json.loads((tmp_path / "scores" / "evaluate-summary.json").read_text())
    assert [f["psnr"] for f in summary["files"]][1] == one["psnr"] and summary["finished"] == 2
    run("reconstruct", *three_acqs, "--out-dir", tmp_path / "zf")
    res = run("evaluate", str(tmp_path / "zf" / "a*.npz"), *[a for acq in three_acqs for a in ("--reference", acq)])
    assert res.output.count("| zero-filled |") == 0 and "| total (3 files) |" in res.output
    assert not (tmp_path / "zf" / "evaluate-summary.json").exists()  # no --out-dir: nothing written
    (tmp_path / "other").mkdir()
    shutil.copy(recs[0], tmp_path / "other" / "lps.npz")  # same name as recs[1]: fine when nothing is written
    res = run("evaluate", recs[1], tmp_path / "other" / "lps.npz", "--reference", three_acqs[0])
    assert "| total (2 files) |" in res.output
