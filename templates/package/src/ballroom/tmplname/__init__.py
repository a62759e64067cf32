"""ballroom-tmplname: <the method in one line> (<authors>, ICML 2022).

Building blocks import with torch only; the Lightning modules and data modules load Lightning on
first access::

    from ballroom.tmplname import standardize, TmplnameNet
    y = standardize(x, dim=-1)                         # (B, D) -> (B, D)
"""

from __future__ import annotations

from importlib.metadata import version as _version
from typing import TYPE_CHECKING

from ballroom.core.lazy import lazy_exports

if TYPE_CHECKING:
    from ballroom.tmplname.data import TmplnameDataModule
    from ballroom.tmplname.functional import standardize
    from ballroom.tmplname.lit import TmplnameClassifier
    from ballroom.tmplname.nn import Standardize, TmplnameNet

__version__ = _version("ballroom-tmplname")

_SOURCES = {
    "Standardize": "ballroom.tmplname.nn",
    "TmplnameClassifier": "ballroom.tmplname.lit",
    "TmplnameDataModule": "ballroom.tmplname.data",
    "TmplnameNet": "ballroom.tmplname.nn",
    "standardize": "ballroom.tmplname.functional",
}
__all__ = ["__version__", *sorted(_SOURCES)]
__getattr__, __dir__ = lazy_exports(__name__, _SOURCES, sorted(_SOURCES))
