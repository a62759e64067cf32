"""Generate the documentation pages of every workspace package (called by ``conf.py``).

Writes ``docs/generated/``: ``table.md`` (the landing page's package table, from the top-level
README), ``packages/<name>.md`` (the package README with links rewritten for the site and its
plots appended), ``api/<name>.rst`` (autodoc of the public names) and ``report.md`` (the latest
``results/REPORT.md``, when it exists).
"""

from __future__ import annotations

import importlib
import inspect
import re
import shutil
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

#: core's public modules (core exports no names at the top level: its API is these modules)
CORE_MODULES = (
    "ballroom.core.data",
    "ballroom.core.metrics",
    "ballroom.core.metric_modules",
    "ballroom.core.zoo",
    "ballroom.core.lit",
    "ballroom.core.runner",
    "ballroom.core.report",
    "ballroom.core.training",
    "ballroom.core.callbacks",
    "ballroom.core.cli",
    "ballroom.core.checkpoint",
    "ballroom.core.validate",
    "ballroom.core.lazy",
    "ballroom.core.profiling",
    "ballroom.core.testing",
)
_LINK = re.compile(r"(!?)\[([^\]]*)\]\(([^)\s]+)\)")


def packages() -> dict[str, Path]:
    """``{"core": shared/, "<name>": packages/<name>/}`` from the workspace members' pyproject.toml."""
    found: dict[str, Path] = {}
    for pyproject in [ROOT / "shared" / "pyproject.toml", *sorted(ROOT.glob("packages/*/pyproject.toml"))]:
        dist = tomllib.loads(pyproject.read_text())["project"]["name"]
        found[dist.removeprefix("ballroom-")] = pyproject.parent
    return found


def _rewrite_links(text: str, base: Path, page_dir: Path, pages: dict[Path, str]) -> str:
    """Site-relative links: READMEs with a page link to it, images to the file, the rest become text."""

    def sub(m: re.Match[str]) -> str:
        bang, label, target = m.groups()
        if re.match(r"[a-z]+://|mailto:|#", target):
            return m.group(0)
        path_part, _, anchor = target.partition("#")
        resolved = (base / path_part).resolve()
        if bang:
            rel = Path(*([".."] * len(page_dir.relative_to(ROOT).parts))) / resolved.relative_to(ROOT)
            return f"![{label}]({rel.as_posix()})" if resolved.is_file() else f"*{label} (not built)*"
        if resolved in pages:
            return f"[{label}]({pages[resolved]}{'#' + anchor if anchor else ''})"
        shown = resolved.relative_to(ROOT).as_posix() if resolved.is_relative_to(ROOT) else target
        return f"{label} (`{shown}`)" if label != f"`{shown}`" else label

    return _LINK.sub(sub, text)


def _plots(name: str, folder: Path) -> list[Path]:
    results = sorted((ROOT / "results" / name).glob("*.png"))
    return results or sorted((folder / "docs").glob("*.png"))


def _api(name: str) -> str:
    title = f"ballroom.{name}"
    lines = [title, "=" * len(title), ""]
    if name == "core":
        for module in CORE_MODULES:
            lines += [f".. automodule:: {module}", "   :members:", ""]
        return "\n".join(lines)
    mod = importlib.import_module(f"ballroom.{name}")
    lines += [f".. automodule:: ballroom.{name}", ""]
    reexports: list[str] = []
    for public in sorted(n for n in mod.__all__ if n != "__version__"):
        obj = getattr(mod, public)
        target = f"ballroom.{name}.{public}"
        home = getattr(obj, "__module__", None) or ""
        if (inspect.isclass(obj) or inspect.isfunction(obj)) and not home.startswith(f"ballroom.{name}"):
            reexports.append(f"- ``{public}``: re-exported from :py:obj:`{home}.{obj.__qualname__}`")
            continue
        if inspect.isclass(obj) and issubclass(obj, tuple):  # NamedTuple: the fields are the signature
            lines += [f".. autoclass:: {target}", ""]
        elif inspect.isclass(obj):
            lines += [f".. autoclass:: {target}", "   :members:", ""]
        elif inspect.isfunction(obj) or inspect.isbuiltin(obj) or callable(obj):
            lines += [f".. autofunction:: {target}", ""]
        elif inspect.ismodule(obj):
            lines += [f".. automodule:: {obj.__name__}", "   :members:", ""]
        else:  # a registry or constant: its type's docstring would say nothing about it
            lines += [f".. py:data:: {target}", f"   :type: {type(obj).__name__}", ""]
    if reexports:
        lines += ["Re-exported names", "-----------------", "", *reexports, ""]
    return "\n".join(lines)


def generate(docs: Path) -> None:
    """(Re)write ``docs/generated/`` from the workspace."""
    out = docs / "generated"
    if out.exists():
        shutil.rmtree(out)
    (out / "packages").mkdir(parents=True)
    (out / "api").mkdir()
    found = packages()
    pages = {(folder / "README.md").resolve(): f"{name}.md" for name, folder in found.items()}

    readme = (ROOT / "README.md").read_text()
    table = re.search(r"^\| package \|.*?(?=\n\n)", readme, flags=re.S | re.M)
    if table is None:
        raise RuntimeError("README.md has no package table ('| package |' header)")
    # table.md is included from docs/index.md: its links resolve from docs/
    top_pages = {p: f"/generated/packages/{page}" for p, page in pages.items()}
    (out / "table.md").write_text(_rewrite_links(table.group(0), ROOT, out, top_pages) + "\n")

    for name, folder in found.items():
        page_dir = out / "packages"
        text = _rewrite_links((folder / "README.md").read_text(), folder, page_dir, pages)
        # append the plots the README does not already show (an image link to a file of that name)
        plots = [p for p in _plots(name, folder) if f"/{p.name})" not in text]
        if plots:
            text += "\n\n## Plots\n\n" + "\n\n".join(
                f"![{p.stem}]({Path('..', '..', '..', p.relative_to(ROOT)).as_posix()})" for p in plots
            )
        text += f"\n\nAPI reference: [ballroom.{name}](../api/{name}.rst)\n"
        (page_dir / f"{name}.md").write_text(text)
        (out / "api" / f"{name}.rst").write_text(_api(name))

    report = ROOT / "results" / "REPORT.md"
    body = report.read_text() if report.is_file() else "No reproduction report yet: run `nox -s reproduce`.\n"
    (out / "report.md").write_text(
        body if body.lstrip().startswith("#") else "# Reproduction report\n\n" + body
    )
