"""The Flowformer stacks and models, built from the attention layers of :mod:`ballroom.flowformer.attention`
(re-exported here: ``from ballroom.flowformer.nn import FlowAttention`` keeps working)."""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from types import MappingProxyType
from typing import cast

import torch
from torch import Tensor, nn

from ballroom.core.validate import (
    check_int,
)
from ballroom.flowformer.attention import FlowAttention, LinearAttention, SoftmaxAttention

__all__ = [
    "ATTENTIONS",
    "AttentionKind",
    "FlowAttention",
    "FlowformerBlock",
    "FlowformerClassifier",
    "FlowformerEncoder",
    "FlowformerLM",
    "LinearAttention",
    "SoftmaxAttention",
    "attention_class",
    "build_attention",
    "sinusoidal_positions",
]


# ----------------------------------------------------------------------------------------------
# stacks

#: the attention kinds by name: what a config's ``attention: flow`` refers to (a stack also takes
#: the class itself, or any ``nn.Module`` class with the same constructor and ``forward``)
ATTENTIONS: Mapping[str, type[nn.Module]] = MappingProxyType(
    {"flow": FlowAttention, "linear": LinearAttention, "softmax": SoftmaxAttention}
)

#: what a stack's ``attention`` argument accepts: a name of :data:`ATTENTIONS` or an attention class
AttentionKind = str | type[nn.Module]


def attention_class(kind: AttentionKind) -> type[nn.Module]:
    """The attention class ``kind`` names (a key of :data:`ATTENTIONS`) or ``kind`` itself if it is a class."""
    if isinstance(kind, type) and issubclass(kind, nn.Module):
        return kind
    if isinstance(kind, str) and kind in ATTENTIONS:
        return ATTENTIONS[kind]
    raise ValueError(f"attention must be one of {tuple(ATTENTIONS)} or an nn.Module class, got {kind!r}")


def build_attention(
    kind: str,
    d_model: int,
    n_heads: int,
    *,
    causal: bool = False,
    dropout: float = 0.0,
    **flow_kwargs: object,
) -> nn.Module:
    """Deprecated: use the attention classes (``ATTENTIONS[kind](d_model, d_model, d_model, n_heads, ...)``).

    Args:
        kind: a key of :data:`ATTENTIONS` or an attention class.
        d_model: the input, head and output width.
        n_heads: the number of heads.
        causal: causal self-attention.
        dropout: dropout on the output projection.
        **flow_kwargs: options of :class:`FlowAttention` (ignored by the baselines).

    Returns:
        The attention module; a ``DeprecationWarning`` is issued.
    """
    warnings.warn(
        "build_attention is deprecated: construct the attention class directly, e.g. "
        "FlowAttention(d_model, d_model, d_model, n_heads, causal=..., dropout=...), or look it up in ATTENTIONS",
        DeprecationWarning,
        stacklevel=2,
    )
    cls = attention_class(kind)
    kwargs = flow_kwargs if cls is FlowAttention else {}  # the old behaviour: baselines ignored them
    return cls(d_model, d_model, d_model, n_heads, causal=causal, dropout=dropout, **kwargs)


