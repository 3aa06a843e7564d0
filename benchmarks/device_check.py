"""Device check (issue 15): what dynmri does on this machine's GPUs, in one table, in under 5 minutes.

Usage::

    PYTHONPATH=src python benchmarks/device_check.py [--data DIR] [--steps 20] [--timeout 120] [--out device-check.md]

Steps (each isolated: a failing step is reported, the others still run; each subprocess has a
timeout):

1. ``cuda-tests``: the CUDA-only tests (``pytest -k cuda``: the CUDA rows of the shared operator
   tests, Cartesian and non-Cartesian on cufinufft, the cufinufft-vs-finufft, gradient and
   trajectory-learning tests, the ``--device`` rows of the CLI table);
2. ``train-ddei``: 2 epochs of DDEI training of the CRNN on the Sunnybrook short axis
   (``dynmri train --device cuda --steps-per-epoch N``, a subprocess), seconds per step;
3. ``inference``: reconstruct a simulated 8x Sunnybrook acquisition (held-out slices) with the
   shipped ``crnn-ddei-sunnybrook-8x`` on CUDA (fp32, and bf16 when the run layer takes a
   precision) and on the CPU (every core): frames/s and the speed-up, and how far the CUDA
   reconstruction is from the CPU one;
4. ``noncartesian``: a golden-angle radial 8x acquisition of one slice, density-compensated
   adjoint and 10 L+S iterations on cufinufft vs finufft: frames/s and relative difference;
5. ``ddp``: ``torchrun --nproc-per-node N -m dynmri train ...`` on all N visible GPUs (skipped,
   with a message, when N < 2).

On a machine without CUDA it says so and runs the CPU parts quickly (tiny training, CPU-only
inference), so that the script itself can be smoke-tested anywhere.
"""

from __future__ import annotations

import argparse
import inspect
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
SHIPPED = "crnn-ddei-sunnybrook-8x"


