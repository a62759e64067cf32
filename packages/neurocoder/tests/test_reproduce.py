"""The reproduction's --smoke run writes its tables, the acc matrix and claims (not checked in smoke)."""

from __future__ import annotations

import csv
import json
from pathlib import Path

from ballroom.neurocoder import reproduce


def test_smoke_run(tmp_path: Path) -> None:
    assert reproduce.main(["--smoke", "--out", str(tmp_path)]) == 0
    claims = json.loads((tmp_path / "claims.json").read_text())
    assert [c["checked"] for c in claims] == [False, False]
    rows = list(csv.DictReader((tmp_path / "split_digits.csv").open()))
    assert [(r["agent"], r["model"]) for r in rows] == [("plain", "mlp"), ("plain", "neurocoder")]
    mats = list(csv.DictReader((tmp_path / "acc_matrix.csv").open()))
    assert len(mats) == 2 * 5 and set(mats[0]) >= {"agent", "model", "seed", "after_task", "task4"}
    assert 0.0 <= float(rows[0]["avg_final_acc"]) <= 1.0


def test_every_mode_has_both_agents_and_the_spec_schedule() -> None:
    quick = reproduce.SETTINGS["quick"]
    assert quick.epochs == 40 and quick.seeds["plain"] == 5 and "online_ewc" in quick.seeds
