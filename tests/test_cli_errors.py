"""Hostile and bad input through the command line (docs/reliability.md, "The command line").

One table, one row per class of bad input: each must exit with status 2 and exactly one
``error: ...`` line on stderr, print no traceback, and change nothing on disk: no new file or
folder, no input rewritten, anywhere under the row's folder (its working folder holds every
input) or in the package's weights. Every row runs in a fresh working folder, in-process, and
fails during validation (tiny inputs), so the whole table takes seconds.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import signal
import threading
from pathlib import Path

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from dynmri.cli import app
from dynmri.config import TrainConfig

runner = CliRunner()
MARKER = "PWNED"  # what a hostile .pt creates in the working folder when it is unpickled
TINY = TrainConfig(data="phantom", n_phantoms=4, phantom_frames=8, phantom_size=32, crop=None, window=4, stride=4,
                   model_cfg={"channels": 4, "cascades": 1}, loss="mc", epochs=1, steps_per_epoch=1)


class _Hostile:
    """Unpickling it runs ``touch PWNED`` in the working folder."""

    def __reduce__(self):
        return (os.system, (f"touch {MARKER}",))


def _yaml_files(d: Path) -> None:
    files = {"accel-eight.yaml": "accel: eight\n", "frames-float.yaml": "frames: 3.5\n", "epochs-ten.yaml": "epochs: ten\n",
             "model-cfg.yaml": "model_cfg: 5\n", "syntax.yaml": "accel: 4\nframes: [1, 2\n", "list.yaml": "- accel\n- 4\n",
             "unknown.yaml": "acceleration: 4\n", "n-iter.yaml": "n_iter: many\n",
             "networks.yaml": "networks: [evil.pt]\nmethods: [zero-filled]\nframes: 2\ncrop: 32\naccel: 4\n",
             "accel-mix.yaml": "accel_mix: [8, 1]\n",
             "lps-weights.yaml": "model: lps-crnn\nmodel_cfg: {iterations: 2, lps_weights: no-such-net}\n"}
    for name, text in files.items():
        (d / name).write_text(text)
    (d / "latin1.yaml").write_bytes("data: caf\xe9\n".encode("latin-1"))


def _broken_runs(d: Path, run: Path) -> None:
    """Run folders whose checkpoints are hostile, text or truncated; single .pt files of each kind."""
    state = torch.load(run / "checkpoint.pt", weights_only=False)
    raw = (run / "checkpoint.pt").read_bytes()
    kinds = {"evil": lambda f: torch.save(state | {"payload": _Hostile()}, f), "text": lambda f: f.write_text("model: crnn\n"),
             "trunc": lambda f: f.write_bytes(raw[: len(raw) // 2])}
    for kind, write in kinds.items():
        folder = Path(shutil.copytree(run, d / f"{kind}-run"))
        for name in ("checkpoint.pt", "best.pt"):
            write(folder / name)
        shutil.copy(folder / "best.pt", d / f"{kind}.pt")
    (d / "empty.pt").write_bytes(b"")


def _arrays(d: Path) -> None:
    """An acquisition, its reconstruction and broken array files."""
    from dynmri.config import SimulateConfig
    from dynmri.data.acquire import simulate_from_config
    from dynmri.data.files import Reconstruction
    from dynmri.recon.run import run_method

    acq = simulate_from_config(SimulateConfig(accel=4, frames=4, size=32))
    acq.save(d / "acq.npz")
    Reconstruction(run_method(acq, "zero-filled")[0], {"method": "zero-filled"}).save(d / "rec.npz")
    np.savez(d / "object.npz", kspace=np.array([{"a": 1}], dtype=object), mask=acq.mask)
    np.savez(d / "strings.npz", kspace=np.array(["a", "b"]), mask=acq.mask)
    (d / "demo").mkdir()
    shutil.copy(d / "acq.npz", d / "demo" / "acq.npz")
    shutil.copy(d / "rec.npz", d / "demo" / "rec.npz")
    (d / "cine").mkdir()  # a (DICOM) data folder
    (d / "folder.npz").mkdir()
    os.symlink("acq.npz", d / "link.npz")
    os.symlink("rec.npz", d / "link.json")


@pytest.fixture(scope="module")
def inputs(tmp_path_factory) -> Path:
    """Every file a row names, in one folder copied into each row's working folder."""
    from dynmri.learn.train import train

    d = tmp_path_factory.mktemp("inputs")
    train(TINY, d / "run", progress=False)
    _arrays(d)
    _broken_runs(d, d / "run")
    _yaml_files(d)
    return d


