"""One table from several ``dynmri benchmark`` runs: PSNR per method and acceleration side by side,
networks trained with several seeds on one row (the mean, then each seed), frames/s of one column.

Usage::

    python benchmarks/benchmark_table.py --results gaussian=bench-out/g/results.json \\
        --results vd5=bench-out/v/results.json [--fps gaussian:8] [--out table.md]

A row is a method label, or for networks the ``network`` spec with ``seed<N>`` replaced by
``seed*`` (run folders ``...-seed0``, ``...-seed1`` are one row), shown as ``label (spec)``. A tag given twice joins the rows of
both files (benchmarks run in parts); a method in both counts once. Cells are PSNR in dB (mean over the
test frames, as the benchmark reports; for several seeds the mean of the seeds' values, then the
values). Nothing is recomputed: every number comes from the ``results.json`` files.
"""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path

SEED = re.compile(r"seed\d+")


def row_key(row: dict) -> str:
    return SEED.sub("seed*", row["network"]) if "network" in row else row["method"]


def build_table(results: dict[str, list[dict]], fps: tuple[str, float] | None = None) -> str:
    """``results``: tag -> rows of a results.json. Returns a markdown table."""
    cols = [(tag, a) for tag, rows in results.items() for a in sorted({r["accel"] for r in rows})]
    groups: dict[str, dict] = {}
    for tag, rows in results.items():
        for r in rows:
            key = row_key(r)
            # a network is named by its label and its spec: two runs of one model and loss stay apart
            label = f"{r['method'].split(' (')[0]} ({key})" if "network" in r else r["method"]
            g = groups.setdefault(key, {"label": label, "cells": {}, "fps": [], "seen": set()})
            # one value per run: a method in two results files of one tag (e.g. zero-filled) counts once
            run = r.get("network", r["method"])
            if (run, tag, r["accel"]) in g["seen"]:
                continue
            g["seen"].add((run, tag, r["accel"]))
            g["cells"].setdefault((tag, r["accel"]), []).append(r["psnr"])
            if fps and (tag, r["accel"]) == fps:
                g["fps"].append(r["frames_per_second"])

    def cell(v):
        if not v:
            return "-"
        mean = sum(v) / len(v)
        return f"{mean:.2f}" + (f" ({' / '.join(f'{x:.2f}' for x in v)})" if len(v) > 1 else "")

    head = ["method", *(f"{t} {a:g}x" for t, a in cols)] + ([f"frames/s ({fps[0]} {fps[1]:g}x)"] if fps else [])
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for g in groups.values():
        cells = [cell(g["cells"].get(c)) for c in cols]
        if fps:
            cells.append(f"{sum(g['fps']) / len(g['fps']):.1f}" if g["fps"] else "-")
        lines.append("| " + " | ".join([g["label"], *cells]) + " |")
    return "\n".join(lines)


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--results", action="append", required=True, help="TAG=PATH to a results.json (repeatable)")
    p.add_argument("--fps", help="TAG:ACCEL whose frames/s to show")
    p.add_argument("--out", type=Path)
    args = p.parse_args()
    results = {}
    for item in args.results:  # a tag given twice: the rows of both files
        tag, _, path = item.partition("=")
        results.setdefault(tag, []).extend(json.loads(Path(path).read_text())["rows"])
    fps = None
    if args.fps:
        tag, _, accel = args.fps.partition(":")
        fps = (tag, float(accel))
    table = build_table(results, fps)
    print(table)
    if args.out:
        args.out.write_text(table + "\n")


if __name__ == "__main__":
    main()
