"""Side-by-side timing of the previous and the current dynmri, for ``inference_speed.py`` and
``train_step.py``.

The previous code is ``git archive REF src`` of this repository, unpacked in a temporary
folder; each side runs in its own worker process (``python SCRIPT --worker`` with
``PYTHONPATH`` on its ``src``), and the driver alternates the two sides call by call, so that
both see the same load of a shared machine. A worker reads one JSON request per line and
answers one JSON line prefixed with :data:`TAG` (anything else it prints is ignored).
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
TAG = "@@result "


def previous_src(ref: str, dest: Path) -> Path:
    """Unpack ``src/`` of commit ``ref`` under ``dest``; returns the ``src`` folder."""
    archive = subprocess.run(["git", "-C", str(REPO), "archive", ref, "src"], check=True, capture_output=True).stdout
    subprocess.run(["tar", "-x", "-C", str(dest)], input=archive, check=True)
    return dest / "src"


class Worker:
    """A ``python SCRIPT --worker`` process importing dynmri from ``src``."""

    def __init__(self, script: str, src: Path, name: str):
        env = {**os.environ, "PYTHONPATH": str(src), "OMP_NUM_THREADS": "2"}
        self.name = name
        self.proc = subprocess.Popen([sys.executable, script, "--worker"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     text=True, env=env, cwd=str(REPO))

    def call(self, request: dict) -> dict:
        self.proc.stdin.write(json.dumps(request) + "\n")
        self.proc.stdin.flush()
        for line in self.proc.stdout:
            if line.startswith(TAG):
                return json.loads(line[len(TAG):])
        raise RuntimeError(f"the {self.name} worker stopped (request {request})")

    def close(self) -> None:
        self.proc.stdin.close()
        self.proc.wait(timeout=60)


def side_by_side(script: str, ref: str, requests: list[dict], repeats: int) -> list[dict]:
    """Run every request ``repeats`` times on both sides, alternating; for each request returns
    ``{"before": [answers], "after": [answers]}``. The first call of each side is an untimed
    warm-up, made with ``"warmup": True`` and ``"save"`` formatted with ``side`` (``before`` or
    ``after``): where a worker writes its output, for the driver to compare the two."""
    with tempfile.TemporaryDirectory() as tmp:
        sides = {"before": Worker(script, previous_src(ref, Path(tmp)), "before"), "after": Worker(script, REPO / "src", "after")}
        try:
            results = []
            for req in requests:
                for name, w in sides.items():
                    w.call({**req, "warmup": True, "save": req.get("save", "").format(side=name)})
                got = {name: [] for name in sides}
                for _ in range(repeats):
                    for name, w in sides.items():
                        got[name].append(w.call({**req, "save": ""}))
                results.append(got)
            return results
        finally:
            for w in sides.values():
                w.close()


def median(answers: list[dict], key: str) -> float:
    return statistics.median(a[key] for a in answers)


def serve(handle: Callable[[dict], dict]) -> None:
    """The worker loop: one JSON request per line of stdin, one tagged JSON answer per line."""
    for line in sys.stdin:
        print(TAG + json.dumps(handle(json.loads(line))), flush=True)