SIM = ["simulate", "--frames", "2", "--size", "32"]
REC = ["reconstruct", "acq.npz"]
NET = [*REC, "--model", "run", "--out", "r.npz"]
EVAL = ["evaluate", "rec.npz", "--reference", "acq.npz"]
BENCH = ["benchmark", "--frames", "2", "--crop", "32", "--methods", "zero-filled"]
TRAIN = ["train", "--data", "phantom", "--epochs", "1", "--steps-per-epoch", "1", "--crop", "32"]
LEARN = ["learn-trajectory", "--steps", "1"]
SEED = "seed must be in 0..2147483647"

# (arguments, a fragment of the error line): one row per class of bad input
ROWS = [
    # usage errors, any command
    (["models", "--bad"], "No such option: --bad"),
    (["info", "extra"], "unexpected extra argument"),
    (["nosuch"], "No such command 'nosuch'"),
    ([*SIM], "Missing option '--out'"),
    ([*SIM, "--frames", "x", "--out", "o.npz"], "Invalid value for '--frames'"),
    # simulate: options
    ([*SIM, "--seed", "-1", "--out", "o.npz"], SEED),
    ([*SIM, "--threads", "-1", "--out", "o.npz"], "--threads must be >= 1, got -1"),
    ([*SIM, "--threads", "0", "--out", "o.npz"], "--threads must be >= 1, got 0"),
    ([*SIM, "--snr", "nan", "--out", "o.npz"], "snr must be a finite number (dB), got nan"),
    ([*SIM, "--snr", "inf", "--out", "o.npz"], "snr must be a finite number (dB), got inf"),
    ([*SIM, "--accel", "nan", "--out", "o.npz"], "acceleration must be a finite number > 1, got nan"),
    ([*SIM, "--accel", "0.5", "--out", "o.npz"], "acceleration must be > 1, got 0.5"),
    ([*SIM, "--accel", "500", "--out", "o.npz"], "acceleration 500.0 is impossible with 32 phase-encoding lines"),
    ([*SIM, "--trajectory", "radial-golden", "--accel", "1e9", "--out", "o.npz"], "acceleration must be in [1, 51] for a 32x32 image"),
    ([*SIM, "--trajectory", "radial-golden", "--n-samples", "0", "--out", "o.npz"], "n_samples must be >= 2, got 0"),
    ([*SIM, "--trajectory", "text.pt", "--out", "o.npz"], "text.pt: unsupported file type '.pt'"),
    ([*SIM, "--size", "4", "--out", "o.npz"], "size must be >= 8 pixels, got 4"),
    ([*SIM, "--crop", "3", "--out", "o.npz"], "crop must be >= 8 pixels, got 3"),
    ([*SIM, "--mask", "spiral", "--out", "o.npz"], "unknown mask kind"),
    ([*SIM, "--data", "missing", "--out", "o.npz"], "missing: no such file or folder"),
    ([*SIM, "--data", "acq.npz", "--out", "o.npz"], "acq.npz: is an acquisition file written by dynmri, not images"),
    # simulate: outputs
    ([*SIM, "--out", "o.txt"], "--out o.txt: unsupported file type .txt"),
    ([*SIM, "--out", "folder.npz"], "--out folder.npz: is a folder"),
    ([*SIM, "--out", "acq.npz/x.npz"], "acq.npz is a file, not a folder"),
    ([*SIM, "--data", "acq.npz", "--out", "./acq.npz"], "--out acq.npz is the --data acq.npz"),
    # YAML files
    ([*SIM, "--config", "missing.yaml", "--out", "o.npz"], "missing.yaml: config file not found"),
    ([*SIM, "--config", "syntax.yaml", "--out", "o.npz"], "syntax.yaml: invalid YAML at line 3, column 1"),
    ([*SIM, "--config", "latin1.yaml", "--out", "o.npz"], "latin1.yaml: not UTF-8 text (byte 0xe9 at offset 9)"),
    ([*SIM, "--config", "list.yaml", "--out", "o.npz"], "list.yaml: config must be a mapping"),
    ([*SIM, "--config", "unknown.yaml", "--out", "o.npz"], "unknown.yaml: unknown config keys ['acceleration']"),
    ([*SIM, "--config", "accel-eight.yaml", "--out", "o.npz"], "accel-eight.yaml: accel must be float, got 'eight'"),
    ([*SIM, "--config", "frames-float.yaml", "--out", "o.npz"], "frames-float.yaml: frames must be int, got 3.5"),
    ([*REC, "--method", "lps", "--config", "n-iter.yaml", "--out", "r.npz"], "n-iter.yaml: n_iter must be int, got 'many'"),
    ([*TRAIN, "--config", "epochs-ten.yaml", "--out", "r"], "epochs-ten.yaml: epochs must be int, got 'ten'"),
    ([*TRAIN, "--trajectory", "radial-golden", "--n-samples", "1", "--out", "r"], "n_samples must be >= 2, got 1"),
    ([*TRAIN, "--config", "model-cfg.yaml", "--out", "r"], "model-cfg.yaml: model_cfg must be dict, got 5"),
    ([*TRAIN, "--config", "accel-mix.yaml", "--out", "r"], "acceleration must be > 1, got 1"),
    ([*TRAIN, "--config", "lps-weights.yaml", "--out", "r"], "no-such-net: not a run folder, a weights file or a shipped name"),
    (["benchmark", "--config", "networks.yaml", "--out", "b"], "evil.pt: refused to load"),
    # reconstruct: outputs (checked before any work), never onto an input
    ([*REC, "--out", "acq.npz"], "--out acq.npz is the acquisition acq.npz"),
    ([*REC, "--out", "./acq.npz"], "--out acq.npz is the acquisition acq.npz"),
    ([*REC, "--out", "link.npz"], "--out link.npz is the acquisition acq.npz"),
    ([*REC, "--out", "hard.npz"], "--out hard.npz is the acquisition acq.npz"),
    ([*REC, "--out", "r.txt"], "--out r.txt: unsupported file type .txt"),
    ([*REC, "--out", "r.npz", "--video", "v.txt"], "--video v.txt: unsupported file type .txt; use .gif, .mp4"),
    ([*REC, "--out", "r.npz", "--video", "acq.npz/v.gif"], "acq.npz is a file, not a folder"),
    ([*REC, "--out", "r.npz", "--threads", "-2"], "--threads must be >= 1, got -2"),
    # reconstruct: inputs
    (["reconstruct", "missing.npz", "--out", "r.npz"], "missing.npz: file not found"),
    (["reconstruct", "object.npz", "--out", "r.npz"], "object.npz: array 'kspace' holds Python objects (a pickle), refused"),
    (["reconstruct", "strings.npz", "--out", "r.npz"], "strings.npz: array 'kspace' must hold numbers"),
    (["reconstruct", "rec.npz", "--out", "r.npz"], "rec.npz: missing key 'kspace'"),
    ([*REC, "--method", "magic", "--out", "r.npz"], "unknown reconstruction method"),
    ([*REC, "--format", "png", "--out", "r.npz"], "--format 'png': valid formats are file, dicom, nifti"),
    ([*REC, "--format", "nifti", "--out", "r.nii.txt"], "r.nii.txt"),
    ([*REC, "--coil-maps", "magic", "--out", "r.npz"], "unknown coil-map estimator 'magic'"),
    ([*REC, "--method", "lps", "--auto-tune", "sure", "--out", "r.npz"], "--auto-tune 'sure': valid criteria are holdout, discrepancy"),
    ([*REC, "--method", "zero-filled", "--auto-tune", "holdout", "--out", "r.npz"], "zero-filled has no weights to tune; tunable methods"),
    ([*REC, "--method", "lps", "--auto-tune", "holdout", "--tune-slices", "0", "--out", "r.npz"], "--tune-slices must be >= 1"),
    ([*REC, "--method", "fista-owl", "--out", "r.npz"], "fista-owl needs multi-coil k-space"),
    ([*REC, "--method", "lps", "--set", "levels=99", "--out", "r.npz"], "levels must be in 1..5 for 32x32 images, got 99"),
    ([*REC, "--method", "lps", "--set", "levels=0", "--out", "r.npz"], "levels must be >= 1, got 0"),
    ([*REC, "--method", "lps", "--set", "nope=1", "--out", "r.npz"], "--set 'nope=1': expected FIELD=VALUE"),
    ([*REC, "--method", "lps", "--iters", "0", "--out", "r.npz"], "n_iter must be >= 1, got 0"),
    ([*REC, "--method", "lps", "--lam", "nan", "--out", "r.npz"], "lam must be a finite number >= 0, got nan"),
    ([*REC, "--out", "r.npz", "--video", "v.gif", "--slice", "5"], "--slice must be in 0..0 (acq.npz has 1 slice(s)), got 5"),
    # reconstruct --model: untrusted and broken weights, windows
    ([*REC, "--model", "evil.pt", "--out", "r.npz"], "evil.pt: refused to load: it holds Python objects other than weights (posix.system)"),
    ([*REC, "--model", "evil-run", "--out", "r.npz"], "evil-run/best.pt: refused to load"),
    ([*REC, "--model", "text.pt", "--out", "r.npz"], "text.pt: not a checkpoint written by torch.save"),
    ([*REC, "--model", "trunc.pt", "--out", "r.npz"], "trunc.pt: not a dynmri checkpoint or corrupted"),
    ([*REC, "--model", "empty.pt", "--out", "r.npz"], "empty.pt: empty file, not a checkpoint"),
    ([*REC, "--model", "nonet", "--out", "r.npz"], "nonet: not a run folder, a weights file or a shipped name"),
    ([*NET, "--window", "0"], "window must be >= 2 frames, got 0"),
    ([*NET, "--overlap", "-1"], "overlap must be >= 0 frames, got -1"),
    ([*NET, "--window", "4", "--overlap", "4"], "overlap must be in [0, window) = [0, 4), got 4"),
    # reconstruct: many files (--out-dir), all checked before anything is written
    (["reconstruct", "acq.npz", "rec.npz", "--out", "r.npz"], "--out names one file but 2 acquisitions were given; use --out-dir"),
    ([*REC, "--out", "r.npz", "--out-dir", "o"], "give --out FILE (one acquisition) or --out-dir FOLDER (any number), not both"),
    ([*REC], "Missing option '--out' (one acquisition) or '--out-dir' (any number)"),
    (["reconstruct", "nomatch*.npz", "--out-dir", "o"], "nomatch*.npz: no file matches this pattern"),
    ([*REC, "missing.npz", "--out-dir", "o"], "missing.npz: file not found"),
    ([*REC, "cine", "--out-dir", "o"], "cine: is a folder, not an acquisition file"),
    ([*REC, "./acq.npz", "--out-dir", "o"], "acq.npz and acq.npz would both be written to o/acq.npz"),
    ([*REC, "demo/acq.npz", "--out-dir", "o"], "acq.npz and demo/acq.npz would both be written to o/acq.npz"),
    (["reconstruct", "demo/acq.npz", "--out-dir", "demo"], "--out-dir demo would overwrite the input demo/acq.npz"),
    ([*REC, "--out-dir", "acq.npz"], "--out-dir acq.npz: exists and is not a folder"),
    ([*REC, "--model", "run", "--out-dir", "run"], "--out-dir run is the --model run"),
    ([*REC, "--out-dir", "o", "--video", "v.gif"], "--video writes one file"),
    ([*REC, "rec.npz", "--out-dir", "o"], "rec.npz: missing key 'kspace'"),
    ([*REC, "object.npz", "--out-dir", "o"], "object.npz: array 'kspace' holds Python objects (a pickle), refused"),
    ([*REC, "hard.npz", "--method", "fista-owl", "--out-dir", "o"], "fista-owl needs multi-coil k-space"),
    ([*REC, "hard.npz", "--model", "evil.pt", "--out-dir", "o"], "evil.pt: refused to load"),
    ([*REC, "hard.npz", "--format", "png", "--out-dir", "o"], "--format 'png': valid formats are file, dicom, nifti"),
    # reconstruct: --device, --precision
    ([*REC, "--out", "r.npz", "--device", "tpu"], "device must be one of auto, cpu, cuda, cuda:N, got 'tpu'"),
    ([*REC, "--out", "r.npz", "--device", "cuda:99"], "device 'cuda:99': this machine has"),
    *([([*REC, "--out", "r.npz", "--device", "cuda"], "device 'cuda': this machine has no CUDA device"),
       ([*REC, "--out", "r.npz", "--device", "cuda:3"], "device 'cuda:3': this machine has no CUDA device")]
      if not torch.cuda.is_available() else []),
    ([*NET, "--precision", "fp16"], "precision must be one of fp32, bf16, got 'fp16'"),
    ([*REC, "--out", "r.npz", "--precision", "bf16"], "--precision bf16 applies to networks (--model)"),
    # evaluate: many files
    (["evaluate", "rec.npz", "rec.npz", "--reference", "acq.npz", "--json", "m.json"], "--json writes one file"),
    ([*EVAL, "--out-dir", "o", "--json", "m.json"], "--json writes one file"),
    ([*EVAL, "--reference", "acq.npz", "--reference", "acq.npz"], "give one for all reconstructions or one per reconstruction (1), got 3"),
    (["evaluate", "nomatch*.npz", "--reference", "acq.npz"], "nomatch*.npz: no file matches this pattern"),
    ([*EVAL, "--out-dir", "acq.npz"], "--out-dir acq.npz: exists and is not a folder"),
    (["evaluate", "rec.npz", "acq.npz", "--reference", "acq.npz", "--out-dir", "o"], "acq.npz: missing key 'recon'"),
    (["evaluate", "rec.npz", "demo/rec.npz", "--reference", "acq.npz", "--out-dir", "o"], "would both be written to o/rec.json"),
    (["evaluate", "rec.npz", "--reference", "missing.npz", "--out-dir", "o"], "missing.npz: file not found"),
    # evaluate
    ([*EVAL, "--roi", "1"], "roi must be >= 11 pixels (the SSIM window), got 1"),
    ([*EVAL, "--roi", "64"], "roi must be in 11..32 pixels for these images, got 64"),
    ([*EVAL, "--json", "m.txt"], "--json m.txt: unsupported file type .txt; use .json"),
    ([*EVAL, "--json", "link.json"], "--json link.json is the reconstruction rec.npz"),
    (["evaluate", "acq.npz", "--reference", "acq.npz"], "acq.npz: missing key 'recon'"),
    (["evaluate", "rec.npz", "--reference", "rec.npz"], "rec.npz: missing key 'kspace'"),
    # benchmark
    ([*BENCH, "--accel", "", "--out", "b"], "accel is empty"),
    ([*BENCH, "--accel", "4,x", "--out", "b"], "expected comma-separated numbers"),
    ([*BENCH, "--accel", "4,inf", "--out", "b"], "every acceleration must be a finite number > 1"),
    ([*BENCH, "--accel", "4,500", "--out", "b"], "acceleration 500.0 is impossible with 32 phase-encoding lines"),
    (["benchmark", "--methods", "", "--out", "b"], "methods is empty and no networks are given"),
    (["benchmark", "--methods", "magic", "--out", "b"], "unknown methods ['magic']"),
    ([*BENCH, "--auto-tune", "sure", "--out", "b"], "auto_tune must be holdout or discrepancy, got 'sure'"),
    ([*BENCH, "--auto-tune", "holdout", "--tune-slices", "0", "--out", "b"], "tune_slices must be >= 1"),
    ([*BENCH, "--seed", "-1", "--out", "b"], SEED),
    ([*BENCH, "--crop", "3", "--out", "b"], "crop must be >= 8 pixels (0 for none), got 3"),
    ([*BENCH, "--models", "evil.pt", "--out", "b"], "evil.pt: refused to load"),
    ([*BENCH, "--models", "text.pt", "--out", "b"], "text.pt: not a checkpoint written by torch.save"),
    ([*BENCH, "--models", "trunc.pt", "--out", "b"], "trunc.pt: not a dynmri checkpoint or corrupted"),
    ([*BENCH, "--out", "acq.npz"], "--out acq.npz: exists and is not a folder"),
    ([*BENCH, "--out", "acq.npz/b"], "acq.npz is a file, not a folder"),
    ([*BENCH, "--data", "cine", "--out", "cine"], "--out cine is the --data cine"),
    # demo
    (["demo", "--seed", "-1", "--out", "d"], SEED),
    (["demo", "--accel", "1", "--out", "d"], "acceleration must be > 1, got 1.0"),
    (["demo", "--frames", "0", "--out", "d"], "frames must be >= 1, got 0"),
    (["demo", "--crop", "3", "--out", "d"], "crop must be >= 8 pixels, got 3"),
    (["demo", "--crop", "32", "--out", "d"], "--crop does not apply to the real-time scenario (set its image size with --size)"),
    (["demo", "--data", "phantom-realtime-gated", "--out", "d"], "demo --data phantom-realtime-gated: the demo scores against the true"),
    (["demo", "--size", "4", "--out", "d"], "size must be >= 8 pixels, got 4"),
    (["demo", "--frames", "10", "--out", "d"], "--frames 10: subject 0's ectopic beat is not within the series; the demo scores it (use --frames 71 or more)"),
    (["demo", "--slices", "12", "--out", "d"], "--slices '12' selects [12] outside 0..9"),
    (["demo", "--threads", "-1", "--out", "d"], "--threads must be >= 1"),
    (["demo", "--out", "acq.npz"], "--out acq.npz: exists and is not a folder"),
    (["demo", "--data", "demo/acq.npz", "--out", "demo"], "--out demo would overwrite the --data demo/acq.npz"),
    # train
    ([*TRAIN, "--loss-opt", "weight=abc", "--out", "r"], "option 'weight' of loss 'ddei' must be float, got 'abc'"),
    ([*TRAIN, "--loss-opt", "nosuch=1", "--out", "r"], "unknown option 'nosuch' for loss 'ddei'"),
    ([*TRAIN, "--loss-opt", "noequals", "--out", "r"], "--loss-opt 'noequals': expected KEY=VALUE"),
    ([*TRAIN, "--loss", "magic", "--out", "r"], "unknown loss 'magic'"),
    ([*TRAIN, "--model", "nonet", "--out", "r"], "unknown model 'nonet'"),
    ([*TRAIN, "--steps-per-epoch", "0", "--out", "r"], "steps_per_epoch must be >= 1, got 0"),
    ([*TRAIN, "--steps-per-epoch", "-1", "--out", "r"], "steps_per_epoch must be >= 1, got -1"),
    ([*TRAIN, "--seed", "-1", "--out", "r"], SEED),
    ([*TRAIN, "--lr", "inf", "--out", "r"], "lr must be a finite number > 0, got inf"),
    ([*TRAIN, "--data", "missing", "--out", "r"], "missing: no such file or folder"),
    ([*TRAIN, "--out", "acq.npz"], "--out acq.npz: exists and is not a folder"),
    ([*TRAIN, "--data", "cine", "--out", "cine"], "--out cine is the --data cine"),
    ([*TRAIN, "--out", "run"], "run already holds a run; pass resume=True (--resume)"),
    ([*TRAIN, "--out", "run", "--resume"], "resume needs the configuration the run was trained with, except epochs"),
    ([*TRAIN, "--out", "evil-run", "--resume"], "evil-run/checkpoint.pt: refused to load"),
    ([*TRAIN, "--out", "text-run", "--resume"], "text-run/checkpoint.pt: not a checkpoint written by torch.save"),
    ([*TRAIN, "--out", "trunc-run", "--resume"], "trunc-run/checkpoint.pt: not a dynmri checkpoint or corrupted"),
    # weights
    (["weights", "--export", "run"], "--export needs --name"),
    (["weights", "--export", "run", "--name", "../x"], "invalid weights name '../x'"),
    (["weights", "--export", "cine", "--name", "x"], "cine: no checkpoint.pt (not a training run folder)"),
    (["weights", "--export", "evil-run", "--name", "x"], "evil-run/checkpoint.pt: refused to load"),
    (["weights", "--export", "text-run", "--name", "x"], "text-run/checkpoint.pt: not a checkpoint written by torch.save"),
    (["weights", "--export", "trunc-run", "--name", "x"], "trunc-run/checkpoint.pt: not a dynmri checkpoint or corrupted"),
    # learn-trajectory
    ([*LEARN, "--crop", "3", "--out", "lt"], "crop must be >= 8 pixels (0 for none), got 3"),
    ([*LEARN, "--seed", "-1", "--out", "lt"], SEED),
    ([*LEARN, "--decimation", "3", "--out", "lt"], "decimation must be a power of 2, got 3"),
    ([*LEARN, "--gmax", "0", "--out", "lt"], "gmax must be a finite number > 0, got 0.0"),
    ([*LEARN, "--accel", "1e9", "--out", "lt"], "acceleration must be in [1, 101] for a 64x64 image"),
    ([*LEARN, "--init", "zigzag", "--out", "lt"], "unknown trajectory 'zigzag'"),
    ([*LEARN, "--out", "acq.npz"], "--out acq.npz: exists and is not a folder"),
    ([*LEARN, "--data", "cine", "--out", "cine"], "--out cine is the --data cine"),
    # ---- train-engine (issue 15): devices, precision, workers, the global batch of a resume ----
    ([*TRAIN, "--device", "tpu", "--out", "r"], "device must be one of auto, cpu, cuda, cuda:N, got 'tpu'"),
    *([([*TRAIN, "--device", "cuda", "--out", "r"], "device 'cuda': this machine has no CUDA device")] if not torch.cuda.is_available() else []),
    *([([*TRAIN, "--device", "cuda:3", "--out", "r"], "device 'cuda:3': this machine has")] if torch.cuda.device_count() <= 3 else []),
    ([*TRAIN, "--precision", "fp16", "--out", "r"], "precision must be one of fp32, bf16, got 'fp16'"),
    ([*TRAIN, "--workers", "-1", "--out", "r"], "workers must be >= 0, got -1"),
    ([*TRAIN, "--out", "run", "--resume", "--batch-size", "2"], "resume needs the global batch the run was trained with, batch_size x processes = 1 x 1 = 1; got 2 x 1 = 2"),
    # ---- end of train-engine rows ----
]

