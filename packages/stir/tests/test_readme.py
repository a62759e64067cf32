"""The README's quickstart runs as written."""

from __future__ import annotations

import re
from pathlib import Path

from ballroom.core.testing import run_quickstart

README = Path(__file__).resolve().parents[1] / "README.md"


def test_quickstart_runs() -> None:
    out = run_quickstart(README)
    values = [float(v) for v in re.findall(r"=([0-9.]+)", out)]
    assert len(values) == 3 and all(0.0 <= v <= 1.0 for v in values)
