"""The reproduction's --smoke run writes its tables, the acc matrix and claims (not checked in smoke)."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from ballroom.neurocoder import reproduce


def test_smoke_run(tmp_path: Path) -> None:
    assert reproduce.main(["--smoke", "--out", str(tmp_path)]) == 0
    claims = json.loads((tmp_path / "claims.json").read_text())
    assert [c["checked"] for c in claims] == [False, False]
    rows = list(csv.DictReader((tmp_path / "split_digits.csv").read_text().splitlines()))
    assert [(r["agent"], r["model"]) for r in rows] == [("plain", "mlp"), ("plain", "neurocoder")]
    assert {r["batch_size"] for r in rows} == {"32"}  # the digits plan's batch (MNIST: the released 128)
    mats = list(csv.DictReader((tmp_path / "acc_matrix.csv").read_text().splitlines()))
    assert len(mats) == 2 * 5 and set(mats[0]) >= {"agent", "model", "seed", "after_task", "task4"}
    assert 0.0 <= float(rows[0]["avg_final_acc"]) <= 1.0
    # the second claim names where its minimum is: that entry of acc_matrix.csv is the minimum
    import re

    m = re.fullmatch(
        r"min ([0-9.]+) \(seed (\d+), task (\d)-(\d)\); (\d) of 1 seeds below 0.90", claims[1]["ours"]
    )
    assert m is not None, claims[1]["ours"]
    diag = {(int(r["seed"]), int(r["after_task"])): float(r[f"task{r['after_task']}"]) for r in mats
            if r["model"] == "neurocoder" and r["agent"] == "plain" and int(r["after_task"]) > 0}  # fmt: skip
    task = int(m.group(3)) // 2
    assert diag[(int(m.group(2)), task)] == min(diag.values()) == pytest.approx(float(m.group(1)), abs=5e-4)
    assert int(m.group(5)) == (min(diag.values()) < 0.90)  # the count of failing seeds (one seed here)
    warm = list(csv.DictReader((tmp_path / "first_task_warmup.csv").read_text().splitlines()))
    smoke = reproduce.SETTINGS["smoke"]
    assert [int(r["epoch"]) for r in warm] == [smoke.warmup[1]]  # the last epoch is always evaluated
    assert int(warm[0]["step"]) == smoke.warmup[1] * 8 and 0.0 <= float(warm[0]["test_acc"]) <= 1.0
    assert (tmp_path / "neurocoder.png").stat().st_size > 0


def test_every_mode_has_both_agents_and_the_spec_schedule() -> None:
    quick = reproduce.SETTINGS["quick"]
    assert quick.epochs == 40 and quick.seeds["plain"] == 5 and "online_ewc" in quick.seeds


def test_mnist_runs_the_released_schedule(tmp_path: Path) -> None:
    import gzip
    import struct

    import numpy as np

    folder = tmp_path / "data" / "mnist"
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for prefix, n in (("train", 40), ("t10k", 20)):
        for kind, arr in (
            ("images-idx3", rng.integers(0, 256, (n, 28, 28))),
            ("labels-idx1", np.arange(n) % 10),
        ):
            header = struct.pack(">HBB", 0, 0x08, arr.ndim) + struct.pack(f">{arr.ndim}I", *arr.shape)
            with gzip.open(folder / f"{prefix}-{kind}-ubyte.gz", "wb") as fh:
                fh.write(header + arr.astype(np.uint8).tobytes())
    out = tmp_path / "out"
    argv = ["--smoke", "--dataset", "mnist", "--data-root", str(tmp_path / "data"), "--out", str(out)]
    assert reproduce.main(argv) == 0
    rows = list(csv.DictReader((out / "split_digits.csv").read_text().splitlines()))
    # the released MLP400 run: batch 128 (the digits plan uses 32, test_smoke_run)
    assert {r["batch_size"] for r in rows} == {str(reproduce.MNIST_SCHEDULE["batch_size"])} == {"128"}
