"""The explainable classifiers (no Lightning): plain ``nn.Module`` s implementing ``ExplainableModel``.

- :class:`AttentionTextClassifier`: embedding -> LSTM or CNN encoder -> one additive (tanh) or
  scaled-dot attention -> context -> Linear, as in the Transparency models of the paper.
- :class:`TinyTransformerClassifier`: CLS token, learned positions, pre-LN blocks with explicit
  softmax attention maps (recorded with their gradients).

Both take token ids ``(B, n)`` (``pad_id`` = padding) or a ``(tokens, labels, ...)`` batch.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor, nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from ballroom.core.validate import check_choice, check_int, check_tensor
from ballroom.faithfulness.functional import masked_softmax
from ballroom.faithfulness.protocol import ExplainableMixin

__all__ = ["AttentionTextClassifier", "BagOfWordsClassifier", "TinyTransformerClassifier", "batch_tokens"]


def batch_tokens(batch: Any) -> Tensor:
    """The token ids of a batch: the tensor itself, ``batch[0]`` of a tuple, or ``batch["tokens"]``."""
    if isinstance(batch, dict):
        return batch["tokens"]
    if isinstance(batch, tuple | list):
        return batch[0]
    return batch


def _check_tokens(tokens: Tensor, vocab: int) -> Tensor:
    check_tensor(tokens, "tokens", ndim=2, dtype="integer")
    low, high = int(tokens.min()), int(tokens.max())
    if low < 0 or high >= vocab:
        raise ValueError(f"tokens must lie in [0, {vocab}) (the vocabulary), got [{low}, {high}]")
    return tokens


class _TokenModel(ExplainableMixin, nn.Module, ABC):
    vocab: int
    pad_id: int
    embedding: nn.Embedding

    def embed(self, batch: Any) -> Tensor:
        """Word embeddings ``(B, n, emb)`` of the batch's tokens."""
        return self.embedding(_check_tokens(batch_tokens(batch), self.vocab))

    def padding_mask(self, batch: Any) -> Tensor:
        """``(B, n)`` bool, True where the token is not ``pad_id``."""
        return batch_tokens(batch) != self.pad_id

    def forward(self, tokens: Any) -> Tensor:
        """Logits ``(B, num_classes)`` of token ids ``(B, n)``."""
        return self.forward_from_embeddings(self.embed(tokens), self.padding_mask(tokens))

    @abstractmethod
    def forward_from_embeddings(
        self, emb: Tensor, mask: Tensor, alpha: Tensor | None = None, attn_mask: Tensor | None = None
    ) -> Tensor:
        """Logits ``(B, num_classes)`` from embeddings ``(B, n, emb)`` and the padding mask ``(B, n)``."""


