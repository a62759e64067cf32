"""Named configurations of ballroom-bregman (``ballroom.core.zoo.create_model(name)`` finds them)."""

from __future__ import annotations

from typing import Any

from ballroom.core.zoo import ModelCfg
from ballroom.core.zoo import create as _create

__all__ = ["ZOO", "create"]

_PAPER = "Frecon, Gasso, Pontil, Salzo, Bregman Neural Networks, ICML 2022"

ZOO: dict[str, ModelCfg] = {
    "bregman-tiny": ModelCfg(
        builder="ballroom.bregman.nn:BregmanMLP",
        input="flattened 8x8 digits scaled into the activation's range (B, 64) float -> logits (B, 10)",
        kwargs={"input_dim": 64, "hidden_dims": (32, 32), "output_dim": 10, "activation": "sigmoid"},
        paper=_PAPER,
        section="spec: offline reproduction plan",
        notes="2 sigmoid Bregman layers on 8x8 digits scaled into (0, 1); trains in seconds on CPU",
    ),
    "bregman-mlp-digits-d20": ModelCfg(
        builder="ballroom.bregman.nn:BregmanMLP",
        input="flattened 8x8 digits scaled into the activation's range (B, 64) float -> logits (B, 10)",
        kwargs={"input_dim": 64, "hidden_dims": (64,) * 20, "output_dim": 10, "activation": "sigmoid"},
        paper=_PAPER,
        section="spec: offline reproduction plan (depth study)",
        notes="depth-20 width-64 sigmoid Bregman MLP; ~0.97 test accuracy on digits (Adam 1e-3, 20 epochs)",
    ),
    "bregman-mlp-spiral": ModelCfg(
        builder="ballroom.bregman.nn:BregmanMLP",
        input="2-D points scaled into (-pi/2, pi/2) (B, 2) float -> logits (B, 2)",
        kwargs={"input_dim": 2, "hidden_dims": (2, 2, 2), "output_dim": 2, "activation": "atan"},
        paper=_PAPER,
        section="spec: two-spiral toy",
        notes="atan, 3 hidden layers of width 2 (the official toy demo)",
    ),
    "bregman-mlp-mnist": ModelCfg(
        builder="ballroom.bregman.nn:BregmanMLP",
        input="flattened 28x28 images scaled into (0, 1) (B, 784) float -> logits (B, 10)",
        kwargs={"input_dim": 784, "hidden_dims": (1024,) * 3, "output_dim": 10, "activation": "sigmoid"},
        paper=_PAPER,
        section="spec: MNIST MLPs",
        notes="784 -> 1024 (simplex skip) -> 1024 -> 1024; the paper varies activation and depth",
    ),
    "bregman-resnet20-cifar10": ModelCfg(
        builder="ballroom.bregman.resnet:bregman_resnet20",
        input="images (B, 3, 32, 32) float -> logits (B, 10)",
        kwargs={"activation": "softplus", "num_classes": 10},
        paper=_PAPER,
        section="spec: CIFAR-10 ResNet-20",
        notes="softplus (beta 1000) Bregman ResNet-20, 0.27 M parameters; not trained here",
    ),
    "standard-resnet20-cifar10": ModelCfg(
        builder="ballroom.bregman.resnet:bregman_resnet20",
        input="images (B, 3, 32, 32) float -> logits (B, 10)",
        kwargs={"activation": "softplus", "num_classes": 10, "standard": True},
        paper=_PAPER,
        section="spec: CIFAR-10 ResNet-20 (baseline)",
        notes="the plain ResNet-20 of the same shape (softplus, zero-padded option-A shortcut)",
    ),
    "bregman-resnet18-imagenet": ModelCfg(
        builder="ballroom.bregman.resnet:bregman_resnet18",
        input="images (B, 3, 224, 224) float -> logits (B, 1000)",
        kwargs={"activation": "softplus", "num_classes": 1000},
        paper=_PAPER,
        section="spec: ImageNet ResNet-18",
        notes="torchvision layout with Bregman basic blocks; not trained here",
    ),
}


def create(name: str, **overrides: Any) -> Any:
    """Build the ballroom-bregman model ``name`` with ``overrides`` of its keyword arguments."""
    return _create(ZOO, name, **overrides)
