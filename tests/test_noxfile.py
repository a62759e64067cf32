"""The noxfile's package discovery and CI plan."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def noxfile() -> ModuleType:
    pytest.importorskip("nox")
    spec = importlib.util.spec_from_file_location("ballroom_noxfile", ROOT / "noxfile.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_discovery_matches_the_workspace(noxfile: ModuleType) -> None:
    expect = ["core", *sorted(p.parent.name for p in ROOT.glob("packages/*/pyproject.toml"))]
    assert noxfile.NAMES == expect
    assert noxfile.PATHS["core"] == ROOT / "shared"


def test_plan_selects_changed_packages(noxfile: ModuleType) -> None:
    names = noxfile.NAMES
    assert noxfile.affected(["README.md", "docs/x.md"]) == []
    assert noxfile.affected(["shared/src/ballroom/core/metrics.py"]) == names
    assert noxfile.affected(["uv.lock"]) == names
    assert noxfile.affected(["noxfile.py"]) == names
    for name in names[1:]:
        assert noxfile.affected([f"packages/{name}/src/x.py"]) == [name]
    assert noxfile.affected(["packages/not-a-package/x.py"]) == []


def test_report_marks_unchecked_claims_and_gives_the_total(noxfile: ModuleType) -> None:
    rows = [
        {"package": "core", "claim": "a", "paper": "1", "ours": "1", "holds": True, "seconds": 3.0},
        {
            "package": "core",
            "claim": "b",
            "paper": "",
            "ours": "0",
            "holds": False,
            "checked": False,
            "seconds": 3.0,
        },
        {"package": "rtd", "claim": "c", "paper": "", "ours": "0", "holds": False, "seconds": 5.0},
    ]
    report = noxfile._report(rows, "--quick", ["core", "rtd"], total=8.4, jobs=2)
    lines = report.splitlines()
    assert "| core | a | 1 | 1 | yes | 3 |" in lines
    assert "| core | b |  | 0 | n/a | 3 |" in lines
    assert "| rtd | c |  | 0 | **no** | 5 |" in lines
    assert any(line.startswith("Total: 8 s wall for 2 packages, 2 at a time") for line in lines)
