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
    lines = out.splitlines()
    rtd_by_k = [float(line.split()[1]) for line in lines[:3]]
    assert rtd_by_k == sorted(rtd_by_k)  # RTD grows with the number of clusters
    assert "H1 bars" in lines[3]
