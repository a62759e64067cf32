"""The reproduction's --smoke run writes its tables and claims (claims are not checked in smoke)."""

from __future__ import annotations

import json
from pathlib import Path

from ballroom.pcn import reproduce


def test_smoke_run(tmp_path: Path) -> None:
    assert reproduce.main(["--smoke", "--out", str(tmp_path)]) == 0
    claims = json.loads((tmp_path / "claims.json").read_text())
    assert len(claims) == 11 and not any(c["checked"] for c in claims)
    assert (tmp_path / "ns.csv").read_text().splitlines()[0] == "quantity,spec,ours"
    assert (tmp_path / "certificate.csv").read_text().splitlines()[0].startswith("gamma,c,beta,certified")
    assert (tmp_path / "digits.csv").read_text().splitlines()[0].startswith("model,test_acc")
