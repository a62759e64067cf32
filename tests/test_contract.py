"""The package contract: every workspace member is a well-formed, independent ballroom package.

Reads each member's pyproject.toml and tree (no build needed), so a new package under packages/
is checked the moment it appears.
"""

from __future__ import annotations

import ast
import importlib.util
import re
import sys
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
def test_member_has_project_urls(name: str) -> None:
    """PyPI shows these links: the proceedings for every member; the paper and official code where they exist."""
    urls = _pyproject(name)["project"].get("urls", {})
    assert urls.get("Proceedings (ICML 2022, PMLR 162)") == "https://proceedings.mlr.press/v162/", urls
    for label, url in urls.items():
        assert re.fullmatch(r"https://[\w.-]+/\S*", url), f"{label}: {url!r} is not an https URL"


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


@pytest.mark.parametrize("name", list(MEMBERS))
def test_every_zoo_entry_says_what_input_it_takes(name: str) -> None:
    tree = ast.parse((MEMBERS[name] / "src" / "ballroom" / name / "zoo.py").read_text())
    calls = [n for n in ast.walk(tree) if isinstance(n, ast.Call) and getattr(n.func, "id", "") == "ModelCfg"]
    assert calls, "zoo.py builds no ModelCfg"
    for call in calls:
        given = {k.arg: k.value for k in call.keywords}
        assert isinstance(given.get("input"), ast.Constant) and given["input"].value, (
            f"{name}: a ModelCfg at line {call.lineno} has no input= (what it takes and returns, with shapes)"
        )


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


# --- the one package pattern (templates/package/ is the reference; `nox -s new -- <name>` copies it) ---

TEMPLATE = ROOT / "templates" / "package"
#: files every method package has, relative to src/ballroom/<name>/ (more modules are welcome)
SRC_FILES = [
    "__init__.py",
    "__main__.py",
    "py.typed",
    "functional.py",
    "nn.py",
    "lit.py",
    "data.py",
    "zoo.py",
    "cli.py",
    "reproduce.py",
    "configs/fit.yaml",
]
TEST_FILES = ["test_lit.py", "test_reproduce.py", "test_readme.py"]
README_SECTIONS = [
    "## Quickstart",
    "## API",
    "## Reproduction",
    "## Benchmarks",
    "## Choices and departures",
    "## Tests",
]
MAX_LINES = 500
#: import name -> distribution name, where they differ
DIST_OF = {
    "sklearn": "scikit-learn",
    "gph": "giotto-ph",
    "pytorch_lightning": "pytorch-lightning",
    "PIL": "pillow",
    "yaml": "pyyaml",
    "h5py": "h5py",
}
INIT_IMPORTS = {"__future__", "typing", "importlib.metadata", "ballroom.core.lazy"}


def _src(name: str) -> Path:
    return MEMBERS[name] / "src" / "ballroom" / name


def _modules(name: str) -> dict[Path, ast.Module]:
    return {p: ast.parse(p.read_text(), str(p)) for p in sorted(_src(name).rglob("*.py"))}


def _imported(tree: ast.AST) -> list[str]:
    names = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.append(node.module)
    return names


def _requirements(name: str) -> set[str]:
    meta = _pyproject(name)["project"]
    reqs = list(meta["dependencies"])
    for group in meta.get("optional-dependencies", {}).values():
        reqs += group
    return {_dep_name(r) for r in reqs}


@pytest.mark.parametrize("name", METHODS)
def test_method_package_has_the_template_file_set(name: str) -> None:
    root = MEMBERS[name]
    missing = [f for f in SRC_FILES if not (_src(name) / f).is_file()]
    missing += [f"tests/{f}" for f in TEST_FILES if not (root / "tests" / f).is_file()]
    if not list((root / "benchmarks").glob("bench_*.py")):
        missing.append("benchmarks/bench_*.py")
    assert not missing, f"{name} lacks template files: {missing} (see templates/package/)"
    headings = [line for line in (root / "README.md").read_text().splitlines() if line.startswith("## ")]
    absent = [s for s in README_SECTIONS if not any(h.startswith(s) for h in headings)]
    assert not absent, f"{name}/README.md lacks the sections {absent}"


@pytest.mark.parametrize("name", METHODS)
def test_init_is_lazy_with_version_and_all(name: str) -> None:
    tree = ast.parse((_src(name) / "__init__.py").read_text())
    assigned: dict[str, ast.expr] = {}
    for node in tree.body:
        if isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant):
            continue  # the docstring
        if isinstance(node, ast.Import | ast.ImportFrom):
            mods = _imported(node)
            assert set(mods) <= INIT_IMPORTS, f"{name}/__init__.py imports {mods} eagerly (use lazy_exports)"
        elif isinstance(node, ast.If):
            assert ast.unparse(node.test) == "TYPE_CHECKING", (
                f"{name}/__init__.py: only `if TYPE_CHECKING:` blocks"
            )
        elif isinstance(node, ast.Assign):
            for target in node.targets:
                for t in target.elts if isinstance(target, ast.Tuple) else [target]:
                    assert isinstance(t, ast.Name)
                    assigned[t.id] = node.value
        else:
            raise AssertionError(f"{name}/__init__.py: unexpected top-level {ast.unparse(node)[:60]!r}")
    for key in ("__version__", "__all__", "__getattr__", "_SOURCES"):
        assert key in assigned, f"{name}/__init__.py does not assign {key}"
    version = assigned["__version__"]
    assert isinstance(version, ast.Call) and ast.unparse(version.args[0]) == repr(f"ballroom-{name}"), (
        f"{name}: __version__ must come from the installed metadata: _version('ballroom-{name}')"
    )
    assert ast.unparse(assigned["__getattr__"]).startswith("lazy_exports(")
    assert "__version__" in ast.unparse(assigned["__all__"])


