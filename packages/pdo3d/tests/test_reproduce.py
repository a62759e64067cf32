"""The reproduction's --smoke run writes its tables and claims (claims are not checked in smoke)."""

from __future__ import annotations

import json
from pathlib import Path

from ballroom.pdo3d import reproduce


def test_smoke_run(tmp_path: Path) -> None:
    assert reproduce.main(["--smoke", "--out", str(tmp_path)]) == 0
    claims = json.loads((tmp_path / "claims.json").read_text())
    assert len(claims) == 7 and not any(c["checked"] for c in claims)
    header = (tmp_path / "tetris.csv").read_text().splitlines()[0]
    assert header.startswith("model,seed,params,spec_params,train_acc,cube_acc,so3_acc,cube_inv_err")
    rows = (tmp_path / "basis.csv").read_text().splitlines()
    assert len(rows) == 10 and all(r.split(",")[2] == r.split(",")[3] for r in rows[1:])  # spec == ours


def test_a_bare_experiment_name_runs_only_that_experiment(tmp_path: Path) -> None:
    assert reproduce.main(["basis", "--smoke", "--out", str(tmp_path)]) == 0
    assert (tmp_path / "basis.csv").exists() and not (tmp_path / "tetris.csv").exists()
