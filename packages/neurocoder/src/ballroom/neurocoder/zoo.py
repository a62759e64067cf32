"""Named configurations of ballroom-neurocoder (``ballroom.core.zoo.create_model(name)`` finds them)."""

from __future__ import annotations

from typing import Any

from ballroom.core.zoo import ModelCfg
from ballroom.core.zoo import create as _create

__all__ = ["ZOO", "create"]

ZOO: dict[str, ModelCfg] = {
    "neurocoder-tiny": ModelCfg(
        builder="ballroom.neurocoder.nn:NeurocoderNet",
        kwargs={"in_features": 64, "hidden": (32,), "num_classes": 10},
        paper="<authors>, <title>, ICML 2022",
        section="spec: tests",
        notes="trains on 8x8 digits in seconds; the tests' model",
    ),
}


def create(name: str, **overrides: Any) -> Any:
    """Build the ballroom-neurocoder model ``name`` with ``overrides`` of its keyword arguments."""
    return _create(ZOO, name, **overrides)
