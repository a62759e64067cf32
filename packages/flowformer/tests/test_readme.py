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
    assert "torch.Size([2, 8, 1024, 64]) torch.Size([2, 8, 1024, 64])" in out
    losses = [float(v) for v in re.findall(r"loss ([0-9.]+)", out)]
    assert len(losses) == 4 and losses[-1] < 0.2 * losses[0]
