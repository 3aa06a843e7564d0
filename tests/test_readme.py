"""The README's Python example runs as written."""

import re
from pathlib import Path


def test_readme_python_blocks_run(capsys):
    text = (Path(__file__).parents[1] / "README.md").read_text()
    blocks = re.findall(r"```python\n(.*?)```", text, flags=re.S)
    assert blocks
    for code in blocks:
        exec(compile(code, "README.md", "exec"), {})
    psnr = float(capsys.readouterr().out.strip().splitlines()[-1])
    assert 15 < psnr < 40  # zero-filled phantom at 8x