class AttentionTextClassifier(_TokenModel):
    """Embedding -> encoder -> single attention -> context ``Σ α_t h_t`` -> Linear (logits).

    Args:
        vocab: vocabulary size (token ids in ``[0, vocab)``).
        emb: word-embedding size (paper: 300).
        encoder: ``"lstm"`` (``n_layers`` stacked, ``hidden`` per direction) or ``"cnn"`` (one
            convolution per kernel size, ``hidden`` channels each, ReLU, concatenated).
        attention: ``"tanh"`` (``vᵀ tanh(W h_t + b)``, ``W: H_enc -> H_enc/2``, ``v`` without bias) or
            ``"dot"`` (``wᵀ h_t / sqrt(H_enc)``).
        hidden: see ``encoder`` (paper: 128 per direction, 32 channels per kernel).
        n_layers: stacked LSTM layers (``"lstm"`` only).
        num_classes: output classes.
        bidirectional: BiLSTM (the paper) or unidirectional (the offline pilot).
        kernel_sizes: CNN kernel sizes, odd (paper: 1, 3, 5, 7).
        pad_id: the padding token.

    ``attention_maps`` holds one ``(B, 1, 1, n)`` map (the attention distribution); ``attention_values``
    one ``(B, 1, n, C)``: the output Linear's weight applied to each attended state (no bias).
    """

    def __init__(
        self,
        vocab: int,
        emb: int = 300,
        encoder: str = "lstm",
        attention: str = "tanh",
        hidden: int = 128,
        n_layers: int = 1,
        num_classes: int = 2,
        bidirectional: bool = True,
        kernel_sizes: Sequence[int] = (1, 3, 5, 7),
        pad_id: int = 0,
    ) -> None:
        super().__init__()
        self.vocab = check_int(vocab, "vocab", min=2)
        check_int(emb, "emb", min=1)
        check_int(hidden, "hidden", min=1)
        check_int(n_layers, "n_layers", min=1)
        check_int(num_classes, "num_classes", min=2)
        self.pad_id = check_int(pad_id, "pad_id", min=0, max=vocab - 1)
        self.encoder_kind = check_choice(encoder, "encoder", ("lstm", "cnn"))
        self.attention_kind = check_choice(attention, "attention", ("tanh", "dot"))
        self.embedding = nn.Embedding(vocab, emb, padding_idx=pad_id)
        self.bidirectional = bool(bidirectional) and encoder == "lstm"
        if encoder == "lstm":
            self.lstm = nn.LSTM(emb, hidden, n_layers, batch_first=True, bidirectional=self.bidirectional)
            self.h_enc = hidden * (2 if self.bidirectional else 1)
        else:
            kernels = [check_int(k, "kernel_sizes", min=1) for k in kernel_sizes]
            if not kernels or any(k % 2 == 0 for k in kernels):
                raise ValueError(
                    f"kernel_sizes must be a non-empty list of odd sizes, got {list(kernel_sizes)}"
                )
            self.convs = nn.ModuleList(nn.Conv1d(emb, hidden, k, padding=k // 2) for k in kernels)
            self.h_enc = hidden * len(kernels)
        if attention == "tanh":
            self.attn_w = nn.Linear(self.h_enc, max(self.h_enc // 2, 1))
            self.attn_v = nn.Linear(max(self.h_enc // 2, 1), 1, bias=False)
        else:
            self.attn_w = nn.Linear(self.h_enc, 1, bias=False)
        self.decoder = nn.Linear(self.h_enc, num_classes)
        self._reset_records()

    def encode(self, emb: Tensor, mask: Tensor) -> Tensor:
        """Hidden states ``(B, n, H_enc)`` of embeddings ``(B, n, emb)`` (padding never leaks into real positions)."""
        x = emb * mask[..., None].to(emb.dtype)
        if self.encoder_kind == "cnn":
            xc = x.transpose(1, 2)
            h = torch.cat([torch.relu(conv(xc)) for conv in self.convs], dim=1).transpose(1, 2)
            return h
        if not self.bidirectional:  # right padding cannot reach earlier positions
            return self.lstm(x)[0]
        lengths = mask.sum(1).clamp_min(1).cpu()
        packed = pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False)
        out, _ = self.lstm(packed)
        return pad_packed_sequence(out, batch_first=True, total_length=x.shape[1])[0]

    def scores(self, h: Tensor) -> Tensor:
        """Attention scores ``(B, n)`` before the softmax."""
        if self.attention_kind == "tanh":
            return self.attn_v(torch.tanh(self.attn_w(h)))[..., 0]
        return self.attn_w(h)[..., 0] / math.sqrt(self.h_enc)

    def forward_from_embeddings(
        self, emb: Tensor, mask: Tensor, alpha: Tensor | None = None, attn_mask: Tensor | None = None
    ) -> Tensor:
        """Logits ``(B, C)`` from embeddings ``(B, n, emb)``; ``alpha (B, n)`` replaces the attention.

        ``mask`` (True = real token) drives the encoder; ``attn_mask`` (default ``mask``) the softmax.
        """
        self._reset_records()
        attn_mask = mask if attn_mask is None else attn_mask
        h = self.encode(emb, mask)
        a = masked_softmax(self.scores(h), attn_mask) if alpha is None else alpha
        a4 = a[:, None, None, :]
        values = (h @ self.decoder.weight.T)[:, None]  # (B, 1, n, C)
        self._record(a4, values)
        context = torch.einsum("bn,bnh->bh", a4[:, 0, 0], h)
        return self.decoder(context)


class _Block(nn.Module):
    def __init__(self, d_model: int, n_heads: int, d_ff: int) -> None:
        super().__init__()
        self.n_heads, self.d_head = n_heads, d_model // n_heads
        self.norm1, self.norm2 = nn.LayerNorm(d_model), nn.LayerNorm(d_model)
        self.qkv = nn.Linear(d_model, 3 * d_model)
        self.out = nn.Linear(d_model, d_model)
        self.mlp = nn.Sequential(nn.Linear(d_model, d_ff), nn.GELU(), nn.Linear(d_ff, d_model))

    def forward(self, x: Tensor, key_mask: Tensor, alpha: Tensor | None) -> tuple[Tensor, Tensor, Tensor]:
        b, length, d = x.shape
        q, k, v = self.qkv(self.norm1(x)).view(b, length, 3, self.n_heads, self.d_head).permute(2, 0, 3, 1, 4)
        scores = q @ k.transpose(-1, -2) / math.sqrt(self.d_head)
        a = masked_softmax(scores, key_mask[:, None, None, :]) if alpha is None else alpha
        mixed = (a @ v).transpose(1, 2).reshape(b, length, d)
        x = x + self.out(mixed)
        # (x_t W_V^h) W_O^h per head: (B, H, L, d)
        w_o = self.out.weight.view(d, self.n_heads, self.d_head)
        values = torch.einsum("bhle,dhe->bhld", v, w_o)
        return x + self.mlp(self.norm2(x)), a, values


class TinyTransformerClassifier(_TokenModel):
    """A small pre-LN transformer classifier with a CLS token and explicit attention maps.

    ``forward(tokens (B, n)) -> (B, num_classes)``. ``attention_maps``: one ``(B, H, n+1, n+1)`` map
    per layer (row/column 0 = CLS, so ``query_index = 0`` and ``feature_offset = 1``);
    ``attention_values``: ``(B, H, n+1, d_model)`` = ``(x_t W_V^h) W_O^h``. Token embeddings (without
    positions) are the features; positions are added in ``forward_from_embeddings`` (so
    ``slice_out`` re-indexes positions like a shorter input).

    Args:
        vocab: the vocabulary size (>= 2).
        num_classes: the number of classes (>= 2).
        d_model: the model width (divisible by ``n_heads``).
        depth: transformer blocks.
        n_heads: attention heads.
        d_ff: the hidden width of each block's MLP.
        max_len: the longest input (the position table has ``max_len + 1`` rows, CLS included).
        pad_id: the padding token id (its embedding is ``padding_idx``).

    Raises:
        ValueError: a size out of range, ``d_model`` not divisible by ``n_heads`` or ``pad_id``
            outside the vocabulary.
    """

    query_index = 0
    feature_offset = 1

    def __init__(
        self,
        vocab: int,
        num_classes: int = 2,
        d_model: int = 32,
        depth: int = 2,
        n_heads: int = 2,
        d_ff: int = 64,
        max_len: int = 128,
        pad_id: int = 0,
    ) -> None:
        super().__init__()
        self.vocab = check_int(vocab, "vocab", min=2)
        check_int(num_classes, "num_classes", min=2)
        check_int(depth, "depth", min=1)
        check_int(n_heads, "n_heads", min=1)
        if check_int(d_model, "d_model", min=1) % n_heads:
            raise ValueError(f"d_model must be divisible by n_heads={n_heads}, got {d_model}")
        self.pad_id = check_int(pad_id, "pad_id", min=0, max=vocab - 1)
        self.max_len = check_int(max_len, "max_len", min=1)
        self.embedding = nn.Embedding(vocab, d_model, padding_idx=pad_id)
        self.pos = nn.Parameter(torch.randn(max_len + 1, d_model) * 0.02)
        self.cls = nn.Parameter(torch.randn(1, 1, d_model) * 0.02)
        self.blocks = nn.ModuleList(
            _Block(d_model, n_heads, check_int(d_ff, "d_ff", min=1)) for _ in range(depth)
        )
        self.norm = nn.LayerNorm(d_model)
        self.head = nn.Linear(d_model, num_classes)
        self._reset_records()

    def forward_from_embeddings(
        self, emb: Tensor, mask: Tensor, alpha: Tensor | None = None, attn_mask: Tensor | None = None
    ) -> Tensor:
        """Logits ``(B, C)``; ``attn_mask (B, n)`` (default ``mask``) masks keys in every layer;
        ``alpha (B, H, n+1, n+1)`` replaces the last layer's attention map."""
        self._reset_records()
        b, n, _ = emb.shape
        if n > self.max_len:
            raise ValueError(f"emb must have at most max_len={self.max_len} features, got {n}")
        attn_mask = mask if attn_mask is None else attn_mask
        key_mask = torch.cat([attn_mask.new_ones(b, 1), attn_mask], dim=1)
        x = torch.cat([self.cls.expand(b, -1, -1), emb], dim=1) + self.pos[: n + 1]
        for i, block in enumerate(self.blocks):
            x, a, values = block(x, key_mask, alpha if i == len(self.blocks) - 1 else None)
            self._record(a, values)
        return self.head(self.norm(x[:, 0]))


class BagOfWordsClassifier(_TokenModel):
    """Linear bag of words: logits ``= Σ_t mask_t · W e_t + b`` ``(B, n) -> (B, C)``; no attention.

    The reference model of the tests: InputGrad and IG are exactly the per-token contributions, so
    their violation ratio is 0 with ``zeros_mask``. Records no attention maps.

    Args:
        vocab: the vocabulary size (>= 2).
        emb: the embedding size.
        num_classes: the number of classes (>= 2).
        pad_id: the padding token id (masked out of the sum).

    Raises:
        ValueError: a size out of range or ``pad_id`` outside the vocabulary.
    """

    def __init__(self, vocab: int, emb: int = 8, num_classes: int = 2, pad_id: int = 0) -> None:
        super().__init__()
        self.vocab = check_int(vocab, "vocab", min=2)
        self.pad_id = check_int(pad_id, "pad_id", min=0, max=vocab - 1)
        self.embedding = nn.Embedding(vocab, check_int(emb, "emb", min=1))
        self.out = nn.Linear(emb, check_int(num_classes, "num_classes", min=2))
        self._reset_records()

    def forward_from_embeddings(
        self, emb: Tensor, mask: Tensor, alpha: Tensor | None = None, attn_mask: Tensor | None = None
    ) -> Tensor:
        """Logits ``(B, C)``; ``alpha`` and ``attn_mask`` do not apply (no attention) and are ignored."""
        self._reset_records()
        return (emb * mask[..., None].to(emb.dtype)).sum(1) @ self.out.weight.T + self.out.bias
