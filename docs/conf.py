"""Sphinx configuration of the ballroom documentation site (``nox -s docs``).

One site for the monorepo. Pages are generated at build time (``builder-inited``) into
``docs/generated/`` (ignored by git), so that adding a package needs no edit here:

- ``generated/packages/<name>.md``: the package's README (reproduction and benchmark tables,
  departures), followed by its reproduction plots when ``results/<name>/*.png`` exist (``nox -s
  reproduce``) or the plots its README folder ships (``packages/<name>/docs/*.png``).
- ``generated/api/<name>.rst``: an autodoc entry for every name in ``ballroom.<name>.__all__``
  (core: every public submodule).
- ``generated/report.md``: the latest ``results/REPORT.md``, when it exists.

Docstrings are Google style (``Args:``/``Returns:``/``Raises:``), read by napoleon; Markdown by MyST.
Warnings are errors (``-W`` in the nox session).
"""

from __future__ import annotations

import sys
from pathlib import Path

DOCS = Path(__file__).resolve().parent
sys.path.insert(0, str(DOCS))

from _pages import generate  # noqa: E402

project = "ballroom"
author = "the ballroom team"
copyright = "2026, the ballroom team"
extensions = ["myst_parser", "sphinx.ext.autodoc", "sphinx.ext.napoleon"]
source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
exclude_patterns = ["_build", "Thumbs.db", ".DS_Store"]
html_theme = "furo"
html_title = "ballroom"
myst_heading_anchors = 3
myst_enable_extensions = ["colon_fence"]
napoleon_google_docstring = True
napoleon_numpy_docstring = False
napoleon_use_rtype = False
autodoc_member_order = "bysource"
autodoc_typehints = "signature"
autodoc_default_options = {"show-inheritance": True}
# an override without a docstring (configure_optimizers, train_dataloader...) would otherwise show
# Lightning's long docstring, written for Lightning's own Sphinx setup (testcode, paramref)
autodoc_inherit_docstrings = False


def setup(app):  # type: ignore[no-untyped-def]
    app.connect("builder-inited", lambda app: generate(DOCS))
    return {"parallel_read_safe": True}
