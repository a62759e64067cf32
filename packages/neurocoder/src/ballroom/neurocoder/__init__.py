"""ballroom-neurocoder: <the method in one line> (<authors>, ICML 2022).

Building blocks import with torch only; the Lightning modules and data modules load Lightning on
first access::

    from ballroom.neurocoder import standardize, NeurocoderNet
    y = standardize(x, dim=-1)                         # (B, D) -> (B, D)
"""

from __future__ import annotations

from importlib.metadata import version as _version
from typing import TYPE_CHECKING

from ballroom.core.lazy import lazy_exports

if TYPE_CHECKING:
    from ballroom.neurocoder.data import NeurocoderDataModule
    from ballroom.neurocoder.functional import standardize
    from ballroom.neurocoder.lit import NeurocoderClassifier
    from ballroom.neurocoder.nn import NeurocoderNet, Standardize

__version__ = _version("ballroom-neurocoder")

_SOURCES = {
    "Standardize": "ballroom.neurocoder.nn",
    "NeurocoderClassifier": "ballroom.neurocoder.lit",
    "NeurocoderDataModule": "ballroom.neurocoder.data",
    "NeurocoderNet": "ballroom.neurocoder.nn",
    "standardize": "ballroom.neurocoder.functional",
}
__all__ = ["__version__", *sorted(_SOURCES)]
__getattr__, __dir__ = lazy_exports(__name__, _SOURCES, sorted(_SOURCES))
