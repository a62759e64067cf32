"""Lazy package namespaces (PEP 562): export names whose modules load on first access.

A method package's building blocks need torch only, while its LightningModules cost Lightning's
import (about 20 s on a small CPU machine). A package ``__init__`` lists where each public name lives
and hands the lookup to :func:`lazy_exports`::

    _SOURCES = {"FlowAttention": "ballroom.flowformer.nn", ...}
    __all__ = sorted(_SOURCES)
    __getattr__, __dir__ = lazy_exports(__name__, _SOURCES, __all__)

(keep an ``if TYPE_CHECKING:`` block of the same imports for type checkers and IDEs).
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Iterable, Mapping
from typing import Any

__all__ = ["lazy_exports"]


def lazy_exports(
    package: str, sources: Mapping[str, str], names: Iterable[str]
) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """``(__getattr__, __dir__)`` for ``package``: ``name`` is imported from ``sources[name]`` on first
    access and cached in the package's namespace; unknown names raise ``AttributeError``."""
    exported = set(names)
    missing = exported - set(sources)
    if missing:
        raise ValueError(f"{package}: no source module for {sorted(missing)}")

    def __getattr__(name: str) -> Any:
        try:
            module = sources[name]
        except KeyError:
            raise AttributeError(f"module {package!r} has no attribute {name!r}") from None
        value = getattr(importlib.import_module(module), name)
        setattr(sys.modules[package], name, value)
        return value

    def __dir__() -> list[str]:
        return sorted(set(vars(sys.modules[package])) | exported)

    return __getattr__, __dir__
