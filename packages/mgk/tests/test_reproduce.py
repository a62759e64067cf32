"""The reproduction's --smoke run writes its tables and claims (claims are not checked in smoke)."""

from __future__ import annotations

import json
from pathlib import Path

from ballroom.mgk import reproduce


def test_smoke_run(tmp_path: Path) -> None:
    assert reproduce.main(["--smoke", "--out", str(tmp_path)]) == 0
    claims = json.loads((tmp_path / "claims.json").read_text())
    assert [c["checked"] for c in claims] == [False]
    assert (tmp_path / "digits.csv").read_text().splitlines()[0] == "model,stage,test_acc"