def _env() -> dict:
    """The environment of the subprocesses: ``src`` first on the path."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT / "src"), env.get("PYTHONPATH")) if p)
    return env


def _run(cmd: list[str], timeout: float) -> str:
    """Run ``cmd`` from the repository root; raise with its last lines when it fails."""
    res = subprocess.run(cmd, cwd=ROOT, env=_env(), capture_output=True, text=True, timeout=timeout)
    if res.returncode != 0:
        tail = " | ".join((res.stdout + res.stderr).strip().splitlines()[-3:])
        raise RuntimeError(f"exit {res.returncode}: {tail}")
    return res.stdout


def find_data(given: str | None) -> str:
    """The Sunnybrook short axis: ``given``, ``$DYNMRI_DATA``/``../shared/data``, ``shared/data``; else ``phantom``."""
    from dynmri.data.sources import default_data_root

    candidates = [Path(given)] if given else []
    candidates += [default_data_root() / "sunnybrook-ep-cine" / "E774S5-shortAxis", ROOT / "shared" / "data" / "sunnybrook-ep-cine" / "E774S5-shortAxis"]
    for c in candidates:
        if c.is_dir():
            return str(c)
    return "phantom"


# --------------------------------------------------------------------------- steps: each returns its figure


def step_cuda_tests(args, cuda: bool) -> str:
    if not cuda:
        return "skipped: no CUDA device"
    files = ["tests/test_operators.py", "tests/test_noncartesian.py", "tests/test_devices.py", "tests/test_cli_errors.py"]
    out = _run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-k", "cuda", "-rs", *files], args.timeout)
    lines = out.strip().splitlines()
    skips = [ln for ln in lines if ln.startswith("SKIPPED")]
    return lines[-1].strip("= ") + (f"; {skips[0]}" if skips else "")


def _train_cmd(args, data: str, out: Path, device: str, epochs: int, steps: int) -> list[str]:
    config = ROOT / "src" / "dynmri" / "configs" / "train-crnn-ddei-sunnybrook.yaml"
    cmd = ["-m", "dynmri", "train", "--config", str(config), "--data", data, "--epochs", str(epochs), "--steps-per-epoch", str(steps),
           "--device", device, "--out", str(out)]
    return cmd if device != "cpu" and data != "phantom" else cmd + ["--crop", "64"]  # the CPU smoke test: small images


def step_train(args, cuda: bool, data: str) -> str:
    steps = args.steps if cuda else 1
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        _run([sys.executable, *_train_cmd(args, data, Path(tmp) / "run", "cuda" if cuda else "cpu", 2, steps)], args.timeout)
        secs = time.perf_counter() - t0
    return f"{'cuda' if cuda else 'cpu'}: 2 epochs x {steps} steps in {secs:.1f} s (with start-up and validation), {secs / (2 * steps):.2f} s/step"


def _acquisition(data: str, slices: str, trajectory: str | None = None, frames: int = 20):
    from dynmri.config import SimulateConfig
    from dynmri.data.acquire import simulate_from_config

    crop = None if data == "phantom" else 128
    sim = SimulateConfig(data=data, accel=8, frames=frames, crop=crop, slices=slices, seed=0, trajectory=trajectory)
    return simulate_from_config(sim.validate())


def _test_slices(data: str, n: int) -> str:
    from dynmri.eval.benchmark import benchmark_slices

    return "all" if data == "phantom" else ",".join(benchmark_slices(data).split(",")[:n])


def _timed(acq, method: str, device: str, **kw):
    """``(recon, frames/s)`` on ``device`` (on CUDA after a warm-up run: context, cuDNN, plans)."""
    from dynmri.recon.run import run_method

    if device != "cpu":
        run_method(acq, method, device=device, **kw)
    recon, stats = run_method(acq, method, device=device, **kw)
    return recon, stats.frames_per_second


def step_inference(args, cuda: bool, data: str) -> str:
    from dynmri.recon.run import network_method, run_method

    method = network_method(SHIPPED)
    torch.set_num_threads(os.cpu_count() or 1)
    one = _acquisition(data, _test_slices(data, 1), frames=20 if cuda else 12)  # the CPU reference: one slice
    cpu_rec, cpu_fps = _timed(one, method, "cpu")
    shape = f"{one.frames} frames {one.image_shape[0]}x{one.image_shape[1]}"
    if not cuda:
        return f"1 slice x {shape}: cpu {cpu_fps:.1f} frames/s ({torch.get_num_threads()} threads); no CUDA"
    acq = _acquisition(data, _test_slices(data, 3))
    gpu_rec, gpu_fps = _timed(acq, method, "cuda")
    diff = np.linalg.norm(_timed(one, method, "cuda")[0] - cpu_rec) / np.linalg.norm(cpu_rec)
    fig = (f"{acq.kspace.shape[0]} slice(s) x {shape}: cuda {gpu_fps:.1f} frames/s, cpu {cpu_fps:.1f} (1 slice, {torch.get_num_threads()} "
           f"threads): {gpu_fps / cpu_fps:.1f}x; |cuda - cpu| {diff:.1e} (1 slice)")
    if "precision" in inspect.signature(run_method).parameters:
        bf_rec, bf_fps = _timed(acq, method, "cuda", precision="bf16")  # the run layer takes a precision (issue 15)
        fig += f"; bf16 {bf_fps:.1f} frames/s, |bf16 - fp32| {np.linalg.norm(bf_rec - gpu_rec) / np.linalg.norm(gpu_rec):.1e}"
    return fig


def step_noncartesian(args, cuda: bool, data: str) -> str:
    from dynmri.config import CSConfig
    from dynmri.physics.nufft import nufft_backend

    if not cuda:
        return "skipped: no CUDA device"
    nufft_backend("cuda")  # names what to install when cufinufft is missing
    acq = _acquisition(data, _test_slices(data, 1), trajectory="radial-golden")
    parts = []
    for method, kw in (("zero-filled", {}), ("lps", {"config": CSConfig(n_iter=10)})):
        cpu, cpu_fps = _timed(acq, method, "cpu", **kw)
        gpu, gpu_fps = _timed(acq, method, "cuda", **kw)
        diff = np.linalg.norm(gpu - cpu) / np.linalg.norm(cpu)
        if not diff < 1e-3:
            raise RuntimeError(f"{method}: cufinufft and finufft reconstructions differ by {diff:.1e}")
        parts.append(f"{method} cuda {gpu_fps:.0f} vs cpu {cpu_fps:.0f} frames/s (diff {diff:.0e})")
    return "; ".join(parts)


def step_ddp(args, cuda: bool, data: str) -> str:
    n = torch.cuda.device_count() if cuda else 0
    if n < 2:
        return f"skipped: {n} GPU(s) visible, DDP needs 2 or more"
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        _run([sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc-per-node={n}",
              *_train_cmd(args, data, Path(tmp) / "run", "cuda", 2, args.steps)], args.timeout)  # ... -m dynmri train ...
        secs = time.perf_counter() - t0
    return f"{n} GPUs: 2 epochs x {args.steps} steps in {secs:.1f} s (with start-up)"


# --------------------------------------------------------------------------- driver


def run_steps(steps, log=print) -> list[tuple[str, str, float, str]]:
    """Run every ``(name, fn)``; one row per step: ``(name, ok|FAILED|skipped, seconds, figure or error)``."""
    rows = []
    for name, fn in steps:
        t0 = time.perf_counter()
        try:
            figure = fn()
            status = "skipped" if figure.startswith("skipped") else "ok"
        except Exception as exc:  # noqa: BLE001  (isolated steps: report and carry on)
            figure, status = " ".join(f"{type(exc).__name__}: {exc}".split())[:400], "FAILED"
        rows.append((name, status, time.perf_counter() - t0, figure))
        log(f"{name}: {status} ({rows[-1][2]:.1f} s) {figure}")
    return rows


def table(rows, title: str) -> str:
    lines = [title, "", "| step | status | seconds | figure |", "|---|---|---|---|"]
    lines += [f"| {n} | {s} | {t:.1f} | {f.replace('|', '/')} |" for n, s, t, f in rows]
    return "\n".join(lines)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", default=None, help="Sunnybrook short-axis folder (default: found under the data root, else the phantom)")
    p.add_argument("--steps", type=int, default=20, help="training steps per epoch on CUDA")
    p.add_argument("--timeout", type=float, default=120, help="seconds allowed to each subprocess")
    p.add_argument("--out", type=Path, default=None, help="also write the table (Markdown) here")
    args = p.parse_args(argv)
    cuda = torch.cuda.is_available()
    data = find_data(args.data)
    if cuda:
        names = ", ".join(torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count()))
        title = f"Device check: {torch.cuda.device_count()} CUDA device(s) ({names}), torch {torch.__version__}, data {Path(data).name}"
    else:
        title = f"Device check: NO CUDA DEVICE on this machine; only the CPU parts run (quickly). torch {torch.__version__}, data {Path(data).name}"
    print(title, flush=True)
    steps = [("cuda-tests", lambda: step_cuda_tests(args, cuda)), ("train-ddei", lambda: step_train(args, cuda, data)),
             ("inference", lambda: step_inference(args, cuda, data)), ("noncartesian", lambda: step_noncartesian(args, cuda, data)),
             ("ddp", lambda: step_ddp(args, cuda, data))]
    rows = run_steps(steps, log=lambda line: print(line, flush=True))
    text = table(rows, title)
    print("\n" + text)
    if args.out is not None:
        args.out.write_text(text + "\n")
    return 1 if any(s == "FAILED" for _, s, _, _ in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