# ---- issue 15 (devices): --device / --precision on benchmark, demo and learn-trajectory --------------------
# A device this machine lacks is refused before anything is written; "cuda" and "cuda:3" only where no CUDA exists.
DEVICE_COMMANDS = [[*BENCH, "--out", "b"], ["demo", "--frames", "2", "--out", "d"], [*LEARN, "--out", "lt"]]
ROWS += [(args[:-2] + ["--device", "cuda:99", *args[-2:]], "device 'cuda:99': this machine has") for args in DEVICE_COMMANDS]
ROWS += [(args[:-2] + ["--device", "gpu", *args[-2:]], "device must be one of auto, cpu, cuda, cuda:N, got 'gpu'") for args in DEVICE_COMMANDS]
ROWS += [(args[:-2] + ["--precision", "fp16", *args[-2:]], "precision must be one of fp32, bf16, got 'fp16'") for args in DEVICE_COMMANDS[:2]]
if not torch.cuda.is_available():
    ROWS += [(args[:-2] + ["--device", spec, *args[-2:]], f"device '{spec}': this machine has no CUDA device")
             for args in DEVICE_COMMANDS for spec in ("cuda", "cuda:3")]
# ---- end of the issue-15 devices block -------------------------------------------------------------------------


def _snapshot(root: Path) -> dict[str, str]:
    """Every path under ``root`` (links not followed): a link's target, a file's hash, or a folder."""
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            p = Path(dirpath) / name
            key = str(p.relative_to(root))
            if p.is_symlink():
                out[key] = "-> " + os.readlink(p)
            elif p.is_dir():
                out[key] = "folder"
            else:
                out[key] = hashlib.sha1(p.read_bytes()).hexdigest()
    return out


