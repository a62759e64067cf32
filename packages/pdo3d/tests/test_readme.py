"""The README's quickstart runs as written."""

from __future__ import annotations

from pathlib import Path

from ballroom.core.testing import run_quickstart

README = Path(__file__).resolve().parents[1] / "README.md"


def test_quickstart_runs() -> None:
    out = run_quickstart(README).splitlines()
    assert out[0] == "torch.Size([2, 48, 12, 12, 12])"
    assert out[1] == "exactly O-equivariant: True"
    assert out[2] == "parameters: 31020"
    assert out[3] == "torch.Size([4, 8])"
