"""The reproduction's --smoke run writes its tables and claims (claims are not checked in smoke)."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

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
    # smoke runs two searches, so the tau claim (mean over the searches) is there, unchecked
    tau = (tmp_path / "nb201mini_tau.csv").read_text().splitlines()
    assert tau[0] == "search_seed,AGNAS,DARTS-1st" and len(tau) == 3
    assert "mean of 2 searches" in claims[-1]["claim"]


def test_one_search_reports_tau_without_claiming_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    one = dataclasses.replace(reproduce.SETTINGS["smoke"], tau_seeds=1)
    monkeypatch.setitem(reproduce.SETTINGS, "smoke", one)
    assert reproduce.main(["--smoke", "--space", "nb201mini", "--out", str(tmp_path)]) == 0
    claims = json.loads((tmp_path / "claims.json").read_text())
    assert not any("Kendall" in c["claim"] for c in claims) and len(claims) == 2
    assert len((tmp_path / "nb201mini_tau.csv").read_text().splitlines()) == 2


def test_space_option_selects_one_experiment(tmp_path: Path) -> None:
    assert reproduce.main(["--smoke", "--space", "macro", "--out", str(tmp_path)]) == 0
    assert (tmp_path / "macro.csv").exists() and not (tmp_path / "darts.csv").exists()