def _weights() -> list[str]:
    from dynmri.models.weights import weights_dir

    return sorted(p.name for p in weights_dir().iterdir())


@pytest.fixture
def workdir(inputs, tmp_path, monkeypatch) -> Path:
    """A fresh working folder holding every input (``hard.npz`` a hard link of ``acq.npz``)."""
    cwd = Path(shutil.copytree(inputs, tmp_path / "cwd", symlinks=True))
    os.link(cwd / "acq.npz", cwd / "hard.npz")
    monkeypatch.chdir(cwd)
    return cwd


def _fails_cleanly(args: list[str], fragment: str, root: Path):
    """Run ``dynmri ARGS``: exit status 2, one ``error:`` line holding ``fragment``, nothing changed under ``root``."""
    before, weights = _snapshot(root), _weights()
    res = runner.invoke(app, args)
    errors = [line for line in res.stderr.splitlines() if line.startswith("error:")]
    assert res.exit_code == 2, (res.exit_code, res.output, res.exception)
    assert len(errors) == 1 and fragment in errors[0], res.stderr
    assert "Traceback" not in res.output and isinstance(res.exception, SystemExit), res.output
    assert _snapshot(root) == before and _weights() == weights, "files changed"
    return res


@pytest.mark.parametrize("args, fragment", ROWS, ids=[" ".join(a)[:70] for a, _ in ROWS])
def test_bad_input_is_one_error_line_and_changes_nothing(args, fragment, workdir, tmp_path):
    _fails_cleanly(args, fragment, tmp_path)
    assert not (workdir / MARKER).exists()


