"""Named configurations of ballroom-pcn (``ballroom.core.zoo.create_model(name)`` finds them)."""

from __future__ import annotations

from typing import Any

from ballroom.core.zoo import ModelCfg
from ballroom.core.zoo import create as _create

__all__ = ["ZOO", "create"]

_PAPER = "Frieder, Lukasiewicz, (Non-)Convergence Results for Predictive Coding Networks, ICML 2022"

ZOO: dict[str, ModelCfg] = {
    "pcn-tiny": ModelCfg(
        builder="ballroom.pcn.nn:PCN",
        input="flattened 8x8 digits (B, 64) float -> feedforward prediction (B, 10)",
        kwargs={"layer_sizes": (64, 16, 10), "activation": "tanh", "bias": True, "activate_input": False},
        paper=_PAPER,
        section="spec: Correctness tests (Lightning)",
        notes="a 64-16-10 tanh PCN; trains on 8x8 digits in seconds; the tests' model",
    ),
    "pcn-digits": ModelCfg(
        builder="ballroom.pcn.nn:PCN",
        input="flattened 8x8 digits (B, 64) float -> feedforward prediction (B, 10)",
        kwargs={"layer_sizes": (64, 64, 10), "activation": "tanh", "bias": True, "activate_input": False},
        paper=_PAPER,
        section="spec: Offline reproduction plan 2-3",
        notes="the 64-64-10 tanh PCN of the certificate and digits experiments (T=20, gamma=0.1, SGD 0.05/0.9)",
    ),
    "pcn-mlp": ModelCfg(
        builder="ballroom.pcn.nn:PCN",
        input="(B, layer_sizes[0]) float -> feedforward prediction (B, layer_sizes[-1])",
        kwargs={"layer_sizes": (64, 64, 10), "activation": "tanh", "bias": True, "activate_input": False},
        paper=_PAPER,
        notes="generic entry: PCNClassifier/BackpropClassifier checkpoints name it with their layer sizes",
    ),
}


def create(name: str, **overrides: Any) -> Any:
    """Build the ballroom-pcn model ``name`` with ``overrides`` of its keyword arguments."""
    return _create(ZOO, name, **overrides)
