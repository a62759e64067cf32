"""The reproduction's --smoke run writes its tables and claims (claims are not checked in smoke)."""

from __future__ import annotations

import json
from pathlib import Path

from ballroom.faithfulness import reproduce


def test_smoke_run(tmp_path: Path) -> None:
    assert (
        reproduce.main(["--smoke", "--out", str(tmp_path), "--depth", "1", "--encoder", "lstm,transformer"])
        == 0
    )
    claims = json.loads((tmp_path / "claims.json").read_text())
    assert claims and all(c["checked"] is False for c in claims)
    header = (tmp_path / "text_models.csv").read_text().splitlines()[0]
    assert header.startswith("model,target,seed,test_acc,explainer,removal,violation")
    rows = (tmp_path / "transformer.csv").read_text().splitlines()
    assert any(",logit," in r for r in rows) and any("GenAtt" in r for r in rows)
