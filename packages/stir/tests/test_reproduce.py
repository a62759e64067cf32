"""The reproduction's --smoke run writes its tables and claims (claims are not checked in smoke)."""

from __future__ import annotations

import json
from pathlib import Path

from ballroom.stir import reproduce


def test_smoke_run(tmp_path: Path) -> None:
    assert reproduce.main(["--smoke", "--out", str(tmp_path)]) == 0
    claims = json.loads((tmp_path / "claims.json").read_text())
    assert [c["checked"] for c in claims] == [False] * 4
    header = (tmp_path / "digits.csv").read_text().splitlines()[0]
    assert header.startswith("m1,m2,stir_m2_given_m1,stir_m1_given_m2,cka")
    assert len((tmp_path / "digits.csv").read_text().splitlines()) == 1 + len(reproduce.PAIRS)
    assert (tmp_path / "linear.csv").exists() and (tmp_path / "stir.png").stat().st_size > 0
