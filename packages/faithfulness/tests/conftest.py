"""Fixtures: small explainable models and padded token batches."""

from __future__ import annotations

import pytest
import torch
from torch import Tensor, nn

from ballroom.faithfulness import AttentionTextClassifier, TinyTransformerClassifier


def make_tokens(b: int = 6, n: int = 12, seed: int = 0) -> Tensor:
    """``(b, n)`` token ids in ``[1, 51)``, right-padded with 0 (row 0 full length)."""
    g = torch.Generator().manual_seed(seed)
    t = torch.randint(1, 51, (b, n), generator=g)
    lengths = torch.randint(n // 2, n + 1, (b,), generator=g)
    lengths[0] = n
    return torch.where(torch.arange(n) < lengths[:, None], t, 0)


def make_models(dtype: torch.dtype = torch.float32) -> dict[str, nn.Module]:
    torch.manual_seed(0)
    out = {
        "lstm": AttentionTextClassifier(51, 8, hidden=8, bidirectional=False),
        "bilstm-dot": AttentionTextClassifier(51, 8, hidden=6, attention="dot", n_layers=2),
        "cnn": AttentionTextClassifier(51, 8, encoder="cnn", hidden=4, kernel_sizes=(1, 3, 5)),
        "transformer": TinyTransformerClassifier(51, d_model=16, depth=2, n_heads=2, d_ff=16),
    }
    return {k: m.to(dtype).eval() for k, m in out.items()}


@pytest.fixture
def toks() -> Tensor:
    return make_tokens()


@pytest.fixture
def models() -> dict[str, nn.Module]:
    return make_models()


@pytest.fixture
def models64() -> dict[str, nn.Module]:
    return make_models(torch.float64)


@pytest.fixture
def tokens_of():
    """The factory :func:`make_tokens` (``tokens_of(b, n, seed)``)."""
    return make_tokens
