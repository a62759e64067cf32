"""Named configurations of ballroom-rtd (registered in the ``ballroom.zoo`` entry-point group)."""

from __future__ import annotations

from typing import Any

from ballroom.core.zoo import ModelCfg
from ballroom.core.zoo import create as _create

__all__ = ["ZOO", "create"]

_PAPER = "Barannikov et al., Representation Topology Divergence, ICML 2022"

ZOO: dict[str, ModelCfg] = {
    "rtd-tiny": ModelCfg(
        builder="ballroom.core.models:MLP",
        input="flattened 8x8 digits (B, 64) float -> logits (B, 10)",
        kwargs={"in_features": 64, "hidden": (32, 16), "num_classes": 10},
        paper=_PAPER,
        section="spec: Offline reproduction plan (digits), shrunk",
        notes="64-32-16-10 ReLU MLP on 8x8 digits; trains in seconds, for tests and the CLI smoke run.",
    ),
    "rtd-probe": ModelCfg(
        builder="ballroom.core.models:MLP",
        input="flattened 8x8 digits (B, 64) float -> logits (B, 10)",
        kwargs={"in_features": 64, "hidden": (128, 64), "num_classes": 10},
        paper=_PAPER,
        section="spec: Offline reproduction plan (digits)",
        notes="The probe of the digits training-dynamics experiment: 64-128-64-10, ReLU after both hidden layers.",
    ),
}


def create(name: str, **overrides: Any) -> Any:
    """Build a ballroom-rtd model by name, e.g. ``create("rtd-probe")``."""
    return _create(ZOO, name, **overrides)
