"""benchmarks/benchmark_table.py: seeds of one network on one row, columns per run and acceleration."""

import importlib.util
from pathlib import Path

_spec = importlib.util.spec_from_file_location("benchmark_table", Path(__file__).resolve().parents[1] / "benchmarks" / "benchmark_table.py")
benchmark_table = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(benchmark_table)


def test_seeds_share_a_row_and_every_cell_comes_from_the_results():
    g = [{"method": "lps", "accel": 8.0, "psnr": 36.0, "frames_per_second": 5.0},
         {"method": "net-ddei", "network": "runs/net-seed0", "accel": 8.0, "psnr": 35.0, "frames_per_second": 50.0},
         {"method": "net-ddei (runs/net-seed1)", "network": "runs/net-seed1", "accel": 8.0, "psnr": 36.0, "frames_per_second": 40.0}]
    v = [{"method": "lps", "accel": 5.0, "psnr": 38.0, "frames_per_second": 6.0}]
    lines = benchmark_table.build_table({"g": g + g[:1], "v": v}, fps=("g", 8.0)).splitlines()  # lps twice: counted once
    assert lines[0] == "| method | g 8x | v 5x | frames/s (g 8x) |"
    assert lines[2] == "| lps | 36.00 | 38.00 | 5.0 |"
    assert lines[3] == "| net-ddei (runs/net-seed*) | 35.50 (35.00 / 36.00) | - | 45.0 |" and len(lines) == 4
