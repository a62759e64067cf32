"""The README's quickstart runs as written."""

from __future__ import annotations

import re
from pathlib import Path

from ballroom.core.testing import run_quickstart

README = Path(__file__).resolve().parents[1] / "README.md"


def test_quickstart_runs() -> None:
    out = run_quickstart(README)
    assert "torch.Size([2, 8, 8, 28, 28])" in out
    error = float(re.findall(r"rot90 invariance error ([0-9.e+-]+)", out)[0])
    assert error < 1e-4
    params = re.findall(r"parameters (\d+)", out)
    assert params == ["44058"]
