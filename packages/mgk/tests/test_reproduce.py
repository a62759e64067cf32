"""The reproduction's --smoke run writes its tables and claims (claims are not checked in smoke)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ballroom.mgk import reproduce


def test_smoke_run(tmp_path: Path) -> None:
    assert reproduce.main(["--smoke", "--out", str(tmp_path)]) == 0
    claims = json.loads((tmp_path / "claims.json").read_text())
    assert len(claims) == 4 and not any(c["checked"] for c in claims)
    assert (tmp_path / "charlm.csv").read_text().splitlines()[0].startswith("model,val_bpc,seeds,params")
    listops = (tmp_path / "listops.csv").read_text().splitlines()
    assert listops[0].startswith("model,attention,heads,test_acc") and len(listops) == 5
    assert (tmp_path / "attention_rank.csv").is_file()


def test_quick_settings_compare_half_the_heads() -> None:
    quick = reproduce.SETTINGS["quick"]
    assert (
        ("mgk", 2) in quick.lm_models
        and ("softmax", 4) in quick.lm_models
        and ("softmax", 2) in quick.lm_models
    )
    assert all(h % 2 == 0 for h in quick.ops_heads)


def test_spec_options_select_the_task_heads_and_attentions(tmp_path: Path) -> None:
    args = [
        "--smoke",
        "--out",
        str(tmp_path),
        "--task",
        "listops",
        "--heads",
        "4",
        "--attention",
        "softmax,mgk",
    ]
    assert reproduce.main(args) == 0
    assert not (tmp_path / "charlm.csv").exists()
    models = [line.split(",")[0] for line in (tmp_path / "listops.csv").read_text().splitlines()[1:]]
    assert models == ["softmax(4)", "mgk(2)", "softmax(2)"]  # smoke adds softmax(H/2)


def test_spec_options_refuse_bad_values(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    for bad in (["--attention", "flash"], ["--heads", "two"], ["--heads", "0"], ["--task", "wikitext"]):
        with pytest.raises(SystemExit):
            reproduce.main(["--smoke", "--out", str(tmp_path), *bad])
        assert "--" + bad[0].lstrip("-") in capsys.readouterr().err
