"""The README's quickstart runs as written."""

from __future__ import annotations

from pathlib import Path

from ballroom.core.testing import run_quickstart

README = Path(__file__).resolve().parents[1] / "README.md"


def test_quickstart_runs() -> None:
    out = run_quickstart(README)
    assert "torch.Size([4, 10, 64]) torch.Size([4, 2, 10, 10])" in out
    assert out.strip().endswith("True")
