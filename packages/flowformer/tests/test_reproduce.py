"""``reproduce.main(["--smoke"])`` runs end to end and writes its outputs; bad arguments are refused."""

from __future__ import annotations

from pathlib import Path

import pytest

from ballroom.core.report import read_claims
from ballroom.flowformer import reproduce


def test_reproduce_smoke(tmp_path: Path) -> None:
    assert reproduce.main(["--smoke", "--out", str(tmp_path), "--task", "listops,charlm,scaling"]) == 0
    claims = read_claims(tmp_path / "claims.json")
    names = " ".join(c.claim for c in claims)
    assert len(claims) == 6 and "ListOps" in names and "char-LM" in names and "linearly" in names
    gap = next(c for c in claims if "naive" in c.claim)
    assert gap.holds  # chunked and official causal paths agree even after 20 steps
    rows = (tmp_path / "flowformer.csv").read_text().splitlines()
    assert rows[0] == "task,attention,seed,metric,value,length" and len(rows) == 1 + 3 + 4 + 4
    assert (tmp_path / "flowformer.png").stat().st_size > 10_000


def test_reproduce_rejects_unknown_names(tmp_path: Path) -> None:
    with pytest.raises(SystemExit):
        reproduce.main(["--smoke", "--out", str(tmp_path), "--task", "imagenet"])
    with pytest.raises(SystemExit):
        reproduce.main(["--smoke", "--out", str(tmp_path), "--attention", "performer"])
