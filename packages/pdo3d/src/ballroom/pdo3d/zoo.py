"""Named configurations of ballroom-pdo3d (``ballroom.core.zoo.create_model(name)`` finds them)."""

from __future__ import annotations

from typing import Any

from ballroom.core.zoo import ModelCfg
from ballroom.core.zoo import create as _create

__all__ = ["ZOO", "create"]

_PAPER = (
    "Shen, Hong, She, Ma, Lin, PDO-s3DCNNs: Partial Differential Operator Based Steerable 3D CNNs, ICML 2022"
)
_NET = "ballroom.pdo3d.models:PDOTetrisNet"

ZOO: dict[str, ModelCfg] = {
    "pdo3d-tiny": ModelCfg(
        builder=_NET,
        input="Tetris volumes (B, 1, 12, 12, 12) float (scale 2, pad 2) -> logits (B, 8)",
        kwargs={
            "group": "O",
            "field": "quotient-V",
            "mult": 2,
            "readout": 16,
            "mode": "fd",
            "num_classes": 8,
        },
        paper=_PAPER,
        section="spec: tests",
        notes="O / V-quotient(2) FD net, 368 parameters; trains on 12^3 Tetris in seconds (the tests' model)",
    ),
    "pdo3d-tetris-o-regular": ModelCfg(
        builder=_NET,
        input="Tetris volumes (B, 1, S, S, S) float, S divisible by 4 -> logits (B, 8)",
        kwargs={"group": "O", "field": "regular", "mult": 10, "readout": 64, "mode": "fd", "num_classes": 8},
        paper=_PAPER,
        section="Architectures: Tetris-O",
        notes="31,020 parameters (paper: 31k)",
    ),
    "pdo3d-tetris-o-vquotient": ModelCfg(
        builder=_NET,
        input="Tetris volumes (B, 1, S, S, S) float, S divisible by 4 -> logits (B, 8)",
        kwargs={
            "group": "O",
            "field": "quotient-V",
            "mult": 10,
            "readout": 64,
            "mode": "fd",
            "num_classes": 8,
        },
        paper=_PAPER,
        section="Architectures: Tetris-O, V-quotient",
        notes="5,520 parameters (paper: 5.5k)",
    ),
    "pdo3d-tetris-o-tquotient": ModelCfg(
        builder=_NET,
        input="Tetris volumes (B, 1, S, S, S) float, S divisible by 4 -> logits (B, 8)",
        kwargs={
            "group": "O",
            "field": "quotient-T",
            "mult": 10,
            "readout": 64,
            "mode": "fd",
            "num_classes": 8,
        },
        paper=_PAPER,
        section="Architectures: Tetris-O, T-quotient",
        notes="2,220 parameters (paper: 2.2k)",
    ),
    "pdo3d-tetris-so3": ModelCfg(
        builder="ballroom.pdo3d.models:SO3TetrisNet",
        input="Tetris volumes (B, 1, S, S, S) float, S divisible by 4 -> logits (B, 8)",
        kwargs={"mults": ((4, 4, 4), (16, 16, 16), (32, 16, 16)), "readout": 128, "mode": "gaussian"},
        paper=_PAPER,
        section="Architectures: Tetris-SO(3)",
        notes="22,768 parameters (paper: 22.8k); Gaussian 5^3 stencils",
    ),
    "pdo3d-baseline-cnn": ModelCfg(
        builder="ballroom.pdo3d.models:PlainCNN3d",
        input="Tetris volumes (B, 1, S, S, S) float, S divisible by 4 -> logits (B, 8)",
        kwargs={"channels": 12, "readout": 16, "num_classes": 8},
        paper=_PAPER,
        section="Offline reproduction plan: plain 3D CNN",
        notes="9,572 parameters (spec: ~9.6k); not equivariant",
    ),
}


def create(name: str, **overrides: Any) -> Any:
    """Build the ballroom-pdo3d model ``name`` with ``overrides`` of its keyword arguments."""
    return _create(ZOO, name, **overrides)
