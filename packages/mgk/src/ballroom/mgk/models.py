"""Models (no Lightning): the LRA encoder classifier, the causal language model, counting helpers."""

from __future__ import annotations

import math
from collections.abc import Sequence
from itertools import pairwise
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ballroom.core.validate import check_choice, check_int, check_number, check_tensor
from ballroom.mgk.nn import LinearAttention, MGKAttention, MLKAttention, SoftmaxAttention

__all__ = [
    "ATTENTIONS",
    "MGKEncoderClassifier",
    "MGKLanguageModel",
    "attention_flops",
    "attention_params",
    "count_params_flops",
    "make_attention",
    "sinusoidal_positions",
]

ATTENTIONS = ("softmax", "mgk", "smgk", "linear", "mlk", "smlk")


def make_attention(
    attention: str,
    d_model: int,
    n_heads: int,
    head_dim: int,
    *,
    causal: bool = False,
    max_len: int | None = None,
    dropout: float = 0.0,
    **kwargs: Any,
) -> nn.Module:
    """One attention layer by name, ``(B, N, d_model) -> (B, N, d_model)``.

    Args:
        attention: one of ``ATTENTIONS``: ``"softmax"`` (:class:`SoftmaxAttention`), ``"mgk"`` /
            ``"smgk"`` (:class:`MGKAttention`, separate / shifted keys), ``"linear"``
            (:class:`LinearAttention`), ``"mlk"`` / ``"smlk"`` (:class:`MLKAttention`).
        d_model: model width.
        n_heads: number of heads.
        head_dim: size of each head.
        causal: causal attention (language models).
        max_len: the longest sequence (needed by position-dependent pi; ignored by the baselines).
        dropout: the layer's dropout.
        **kwargs: more constructor arguments (``sigma2``, ``pi_mode``, ``n_keys``, ``fused``, ``recipe``...).

    Returns:
        The layer (an ``nn.Module``).
    """
    check_choice(attention, "attention", ATTENTIONS)
    common: dict[str, Any] = {"causal": causal, "dropout": dropout}
    if attention == "softmax":
        return SoftmaxAttention(d_model, n_heads, head_dim, **common, **kwargs)
    if attention == "linear":
        return LinearAttention(d_model, n_heads, head_dim, **common, **kwargs)
    key_mode = "shifted" if attention.startswith("s") else "separate"
    cls = MGKAttention if attention.endswith("mgk") else MLKAttention
    return cls(d_model, n_heads, head_dim, key_mode=key_mode, max_len=max_len, **common, **kwargs)


class _Block(nn.Module):
    def __init__(self, attn: nn.Module, d_model: int, d_ff: int, dropout: float, pre_norm: bool,
                 activation: str = "gelu") -> None:  # fmt: skip
        super().__init__()
        self.attn, self.pre_norm = attn, pre_norm
        self.norm1, self.norm2 = nn.LayerNorm(d_model), nn.LayerNorm(d_model)
        act = nn.GELU() if activation == "gelu" else nn.ReLU()
        self.mlp = nn.Sequential(nn.Linear(d_model, d_ff), act, nn.Dropout(dropout), nn.Linear(d_ff, d_model))
        self.drop = nn.Dropout(dropout)

    def forward(self, x: Tensor, key_padding_mask: Tensor | None) -> Tensor:
        if self.pre_norm:
            x = x + self.drop(self.attn(self.norm1(x), key_padding_mask))
            return x + self.drop(self.mlp(self.norm2(x)))
        x = self.norm1(x + self.drop(self.attn(x, key_padding_mask)))
        return self.norm2(x + self.drop(self.mlp(x)))


