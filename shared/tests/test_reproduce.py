"""ballroom-core's sanity reproduction in --smoke mode, and the report helpers."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ballroom.core import reproduce
from ballroom.core.report import Claim, finish, format_table, read_claims, reproduce_parser


def test_smoke_run_writes_claims_csv_and_plot(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    assert reproduce.main(["--smoke", "--out", str(tmp_path)]) == 0
    claims = json.loads((tmp_path / "claims.json").read_text())
    assert len(claims) == 3 and all({"claim", "paper", "ours", "holds"} <= set(c) for c in claims)
    assert (tmp_path / "core.png").stat().st_size > 10_000
    assert all(c["checked"] is False for c in claims)  # smoke: nothing is checked
    rows = (tmp_path / "training.csv").read_text().splitlines()
    assert rows[0] == "degrees,test_accuracy" and len(rows) == 26


def test_finish_fails_on_unheld_claims_except_in_smoke(tmp_path: Path) -> None:
    claims = [Claim("a", "1", "1", True), Claim("b", "2", "0", False)]
    assert finish(tmp_path, claims, "quick") == 1
    assert finish(tmp_path, claims, "smoke") == 0
    assert read_claims(tmp_path / "claims.json") == claims
    (tmp_path / "bad.json").write_text('[{"claim": "x"}]')
    with pytest.raises(ValueError, match="lacks"):
        read_claims(tmp_path / "bad.json")


def test_parser_modes_and_table() -> None:
    parser = reproduce_parser("core", "x")
    assert parser.parse_args([]).mode == "quick"
    assert parser.parse_args(["--full"]).mode == "full"
    with pytest.raises(SystemExit):
        parser.parse_args(["--smoke", "--full"])
    table = format_table([{"a": 1.23456, "b": True, "c": "x|y"}])
    assert table.splitlines()[2] == "| 1.235 | yes | x\\|y |"
