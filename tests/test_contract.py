"""The package contract: every workspace member is a well-formed, independent ballroom package.

Reads each member's pyproject.toml and tree (no build needed), so a new package under packages/
is checked the moment it appears.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]
MEMBERS = {"core": ROOT / "shared"} | {
    p.parent.name: p.parent for p in sorted(ROOT.glob("packages/*/pyproject.toml"))
}
METHODS = [n for n in MEMBERS if n != "core"]


def _pyproject(name: str) -> dict[str, Any]:
    return tomllib.loads((MEMBERS[name] / "pyproject.toml").read_text())


def _dep_name(requirement: str) -> str:
    return re.split(r"[\s\[<>=!~;]", requirement, maxsplit=1)[0].lower()


@pytest.mark.parametrize("name", list(MEMBERS))
def test_member_naming_and_build_backend(name: str) -> None:
    meta = _pyproject(name)
    assert meta["project"]["name"] == f"ballroom-{name}"
    assert meta["build-system"]["build-backend"] == "uv_build"
    assert meta["tool"]["uv"]["build-backend"]["module-name"] == f"ballroom.{name}"
    assert meta["project"]["requires-python"].startswith(">=3.11")
    assert "version" in meta["project"]


@pytest.mark.parametrize("name", list(MEMBERS))
def test_member_layout(name: str) -> None:
    root = MEMBERS[name]
    assert not (root / "src" / "ballroom" / "__init__.py").exists(), "ballroom/ must stay a PEP 420 namespace"
    pkg = root / "src" / "ballroom" / name
    assert (pkg / "__init__.py").is_file()
    assert (pkg / "py.typed").is_file()
    assert (pkg / "zoo.py").is_file()
    assert (pkg / "reproduce.py").is_file()
    assert (root / "README.md").is_file() and (root / "README.md").stat().st_size > 200
    assert list((root / "tests").glob("test_*.py")), "no tests/test_*.py"
    assert not (root / "tests" / "__init__.py").exists(), (
        "tests/ must not be a package (--import-mode=importlib)"
    )
    # benchmarks are bench_*.py so that the test run never collects (and times) them
    assert not list((root / "benchmarks").glob("test_*.py")), (
        "benchmarks/ must hold bench_*.py files, not test_*.py"
    )


@pytest.mark.parametrize("name", list(MEMBERS))
def test_member_registers_a_tiny_zoo_entry(name: str) -> None:
    meta = _pyproject(name)
    eps = meta["project"].get("entry-points", {}).get("ballroom.zoo", {})
    assert eps == {name: f"ballroom.{name}.zoo:ZOO"}
    source = (MEMBERS[name] / "src" / "ballroom" / name / "zoo.py").read_text()
    assert f'"{name}-tiny"' in source


@pytest.mark.parametrize("name", METHODS)
def test_method_package_dependencies_and_cli(name: str) -> None:
    meta = _pyproject(name)
    deps = meta["project"]["dependencies"]
    core = [d for d in deps if _dep_name(d) == "ballroom-core"]
    assert core and ">=0.1" in core[0] and "<0.2" in core[0], "depend on ballroom-core with an explicit range"
    others = {_dep_name(d) for d in deps} & {f"ballroom-{m}" for m in METHODS}
    assert not others, f"method packages never depend on each other: {others}"
    for group in meta["project"].get("optional-dependencies", {}).values():
        assert not {_dep_name(d) for d in group} & {f"ballroom-{m}" for m in METHODS}
    assert meta["project"]["scripts"] == {f"ballroom-{name}": f"ballroom.{name}.cli:main"}
    pkg = MEMBERS[name] / "src" / "ballroom" / name
    for module in ("nn.py", "lit.py", "cli.py", "__main__.py"):
        assert (pkg / module).is_file(), f"{name} lacks {module}"


def test_core_has_no_method_dependency_and_registers_the_plugin() -> None:
    meta = _pyproject("core")
    assert not any(_dep_name(d).startswith("ballroom-") for d in meta["project"]["dependencies"])
    assert meta["project"]["entry-points"]["pytest11"] == {"ballroom": "ballroom.core.testing"}


def test_workspace_root_is_virtual_and_lock_is_committed() -> None:
    root = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert "project" not in root
    assert root["tool"]["uv"]["workspace"]["members"] == ["shared", "packages/*"]
    assert (ROOT / "uv.lock").is_file()
    banned = root["tool"]["ruff"]["lint"]["flake8-tidy-imports"]["banned-api"]
    assert "lightning" in banned
