"""The README's quickstart runs as written."""

from __future__ import annotations

import re
from pathlib import Path

from ballroom.core.testing import run_quickstart

README = Path(__file__).resolve().parents[1] / "README.md"


def test_quickstart_runs() -> None:
    out = run_quickstart(README)
    gap = float(re.search(r"gap ([0-9.e+-]+)", out).group(1))  # type: ignore[union-attr]
    assert gap < 1e-4
