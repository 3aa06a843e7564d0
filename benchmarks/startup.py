"""Start-up of every ``dynmri`` command, the previous code and this one side by side, and the
cost of K files in one command against K commands.

Usage::

    python benchmarks/startup.py [--repeats 5] [--files 8] [--old 90e8498] [--out bench-out/startup.md]

The previous code is ``git archive OLD src`` of this repository, unpacked in a temporary folder;
both versions run as ``python -m dynmri ...`` subprocesses (PYTHONPATH pointing at each ``src``),
interleaved (old, new, new, old, ...) on the same small inputs (a 32x32, 4-frame acquisition), one
torch thread. Each cell is the median wall time of the whole process (interpreter, imports,
work, exit). The last rows reconstruct ``--files`` acquisitions: the previous code needs one
command per file, this one takes them all in one command (``--out-dir``).
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _before_after import previous_src  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
NETWORK = "crnn-ddei-sunnybrook-8x"


def _commands(files: list[str]) -> list[tuple[str, list[list[str]], list[list[str]]]]:
    """``(label, old invocations, new invocations)``: each invocation is one process."""
    acq = files[0]
    many_old = [["reconstruct", f, "--out", f"old-{Path(f).stem}.npz"] for f in files]
    many_new = [["reconstruct", *files, "--out-dir", "new-many"]]
    one = lambda *a: ([list(a)], [list(a)])  # noqa: E731
    return [
        ("dynmri --help", *one("--help")),
        ("simulate", *one("simulate", "--frames", "4", "--size", "32", "--out", "s.npz")),
        ("reconstruct zero-filled", *one("reconstruct", acq, "--out", "r0.npz")),
        ("reconstruct lps (2 iterations)", *one("reconstruct", acq, "--method", "lps", "--iters", "2", "--out", "r1.npz")),
        ("reconstruct network", *one("reconstruct", acq, "--model", NETWORK, "--out", "r2.npz")),
        ("evaluate", *one("evaluate", "ref.npz", "--reference", acq)),
        ("info", *one("info")),
        (f"reconstruct zero-filled, {len(files)} files", many_old, many_new),
        (f"reconstruct network, {len(files)} files",
         [[*c, "--model", NETWORK] for c in many_old], [[*many_new[0][:-1], "new-many-net", "--model", NETWORK]]),
    ]


def _run(src: Path, invocations: list[list[str]], cwd: Path) -> float:
    """Wall time of the processes ``python -m dynmri ARGS``, one after the other."""
    env = {**os.environ, "PYTHONPATH": str(src), "OMP_NUM_THREADS": "1", "TQDM_DISABLE": "1"}
    t0 = time.perf_counter()
    for args in invocations:
        res = subprocess.run([sys.executable, "-m", "dynmri", *args], cwd=cwd, env=env, capture_output=True, text=True)
        if res.returncode != 0:
            raise SystemExit(f"{src}: dynmri {' '.join(args)} failed:\n{res.stderr}")
    return time.perf_counter() - t0


def _setup(work: Path, old_rev: str, n_files: int) -> tuple[Path, list[str]]:
    old = work / "old"
    old.mkdir()
    old_src = previous_src(old_rev, old)
    new_src = ROOT / "src"
    files = []
    for i in range(n_files):
        files.append(f"acq{i}.npz")
        _run(new_src, [["simulate", "--frames", "4", "--size", "32", "--seed", str(i), "--out", files[-1]]], work)
    _run(new_src, [["reconstruct", files[0], "--out", "ref.npz"]], work)
    return old_src, files


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--files", type=int, default=8)
    p.add_argument("--old", default="90e8498", help="git revision of the previous code")
    p.add_argument("--out", type=Path, default=None, help="also write the table here (Markdown)")
    args = p.parse_args()
    work = Path(tempfile.mkdtemp(prefix="dynmri-startup-"))
    try:
        old_src, files = _setup(work, args.old, args.files)
        rows = _commands(files)
        times = {label: {"old": [], "new": []} for label, _, _ in rows}
        for r in range(args.repeats):
            for label, old_calls, new_calls in rows:
                order = (("old", old_src, old_calls), ("new", ROOT / "src", new_calls))
                for which, src, calls in order if r % 2 == 0 else order[::-1]:
                    times[label][which].append(_run(src, calls, work))
            print(f"repeat {r + 1}/{args.repeats} done", file=sys.stderr)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    lines = [f"| command | previous ({args.old}) s | now s | speed-up |", "|---|---:|---:|---:|"]
    for label, t in times.items():
        old_s, new_s = statistics.median(t["old"]), statistics.median(t["new"])
        lines.append(f"| {label} | {old_s:.2f} | {new_s:.2f} | {old_s / new_s:.2f}x |")
    table = "\n".join(lines) + f"\n\nMedian of {args.repeats} interleaved runs, whole processes, 1 torch thread.\n"
    print(table)
    if args.out is not None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(table)


if __name__ == "__main__":
    main()
