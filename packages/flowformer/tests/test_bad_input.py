"""Careless calls on flowformer's public entry points raise a clear error naming the argument."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from ballroom.core.zoo import create_model
from ballroom.flowformer.functional import flow_attention
from ballroom.flowformer.nn import FlowAttention, FlowformerClassifier, FlowformerLM

ATT = FlowAttention(8, 8, 8, 2)
X = torch.randn(2, 5, 8)
Q = torch.randn(2, 2, 5, 4)
CLF = FlowformerClassifier(num_classes=3, vocab_size=16, d_model=8, depth=1, n_heads=2, d_ff=16, max_len=10)
TOK = torch.randint(0, 16, (2, 5))

CASES = [
    (lambda: FlowAttention(8, 8, 8, 0), ValueError, "n_heads must be an integer in"),
    (lambda: FlowAttention(8, -8, 8, 2), ValueError, "d_model must be an integer in"),
    (lambda: FlowAttention(8, 8, 8, 3), ValueError, "must be divisible by n_heads"),
    (lambda: FlowAttention(8, 8, 8, 2, dropout=1.5), ValueError, r"dropout must lie in \[0, 1\)"),
    (lambda: FlowAttention(8, 8, 8, 2, causal_impl="fast"), ValueError, "causal_impl must be one of"),
    (lambda: FlowAttention(8, 8, 8, 2, chunk_size=0), ValueError, "chunk_size must be an integer in"),
    (lambda: ATT(torch.randn(2, 5, 7), X, X), ValueError, r"queries must have shape \(B, \*, d_input=8\)"),
    (
        lambda: ATT(X.double(), X.double(), X.double()),
        TypeError,
        "queries has dtype torch.float64 but the layer's weights",
    ),
    (
        lambda: ATT(X, X[:1], X[:1]),
        ValueError,
        r"sizes must agree: queries.shape\[0\] = 2, keys.shape\[0\] = 1",
    ),
    (lambda: ATT(X, X, X[:, :4]), ValueError, r"keys.shape\[1\] = 5, values.shape\[1\] = 4"),
    (lambda: ATT(X.numpy(), X, X), TypeError, "queries must be a torch.Tensor, got ndarray"),
    (lambda: ATT(X[0], X, X), ValueError, "queries must have rank 3"),
    (lambda: ATT(X[:0], X[:0], X[:0]), ValueError, "queries must not be empty"),
    (
        lambda: ATT(X, X, X, torch.zeros(2, 4, dtype=torch.bool)),
        ValueError,
        r"key_padding_mask must be a bool tensor of shape \(2, 5\)",
    ),
    (
        lambda: ATT(X, X, X, torch.ones(2, 5, dtype=torch.bool)),
        ValueError,
        "key_padding_mask: a sample has no valid position",
    ),
    (lambda: flow_attention(Q, Q, Q, eps=-1.0), ValueError, r"eps must lie in \[0, inf\)"),
    (
        lambda: flow_attention(Q, Q, Q, source_clamp=float("nan")),
        ValueError,
        "source_clamp must be a finite number",
    ),
    (lambda: flow_attention(Q.long(), Q, Q), ValueError, r"q must be a floating \(B, H, L, D\) tensor"),
    (
        lambda: FlowformerClassifier(num_classes=0, vocab_size=16),
        ValueError,
        "num_classes must be an integer in",
    ),
    (
        lambda: FlowformerClassifier(num_classes=3, vocab_size=16, n_heads=0),
        ValueError,
        "n_heads must be an integer in",
    ),
    (lambda: CLF(TOK.float()), ValueError, "tokens must be an integer"),
    (lambda: CLF(TOK + 16), ValueError, r"token ids must lie in \[0, 16\)"),
    (
        lambda: CLF(TOK, torch.ones(2, 5, dtype=torch.bool)),
        ValueError,
        r"key_padding_mask: sample\(s\) \[0, 1\] are all padding",
    ),
    (lambda: CLF(TOK, torch.zeros(2, 5)), ValueError, "key_padding_mask must be bool"),
    (lambda: create_model("flowformer-tiny", bogus=1), TypeError, "bogus"),
    (
        lambda: FlowformerLM(vocab_size=16, d_model=8, depth=1, n_heads=2, d_ff=16, max_len=8)(
            torch.randn(2, 4)
        ),
        ValueError,
        "tokens must be an integer",
    ),
]


@pytest.mark.parametrize(("call", "exc", "match"), CASES, ids=[c[2][:40] for c in CASES])
def test_bad_input_is_refused_by_name(call, exc, match) -> None:
    with pytest.raises(exc, match=match):
        call()


def test_transposed_layout_is_warned_about() -> None:
    q = torch.randn(1, 100, 2, 4)  # (B, L, H, D) passed as (B, H, L, D)
    with pytest.warns(UserWarning, match=r"takes \(B, H, L, D\)"):
        flow_attention(q, q, q)


def test_partial_padding_still_works() -> None:
    mask = torch.zeros(2, 5, dtype=torch.bool)
    mask[0, 3:] = True
    assert CLF(TOK, mask).shape == (2, 3)
    assert np.isfinite(ATT(X, X, X, mask).detach().numpy()).all()
