"""Tables and reports: the one Markdown table writer, the tables of every command and benchmark
built on it, CSV/JSON/Markdown file writers, and the print-and-save epilogue of the benchmarks.

Examples
--------
>>> print(markdown_table(["method", "PSNR (dB)"], [["lps", "36.66"], ["zero-filled", "29.83"]]))
| method | PSNR (dB) |
|---|---|
| lps | 36.66 |
| zero-filled | 29.83 |
"""

from __future__ import annotations

import csv
import io
import json
import os
from collections.abc import Mapping, Sequence

from dynmri.fileio import write_text_atomic


def markdown_row(cells: Sequence) -> str:
    """One row of a GitHub Markdown table; cells are formatted with ``str``."""
    return "| " + " | ".join(map(str, cells)) + " |"


def markdown_table(header: Sequence[str], rows: Sequence[Sequence], title: str | None = None) -> str:
    """A GitHub Markdown table; cells are formatted with ``str``; ``title`` goes above it."""
    lines = [] if title is None else [title, ""]
    lines.append(markdown_row(header))
    lines.append("|" + "---|" * len(header))
    lines += [markdown_row(r) for r in rows]
    return "\n".join(lines)


def mean_std(m: Mapping, key: str, digits: int) -> str:
    """``"mean +- std"`` of metric ``key`` of an :func:`~dynmri.eval.metrics.evaluate` result."""
    return f"{m[key]:.{digits}f} +- {m[key + '_std']:.{digits}f}"


def metrics_table(rows: Mapping[str, Mapping], title: str | None = None) -> str:
    """A table of ``{name: evaluate(...)}``: PSNR and SSIM (mean +- std over frames) and NMSE;
    ``title`` is shown in bold above it."""
    body = [[name, mean_std(m, "psnr", 2), mean_std(m, "ssim", 3), f"{m['nmse']:.4f}"] for name, m in rows.items()]
    return markdown_table(["method", "PSNR (dB)", "SSIM", "NMSE"], body, title=None if title is None else f"**{title}**")


def benchmark_table(rows: Sequence[Mapping], title: str | None = None) -> str:
    """A table of benchmark rows (:func:`dynmri.eval.benchmark.score_row`): method, R, quality, time."""
    body = [[x["method"], f"{x['accel']:g}", mean_std(x, "psnr", 2), mean_std(x, "ssim", 3), f"{x['nmse']:.4f}",
             f"{x['seconds']:.1f}", f"{x['frames_per_second']:.1f}"] for x in rows]
    return markdown_table(["method", "R", "PSNR (dB)", "SSIM", "NMSE", "time (s)", "frames/s"], body, title)


def trajectory_table(rows: Mapping[str, Mapping], title: str | None = None) -> str:
    """A table of :func:`dynmri.learn.trajectory.compare` rows: quality of the density-compensated
    adjoint and of CG, and the peak gradient and slew relative to the scanner limits."""
    header = ["trajectory", "samples", "DC adjoint PSNR (dB)", "SSIM", "CG-10 PSNR (dB)", "SSIM", "max G / limit",
              "max slew / limit", "violations"]
    body = [[name, r["samples"], f"{r['dcomp_psnr']:.2f}", f"{r['dcomp_ssim']:.3f}", f"{r['cg_psnr']:.2f}", f"{r['cg_ssim']:.3f}",
             f"{r['gradient_ratio']:.2f}", f"{r['slew_ratio']:.2f}", r["violations"]] for name, r in rows.items()]
    return markdown_table(header, body, title)


def write_csv(path: str | os.PathLike, rows: Sequence[Mapping]) -> None:
    """Write ``rows`` (dicts; the columns: every key, in first-seen order; a row without one
    leaves its cell empty) as CSV, atomically."""
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(dict.fromkeys(k for row in rows for k in row)), restval="")
    writer.writeheader()
    writer.writerows(rows)
    write_text_atomic(path, buf.getvalue())


def write_json(path: str | os.PathLike, obj) -> None:
    """Write ``obj`` as indented JSON, atomically."""
    write_text_atomic(path, json.dumps(obj, indent=1))


def write_markdown(path: str | os.PathLike, text: str) -> None:
    """Write a Markdown ``text`` (a table) with a final newline, atomically."""
    write_text_atomic(path, text + "\n")


def report(text: str, path: str | os.PathLike | None = None) -> None:
    """Print a benchmark's table and, when ``path`` is given, write it there atomically."""
    print(text)
    if path:
        write_markdown(path, text)


def write_runs(out: str | os.PathLike, acq, runs: Sequence[tuple], rows: Mapping, table: str) -> None:
    """The common files of a demo in folder ``out``, each atomically: ``acq.npz``, one
    ``recon-{label}.npz`` per run ``(label, recon (S, T, H, W), RunStats)``, ``metrics.md``
    (``table``) and ``metrics.json`` (``rows``)."""
    from pathlib import Path

    from dynmri.data.files import Reconstruction

    out = Path(out)
    acq.save(out / "acq.npz")
    for label, recon, stats in runs:
        Reconstruction(recon, {"method": stats.method, "seconds": stats.seconds}).save(out / f"recon-{label}.npz")
    write_markdown(out / "metrics.md", table)
    write_json(out / "metrics.json", rows)