def test_the_table_covers_every_command():
    commands = {args[0] for args, _ in ROWS}
    assert {"simulate", "reconstruct", "evaluate", "benchmark", "demo", "train", "weights", "learn-trajectory", "models", "info"} <= commands
    assert len(ROWS) >= 60


def test_the_hostile_files_are_really_hostile(inputs, tmp_path, monkeypatch):
    """The rows' evil .pt files do run code when loaded unsafely (so the rows test something)."""
    monkeypatch.chdir(tmp_path)
    torch.load(inputs / "evil.pt", weights_only=False)
    assert (tmp_path / MARKER).exists()


# --------------------------------------------------------------------------- concurrent writers


@pytest.mark.parametrize("args, target", [
    ([*SIM, "--out", "o.npz"], "o.npz"),
    ([*REC, "--out", "r.npz"], "r.npz"),
    ([*REC, "--out", "r.npz", "--video", "v.gif"], "v.gif"),
    ([*EVAL, "--json", "m.json"], "m.json"),
    ([*BENCH, "--accel", "4", "--out", "b"], "b"),
    (["demo", "--frames", "2", "--out", "d"], "d"),
    ([*LEARN, "--out", "lt"], "lt"),
    ([*TRAIN, "--out", "r"], "r"),
], ids=lambda v: v if isinstance(v, str) else v[0])
def test_a_second_writer_is_refused_while_the_output_is_locked(args, target, workdir, tmp_path):
    """Another dynmri process (here a thread) holds the output: the command is refused at once."""
    from dynmri.fileio import exclusive_lock

    locked, release = threading.Event(), threading.Event()

    def hold():
        with exclusive_lock(workdir / target):
            locked.set()
            release.wait(30)

    holder = threading.Thread(target=hold)
    holder.start()
    try:
        assert locked.wait(10)
        lock = sorted(p.name for p in workdir.iterdir() if p.name.endswith(".lock"))
        res = _fails_cleanly(args, f"{target} is being written by another dynmri process (pid {os.getpid()}", tmp_path)
    finally:
        release.set()
        holder.join()
    assert lock == [f".{target}.lock"] and res.stdout == ""


