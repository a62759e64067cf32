"""Named configurations of ballroom-pdo3d (``ballroom.core.zoo.create_model(name)`` finds them)."""

from __future__ import annotations

from typing import Any

from ballroom.core.zoo import ModelCfg
from ballroom.core.zoo import create as _create

__all__ = ["ZOO", "create"]

ZOO: dict[str, ModelCfg] = {
    "pdo3d-tiny": ModelCfg(
        builder="ballroom.pdo3d.nn:Pdo3dNet",
        input="flattened 8x8 digits (B, 64) float -> logits (B, 10)",
        kwargs={"in_features": 64, "hidden": (32,), "num_classes": 10},
        paper="<authors>, <title>, ICML 2022",
        section="spec: tests",
        notes="trains on 8x8 digits in seconds; the tests' model",
    ),
}


def create(name: str, **overrides: Any) -> Any:
    """Build the ballroom-pdo3d model ``name`` with ``overrides`` of its keyword arguments."""
    return _create(ZOO, name, **overrides)
