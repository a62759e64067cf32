"""The README's quickstart runs as written."""

from __future__ import annotations

import re
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"


def test_quickstart_runs(capsys: object) -> None:
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)
    assert blocks, "README has no python block"
    exec(compile(blocks[0], str(README), "exec"), {})
    out = capsys.readouterr().out  # type: ignore[attr-defined]
    gap = float(re.search(r"gap ([0-9.e+-]+)", out).group(1))  # type: ignore[union-attr]
    assert gap < 1e-4