class FlowformerBlock(nn.Module):
    """Pre-LN transformer block: ``x + Attn(LN x)``, then ``x + MLP(LN x)`` with GELU. ``(B, L, d) -> (B, L, d)``.

    The attention is ``attention_class(attention)(d_model, d_model, d_model, n_heads, causal=causal,
    dropout=dropout, **attention_kwargs)``.

    Args:
        d_model: the model width.
        n_heads: attention heads.
        d_ff: the hidden width of the MLP.
        attention: an attention class or its name in :data:`ATTENTIONS`.
        causal: causal attention.
        dropout: dropout in the attention output and the MLP.
        **attention_kwargs: keyword arguments of the attention class.
    """

    def __init__(
        self,
        d_model: int,
        n_heads: int,
        d_ff: int,
        attention: AttentionKind = "flow",
        causal: bool = False,
        dropout: float = 0.0,
        **attention_kwargs: object,
    ) -> None:
        super().__init__()
        self.norm1, self.norm2 = nn.LayerNorm(d_model), nn.LayerNorm(d_model)
        self.attn = attention_class(attention)(
            d_model, d_model, d_model, n_heads, causal=causal, dropout=dropout, **attention_kwargs
        )
        self.mlp = nn.Sequential(
            nn.Linear(d_model, d_ff),
            nn.GELU(),
            nn.Dropout(dropout),
            nn.Linear(d_ff, d_model),
            nn.Dropout(dropout),
        )

    def forward(self, x: Tensor, key_padding_mask: Tensor | None = None) -> Tensor:
        h = self.norm1(x)
        x = x + self.attn(h, h, h, key_padding_mask)
        return x + self.mlp(self.norm2(x))


class FlowformerEncoder(nn.Module):
    """``depth`` pre-LN blocks and a final LayerNorm.

    ``attention`` is an attention class (:class:`FlowAttention`, :class:`LinearAttention`,
    :class:`SoftmaxAttention` or any class with their constructor and ``forward``) or its name in
    :data:`ATTENTIONS`; ``attention_kwargs`` go to that class (e.g. ``source_clamp=5.0`` for Flow).
    ``forward(x (B, L, d_model), key_padding_mask (B, L) | None) -> (B, L, d_model)``.

    Args:
        d_model: the model width.
        n_heads: attention heads.
        d_ff: the hidden width of the MLP.
        attention: an attention class or its name in :data:`ATTENTIONS`.
        depth: the number of blocks.
        causal: causal attention in every block.
        dropout: dropout in every block.
        **attention_kwargs: keyword arguments of the attention class.

    Raises:
        ValueError: an unknown ``attention``.
    """

    def __init__(
        self,
        d_model: int = 64,
        depth: int = 2,
        n_heads: int = 4,
        d_ff: int = 128,
        attention: AttentionKind = "flow",
        causal: bool = False,
        dropout: float = 0.0,
        **attention_kwargs: object,
    ) -> None:
        super().__init__()
        attention_class(attention)  # an unknown kind fails here, also with depth=0
        self.blocks = nn.ModuleList(
            FlowformerBlock(d_model, n_heads, d_ff, attention, causal, dropout, **attention_kwargs)
            for _ in range(depth)
        )
        self.norm = nn.LayerNorm(d_model)

    def forward(self, x: Tensor, key_padding_mask: Tensor | None = None) -> Tensor:
        for block in self.blocks:
            x = block(x, key_padding_mask)
        return self.norm(x)


def _check_tokens(tokens: Tensor, vocab_size: int) -> None:
    """Integer ``(B, L)`` ids in ``[0, vocab_size)``, else a ``ValueError`` naming what was expected."""
    if tokens.ndim != 2 or tokens.dtype not in (torch.int64, torch.int32):
        raise ValueError(f"tokens must be an integer (B, L) tensor, got {tokens.dtype} {tuple(tokens.shape)}")
    if tokens.numel() == 0:
        raise ValueError(f"tokens are empty: {tuple(tokens.shape)}")
    low, high = int(tokens.min()), int(tokens.max())
    if low < 0 or high >= vocab_size:
        raise ValueError(f"token ids must lie in [0, {vocab_size}), got [{low}, {high}]")


