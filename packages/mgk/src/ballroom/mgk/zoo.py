"""Named configurations of ballroom-mgk (``ballroom.core.zoo.create_model(name)`` finds them)."""

from __future__ import annotations

from typing import Any

from ballroom.core.zoo import ModelCfg
from ballroom.core.zoo import create as _create

__all__ = ["ZOO", "create"]

_PAPER = "Nguyen et al., Improving Transformers with Probabilistic Attention Keys, ICML 2022"
_LRA = {"vocab_size": 16, "num_classes": 10, "d_model": 64, "n_layers": 2, "head_dim": 32, "d_ff": 128,
        "max_len": 2000, "dropout": 0.1}  # fmt: skip
_CLF = "ballroom.mgk.models:MGKEncoderClassifier"
_LM = "ballroom.mgk.models:MGKLanguageModel"
_CHAR = {"vocab_size": 99, "d_model": 64, "n_layers": 2, "head_dim": 16, "d_ff": 256, "max_len": 128,
         "norm": "pre"}  # fmt: skip

ZOO: dict[str, ModelCfg] = {
    "mgk-tiny": ModelCfg(
        builder=_CLF,
        input="ListOps token ids (B, L<=128) int64 (+ key_padding_mask (B, L) bool) -> logits (B, 10)",
        kwargs={
            "vocab_size": 16,
            "num_classes": 10,
            "d_model": 32,
            "n_layers": 2,
            "n_heads": 2,
            "head_dim": 16,
            "d_ff": 64,
            "max_len": 128,
            "attention": "mgk",
            "dropout": 0.0,
        },
        paper=_PAPER,
        section="spec: offline plan 2 (ListOps-mini), shrunk",
        notes="2-layer MGK(2 heads) classifier on procedural ListOps; trains in seconds; the tests' model",
    ),
    "mgk-lra-listops-mgk2": ModelCfg(
        builder=_CLF,
        input="ListOps token ids (B, L<=2000) int64 (+ key_padding_mask (B, L) bool) -> logits (B, 10)",
        kwargs={**_LRA, "n_heads": 2, "attention": "mgk"},
        paper=_PAPER,
        section="spec: LRA table, MGK 2 heads",
        notes="LRA recipe (embedding 64, FFN 128, head dim 32); paper 36.88 %",
    ),
    "mgk-lra-listops-smgk2": ModelCfg(
        builder=_CLF,
        input="ListOps token ids (B, L<=2000) int64 (+ key_padding_mask (B, L) bool) -> logits (B, 10)",
        kwargs={**_LRA, "n_heads": 2, "attention": "smgk"},
        paper=_PAPER,
        section="spec: LRA table, sMGK 2 heads",
        notes="paper 37.35 %",
    ),
    "mgk-baseline-lra-listops-softmax4": ModelCfg(
        builder=_CLF,
        input="ListOps token ids (B, L<=2000) int64 (+ key_padding_mask (B, L) bool) -> logits (B, 10)",
        kwargs={**_LRA, "n_heads": 4, "attention": "softmax"},
        paper=_PAPER,
        section="spec: LRA table, softmax 4 heads",
        notes="the baseline MGK(2) is compared with; paper 36.89 %",
    ),
    "mgk-charlm-mgk2": ModelCfg(
        builder=_LM,
        input="character ids (B, N<=128) int64 of the stdlib corpus -> next-character logits (B, N, 99)",
        kwargs={
            **_CHAR,
            "n_heads": 2,
            "attention": "mgk",
            "attn_kwargs": {"sigma2": (1.0, 1 / 3), "pi_mode": "head"},
        },
        paper=_PAPER,
        section="spec: offline plan 1 (char-LM)",
        notes="MGK 2 heads, sigma^2 = (1, 1/3) sqrt(d)",
    ),
    "mgk-baseline-charlm-softmax4": ModelCfg(
        builder=_LM,
        input="character ids (B, N<=128) int64 of the stdlib corpus -> next-character logits (B, N, 99)",
        kwargs={**_CHAR, "n_heads": 4, "attention": "softmax"},
        paper=_PAPER,
        section="spec: offline plan 1 (char-LM)",
        notes="softmax 4 heads (SDPA)",
    ),
}


def create(name: str, **overrides: Any) -> Any:
    """Build the ballroom-mgk model ``name`` with ``overrides`` of its keyword arguments."""
    return _create(ZOO, name, **overrides)
