"""Tables and reports: one Markdown table writer and the print-and-save epilogue of every
benchmark.

Examples
--------
>>> print(markdown_table(["method", "PSNR (dB)"], [["lps", "36.66"], ["zero-filled", "29.83"]]))
| method | PSNR (dB) |
|---|---|
| lps | 36.66 |
| zero-filled | 29.83 |
"""

from __future__ import annotations

import os
from collections.abc import Sequence

from dynmri.fileio import write_text_atomic


def markdown_table(header: Sequence[str], rows: Sequence[Sequence], title: str | None = None) -> str:
    """A GitHub Markdown table; cells are formatted with ``str``; ``title`` goes above it."""
    lines = [] if title is None else [title, ""]
    lines.append("| " + " | ".join(map(str, header)) + " |")
    lines.append("|" + "---|" * len(header))
    lines += ["| " + " | ".join(map(str, r)) + " |" for r in rows]
    return "\n".join(lines)


def report(text: str, path: str | os.PathLike | None = None) -> None:
    """Print a benchmark's table and, when ``path`` is given, write it there atomically."""
    print(text)
    if path:
        write_text_atomic(path, text + "\n")
