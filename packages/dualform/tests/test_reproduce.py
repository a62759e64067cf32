"""``reproduce.main(["--smoke"])`` runs every setting end to end and writes its outputs."""

from __future__ import annotations

from pathlib import Path

from ballroom.core.report import read_claims
from ballroom.dualform import reproduce


def test_reproduce_smoke(tmp_path: Path) -> None:
    assert reproduce.main(["--smoke", "--out", str(tmp_path)]) == 0
    claims = read_claims(tmp_path / "claims.json")
    assert len(claims) == 2 + 4 * 2 + 2
    exact = [c for c in claims if c.claim.startswith("float64")]
    assert all(c.holds for c in exact)  # exactness holds at any length
    for name in ("single", "multi", "continual"):
        assert (tmp_path / f"{name}.csv").read_text().startswith("setting,")
    assert (tmp_path / "exactness.csv").read_text().startswith("optimizer,")
    assert (tmp_path / "dualform.png").stat().st_size > 10_000


def test_reproduce_one_experiment(tmp_path: Path) -> None:
    assert reproduce.main(["--fast", "--only", "exactness", "--out", str(tmp_path)]) == 0
    claims = read_claims(tmp_path / "claims.json")
    assert len(claims) == 2 and all(c.holds for c in claims)
    assert not (tmp_path / "single.csv").exists() and (tmp_path / "dualform.png").is_file()