# --------------------------------------------------------------------------- all outputs or none


def test_a_failed_video_leaves_no_reconstruction(workdir, monkeypatch):
    """The video fails after the reconstruction: neither file is written (it used to leave r.npz)."""
    import dynmri.eval.figures as figures
    from dynmri.errors import DataError

    def broken(path, *args, **kwargs):
        raise DataError(f"{path}: cannot encode the video")

    monkeypatch.setattr(figures, "save_comparison", broken)
    before = _snapshot(workdir)
    res = runner.invoke(app, [*REC, "--out", "r.npz", "--video", "v.gif"])
    assert res.exit_code == 2 and res.stderr.strip().splitlines()[-1] == "error: v.gif: cannot encode the video"
    assert _snapshot(workdir) == before


def test_errors_name_the_users_path_not_the_temporary_file(workdir, monkeypatch):
    """A write that fails in its hidden temporary file (disk full) names the user's file."""
    import errno

    import imageio.v2 as imageio

    def full(path, *args, **kwargs):
        assert Path(path).name.startswith(".v.") and ".tmp" in Path(path).name
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))

    monkeypatch.setattr(imageio, "mimsave", full)
    res = runner.invoke(app, [*REC, "--out", "out/r.npz", "--video", "out/v.gif"])
    assert res.exit_code == 2 and res.stderr.strip().splitlines()[-1] == "error: out/v.gif: No space left on device", res.stderr
    assert not (workdir / "out").exists()


