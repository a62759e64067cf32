"""The reproduction's --smoke run writes its tables and claims (claims are not checked in smoke)."""

from __future__ import annotations

import json
from pathlib import Path

from ballroom.bregman import reproduce


def test_smoke_run(tmp_path: Path) -> None:
    assert reproduce.main(["--smoke", "--out", str(tmp_path)]) == 0
    claims = json.loads((tmp_path / "claims.json").read_text())
    assert [c["checked"] for c in claims] == [False, False]
    header = (tmp_path / "digits_depth.csv").read_text().splitlines()[0]
    assert header == "activation,depth,variant,test_acc,seeds,spec"
    assert (tmp_path / "spiral.csv").exists()


def test_one_depth_study_run_is_seeded() -> None:
    a = reproduce.train_digits_mlp("tanh", 3, "bregman", "zero", epochs=1, seed=0)
    b = reproduce.train_digits_mlp("tanh", 3, "bregman", "zero", epochs=1, seed=0)
    assert a == b and a > 0.5
