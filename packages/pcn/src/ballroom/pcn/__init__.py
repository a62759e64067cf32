"""ballroom-pcn: predictive coding networks and their (non-)convergence (Frieder & Lukasiewicz, ICML 2022).

Building blocks import with torch only; the Lightning modules and data modules load Lightning on
first access::

    from ballroom.pcn import PCN
    net = PCN([64, 64, 10])                               # tanh, bias, a_0 = identity
    xs = net.infer(x0, target, steps=20, gamma=0.1)       # [x_0 (B, 64), x_1 (B, 64), x_2 (B, 10)]
"""

from __future__ import annotations

from importlib.metadata import version as _version
from typing import TYPE_CHECKING

from ballroom.core.lazy import lazy_exports

if TYPE_CHECKING:
    from ballroom.pcn.activations import ACTIVATIONS, Activation, get_activation
    from ballroom.pcn.analysis import Certificate, certify_ball, certify_local
    from ballroom.pcn.data import PCNDigitsDataModule, PCNVisionDataModule
    from ballroom.pcn.lit import BackpropClassifier, PCNClassifier
    from ballroom.pcn.nn import PCN
    from ballroom.pcn.toys import LinearNSToy, NSToy

__version__ = _version("ballroom-pcn")

_SOURCES = {
    "ACTIVATIONS": "ballroom.pcn.activations",
    "Activation": "ballroom.pcn.activations",
    "BackpropClassifier": "ballroom.pcn.lit",
    "Certificate": "ballroom.pcn.analysis",
    "LinearNSToy": "ballroom.pcn.toys",
    "NSToy": "ballroom.pcn.toys",
    "PCN": "ballroom.pcn.nn",
    "PCNClassifier": "ballroom.pcn.lit",
    "PCNDigitsDataModule": "ballroom.pcn.data",
    "PCNVisionDataModule": "ballroom.pcn.data",
    "certify_ball": "ballroom.pcn.analysis",
    "certify_local": "ballroom.pcn.analysis",
    "get_activation": "ballroom.pcn.activations",
}
__all__ = ["__version__", *sorted(_SOURCES)]
__getattr__, __dir__ = lazy_exports(__name__, _SOURCES, sorted(_SOURCES))
