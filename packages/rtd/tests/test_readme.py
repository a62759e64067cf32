"""The README's quickstart runs as written."""

from __future__ import annotations

from pathlib import Path

from ballroom.core.testing import run_quickstart

README = Path(__file__).resolve().parents[1] / "README.md"


def test_quickstart_runs() -> None:
    lines = run_quickstart(README).splitlines()
    rtd_by_k = [float(line.split()[1]) for line in lines[:3]]
    assert rtd_by_k == sorted(rtd_by_k)  # RTD grows with the number of clusters
    assert "H1 bars" in lines[3]
