"""ballroom-bregman: Bregman neural networks, inverse-activation skip layers (Frecon, Gasso, Pontil, Salzo, ICML 2022).

Building blocks import with torch only; the Lightning modules and data modules load Lightning on
first access::

    from ballroom.bregman import BregmanMLP, scale_to_range
    net = BregmanMLP(64, [64] * 20, 10, activation="sigmoid", init="zero")   # the identity stack
    logits = net(scale_to_range(pixels, "sigmoid"))     # (B, 64) in [0, 1] -> (B, 10)
"""

from __future__ import annotations

from importlib.metadata import version as _version
from typing import TYPE_CHECKING

from ballroom.core.lazy import lazy_exports

if TYPE_CHECKING:
    from ballroom.bregman.activations import Activation, bregman_divergence, get_activation
    from ballroom.bregman.data import BregmanDigitsDataModule, BregmanVisionDataModule
    from ballroom.bregman.functional import bregman_layer, project_simplex, scale_to_range
    from ballroom.bregman.lit import BregmanClassifier
    from ballroom.bregman.nn import BregmanLinear, BregmanMLP, layer_displacement
    from ballroom.bregman.official import (
        load_official_state_dict,
        official_imagenet_state_dict,
        official_mlp_state_dict,
    )
    from ballroom.bregman.resnet import (
        BregmanBasicBlock,
        BregmanBottleneck,
        BregmanResNet,
        CifarBregmanResNet,
        bregman_resnet18,
        bregman_resnet20,
        bregman_resnet32,
        bregman_resnet34,
        bregman_resnet44,
        bregman_resnet50,
        bregman_resnet56,
        bregman_resnet110,
    )
    from ballroom.bregman.synthetic import two_spirals

__version__ = _version("ballroom-bregman")

_SOURCES = {
    "Activation": "ballroom.bregman.activations",
    "bregman_divergence": "ballroom.bregman.activations",
    "get_activation": "ballroom.bregman.activations",
    "bregman_layer": "ballroom.bregman.functional",
    "project_simplex": "ballroom.bregman.functional",
    "scale_to_range": "ballroom.bregman.functional",
    "BregmanLinear": "ballroom.bregman.nn",
    "BregmanMLP": "ballroom.bregman.nn",
    "layer_displacement": "ballroom.bregman.nn",
    "BregmanBasicBlock": "ballroom.bregman.resnet",
    "BregmanBottleneck": "ballroom.bregman.resnet",
    "BregmanResNet": "ballroom.bregman.resnet",
    "CifarBregmanResNet": "ballroom.bregman.resnet",
    "bregman_resnet18": "ballroom.bregman.resnet",
    "bregman_resnet20": "ballroom.bregman.resnet",
    "bregman_resnet32": "ballroom.bregman.resnet",
    "bregman_resnet34": "ballroom.bregman.resnet",
    "bregman_resnet44": "ballroom.bregman.resnet",
    "bregman_resnet50": "ballroom.bregman.resnet",
    "bregman_resnet56": "ballroom.bregman.resnet",
    "bregman_resnet110": "ballroom.bregman.resnet",
    "load_official_state_dict": "ballroom.bregman.official",
    "official_imagenet_state_dict": "ballroom.bregman.official",
    "official_mlp_state_dict": "ballroom.bregman.official",
    "BregmanClassifier": "ballroom.bregman.lit",
    "BregmanDigitsDataModule": "ballroom.bregman.data",
    "BregmanVisionDataModule": "ballroom.bregman.data",
    "two_spirals": "ballroom.bregman.synthetic",
}
__all__ = ["__version__", *sorted(_SOURCES)]
__getattr__, __dir__ = lazy_exports(__name__, _SOURCES, sorted(_SOURCES))
