"""ballroom-pcn: <the method in one line> (<authors>, ICML 2022).

Building blocks import with torch only; the Lightning modules and data modules load Lightning on
first access::

    from ballroom.pcn import standardize, PcnNet
    y = standardize(x, dim=-1)                         # (B, D) -> (B, D)
"""

from __future__ import annotations

from importlib.metadata import version as _version
from typing import TYPE_CHECKING

from ballroom.core.lazy import lazy_exports

if TYPE_CHECKING:
    from ballroom.pcn.data import PcnDataModule
    from ballroom.pcn.functional import standardize
    from ballroom.pcn.lit import PcnClassifier
    from ballroom.pcn.nn import Standardize, PcnNet

__version__ = _version("ballroom-pcn")

_SOURCES = {
    "Standardize": "ballroom.pcn.nn",
    "PcnClassifier": "ballroom.pcn.lit",
    "PcnDataModule": "ballroom.pcn.data",
    "PcnNet": "ballroom.pcn.nn",
    "standardize": "ballroom.pcn.functional",
}
__all__ = ["__version__", *sorted(_SOURCES)]
__getattr__, __dir__ = lazy_exports(__name__, _SOURCES, sorted(_SOURCES))
