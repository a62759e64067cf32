"""The reproduction's --smoke run writes its table, plot and claims (claims are not checked in smoke)."""

from __future__ import annotations

import csv
import json
from pathlib import Path

from ballroom.tokendistill import reproduce


def test_smoke_run(tmp_path: Path) -> None:
    assert reproduce.main(["--smoke", "--out", str(tmp_path)]) == 0
    claims = json.loads((tmp_path / "claims.json").read_text())
    assert [c["checked"] for c in claims] == [False, False, False]
    rows = list(csv.DictReader((tmp_path / "digits.csv").open()))
    assert [r["variant"] for r in rows] == ["teacher", "base", "kd_head", "std", "std_mine"]
    assert all(0.0 <= float(r["test_acc"]) <= 1.0 for r in rows)
    assert (tmp_path / "tokendistill.png").stat().st_size > 0


def test_settings_cover_every_mode_and_quick_asks_for_several_seeds() -> None:
    assert set(reproduce.SETTINGS) == {"smoke", "quick", "full"}
    assert len(reproduce.SETTINGS["quick"].seeds) >= 3
    assert reproduce.SETTINGS["full"].student_epochs == 30  # the spec's schedule