@pytest.mark.parametrize("name", METHODS)
def test_cli_returns_an_exit_status_and_reproduce_uses_the_runner(name: str) -> None:
    cli = ast.parse((_src(name) / "cli.py").read_text())
    funcs = {f.name: f for f in cli.body if isinstance(f, ast.FunctionDef)}
    assert {"cli", "main"} <= set(funcs), f"{name}/cli.py must define cli() and main()"
    assert funcs["main"].returns is not None and ast.unparse(funcs["main"].returns) == "int", (
        f"{name}: cli.main must return the exit status (-> int): the console script calls sys.exit(main())"
    )
    assert "ballroom.core.cli" in _imported(cli)
    repro = ast.parse((_src(name) / "reproduce.py").read_text())
    assert "ballroom.core.runner" in _imported(repro), (
        f"{name}/reproduce.py must build on ballroom.core.runner"
    )
    top = {
        t.id for n in repro.body if isinstance(n, ast.Assign) for t in n.targets if isinstance(t, ast.Name)
    }
    top |= {n.name for n in repro.body if isinstance(n, ast.FunctionDef)}
    assert "main" in top
    main_py = (_src(name) / "__main__.py").read_text()
    assert "SystemExit(main())" in main_py, f"{name}/__main__.py must exit with main()'s status"


@pytest.mark.parametrize("name", list(MEMBERS))
def test_imports_private_core_or_other_methods_never(name: str) -> None:
    others = {f"ballroom.{m}" for m in METHODS if m != name}
    for path, tree in _modules(name).items():
        for mod in _imported(tree):
            parts = mod.split(".")
            if name != "core" and parts[:2] == ["ballroom", "core"]:
                assert not any(p.startswith("_") for p in parts[2:]), f"{path}: imports private {mod}"
            assert ".".join(parts[:2]) not in others, f"{path}: imports another method package ({mod})"


@pytest.mark.parametrize("name", list(MEMBERS))
def test_source_files_stay_short(name: str) -> None:
    long = {
        str(p.relative_to(ROOT)): n
        for p in _src(name).rglob("*.py")
        if (n := len(p.read_text().splitlines())) > MAX_LINES
    }
    assert not long, f"split these along the mathematics (> {MAX_LINES} lines): {long}"


def _guarded(tree: ast.AST) -> set[int]:
    """ids of import nodes inside ``try: ... except ImportError`` (optional backends, probed at run time)."""
    ids = set()
    for node in ast.walk(tree):
        caught = [ast.unparse(h.type) for h in getattr(node, "handlers", []) if h.type is not None]
        if isinstance(node, ast.Try) and any(
            "ImportError" in c or "ModuleNotFoundError" in c for c in caught
        ):
            ids |= {
                id(n)
                for stmt in node.body
                for n in ast.walk(stmt)
                if isinstance(n, ast.Import | ast.ImportFrom)
            }
    return ids


@pytest.mark.parametrize("name", list(MEMBERS))
def test_third_party_imports_are_declared(name: str) -> None:
    declared = _requirements(name) | (_requirements("core") if name != "core" else set())
    declared |= (
        {"pytest"} if name == "core" else set()
    )  # the pytest plugin (ballroom.core.testing) runs under pytest
    for path, tree in _modules(name).items():
        guarded = _guarded(tree)
        nodes = [
            n for n in ast.walk(tree) if isinstance(n, ast.Import | ast.ImportFrom) and id(n) not in guarded
        ]
        for mod in [m for n in nodes for m in _imported(n)]:
            top = mod.split(".")[0]
            if top in sys.stdlib_module_names or top in ("ballroom", "__future__"):
                continue
            dist = DIST_OF.get(top, top).lower().replace("_", "-")
            assert dist in declared, f"{path}: imports {top!r}, which ballroom-{name} does not declare"


def test_template_renders_a_package_that_meets_the_contract(tmp_path: Path) -> None:
    spec = importlib.util.spec_from_file_location("ballroom_noxfile", ROOT / "noxfile.py")
    pytest.importorskip("nox")
    assert spec is not None and spec.loader is not None
    noxfile = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(noxfile)
    dest = tmp_path / "packages" / "demo"
    written = noxfile.render_package("demo", dest)
    assert not any("tmplname" in p.read_text().lower() for p in written)
    assert (dest / "src" / "ballroom" / "demo" / "nn.py").read_text().count("class DemoNet") == 1
    meta = tomllib.loads((dest / "pyproject.toml").read_text())
    assert meta["project"]["scripts"] == {"ballroom-demo": "ballroom.demo.cli:main"}
    saved = dict(MEMBERS)
    MEMBERS["demo"] = dest
    try:
        test_method_package_has_the_template_file_set("demo")
        test_init_is_lazy_with_version_and_all("demo")
        test_cli_returns_an_exit_status_and_reproduce_uses_the_runner("demo")
        test_source_files_stay_short("demo")
    finally:
        MEMBERS.clear()
        MEMBERS.update(saved)
    with pytest.raises(ValueError, match="lowercase"):
        noxfile.render_package("Bad-Name", tmp_path / "x")
    with pytest.raises(FileExistsError):
        noxfile.render_package("demo", dest)
