"""The reproduction's --smoke run writes its tables and claims (claims are not checked in smoke)."""

from __future__ import annotations

import json
from pathlib import Path

import torch

from ballroom.lsbd import dlsbd, reproduce


def test_smoke_run(tmp_path: Path) -> None:
    assert reproduce.main(["--smoke", "--out", str(tmp_path)]) == 0
    claims = json.loads((tmp_path / "claims.json").read_text())
    assert [c["checked"] for c in claims] == [False] * 5
    assert (tmp_path / "square16.csv").read_text().splitlines()[0] == "method,pairs,seed,steps,dlsbd,omega"
    assert (tmp_path / "metric.csv").exists() and (tmp_path / "lsbd.png").stat().st_size > 10_000


def test_oracle_codes_are_exact_and_training_is_seeded() -> None:
    assert dlsbd(reproduce.oracle_codes((16, 16), (3, -1)))[0] < 1e-12
    a = reproduce.train_run(128, 0, 3, "lsbd-tiny")
    b = reproduce.train_run(128, 0, 3, "lsbd-tiny")
    assert a["dlsbd"] == b["dlsbd"] and (a["codes"] == b["codes"]).all()
    c = reproduce.train_run(64, 0, 3, "lsbd-tiny")
    assert not torch.equal(torch.as_tensor(a["codes"]), torch.as_tensor(c["codes"]))