def sinusoidal_positions(
    n: int, d: int, layout: str = "interleaved", dtype: torch.dtype = torch.float32
) -> Tensor:
    """``(n, d)`` absolute sinusoidal position encodings of positions ``0 .. n-1``, computed in ``dtype``.

    ``layout="interleaved"``: sin on even, cos on odd features; ``"concat"`` (Transformer-XL, even
    ``d``): ``[sin(p f), cos(p f)]`` with frequencies ``f_i = 10000^(-2i/d)``, ``i < d/2``.
    """
    pos = torch.arange(n, dtype=dtype)[:, None]
    freq = torch.exp(torch.arange(0, d, 2, dtype=dtype) * (-math.log(10000.0) / d))
    if layout == "concat":
        return torch.cat([torch.sin(pos * freq), torch.cos(pos * freq)], dim=-1)
    pe = torch.zeros(n, d, dtype=dtype)
    pe[:, 0::2] = torch.sin(pos * freq)
    pe[:, 1::2] = torch.cos(pos * freq)[:, : d // 2]
    return pe


class _Encoder(nn.Module):
    def __init__(self, vocab_size: int, d_model: int, n_layers: int, n_heads: int, head_dim: int, d_ff: int,
                 max_len: int, attention: str, dropout: float, causal: bool, pre_norm: bool,
                 attn_kwargs: dict[str, Any] | None, activation: str = "gelu") -> None:  # fmt: skip
        super().__init__()
        self.vocab_size = check_int(vocab_size, "vocab_size", min=2)
        self.max_len = check_int(max_len, "max_len", min=1)
        check_int(n_layers, "n_layers", min=1)
        check_number(dropout, "dropout", lo=0.0, hi=1.0, hi_open=True)
        self.attention, self.d_model = check_choice(attention, "attention", ATTENTIONS), d_model
        self.embed = nn.Embedding(vocab_size, d_model)
        self.blocks = nn.ModuleList(
            _Block(make_attention(attention, d_model, n_heads, head_dim, causal=causal, max_len=max_len,
                                  dropout=dropout, **dict(attn_kwargs or {})), d_model, d_ff, dropout, pre_norm,
                   check_choice(activation, "activation", ("gelu", "relu")))
            for _ in range(n_layers)
        )  # fmt: skip
        self.drop = nn.Dropout(dropout)

    def _maps(self, h: Tensor, key_padding_mask: Tensor | None) -> list[Tensor]:
        """Run the blocks on hidden states ``h`` and collect each layer's ``(B, H, N, N)`` attention."""
        maps = []
        for block in self.blocks:
            if not isinstance(block, _Block) or not isinstance(block.attn, (SoftmaxAttention, MGKAttention)):
                raise TypeError(
                    f"attention maps need softmax or MGK attention, not {self.attention!r} "
                    "(linear attention never forms the N x N matrix)"
                )
            inp = block.norm1(h) if block.pre_norm else h
            maps.append(block.attn.attention_weights(inp, key_padding_mask))
            h = block(h, key_padding_mask)
        return maps

    def _tokens(self, x: Tensor, key_padding_mask: Tensor | None) -> None:
        check_tensor(x, "x", ndim=2, dtype="integer")
        if x.shape[1] > self.max_len:
            raise ValueError(f"x has {x.shape[1]} positions > max_len = {self.max_len}")
        if bool((x < 0).any()) or bool((x >= self.vocab_size).any()):
            raise ValueError(f"x must hold token ids in [0, {self.vocab_size - 1}]")
        if key_padding_mask is not None:
            check_tensor(key_padding_mask, "key_padding_mask", shape=tuple(x.shape), dtype="bool")


class MGKEncoderClassifier(_Encoder):
    """The LRA classifier: token + learned position embeddings, pre-LN blocks, masked mean pooling, linear head.

    ``x (B, N)`` int64 token ids, ``key_padding_mask (B, N)`` True on padding -> logits ``(B, num_classes)``.
    For attribution methods: :meth:`embed` then :meth:`forward_embeddings`.

    Args:
        vocab_size: token ids lie in ``[0, vocab_size)``.
        num_classes: output classes.
        d_model: model width (LRA: 64).
        n_layers: transformer blocks (LRA: 2).
        n_heads: heads per attention layer.
        head_dim: size of each head (LRA: 32).
        d_ff: hidden width of the MLP (LRA: 128).
        max_len: the longest input (learned positions of this length).
        attention: one of ``ATTENTIONS`` (``"softmax"``, ``"mgk"``, ``"smgk"``, ``"linear"``, ``"mlk"``, ``"smlk"``).
        dropout: dropout of embeddings, attention and MLP (LRA: 0.1).
        attn_kwargs: more arguments of the attention layers (``sigma2``, ``pi_mode``, ...).
    """

    def __init__(
        self,
        vocab_size: int,
        num_classes: int,
        *,
        d_model: int = 64,
        n_layers: int = 2,
        n_heads: int = 2,
        head_dim: int = 32,
        d_ff: int = 128,
        max_len: int = 512,
        attention: str = "mgk",
        dropout: float = 0.1,
        attn_kwargs: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(vocab_size, d_model, n_layers, n_heads, head_dim, d_ff, max_len, attention, dropout,
                         False, True, attn_kwargs)  # fmt: skip
        self.num_classes = check_int(num_classes, "num_classes", min=2)
        self.pos = nn.Parameter(torch.randn(max_len, d_model) * 0.02)
        self.norm = nn.LayerNorm(d_model)
        self.head = nn.Linear(d_model, num_classes)

    def forward_embeddings(self, emb: Tensor, key_padding_mask: Tensor | None = None) -> Tensor:
        """Token embeddings ``(B, N, d_model)`` (from :meth:`embed`) -> logits ``(B, num_classes)``."""
        h = self.drop(emb + self.pos[: emb.shape[1]])
        for block in self.blocks:
            h = block(h, key_padding_mask)
        h = self.norm(h)
        if key_padding_mask is None:
            pooled = h.mean(1)
        else:
            keep = (~key_padding_mask).to(h.dtype)[..., None]
            pooled = (h * keep).sum(1) / keep.sum(1).clamp_min(1.0)
        return self.head(pooled)

    def forward(self, x: Tensor, key_padding_mask: Tensor | None = None) -> Tensor:
        self._tokens(x, key_padding_mask)
        return self.forward_embeddings(self.embed(x), key_padding_mask)

    def attention_maps(self, x: Tensor, key_padding_mask: Tensor | None = None) -> list[Tensor]:
        """The attention matrix of every layer (softmax / MGK / sMGK models; dropout as in ``self.training``).

        Args:
            x: ``(B, N)`` int64 token ids.
            key_padding_mask: ``(B, N)`` bool, True on padding, or ``None``.

        Returns:
            ``n_layers`` tensors ``(B, H, N, N)`` (rows sum to 1 over the non-padded keys).
        """
        self._tokens(x, key_padding_mask)
        return self._maps(self.drop(self.embed(x) + self.pos[: x.shape[1]]), key_padding_mask)


class MGKLanguageModel(_Encoder):
    """Causal LM: token embedding + sinusoidal absolute positions, post-LN (official LM code) or pre-LN
    blocks, linear output. ``x (B, N)`` int64 -> logits ``(B, N, vocab_size)``.

    Args:
        vocab_size: token ids lie in ``[0, vocab_size)``.
        d_model: model width.
        n_layers: transformer blocks.
        n_heads: heads per attention layer.
        head_dim: size of each head.
        d_ff: hidden width of the MLP.
        max_len: the longest input (context length).
        attention: one of ``ATTENTIONS``; every one is causal here.
        dropout: dropout of embeddings, attention and MLP.
        norm: ``"post"`` (official LM code) or ``"pre"`` (the offline char-LM recipe, with a final LayerNorm).
        attn_kwargs: more arguments of the attention layers (e.g. ``sigma2=(1, 1/3)``, ``pi_mode``).
        activation: the MLP's ``"gelu"`` (default) or ``"relu"`` (the official LM code).
        positions: ``"interleaved"`` (default: position ``t`` of the segment at ``t``, sin/cos
            interleaved) or ``"transformer_xl"`` (the official LM code: positions counted back from the
            segment's last token, ``N-1 .. 0``, features ``[sin, cos]``; see :mod:`ballroom.mgk.official_lm`).
        cutoffs: ``None`` (a plain softmax output) or the increasing vocabulary cutoffs of a
            Transformer-XL adaptive softmax with ``div_val=1`` (WikiText-103: ``(20000, 40000, 200000)``):
            the shortlist ``[0, c_1)`` and one cluster token per tail in the head, each tail a slice of
            ``out``; the cluster logits come from ``cluster`` (zero init). ``forward`` then returns
            log-probabilities ``(B, N, vocab_size)`` (logits up to a per-row constant, so ``loss`` holds).
    """

    pos: Tensor

    def __init__(
        self,
        vocab_size: int,
        *,
        d_model: int = 64,
        n_layers: int = 2,
        n_heads: int = 4,
        head_dim: int = 16,
        d_ff: int = 256,
        max_len: int = 128,
        attention: str = "softmax",
        dropout: float = 0.0,
        norm: str = "post",
        attn_kwargs: dict[str, Any] | None = None,
        activation: str = "gelu",
        positions: str = "interleaved",
        cutoffs: Sequence[int] | None = None,
    ) -> None:
        check_choice(norm, "norm", ("post", "pre"))
        cuts = tuple(check_int(c, "cutoffs", min=1, max=vocab_size - 1) for c in (cutoffs or ()))
        if any(a >= b for a, b in pairwise(cuts)):
            raise ValueError(f"cutoffs must increase strictly, got {list(cuts)}")
        check_choice(positions, "positions", ("interleaved", "transformer_xl"))
        if positions == "transformer_xl" and d_model % 2:
            raise ValueError(f"positions='transformer_xl' needs an even d_model, got {d_model}")
        super().__init__(vocab_size, d_model, n_layers, n_heads, head_dim, d_ff, max_len, attention, dropout,
                         True, norm == "pre", attn_kwargs, activation)  # fmt: skip
        self.norm_kind, self.activation, self.positions = norm, activation, positions
        layout = "concat" if positions == "transformer_xl" else "interleaved"
        self.register_buffer("pos", sinusoidal_positions(max_len, d_model, layout), persistent=False)
        # the embedding is scaled by sqrt(d_model) in forward (Transformer-XL): start it at std
        # d_model^-1/2 so the scaled embedding and the unit-scale positions are of one size
        nn.init.normal_(self.embed.weight, std=d_model**-0.5)
        self.final_norm = nn.LayerNorm(d_model) if norm == "pre" else nn.Identity()
        self.out = nn.Linear(d_model, vocab_size)
        self.cutoffs = cuts
        if cuts:
            self.cluster = nn.Linear(d_model, len(cuts))
            nn.init.zeros_(self.cluster.weight), nn.init.zeros_(self.cluster.bias)

    def _adaptive_log_probs(self, h: Tensor) -> Tensor:
        """Log-probabilities of the adaptive softmax (``div_val=1``): head = shortlist + cluster tokens;
        tail ``i`` (1-based) scores its slice of ``out`` plus the head's column ``-i``."""
        logits, ends = self.out(h), (0, *self.cutoffs, self.vocab_size)
        head = torch.log_softmax(torch.cat([logits[..., : ends[1]], self.cluster(h)], -1), -1)
        parts = [head[..., : ends[1]]]
        for i in range(1, len(ends) - 1):
            parts.append(head[..., -i, None] + torch.log_softmax(logits[..., ends[i] : ends[i + 1]], -1))
        return torch.cat(parts, -1)

    def forward(self, x: Tensor) -> Tensor:
        self._tokens(x, None)
        emb = self.embed(x) * math.sqrt(self.d_model)
        pos = self.pos[: x.shape[1]]
        if self.positions == "transformer_xl":  # token t of an N-token segment sits at position N-1-t
            pos = sinusoidal_positions(x.shape[1], self.d_model, "concat", torch.float64).flip(0).to(emb)
        h = self.drop(emb + pos)
        for block in self.blocks:
            h = block(h, None)
        h = self.final_norm(h)
        return self._adaptive_log_probs(h) if self.cutoffs else self.out(h)

    def loss(self, x: Tensor, y: Tensor) -> Tensor:
        """Mean next-token cross-entropy (nats) of targets ``y (B, N)`` (``-100`` = not scored)."""
        return F.cross_entropy(self(x).flatten(0, 1), y.flatten(), ignore_index=-100)


def attention_params(attention: str, d_model: int, n_heads: int, head_dim: int, *, n_keys: int = 2,
                     pi_numel: int = 0, bias: bool = True) -> int:  # fmt: skip
    """Parameters of one attention layer (spec accounting, biases included when ``bias``).

    softmax / linear: ``4 D H d``; MGK / MLK: ``(3 + M) D H d``; sMGK / sMLK: ``4 D H d + M H d``;
    plus ``pi_numel``.

    Args:
        attention: one of ``ATTENTIONS``.
        d_model: model width ``D``.
        n_heads: heads ``H``.
        head_dim: head size ``d``.
        n_keys: mixture components ``M``.
        pi_numel: learned mixing weights (M, H M or H M max_len; 0 when not learned).
        bias: count the projections' biases.

    Returns:
        The parameter count (equals ``sum(p.numel())`` of the layer).
    """
    check_choice(attention, "attention", ATTENTIONS)
    inner = n_heads * head_dim
    n_in = 2 + n_keys if attention in ("mgk", "mlk") else 3
    extra = n_keys * inner if attention in ("smgk", "smlk") else 0
    weights = n_in * d_model * inner + inner * d_model
    biases = (n_in * inner + d_model) if bias else 0
    return weights + biases + extra + (pi_numel if attention not in ("softmax", "linear") else 0)


def attention_flops(attention: str, n_heads: int, seq_len: int, head_dim: int, *, n_keys: int = 2,
                    fused_columns: int = 0, impl: str = "fused") -> int:  # fmt: skip
    """Multiply-adds of the attention core for one sequence (no projections).

    softmax: ``2 H N^2 d``; MGK: ``(M + 1) H N^2 d`` plus ``M H N^2 fused_columns`` (``impl="fused"``,
    the spec's accounting when ``fused_columns=0``) or ``2 M H N^2 (d + fused_columns)`` (``impl="sdpa"``:
    one SDPA over ``M N`` keys, values repeated ``M`` times and zero-padded to the augmented width);
    linear / MLK: ``2 H N d^2``.

    Args:
        attention: one of ``ATTENTIONS``.
        n_heads: heads ``H``.
        seq_len: sequence length ``N``.
        head_dim: head size ``d``.
        n_keys: mixture components ``M``.
        fused_columns: augmented columns of our fused matmul (1 with equal variances, 2 otherwise;
            0 = the spec's accounting).
        impl: ``"fused"`` or ``"sdpa"``: the :class:`MGKAttention` path counted (MGK only).

    Returns:
        Multiply-adds (``FlopCounterMode`` counts twice this).
    """
    h, n, d = n_heads, seq_len, head_dim
    if attention == "softmax":
        return 2 * h * n * n * d
    if attention in ("mgk", "smgk"):
        if check_choice(impl, "impl", ("fused", "sdpa")) == "sdpa":
            return 2 * n_keys * h * n * n * (d + fused_columns)
        return (n_keys + 1) * h * n * n * d + n_keys * h * n * n * fused_columns
    return 2 * h * n * d * d


def count_params_flops(model: nn.Module, seq_len: int, batch_size: int = 1) -> dict[str, int]:
    """``{"params": sum of numel, "flops": measured FLOPs of one forward}`` on random tokens ``(B, seq_len)``.

    FLOPs come from ``torch.utils.flop_counter.FlopCounterMode`` (2 per multiply-add; matmuls only).

    Args:
        model: takes int64 tokens (a model with ``vocab_size``) or ``(B, N, d_model)`` floats (an
            attention layer with ``d_model``).
        seq_len: tokens per sequence ``N``.
        batch_size: sequences ``B`` in the counted forward.

    Returns:
        ``{"params": int, "flops": int}``.
    """
    from torch.utils.flop_counter import FlopCounterMode

    check_int(seq_len, "seq_len", min=1)
    params = sum(p.numel() for p in model.parameters())
    vocab = getattr(model, "vocab_size", None)
    if vocab is not None:
        x: Tensor = torch.randint(0, vocab, (batch_size, seq_len))
    else:
        d_model = getattr(model, "d_model", None)
        if not isinstance(d_model, int):
            raise TypeError(
                f"model must have an int vocab_size or d_model attribute, got {type(model).__name__}"
            )
        x = torch.randn(batch_size, seq_len, d_model)
    dev = next(model.parameters()).device
    was = model.training
    model.eval()
    counter = FlopCounterMode(display=False)
    with torch.no_grad(), counter:
        model(x.to(dev))
    model.train(was)
    return {"params": int(params), "flops": int(counter.get_total_flops())}
