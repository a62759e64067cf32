"""``reproduce.main(["--smoke"])`` runs end to end and writes its outputs (claims not checked in smoke)."""

from __future__ import annotations

import json
from pathlib import Path

from ballroom.expclr import reproduce


def test_reproduce_smoke(tmp_path: Path) -> None:
    assert reproduce.main(["--smoke", "--out", str(tmp_path)]) == 0
    claims = json.loads((tmp_path / "claims.json").read_text())
    assert len(claims) == 4 and all("ExpCLR" in c["claim"] and not c["checked"] for c in claims)
    rows = (tmp_path / "sinebands.csv").read_text().splitlines()
    assert rows[0] == "dataset,method,seed,linear,knn,seconds" and len(rows) == 1 + 5
    assert not (tmp_path / "real.csv").exists()  # no real sets in smoke
    assert (tmp_path / "expclr.png").stat().st_size > 10_000


def test_quick_keeps_every_asserted_method_and_full_adds_the_reported_extras() -> None:
    quick, full = reproduce.SETTINGS["quick"], reproduce.SETTINGS["full"]
    assert quick.seeds == 3 and quick.epochs == 30 and quick.n == 1200  # the claims' protocol
    assert "PLAID" not in quick.real and "simclr_ts" not in quick.real_methods
    assert set(full.real) == set(reproduce.REAL) and full.real_methods == reproduce.METHODS
