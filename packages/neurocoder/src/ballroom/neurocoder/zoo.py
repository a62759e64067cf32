"""Named configurations of ballroom-neurocoder (``ballroom.core.zoo.create_model(name)`` finds them)."""

from __future__ import annotations

from typing import Any

from ballroom.core.zoo import ModelCfg
from ballroom.core.zoo import create as _create

__all__ = ["RELEASED_LAYER", "ZOO", "create"]

PAPER = "H. Le, S. Venkatesh, Neurocoder: General-Purpose Computation Using Stored Neural Programs, ICML 2022"
#: the released continual-learning layer: P = 50, k = 5, r = 10, direct, content keys, no residual/bias
RELEASED_LAYER: dict[str, Any] = {"num_programs": 50, "key_dim": 5, "rank": 10, "composition": "direct"}

ZOO: dict[str, ModelCfg] = {
    "neurocoder-tiny": ModelCfg(
        builder="ballroom.neurocoder.nn:NeurocoderMLP",
        input="flattened 8x8 digits (B, 64) float -> logits (B, 10)",
        kwargs={
            "in_features": 64,
            "hidden": (32,),
            "num_classes": 10,
            "layer_kwargs": {"num_programs": 8, "key_dim": 4, "rank": 4},
            "neurocoder_from": 1,
        },
        paper=PAPER,
        section="spec: tests",
        notes="64-32 ReLU MLP with a Neurocoder head (8 slots); reaches ~0.85 on 10 digits in 200 steps at lr 1e-2",
    ),
    "neurocoder-mlp-digits": ModelCfg(
        builder="ballroom.neurocoder.nn:NeurocoderMLP",
        input="flattened 8x8 digits (B, 64) float -> logits (B, 2) (one split-digits task head)",
        kwargs={"in_features": 64, "hidden": (100, 100), "num_classes": 2, "layer_kwargs": RELEASED_LAYER},
        paper=PAPER,
        section="spec: offline reproduction plan",
        notes="64-100-100-2, all three layers Neurocoder (released layer settings); split digits",
    ),
    "neurocoder-baseline-mlp-digits": ModelCfg(
        builder="ballroom.neurocoder.nn:NeurocoderMLP",
        input="flattened 8x8 digits (B, 64) float -> logits (B, 2)",
        kwargs={"in_features": 64, "hidden": (100, 100), "num_classes": 2, "neurocoder": False},
        paper=PAPER,
        section="spec: offline reproduction plan",
        notes="the baseline MLP 64-100-100-2 (no hidden bias)",
    ),
    "neurocoder-mlp400": ModelCfg(
        builder="ballroom.neurocoder.nn:NeurocoderMLP",
        input="flattened 32x32 images (B, 1024) float -> logits (B, 2)",
        kwargs={"in_features": 1024, "hidden": (400, 400), "num_classes": 2, "layer_kwargs": RELEASED_LAYER},
        paper=PAPER,
        section="spec: released CL configuration",
        notes="MLP400 on split MNIST (32x32), all three layers Neurocoder",
    ),
    "neurocoder-baseline-mlp400": ModelCfg(
        builder="ballroom.neurocoder.nn:NeurocoderMLP",
        input="flattened 32x32 images (B, 1024) float -> logits (B, 2)",
        kwargs={"in_features": 1024, "hidden": (400, 400), "num_classes": 2, "neurocoder": False},
        paper=PAPER,
        section="spec: released CL configuration",
        notes="the released baseline MLP400",
    ),
}


def create(name: str, **overrides: Any) -> Any:
    """Build the ballroom-neurocoder model ``name`` with ``overrides`` of its keyword arguments."""
    return _create(ZOO, name, **overrides)
