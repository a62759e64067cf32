"""``reproduce.main(["--smoke"])`` runs end to end and writes its outputs."""

from __future__ import annotations

from pathlib import Path

from ballroom.core.report import read_claims
from ballroom.expclr import reproduce


def test_reproduce_smoke(tmp_path: Path) -> None:
    assert reproduce.main(["--smoke", "--out", str(tmp_path)]) == 0
    claims = read_claims(tmp_path / "claims.json")
    assert len(claims) == 4 and all("ExpCLR" in c.claim for c in claims)
    rows = (tmp_path / "expclr.csv").read_text().splitlines()
    assert rows[0].startswith("dataset,method,seed") and len(rows) == 1 + 5
    assert (tmp_path / "expclr.png").stat().st_size > 10_000
