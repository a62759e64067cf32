"""Docstring coverage of the public API: every name in every package's ``__all__`` (core: its public
modules' ``__all__``) has a docstring, and a callable's docstring names each of its parameters.

``python docs/check_docstrings.py [--pending a,b] [names...]`` prints each failure and exits 1 when
a package outside ``--pending`` has one (the nox ``docs`` session passes ``[tool.ballroom]
docs_pending`` from the root ``pyproject.toml``). A parameter counts as documented when its name
appears in the docstring (of the function, or of the class or its ``__init__``) as a word; ``self``,
``cls``, ``*args`` and ``**kwargs`` are exempt, and so are the parameters of a class whose
docstring says it takes the parent's (``"Same arguments as"``).
"""

from __future__ import annotations

import argparse
import importlib
import inspect
import re
import sys
from collections.abc import Iterator
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _pages import CORE_MODULES, packages

EXEMPT = {"self", "cls"}


def public_objects(name: str) -> Iterator[tuple[str, object]]:
    """``(qualified name, object)`` for the public API of ``ballroom.<name>`` (defined there, not re-exported)."""
    modules = CORE_MODULES if name == "core" else (f"ballroom.{name}",)
    for module_name in modules:
        mod = importlib.import_module(module_name)
        for public in getattr(mod, "__all__", ()):
            if public.startswith("__"):
                continue
            obj = getattr(mod, public)
            home = getattr(obj, "__module__", "") or ""
            if (inspect.isclass(obj) or inspect.isfunction(obj)) and home.startswith(f"ballroom.{name}"):
                yield f"{module_name}.{public}", obj


def _params(fn: object) -> list[str]:
    try:
        sig = inspect.signature(fn)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return []
    kinds = (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD)
    return [p.name for p in sig.parameters.values() if p.name not in EXEMPT and p.kind not in kinds]


def problems(qualname: str, obj: object) -> list[str]:
    """What the docstring of ``obj`` lacks (empty when it is complete)."""
    if inspect.isclass(obj):
        doc = inspect.getdoc(obj) or ""
        init = obj.__dict__.get("__init__")
        doc_all = doc + "\n" + (inspect.getdoc(init) or "" if init is not None else "")
        if not doc.strip():
            return [f"{qualname}: class without a docstring"]
        if issubclass(obj, tuple) or "same arguments as" in doc_all.lower() or init is None:
            return []  # a NamedTuple's fields, a parent's signature
        params = _params(init)
    else:
        doc_all = inspect.getdoc(obj) or ""
        if not doc_all.strip():
            return [f"{qualname}: no docstring"]
        params = _params(obj)
    missing = [p for p in params if not re.search(rf"(?<![\w]){re.escape(p)}(?![\w])", doc_all)]
    return [f"{qualname}: parameters not in the docstring: {', '.join(missing)}"] if missing else []


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("names", nargs="*", help="packages to check (default: all)")
    parser.add_argument("--pending", default="", help="comma-separated packages reported but not failed")
    args = parser.parse_args(argv)
    found = packages()
    pending = {p for p in args.pending.split(",") if p}
    failed: dict[str, int] = {}
    for name in args.names or list(found):
        lines = [line for q, obj in public_objects(name) for line in problems(q, obj)]
        for line in lines:
            print(("pending  " if name in pending else "MISSING  ") + line)
        if lines:
            failed[name] = len(lines)
    blocking = {n: c for n, c in failed.items() if n not in pending}
    print(
        f"docstring coverage: {sum(failed.values())} gaps ({failed or 'none'}); blocking: {blocking or 'none'}"
    )
    return 1 if blocking else 0


if __name__ == "__main__":
    raise SystemExit(main())
