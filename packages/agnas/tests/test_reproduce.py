"""The reproduction's --smoke run writes its tables and claims (claims are not checked in smoke)."""

from __future__ import annotations

import json
from pathlib import Path

from ballroom.agnas import reproduce


def test_smoke_run(tmp_path: Path) -> None:
    assert reproduce.main(["--smoke", "--out", str(tmp_path)]) == 0
    claims = json.loads((tmp_path / "claims.json").read_text())
    assert [c["checked"] for c in claims] == [False] * 5
    assert (tmp_path / "darts.csv").read_text().splitlines()[0].startswith("stage,epoch,selection_acc")
    assert (tmp_path / "nb201mini.csv").read_text().splitlines()[
        0
    ] == "method,arch,test_acc,selection_acc,mean_tau,seeds,test_acc_per_seed,pick_margin"
    assert (tmp_path / "macro.csv").exists()


def test_space_option_selects_one_experiment(tmp_path: Path) -> None:
    assert reproduce.main(["--smoke", "--space", "macro", "--out", str(tmp_path)]) == 0
    assert (tmp_path / "macro.csv").exists() and not (tmp_path / "darts.csv").exists()
