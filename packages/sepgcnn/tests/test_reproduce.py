"""``reproduce.main(["--smoke"])`` runs end to end and writes its outputs."""

from __future__ import annotations

from pathlib import Path

from ballroom.core.report import read_claims
from ballroom.sepgcnn import reproduce


def test_reproduce_smoke(tmp_path: Path) -> None:
    assert reproduce.main(["--smoke", "--out", str(tmp_path)]) == 0
    claims = read_claims(tmp_path / "claims.json")
    names = " ".join(c.claim for c in claims)
    assert len(claims) == 6 and "(B90)" in names and "(A)" in names and "separable" in names
    b90 = next(c for c in claims if "identical accuracy" in c.claim)
    assert b90.holds  # exact invariance does not need training
    rows = (tmp_path / "sepgcnn.csv").read_text().splitlines()
    assert rows[0] == "model,protocol,metric,value" and len(rows) > 30
    assert (tmp_path / "sepgcnn.png").stat().st_size > 10_000
