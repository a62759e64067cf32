"""Named configurations of ballroom-agnas (``ballroom.core.zoo.create_model(name)`` finds them)."""

from __future__ import annotations

from typing import Any

from ballroom.core.zoo import ModelCfg
from ballroom.core.zoo import create as _create

__all__ = ["ZOO", "create"]

_PAPER = "Sun et al., AGNAS: Attention-Guided Micro- and Macro-Architecture Search, ICML 2022"

ZOO: dict[str, ModelCfg] = {
    "agnas-tiny": ModelCfg(
        builder="ballroom.agnas.evalnet:EvalNetwork",
        input="images (B, 3, 16, 16) float (the digits protocol) -> logits (B, 10)",
        kwargs={"C": 4, "layers": 3, "reductions": [1], "auxiliary": False, "num_classes": 10},
        paper=_PAPER,
        section="spec: evaluation training (the official AGNAS genotypes of stage 1, reduction 1, stage 2)",
        notes="3 cells, C=4: trains on digits in seconds; the tests' model",
    ),
    "agnas-cifar10": ModelCfg(
        builder="ballroom.agnas.evalnet:EvalNetwork",
        input="images (B, 3, 32, 32) float -> logits (B, 10)",
        kwargs={"C": 36, "layers": 20, "auxiliary": True, "num_classes": 10, "drop_path_prob": 0.0},
        paper=_PAPER,
        section="spec: evaluation training (20 cells, C=36, genotypes.AGNAS); paper: 2.46 % CIFAR-10 error",
        notes="train 600 epochs, batch 96, cutout 16, drop path 0.2 (ArchitectureTrainer); no weights ship",
    ),
    "agnas-supernet-digits": ModelCfg(
        builder="ballroom.agnas.nn:AttentionSupernet",
        input="images (B, 3, 16, 16) float -> logits (B, 10)",
        kwargs={"C": 4, "layers": 3, "reductions": [1], "num_classes": 10},
        paper=_PAPER,
        section="spec: offline reproduction plan (DARTS space, shrunk to 3 cells, C=4 for --quick)",
    ),
    "agnas-nb201-mini-supernet": ModelCfg(
        builder="ballroom.agnas.nb201:NB201Supernet",
        input="images (B, 3, 16, 16) float -> logits (B, 10)",
        kwargs={"C": 8, "N": 1, "num_classes": 10, "mixed": "attention"},
        paper=_PAPER,
        section="spec: NB201-mini (C=8, 1 cell per stage)",
    ),
}


def create(name: str, **overrides: Any) -> Any:
    """Build the ballroom-agnas model ``name`` with ``overrides`` of its keyword arguments."""
    return _create(ZOO, name, **overrides)
