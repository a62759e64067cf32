"""tools/gpu_check.py: requirement selection, report parsing, and prepare -> run end to end on CPU."""

from __future__ import annotations

import importlib.util
import json
import shutil
import sys
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def gc() -> ModuleType:
    spec = importlib.util.spec_from_file_location("ballroom_gpu_check", ROOT / "tools" / "gpu_check.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


EXPORT = """
# a comment line
numpy==2.4.6 ; python_full_version < '3.11'
numpy==2.5.5 ; python_full_version >= '3.11'
pywin32==311 ; sys_platform == 'win32'
Jinja2==3.1.6
torch==2.15.0
nvidia-cublas==13.4.1.3 ; platform_machine == 'x86_64' and sys_platform == 'linux'
jsonargparse==4.53.0
"""


def test_markers_are_evaluated_for_the_target(gc: ModuleType) -> None:
    pins = gc.parse_requirements(EXPORT, "3.12")
    assert pins["numpy"] == "2.5.5"  # the 3.11+ pin, not the older one
    assert "pywin32" not in pins  # a Windows-only dependency
    assert pins["jinja2"] == "3.1.6"  # names are normalised
    assert gc.parse_requirements(EXPORT, "3.10")["numpy"] == "2.4.6"


def test_a_name_pinned_twice_for_the_target_is_refused(gc: ModuleType) -> None:
    with pytest.raises(ValueError, match="numpy pinned twice"):
        gc.parse_requirements("numpy==1.0\nnumpy==2.0\n", "3.12")
    with pytest.raises(ValueError, match="unpinned requirement"):
        gc.parse_requirements("numpy>=1\n", "3.12")


def test_only_what_the_target_lacks_is_fetched(gc: ModuleType) -> None:
    pins = gc.parse_requirements(EXPORT, "3.12")
    fetch = gc.to_fetch(pins, frozenset({"jinja2"}), set())
    assert fetch == {"jsonargparse": "4.53.0", "numpy": "2.5.5"}  # never torch or the CUDA libraries
    assert gc.to_fetch(pins, gc.CUDA_IMAGE_HAS, {"jsonargparse"}) == {}


def test_have_file_is_read_as_pip_freeze(gc: ModuleType, tmp_path: Path) -> None:
    have = tmp_path / "freeze.txt"
    have.write_text("Torch==2.11.0\npytorch_lightning==2.6.6\nfoo @ file:///x\n")
    assert gc.read_have(have) == frozenset({"torch", "pytorch-lightning", "foo"})
    assert gc.read_have(None) is gc.CUDA_IMAGE_HAS


def test_junit_report_is_summarised(gc: ModuleType, tmp_path: Path) -> None:
    report = tmp_path / "r.xml"
    report.write_text(
        """<?xml version="1.0"?><testsuites><testsuite name="pytest">
        <testcase classname="t.a" name="ok"/>
        <testcase classname="t.a" name="bad"><failure message="AssertionError: 1 != 2&#10;more">tb</failure></testcase>
        <testcase classname="t.b" name="err"><error message="fixture broke">tb</error></testcase>
        <testcase classname="t.b" name="s1"><skipped message="needs a CUDA device"/></testcase>
        <testcase classname="t.b" name="s2"><skipped message="needs a CUDA device"/></testcase>
        </testsuite></testsuites>"""
    )
    got = gc.parse_junit(report)
    assert (got["passed"], got["failed"], got["errors"], got["skipped"]) == (1, 1, 1, 2)
    assert got["failures"][0] == {"test": "t.a::bad", "kind": "failure", "message": "AssertionError: 1 != 2"}
    assert got["skip_reasons"] == {"needs a CUDA device": 2}
    assert gc.parse_junit(tmp_path / "missing.xml")["report"] is False


def test_budget_is_shared_over_the_jobs_left(gc: ModuleType) -> None:
    budget = gc.Budget(100.0)
    assert 24.0 < budget.share(4, 1) <= 25.0  # one job at a time: a quarter each
    assert 49.0 < budget.share(4, 2) <= 50.0  # two at once: each may use half
    assert 99.0 < budget.share(1, 4) <= 100.0


@pytest.mark.skipif(shutil.which("uv") is None, reason="uv builds the wheels")
def test_prepare_then_run_on_cpu(gc: ModuleType, tmp_path: Path) -> None:
    """``prepare`` (nothing to download: the target 'has' every locked name) then ``run --only core``.

    Without a GPU every cuda test skips and the summary says so; the wheels installed into the
    private site directory are the ones the tests import.
    """
    pins = gc.locked_requirements("3.12")
    have = tmp_path / "freeze.txt"
    have.write_text("".join(f"{n}=={v}\n" for n, v in pins.items()))
    dest = tmp_path / "prep"
    assert (
        gc.main(["prepare", "--dest", str(dest), "--have", str(have), "--limit-mib", "0.001"]) == 1
    )  # too big
    assert gc.main(["prepare", "--dest", str(dest), "--have", str(have)]) == 0
    manifest = json.loads((dest / "manifest.json").read_text())
    assert manifest["fetched"] == {}
    wheels = sorted(Path(w).name.split("-")[0] for w in manifest["wheels"])
    assert wheels == sorted(f"ballroom_{n}" for n in gc.packages())
    assert 0 < manifest["total_bytes"] < 56 * 2**20

    out, site = tmp_path / "out", tmp_path / "site"
    code = gc.main(["run", "--from", str(dest), "--out", str(out), "--site", str(site), "--only", "core"])
    summary = json.loads((out / "summary.json").read_text())
    core = summary["packages"]["core"]
    assert (site / "ballroom" / "core" / "__init__.py").is_file()
    assert summary["machine"]["installed_wheels"] == len(manifest["wheels"])
    if not summary["cuda"]:
        assert code == 0, summary
        assert core["tests"]["skipped"] > 0 and core["tests"]["passed"] == 0
        assert "no CUDA device" in summary["note"]
        assert core["bench"] == {"run": False, "why": "no benchmarks/ folder"} or not core["bench"]["run"]
    assert (out / "gpu_check.tar.gz").is_file() and (out / "packages" / "core.json").is_file()

    # a wheel that does not match the manifest is refused before anything is installed
    victim = next((dest / "wheels").glob("ballroom_core-*.whl"))
    victim.write_bytes(victim.read_bytes() + b"x")
    with pytest.raises(ValueError, match="does not match its sha256"):
        gc.install(dest, tmp_path / "site2")
