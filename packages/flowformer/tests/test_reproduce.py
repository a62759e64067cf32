"""``reproduce.main(["--smoke"])`` runs end to end on the runner and writes its outputs; bad arguments are refused."""

from __future__ import annotations

import argparse
import csv
from dataclasses import replace
from pathlib import Path

import pytest

from ballroom.core.report import read_claims
from ballroom.core.runner import Context
from ballroom.flowformer import reproduce


def _rows(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


def test_reproduce_smoke(tmp_path: Path) -> None:
    assert reproduce.main(["--smoke", "--out", str(tmp_path), "--only", "listops,charlm,scaling"]) == 0
    claims = read_claims(tmp_path / "claims.json")
    names = " ".join(c.claim for c in claims)
    assert len(claims) == 6 and "ListOps" in names and "char-LM" in names and "linearly" in names
    gap = next(c for c in claims if "naive" in c.claim)
    assert gap.holds  # chunked and official causal paths agree even after 10 steps
    listops = _rows(tmp_path / "listops.csv")
    assert [r["attention"] for r in listops] == ["flow", "linear", "softmax"] and listops[0]["seed"] == "0"
    charlm = _rows(tmp_path / "charlm.csv")
    assert [r["chunked_naive_bpc_gap"] != "" for r in charlm] == [True, False, False]
    scaling = _rows(tmp_path / "scaling.csv")
    assert [(r["attention"], r["length"]) for r in scaling] == [
        ("flow", "256"),
        ("flow", "512"),
        ("softmax", "256"),
        ("softmax", "512"),
    ]
    timings = _rows(tmp_path / "timings.csv")
    assert [r["experiment"] for r in timings] == ["listops", "charlm", "scaling"]
    assert (tmp_path / "flowformer.png").stat().st_size > 10_000


def test_reproduce_options(tmp_path: Path) -> None:
    """``--task`` is ``--only``; ``--attention`` and ``--seeds`` choose the runs."""
    args = [
        "--smoke",
        "--out",
        str(tmp_path),
        "--task",
        "listops",
        "--attention",
        "flow,softmax",
        "--seeds",
        "3,4",
    ]
    assert reproduce.main(args) == 0
    rows = _rows(tmp_path / "listops.csv")
    assert [(r["attention"], r["seed"]) for r in rows] == [
        ("flow", "3"),
        ("softmax", "3"),
        ("flow", "4"),
        ("softmax", "4"),
    ]
    assert "2 seeds" in read_claims(tmp_path / "claims.json")[0].claim


def test_reproduce_settings() -> None:
    """``--quick`` trains one ListOps seed (the README's budget); ``--full`` three, at the spec's 2.5k steps."""
    quick, full = reproduce.SETTINGS["quick"], reproduce.SETTINGS["full"]
    assert (quick.listops_seeds, quick.listops_steps) == (1, 1500)
    assert (full.listops_seeds, full.listops_steps, full.long_listops) == (3, 2500, True)


def test_long_listops_and_ablations(tmp_path: Path) -> None:
    """``--full``'s long-sequence run: Flow and both ablations, beside the paper's LRA numbers (tiny sizes)."""
    settings = replace(
        reproduce.SETTINGS["smoke"], listops_steps=2, listops_train=32, listops_test=32, long_listops=True
    )
    opts = argparse.Namespace(attention=["flow"], seeds=None)
    outcome = reproduce.listops(Context("smoke", settings, 0, tmp_path, opts))
    long = [r for r in outcome.rows if r["data"] == "long"]
    assert [r["attention"] for r in long] == ["flow", "flow_no_comp", "flow_no_alloc"]
    assert [r["paper_lra"] for r in long] == [0.387, 0.368, 0.370]
    assert len(outcome.claims) == 1  # no softmax run: only the majority claim


def test_reproduce_rejects_unknown_names(tmp_path: Path) -> None:
    with pytest.raises(SystemExit):
        reproduce.main(["--smoke", "--out", str(tmp_path), "--only", "imagenet"])
    with pytest.raises(SystemExit):
        reproduce.main(["--smoke", "--out", str(tmp_path), "--task", "imagenet"])
    with pytest.raises(SystemExit):
        reproduce.main(["--smoke", "--out", str(tmp_path), "--attention", "performer"])