def test_user_paths_maps_temporary_files_back():
    from dynmri.cli.common import user_paths

    assert user_paths("a/.r.12-ab12cd.0f3e2a1b.tmp.npz: denied") == "a/r.npz: denied"
    assert user_paths("'..r.1-ab12cd.00000000.tmp.2-ab12cd.11111111.tmp.npz'") == "'r.npz'"  # a temporary file of a temporary file
    assert user_paths("a.b.npz and .hidden stay") == "a.b.npz and .hidden stay"


# --------------------------------------------------------------------------- signals, global RNG


def test_main_installs_the_sigterm_handler(monkeypatch):
    import sys

    from dynmri.cli import main
    from dynmri.fileio import _on_terminate

    previous = signal.getsignal(signal.SIGTERM)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    monkeypatch.setattr(sys, "argv", ["dynmri", "models", "--help"])
    try:
        with pytest.raises(SystemExit) as exit_:
            main()
        assert exit_.value.code == 0 and signal.getsignal(signal.SIGTERM) is _on_terminate
    finally:
        signal.signal(signal.SIGTERM, previous)


def test_reconstruct_with_a_model_leaves_the_global_rng_alone(inputs, tmp_path):
    """What ``reconstruct --model`` runs (reconstruct_file with a network) draws nothing from the global RNG."""
    from dynmri.eval.runs import reconstruct_file
    from dynmri.recon.run import network_method

    torch.manual_seed(1234)
    before = torch.get_rng_state()
    stats = reconstruct_file(inputs / "acq.npz", tmp_path / "r.npz", network_method(inputs / "run"), window=2, overlap=1, progress=False)
    assert stats.network["window"] == 2 and (tmp_path / "r.npz").is_file()
    assert torch.equal(torch.get_rng_state(), before)