def sinusoidal_positions(length: int, d_model: int) -> Tensor:
    """``(length, d_model)`` fixed sinusoidal position codes (Vaswani et al.)."""
    pos = torch.arange(length, dtype=torch.float32).unsqueeze(1)
    div = torch.exp(
        torch.arange(0, d_model, 2, dtype=torch.float32) * (-torch.log(torch.tensor(10000.0)) / d_model)
    )
    pe = torch.zeros(length, d_model)
    pe[:, 0::2] = torch.sin(pos * div)
    pe[:, 1::2] = torch.cos(pos * div)[:, : d_model // 2]
    return pe


class FlowformerClassifier(nn.Module):
    """Sequence classifier: token (``vocab_size``) or continuous (``in_features``) embedding, positions,
    encoder, CLS or masked-mean pooling, linear head.

    ``forward(x, key_padding_mask=None)``: ``x (B, L)`` token ids or ``(B, L, in_features)``;
    ``key_padding_mask (B, L)`` True on padding. Returns logits ``(B, num_classes)``.

    Args:
        num_classes: the number of classes.
        vocab_size: the token vocabulary (give this or ``in_features``).
        in_features: the feature size of continuous inputs (give this or ``vocab_size``).
        d_model: the model width.
        depth: the number of encoder blocks.
        n_heads: attention heads.
        d_ff: the hidden width of each block's MLP.
        max_len: the longest input sequence (the size of the position table, plus 1 for CLS).
        attention: an attention class or its name in :data:`ATTENTIONS`.
        pooling: ``"cls"`` (a learned CLS token) or ``"mean"`` (the mean over unpadded positions).
        positions: ``"learned"`` or ``"sinusoidal"`` (fixed) position codes.
        dropout: dropout in every block.
        **attention_kwargs: keyword arguments of the attention class.

    Raises:
        ValueError: both or neither of ``vocab_size`` and ``in_features``, a size below 1, or an
            unknown ``pooling`` or ``positions``; in ``forward``, bad inputs or masks.
    """

    def __init__(
        self,
        num_classes: int,
        vocab_size: int | None = None,
        in_features: int | None = None,
        d_model: int = 64,
        depth: int = 2,
        n_heads: int = 4,
        d_ff: int = 128,
        max_len: int = 2048,
        attention: AttentionKind = "flow",
        pooling: str = "cls",
        positions: str = "learned",
        dropout: float = 0.0,
        **attention_kwargs: object,
    ) -> None:
        super().__init__()
        if (vocab_size is None) == (in_features is None):
            raise ValueError("give exactly one of vocab_size (tokens) or in_features (continuous inputs)")
        for name, value in (("num_classes", num_classes), ("d_model", d_model), ("depth", depth),
                            ("n_heads", n_heads), ("d_ff", d_ff), ("max_len", max_len),
                            ("vocab_size", vocab_size), ("in_features", in_features)):  # fmt: skip
            if value is not None:
                check_int(value, name, min=1)
        if pooling not in ("cls", "mean") or positions not in ("learned", "sinusoidal"):
            raise ValueError(
                f"pooling must be 'cls'|'mean' and positions 'learned'|'sinusoidal', got {pooling!r}, {positions!r}"
            )
        self.pooling, self.max_len = pooling, max_len
        self.vocab_size, self.in_features = vocab_size, in_features
        self.embed = (
            nn.Embedding(vocab_size, d_model)
            if vocab_size is not None
            else nn.Linear(cast(int, in_features), d_model)  # exactly one of the two is None (checked above)
        )
        extra = 1 if pooling == "cls" else 0
        if positions == "learned":
            self.pos = nn.Parameter(torch.randn(max_len + extra, d_model) * 0.02)
        else:
            self.register_buffer("pos", sinusoidal_positions(max_len + extra, d_model), persistent=False)
        self.cls = nn.Parameter(torch.zeros(1, 1, d_model)) if pooling == "cls" else None
        self.encoder = FlowformerEncoder(
            d_model, depth, n_heads, d_ff, attention, False, dropout, **attention_kwargs
        )
        self.head = nn.Linear(d_model, num_classes)

    def forward(self, x: Tensor, key_padding_mask: Tensor | None = None) -> Tensor:
        if self.vocab_size is not None:
            _check_tokens(x, self.vocab_size)
        elif x.ndim != 3 or x.shape[-1] != self.in_features or not x.is_floating_point():
            raise ValueError(
                f"expected floating (B, L, {self.in_features}) inputs, got {x.dtype} {tuple(x.shape)}"
            )
        elif not bool(torch.isfinite(x).all()):
            raise ValueError("inputs contain NaN or inf")
        if key_padding_mask is not None and (
            key_padding_mask.shape != x.shape[:2] or key_padding_mask.dtype != torch.bool
        ):
            raise ValueError(
                f"key_padding_mask must be bool {tuple(x.shape[:2])} (True = padding), got {key_padding_mask.dtype} "
                f"{tuple(key_padding_mask.shape)}"
            )
        if key_padding_mask is not None and bool(key_padding_mask.all(1).any()):
            empty = key_padding_mask.all(1).nonzero().flatten().tolist()
            raise ValueError(
                f"key_padding_mask: sample(s) {empty[:8]} are all padding (no token to classify; "
                "the CLS token alone would give the same logits whatever the input)"
            )
        h = self.embed(x)
        b, length, _ = h.shape
        if length > self.max_len:
            raise ValueError(f"sequence length {length} exceeds max_len={self.max_len}")
        if self.cls is not None:
            h = torch.cat([self.cls.expand(b, -1, -1), h], dim=1)
            if key_padding_mask is not None:
                key_padding_mask = torch.cat([key_padding_mask.new_zeros(b, 1), key_padding_mask], dim=1)
        h = self.encoder(h + self.pos[: h.shape[1]], key_padding_mask)
        if self.cls is not None:
            return self.head(h[:, 0])
        if key_padding_mask is None:
            return self.head(h.mean(1))
        valid = (~key_padding_mask).to(h.dtype).unsqueeze(-1)
        return self.head((h * valid).sum(1) / valid.sum(1).clamp_min(1.0))


class FlowformerLM(nn.Module):
    """Causal language model: token embedding + learned positions, causal encoder, tied output embedding.

    ``forward(tokens (B, L)) -> logits (B, L, vocab_size)``.

    Args:
        vocab_size: the token vocabulary.
        d_model: the model width (also the tied embedding's).
        depth: the number of causal blocks.
        n_heads: attention heads.
        d_ff: the hidden width of each block's MLP.
        max_len: the longest input sequence (the size of the learned position table).
        attention: an attention class or its name in :data:`ATTENTIONS`.
        dropout: dropout in every block.
        **attention_kwargs: keyword arguments of the attention class.
    """

    def __init__(
        self,
        vocab_size: int,
        d_model: int = 64,
        depth: int = 2,
        n_heads: int = 4,
        d_ff: int = 256,
        max_len: int = 1024,
        attention: AttentionKind = "flow",
        dropout: float = 0.0,
        **attention_kwargs: object,
    ) -> None:
        super().__init__()
        self.max_len = max_len
        self.embed = nn.Embedding(vocab_size, d_model)
        # GPT-style N(0, 0.02) token embeddings: the tied output layer then starts near uniform
        # (torch's default N(0, 1) gives logits with std ~sqrt(d_model) and 800-step bpc 3.48 vs 3.00)
        nn.init.normal_(self.embed.weight, std=0.02)
        self.pos = nn.Parameter(torch.randn(max_len, d_model) * 0.02)
        self.encoder = FlowformerEncoder(
            d_model, depth, n_heads, d_ff, attention, True, dropout, **attention_kwargs
        )

    def forward(self, tokens: Tensor) -> Tensor:
        _check_tokens(tokens, self.embed.num_embeddings)
        if tokens.shape[1] > self.max_len:
            raise ValueError(f"sequence length {tokens.shape[1]} exceeds max_len={self.max_len}")
        h = self.encoder(self.embed(tokens) + self.pos[: tokens.shape[1]])
        return h @ self.embed.weight.T
