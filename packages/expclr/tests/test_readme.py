"""The README's quickstart runs as written."""

from __future__ import annotations

import re
from pathlib import Path

from ballroom.core.testing import run_quickstart

README = Path(__file__).resolve().parents[1] / "README.md"


def test_quickstart_runs() -> None:
    out = run_quickstart(README)
    losses = [float(v) for v in re.findall(r"loss ([0-9.]+)", out)]
    assert len(losses) == 4 and losses[-1] < 0.8 * losses[0]
