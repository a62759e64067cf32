"""Named Flowformer models (registered in the ``ballroom.zoo`` entry-point group).

Every entry names its attention (``"flow"``); pass ``attention="linear"`` or ``"softmax"`` (or an
attention class) to build the same network with a baseline, e.g.
``create("flowformer-listops-mini", attention="softmax")`` or, in a LightningModule,
``FlowformerClassifierModule(model="flowformer-listops-mini", model_kwargs={"attention": "softmax"})``.
"""

from __future__ import annotations

from typing import Any

from ballroom.core.zoo import ModelCfg
from ballroom.core.zoo import create as _create

__all__ = ["ZOO", "create"]

_PAPER = "Wu et al., Flowformer: Linearizing Transformers with Conservation Flows, ICML 2022"

ZOO: dict[str, ModelCfg] = {
    "flowformer-tiny": ModelCfg(
        builder="ballroom.flowformer.nn:FlowformerClassifier",
        input="token ids (B, L) int64 in [0, 16), L <= 100 (+ padding mask) -> logits (B, 10)",
        kwargs={
            "num_classes": 10,
            "vocab_size": 16,
            "d_model": 16,
            "depth": 1,
            "n_heads": 2,
            "d_ff": 32,
            "max_len": 100,
            "attention": "flow",
        },
        paper=_PAPER,
        section="spec: Offline reproduction plan, shrunk",
        notes="1 block, d=16: a ListOps classifier that trains in seconds on CPU (tests, CLI smoke runs).",
    ),
    "flowformer-listops-mini": ModelCfg(
        builder="ballroom.flowformer.nn:FlowformerClassifier",
        input="ListOps token ids (B, L) int64 in [0, 16), L <= 100 (+ padding mask) -> logits (B, 10)",
        kwargs={
            "num_classes": 10,
            "vocab_size": 16,
            "d_model": 64,
            "depth": 2,
            "n_heads": 4,
            "d_ff": 128,
            "max_len": 100,
            "attention": "flow",
        },
        paper=_PAPER,
        section="spec: Offline reproduction plan 1 (ListOps-mini)",
        notes="2 pre-LN blocks, d=64, 4 heads, CLS pooling; the reproduction's ListOps model.",
    ),
    "flowformer-lra-listops": ModelCfg(
        builder="ballroom.flowformer.nn:FlowformerClassifier",
        input="ListOps token ids (B, L) int64 in [0, 16), L <= 2000 (+ padding mask) -> logits (B, 10)",
        kwargs={
            "num_classes": 10,
            "vocab_size": 16,
            "d_model": 512,
            "depth": 1,
            "n_heads": 2,
            "d_ff": 1024,
            "max_len": 2000,
            "attention": "flow",
        },
        paper=_PAPER,
        section="spec: official LRA ListOps config",
        notes="1 layer, 2 heads, emb/qkv 512, MLP 1024, CLS pooling (the official LRA code used relu features, no clamp: "
        "pass feature_map='relu', source_clamp=None for that recipe).",
    ),
    "flowformer-uea": ModelCfg(
        builder="ballroom.flowformer.nn:FlowformerClassifier",
        input="multivariate series (B, T, 12) float, T <= 32 (+ padding mask) -> logits (B, 9)",
        kwargs={
            "num_classes": 9,
            "in_features": 12,
            "d_model": 64,
            "depth": 1,
            "n_heads": 4,
            "d_ff": 128,
            "max_len": 32,
            "pooling": "mean",
            "attention": "flow",
        },
        paper=_PAPER,
        section="spec: Offline reproduction plan 2 (UEA JapaneseVowels)",
        notes="1 block, mean pooling over observed steps; in_features/num_classes set for JapaneseVowels.",
    ),
    "flowformer-charlm": ModelCfg(
        builder="ballroom.flowformer.nn:FlowformerLM",
        input="character ids (B, L) int64 in [0, 128), L <= 128 -> next-token logits (B, L, 128)",
        kwargs={
            "vocab_size": 128,
            "d_model": 64,
            "depth": 2,
            "n_heads": 4,
            "d_ff": 256,
            "max_len": 128,
            "attention": "flow",
        },
        paper=_PAPER,
        section="spec: Offline reproduction plan 3 (causal char-LM)",
        notes="2 causal pre-LN blocks, d=64, 4 heads, context 128, tied embeddings.",
    ),
    "flowformer-wikitext103": ModelCfg(
        builder="ballroom.flowformer.nn:FlowformerLM",
        input="word ids (B, L) int64 in [0, 267744), L <= 512 -> next-token logits (B, L, 267744)",
        kwargs={
            "vocab_size": 267_744,
            "d_model": 512,
            "depth": 6,
            "n_heads": 8,
            "d_ff": 2048,
            "max_len": 512,
            "dropout": 0.1,
            "source_clamp": 5.0,
            "attention": "flow",
        },
        paper=_PAPER,
        section="spec: WikiText-103 (fairseq transformer_lm defaults)",
        notes="6 layers, 512 dims, 8 heads, FFN 2048, 512-token samples; clamp 5 as the official NLP folder. "
        "The paper's adaptive input/softmax is not built; set vocab_size to your tokenizer's.",
    ),
}


def create(name: str, **overrides: Any) -> Any:
    """Build a Flowformer model by name, e.g. ``create("flowformer-listops-mini", attention="softmax")``."""
    return _create(ZOO, name, **overrides)
