"""ballroom-pdo3d: <the method in one line> (<authors>, ICML 2022).

Building blocks import with torch only; the Lightning modules and data modules load Lightning on
first access::

    from ballroom.pdo3d import standardize, Pdo3dNet
    y = standardize(x, dim=-1)                         # (B, D) -> (B, D)
"""

from __future__ import annotations

from importlib.metadata import version as _version
from typing import TYPE_CHECKING

from ballroom.core.lazy import lazy_exports

if TYPE_CHECKING:
    from ballroom.pdo3d.data import Pdo3dDataModule
    from ballroom.pdo3d.functional import standardize
    from ballroom.pdo3d.lit import Pdo3dClassifier
    from ballroom.pdo3d.nn import Pdo3dNet, Standardize

__version__ = _version("ballroom-pdo3d")

_SOURCES = {
    "Standardize": "ballroom.pdo3d.nn",
    "Pdo3dClassifier": "ballroom.pdo3d.lit",
    "Pdo3dDataModule": "ballroom.pdo3d.data",
    "Pdo3dNet": "ballroom.pdo3d.nn",
    "standardize": "ballroom.pdo3d.functional",
}
__all__ = ["__version__", *sorted(_SOURCES)]
__getattr__, __dir__ = lazy_exports(__name__, _SOURCES, sorted(_SOURCES))
