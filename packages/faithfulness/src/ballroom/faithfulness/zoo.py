"""Named configurations of ballroom-faithfulness (``ballroom.core.zoo.create_model(name)`` finds them)."""

from __future__ import annotations

from typing import Any

from ballroom.core.zoo import ModelCfg
from ballroom.core.zoo import create as _create

__all__ = ["ZOO", "create"]

_PAPER = "Liu, Li, Guo, Kong, Li, Wang, Rethinking Attention-Model Explainability through Faithfulness Violation Test, ICML 2022"
_TEXT = "ballroom.faithfulness.nn:AttentionTextClassifier"
_SYNTH = {"vocab": 51, "emb": 32, "hidden": 32, "num_classes": 2, "bidirectional": False}

ZOO: dict[str, ModelCfg] = {
    "faithfulness-tiny": ModelCfg(
        builder=_TEXT,
        input="token ids (B, n) int64 in [0, 51), 0 = padding -> logits (B, 2)",
        kwargs={
            "vocab": 51,
            "emb": 16,
            "encoder": "lstm",
            "attention": "tanh",
            "hidden": 16,
            "num_classes": 2,
            "bidirectional": False,
        },
        paper=_PAPER,
        section="spec: tests",
        notes="unidirectional LSTM + tanh attention on the synthetic polarity task; trains in seconds",
    ),
    "faithfulness-lstm": ModelCfg(
        builder=_TEXT,
        input="token ids (B, n) int64 in [0, 51), 0 = padding -> logits (B, 2)",
        kwargs={**_SYNTH, "encoder": "lstm", "attention": "tanh", "n_layers": 1},
        paper=_PAPER,
        section="spec: offline reproduction plan (LSTM, 1 layer)",
    ),
    "faithfulness-lstm3": ModelCfg(
        builder=_TEXT,
        input="token ids (B, n) int64 in [0, 51), 0 = padding -> logits (B, 2)",
        kwargs={**_SYNTH, "encoder": "lstm", "attention": "tanh", "n_layers": 3},
        paper=_PAPER,
        section="spec: offline reproduction plan (LSTM, 3 stacked layers)",
    ),
    "faithfulness-cnn": ModelCfg(
        builder=_TEXT,
        input="token ids (B, n) int64 in [0, 51), 0 = padding -> logits (B, 2)",
        kwargs={**_SYNTH, "encoder": "cnn", "attention": "tanh", "kernel_sizes": (3,)},
        paper=_PAPER,
        section="spec: offline reproduction plan (CNN, kernel 3, 32 channels)",
    ),
    "faithfulness-transformer": ModelCfg(
        builder="ballroom.faithfulness.nn:TinyTransformerClassifier",
        input="token ids (B, n) int64 in [0, 51), 0 = padding -> logits (B, 2)",
        kwargs={"vocab": 51, "num_classes": 2, "d_model": 32, "depth": 2, "n_heads": 2, "d_ff": 64},
        paper=_PAPER,
        section="spec: offline reproduction plan (TinyTransformerClassifier, 2 layers)",
    ),
    "faithfulness-bilstm-tanh": ModelCfg(
        builder=_TEXT,
        input="token ids (B, n) int64 in [0, vocab), 0 = padding -> logits (B, 5)",
        kwargs={
            "vocab": 20000,
            "emb": 300,
            "encoder": "lstm",
            "attention": "tanh",
            "hidden": 128,
            "num_classes": 5,
            "bidirectional": True,
        },
        paper=_PAPER,
        section="spec: models in the paper (BiLSTM 128/direction + Tanh attention; Yelp: 5 classes)",
        notes="set vocab to your vocabulary size",
    ),
    "faithfulness-cnn-tanh": ModelCfg(
        builder=_TEXT,
        input="token ids (B, n) int64 in [0, vocab), 0 = padding -> logits (B, 5)",
        kwargs={
            "vocab": 20000,
            "emb": 300,
            "encoder": "cnn",
            "attention": "tanh",
            "hidden": 32,
            "num_classes": 5,
            "kernel_sizes": (1, 3, 5, 7),
        },
        paper=_PAPER,
        section="spec: models in the paper (CNN kernels 1,3,5,7 x 32 channels + Tanh attention)",
        notes="set vocab to your vocabulary size",
    ),
}


def create(name: str, **overrides: Any) -> Any:
    """Build the ballroom-faithfulness model ``name`` with ``overrides`` of its keyword arguments."""
    return _create(ZOO, name, **overrides)
