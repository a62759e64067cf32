"""The README's quickstart runs as written."""

from __future__ import annotations

from pathlib import Path

from ballroom.core.testing import run_quickstart

README = Path(__file__).resolve().parents[1] / "README.md"


def test_quickstart_runs() -> None:
    lines = run_quickstart(README).strip().splitlines()
    assert [line.split()[0] for line in lines] == ["RawAtt", "InputGrad"]
    assert all(0.0 <= float(line.split()[1]) <= 1.0 for line in lines)
