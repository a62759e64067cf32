"""Named G-CNNs and the Z^2 baseline (registered in the ``ballroom.zoo`` entry-point group).

Every entry names a class of :mod:`ballroom.sepgcnn.models` and plain keyword arguments:
``create_model("sepgcnn-digits-se2", implementation="nonseparable")`` is the full-kernel model.
"""

from __future__ import annotations

from typing import Any

from ballroom.core.zoo import ModelCfg
from ballroom.core.zoo import create as _create

__all__ = ["ZOO", "create"]

_PAPER = "Knigge, Romero, Bekkers, Exploiting Redundancy: Separable Group Convolutional Networks on Lie Groups, ICML 2022"
_GCNN = "ballroom.sepgcnn.models:CKGResNet"
_Z2 = "ballroom.sepgcnn.models:Z2ResNet"

ZOO: dict[str, ModelCfg] = {
    "sepgcnn-tiny": ModelCfg(
        builder=_GCNN,
        input="images (B, 1, H, W) float -> logits (B, 10) (rotation-invariant pooling)",
        kwargs={"group": "SE2", "n_rot": 4, "implementation": "separable",
                "widths": [4, 4, 8], "kernel_size": 5, "hidden": 16},
        paper=_PAPER,
        section="spec: Offline reproduction plan, shrunk",
        notes="SE(2) N=4, widths 4,4,8, k=5, SIREN hidden 16: trains in seconds on CPU (tests, CLI smoke runs).",
    ),
    "sepgcnn-digits-se2": ModelCfg(
        builder=_GCNN,
        input="images (B, 1, H, W) float -> logits (B, 10) (rotation-invariant pooling)",
        kwargs={"group": "SE2", "n_rot": 8, "implementation": "separable",
                "widths": [8, 8, 16], "kernel_size": 5, "hidden": 32},
        paper=_PAPER,
        section="spec: Offline reproduction plan (rotated digits)",
        notes="CKGResNet widths 8,8,16, k=5, SIREN hidden 32, N=8: 44,058 parameters; "
        "implementation='nonseparable' for the full-kernel model.",
    ),
    "sepgcnn-digits-sim2": ModelCfg(
        builder=_GCNN,
        input="images (B, 1, H, W) float -> logits (B, 10) (rotation/scale-invariant pooling)",
        kwargs={"group": "Sim2", "n_rot": 8, "n_scale": 2, "max_scale": 1.5,
                "implementation": "separable+2d", "widths": [8, 8, 16], "kernel_size": 5, "hidden": 32},
        paper=_PAPER,
        section="spec: Offline reproduction plan (rotated digits, Sim(2))",
        notes="Sim(2) separable+2d, 8 rotations x 2 scales up to 1.5.",
    ),
    "sepgcnn-digits-z2": ModelCfg(
        builder=_Z2,
        input="images (B, 1, H, W) float -> logits (B, 10)",
        kwargs={"widths": [14, 14, 28], "kernel_size": 5},
        paper=_PAPER,
        section="spec: Offline reproduction plan (Z2 CNN baseline of about equal parameters)",
        notes="The translation-only baseline with CKGResNet's topology: 42,856 parameters.",
    ),
    "sepgcnn-mnist-rot-se2": ModelCfg(
        builder=_GCNN,
        input="images (B, 1, 28, 28) float -> logits (B, 10) (rotation-invariant pooling)",
        kwargs={"group": "SE2", "n_rot": 16, "implementation": "separable",
                "widths": [32, 32, 64], "kernel_size": 7, "hidden": 64},
        paper=_PAPER,
        section="spec: Architectures (README runs, MNIST-rot)",
        notes="Adam 1e-4, wd 1e-4, batch 64, 300 epochs, cosine; N=8 or 16.",
    ),
    "sepgcnn-mnist-rot-sim2": ModelCfg(
        builder=_GCNN,
        input="images (B, 1, 28, 28) float -> logits (B, 10) (rotation/scale-invariant pooling)",
        kwargs={"group": "Sim2", "n_rot": 16, "n_scale": 3, "max_scale": 1.74,
                "implementation": "separable+2d", "widths": [32, 32, 64], "kernel_size": 7, "hidden": 64},
        paper=_PAPER,
        section="spec: Architectures (README runs, Sim(2) '16,3', s_max 1.74)",
        notes="The paper's 0.59 % MNIST-rot error model family (Sim(2), separable).",
    ),
}  # fmt: skip


def create(name: str, **overrides: Any) -> Any:
    """Build a model by name, e.g. ``create("sepgcnn-digits-se2", implementation="nonseparable")``."""
    return _create(ZOO, name, **overrides)
