"""Named configurations of ballroom-dualform (registered in the ``ballroom.zoo`` entry-point group)."""

from __future__ import annotations

from typing import Any

from ballroom.core.zoo import ModelCfg
from ballroom.core.zoo import create as _create

__all__ = ["ZOO", "create"]

_PAPER = "Irie, Csordas, Schmidhuber, The Dual Form of Neural Networks Revisited, ICML 2022"
_BUILDER = "ballroom.dualform.nn:DualFormMLP"

ZOO: dict[str, ModelCfg] = {
    "dualform-tiny": ModelCfg(
        builder=_BUILDER,
        input="flattened 8x8 digits (B, 64) float -> logits (B, 10)",
        kwargs={"in_features": 64, "layer_sizes": (32, 32), "num_classes": 10},
        paper=_PAPER,
        section="spec: Offline reproduction plan, shrunk",
        notes="64-32-32-10 ReLU MLP on 8x8 digits; trains in seconds, for tests and the CLI smoke run.",
    ),
    "dualform-digits": ModelCfg(
        builder=_BUILDER,
        input="flattened 8x8 digits (B, 64) float -> logits (B, 10)",
        kwargs={"in_features": 64, "layer_sizes": (128, 128), "num_classes": 10},
        paper=_PAPER,
        section="spec: Offline reproduction plan",
        notes="64-128-128-10 ReLU MLP, PyTorch default init: the offline reproduction's model.",
    ),
    "dualform-mnist": ModelCfg(
        builder=_BUILDER,
        input="flattened 28x28 images (B, 784) float -> logits (B, 10)",
        kwargs={"in_features": 784, "layer_sizes": (800, 800), "num_classes": 10},
        paper=_PAPER,
        section="spec: Paper's experiments (image tasks)",
        notes="784-800-800-10 ReLU MLP of the official MNIST / FashionMNIST runs (CIFAR-10: in_features=3072).",
    ),
}


def create(name: str, **overrides: Any) -> Any:
    """Build a ballroom-dualform model by name, e.g. ``create("dualform-digits")``."""
    return _create(ZOO, name, **overrides)
