"""A character corpus that ships with every Python: the source of standard-library modules."""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Sequence

__all__ = ["STDLIB_MODULES", "stdlib_corpus"]

#: a fixed list of standard-library modules whose source makes a character corpus that needs no download
STDLIB_MODULES = (
    "argparse", "inspect", "typing", "dataclasses", "pathlib", "json.decoder", "textwrap", "difflib",
    "fractions", "statistics", "heapq", "bisect", "calendar", "csv", "string", "collections",
)  # fmt: skip


def stdlib_corpus(modules: Sequence[str] = STDLIB_MODULES) -> str:
    """The source text of ``modules`` from the running interpreter's standard library, joined by newlines.

    Args:
        modules: importable module names, in the order their sources are concatenated.

    Returns:
        The text (its exact content depends on the Python version).
    """
    return "\n".join(inspect.getsource(importlib.import_module(m)) for m in modules)
