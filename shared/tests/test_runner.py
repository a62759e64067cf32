"""The experiment runner every reproduce.py uses: modes, CSV, claims, the plot, smoke wording."""

from __future__ import annotations

import builtins
import json
from pathlib import Path
from typing import Any

import pytest

from ballroom.core.report import Claim
from ballroom.core.runner import Context, Outcome, Reproduction, write_csv

SETTINGS = {"smoke": 1, "quick": 3, "full": 10}


def counting(ctx: Context) -> Outcome:
    rows = [{"i": i, "square": i * i} for i in range(ctx.settings)]
    return Outcome(rows=rows, claims=[Claim("three rows or more", "3", str(len(rows)), len(rows) >= 3)])


def text(ctx: Context) -> Outcome:
    return Outcome(rows=[{"name": 'comma, "quote"', "value": 1.5}, {"name": "x", "extra": True}])


def _plot(outcomes: dict[str, Outcome], plt: Any) -> Any:
    fig, ax = plt.subplots()
    ax.plot([r["square"] for r in outcomes["counting"].rows])
    return fig


REPRO = Reproduction("demo", "A demo reproduction.\n\nmore", [counting, text], SETTINGS, plot=_plot)


def test_quick_checks_claims_and_writes_every_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pytest.importorskip("matplotlib")
    assert REPRO.main(["--out", str(tmp_path)]) == 0
    claims = json.loads((tmp_path / "claims.json").read_text())
    assert claims == [
        {"claim": "three rows or more", "paper": "3", "ours": "3", "holds": True, "checked": True}
    ]
    assert (tmp_path / "counting.csv").read_text().splitlines() == ["i,square", "0,0", "1,1", "2,4"]
    # a real CSV writer: quoting, and the union of keys as header
    assert (tmp_path / "text.csv").read_text().splitlines() == [
        "name,value,extra",
        '"comma, ""quote""",1.5,',
        "x,,True",
    ]
    timings = (tmp_path / "timings.csv").read_text().splitlines()
    assert timings[0] == "experiment,seconds" and [t.split(",")[0] for t in timings[1:]] == [
        "counting",
        "text",
    ]
    assert (tmp_path / "demo.png").stat().st_size > 1000
    out = capsys.readouterr().out
    assert "[1/2] counting" in out and "## counting" in out


def test_smoke_says_claims_are_not_checked_and_exits_zero(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert REPRO.main(["--smoke", "--out", str(tmp_path), "--only", "counting"]) == 0
    out = capsys.readouterr().out
    assert "NOT checked" in out and "| n/a |" in out
    claims = json.loads((tmp_path / "claims.json").read_text())
    assert claims[0]["holds"] is False and claims[0]["checked"] is False
    assert not (tmp_path / "text.csv").exists()  # --only


def test_a_claim_that_does_not_hold_fails_quick(tmp_path: Path) -> None:
    repro = Reproduction("demo", "x", [counting], {"smoke": 0, "quick": 2, "full": 2})
    assert repro.main(["--out", str(tmp_path)]) == 1


def test_without_matplotlib_tables_and_claims_are_still_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import importlib.util

    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util,
        "find_spec",
        lambda name, *a: None if name == "matplotlib" else real_find_spec(name, *a),
    )
    real_import = builtins.__import__

    def no_matplotlib(name: str, *args: Any, **kwargs: Any) -> Any:
        if name.startswith("matplotlib"):
            raise ImportError("no matplotlib here")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_matplotlib)
    assert REPRO.main(["--out", str(tmp_path)]) == 0
    assert (tmp_path / "claims.json").is_file() and (tmp_path / "counting.csv").is_file()
    assert not (tmp_path / "demo.png").exists()
    assert "pip install 'ballroom-demo[plot]'" in capsys.readouterr().err


def test_bad_reproductions_and_options_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="full"):
        Reproduction("demo", "x", [counting], {"smoke": 1, "quick": 1})
    with pytest.raises(ValueError, match="distinct"):
        Reproduction("demo", "x", [counting, counting], SETTINGS)
    with pytest.raises(SystemExit, match="unknown experiment"):
        REPRO.main(["--smoke", "--out", str(tmp_path), "--only", "nope"])

    def not_an_outcome(ctx: Context) -> Outcome:
        return {"rows": []}  # type: ignore[return-value]

    with pytest.raises(TypeError, match="must return an Outcome"):
        Reproduction("demo", "x", [not_an_outcome], SETTINGS).main(["--smoke", "--out", str(tmp_path)])


def test_write_csv_header_is_the_union_of_keys(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "t.csv", [{"a": 1}, {"b": 2, "a": 3}])
    assert path.read_text().splitlines() == ["a,b", "1,", "3,2"]


def test_threads_option_runs_each_experiment_on_that_many_threads_and_restores(tmp_path) -> None:
    import torch

    from ballroom.core.runner import Outcome, Reproduction
    from ballroom.core.training import torch_threads

    seen: list[int] = []

    def probe(ctx):
        seen.append(torch.get_num_threads())
        return Outcome(rows=[{"threads": seen[-1]}])

    settings = {"smoke": {}, "quick": {}, "full": {}}
    with torch_threads(2):
        Reproduction("probe", "probe", [probe], settings, threads=1).run(
            Reproduction("probe", "probe", [probe], settings)
            .parser()
            .parse_args(["--smoke", "--out", str(tmp_path)])
        )
        assert seen == [1] and torch.get_num_threads() == 2
        Reproduction("probe", "probe", [probe], settings).run(
            Reproduction("probe", "probe", [probe], settings)
            .parser()
            .parse_args(["--smoke", "--out", str(tmp_path)])
        )
        assert seen == [1, 2]
    with pytest.raises(ValueError, match="n must be an integer in"):
        with torch_threads(0):
            pass
