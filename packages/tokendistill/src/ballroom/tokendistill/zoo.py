"""Named configurations of ballroom-tokendistill (``ballroom.core.zoo.create_model(name)`` finds them)."""

from __future__ import annotations

from typing import Any

from ballroom.core.zoo import ModelCfg
from ballroom.core.zoo import create as _create

__all__ = ["DIGITS_MIXER", "ZOO", "create"]

PAPER = "Y. Li, X. Chen, M. Dong, Y. Tang, Y. Wang, C. Xu, Spatial-Channel Token Distillation for Vision MLPs, ICML 2022"
_NN = "ballroom.tokendistill.nn"

#: the spec's digits student host: patch 2 (P = 16), N = 64, depth 4, D_S = 32, D_C = 128
DIGITS_MIXER: dict[str, Any] = {
    "img_size": 8, "patch_size": 2, "in_chans": 1, "num_classes": 10,
    "dim": 64, "depth": 4, "token_hidden": 32, "channel_hidden": 128,
}  # fmt: skip
_S16 = {"img_size": 224, "patch_size": 16, "in_chans": 3, "num_classes": 1000,
        "dim": 512, "depth": 8, "token_hidden": 256, "channel_hidden": 2048}  # fmt: skip
_B16 = {**_S16, "dim": 768, "depth": 12, "token_hidden": 384, "channel_hidden": 3072}
_C100 = {"img_size": 32, "patch_size": 4, "in_chans": 3, "num_classes": 100,
         "dim": 128, "depth": 8, "token_hidden": 64, "channel_hidden": 512}  # fmt: skip

ZOO: dict[str, ModelCfg] = {
    "tokendistill-tiny": ModelCfg(
        builder=f"{_NN}:build_std_student",
        input="standardised 8x8 digits (B, 1, 8, 8) float -> STDOutput (cls (B, 10), [dist (B, 10)], tokens)",
        kwargs=DIGITS_MIXER,
        paper=PAPER,
        section="spec: offline reproduction plan (std)",
        notes="the digits student with one 2-layer STD module after the last block; trains in seconds",
    ),
    "tokendistill-mixer-digits": ModelCfg(
        builder=f"{_NN}:build_mixer",
        input="standardised 8x8 digits (B, 1, 8, 8) float -> logits (B, 10)",
        kwargs=DIGITS_MIXER,
        paper=PAPER,
        section="spec: offline reproduction plan (base)",
        notes="the plain digits host (the `base` variant)",
    ),
    "tokendistill-kdhead-digits": ModelCfg(
        builder=f"{_NN}:build_kd_head_student",
        input="standardised 8x8 digits (B, 1, 8, 8) float -> STDOutput (cls (B, 10), [dist (B, 10)], [])",
        kwargs=DIGITS_MIXER,
        paper=PAPER,
        section="spec: offline reproduction plan (kd_head)",
        notes="DeiT-style baseline: a second head on the pooled features, no tokens",
    ),
    "tokendistill-teacher-cnn": ModelCfg(
        builder=f"{_NN}:TeacherCNN",
        input="standardised 8x8 digits (B, 1, 8, 8) float -> logits (B, 10)",
        kwargs={"in_chans": 1, "num_classes": 10},
        paper=PAPER,
        section="spec: offline reproduction plan (teacher)",
        notes="conv32-conv64-maxpool-conv64-GAP-linear (BatchNorm, ReLU); about 0.98 test accuracy on digits",
    ),
    "tokendistill-mixer-s16-std": ModelCfg(
        builder=f"{_NN}:build_std_student",
        input="ImageNet images (B, 3, 224, 224) float, normalised -> STDOutput (cls (B, 1000), [dist (B, 1000)] * 2, tokens)",
        kwargs={**_S16, "tap_blocks": (4, -1), "num_teachers": 2, "teacher_assignment": (0, 1)},
        paper=PAPER,
        section="paper: Mixer-S16 + STD, 75.7 top-1",
        notes="modules after block 5 of 8 (the 2/3 position floor(2*8/3) = 5, index 4; teacher 0, the small one) and the last block (teacher 1, the large one)",
    ),
    "tokendistill-mixer-b16-std": ModelCfg(
        builder=f"{_NN}:build_std_student",
        input="ImageNet images (B, 3, 224, 224) float, normalised -> STDOutput (cls (B, 1000), [dist (B, 1000)], tokens)",
        kwargs=_B16,
        paper=PAPER,
        section="spec: host network (Mixer-B/16)",
        notes="Mixer-B/16 with one STD module after the last block",
    ),
    "tokendistill-mixer-cifar100-std": ModelCfg(
        builder=f"{_NN}:build_std_student",
        input="CIFAR-100 images (B, 3, 32, 32) float, normalised -> STDOutput (cls (B, 100), [dist (B, 100)], tokens)",
        kwargs=_C100,
        paper=PAPER,
        section="spec: offline plan, real datasets (CIFAR-100, patch 4)",
        notes="a small Mixer on 32x32 (P = 64, N = 128, depth 8) with STD after the last block",
    ),
}


def create(name: str, **overrides: Any) -> Any:
    """Build the ballroom-tokendistill model ``name`` with ``overrides`` of its keyword arguments."""
    return _create(ZOO, name, **overrides)
