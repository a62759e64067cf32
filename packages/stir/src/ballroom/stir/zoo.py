"""Named configurations of ballroom-stir (``ballroom.core.zoo.create_model(name)`` finds them)."""

from __future__ import annotations

from typing import Any

from ballroom.core.zoo import ModelCfg
from ballroom.core.zoo import create as _create

__all__ = ["ZOO", "create"]

_PAPER = (
    "Nanda, Speicher, Kolling, Dickerson, Gummadi, Weller, Measuring Representational Robustness of "
    "Neural Networks Through Shared Invariances, ICML 2022"
)

ZOO: dict[str, ModelCfg] = {
    "stir-tiny": ModelCfg(
        builder="ballroom.stir.nn:FeatureMLP",
        input="flattened 8x8 digits (B, 64) float in [0, 1] -> logits (B, 10); with_latent=True also returns the layer-th hidden representation",
        kwargs={"in_features": 64, "hidden": (32, 16), "num_classes": 10},
        paper=_PAPER,
        section="spec: tests",
        notes="a small FeatureMLP that trains on 8x8 digits in seconds; the tests' model",
    ),
    "stir-digits-mlp": ModelCfg(
        builder="ballroom.stir.nn:FeatureMLP",
        input="flattened 8x8 digits (B, 64) float in [0, 1] -> logits (B, 10); with_latent=True also returns the layer-th hidden representation",
        kwargs={"in_features": 64, "hidden": (128, 16), "num_classes": 10},
        paper=_PAPER,
        section="spec: offline reproduction plan (MLP 64 -> 128 -> 16 -> 10)",
        notes="the reproduction's A0/A1 (standard) and R0/R1 (L2-PGD, eps 1) models",
    ),
}


def create(name: str, **overrides: Any) -> Any:
    """Build the ballroom-stir model ``name`` with ``overrides`` of its keyword arguments."""
    return _create(ZOO, name, **overrides)