# --------------------------------------------------------------------------- many files: a failure mid-run


def test_a_file_failing_mid_run_stops_and_keeps_the_finished_outputs(workdir, monkeypatch):
    """Every input passes the up-front checks; the second one fails while it is reconstructed:
    exit 2, one error line naming what was kept; the first output stays (atomic), nothing else is
    written but the summary, which records ok / failed / not run."""
    import json

    import dynmri.recon.run as run_layer
    from dynmri.errors import DataError

    shutil.copy(workdir / "acq.npz", workdir / "b.npz")
    shutil.copy(workdir / "acq.npz", workdir / "c.npz")
    real, calls = run_layer.run_method, []

    def flaky(acq, *args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise DataError("b.npz: corrupt beyond what the checks see")
        return real(acq, *args, **kwargs)

    monkeypatch.setattr(run_layer, "run_method", flaky)
    res = runner.invoke(app, ["reconstruct", "acq.npz", "b.npz", "c.npz", "--out-dir", "o"])
    errors = [line for line in res.stderr.splitlines() if line.startswith("error:")]
    assert res.exit_code == 2 and len(errors) == 1 and "Traceback" not in res.output, res.output
    assert errors[0] == ("error: b.npz: corrupt beyond what the checks see (stopped at b.npz, file 2 of 3; "
                         "1 finished and kept: o/acq.npz; summary in o/reconstruct-summary.json)")
    assert sorted(p.name for p in (workdir / "o").iterdir()) == ["acq.npz", "reconstruct-summary.json"]
    summary = json.loads((workdir / "o" / "reconstruct-summary.json").read_text())
    assert [f["status"] for f in summary["files"]] == ["ok", "failed", "not run"] and summary["finished"] == 1
