"""The multi-head attention layers: Flow-Attention (official layout) and the two baselines.

Re-exported by :mod:`ballroom.flowformer.nn` (and the package), beside the stacks built from them.
"""

from __future__ import annotations

from abc import ABC, abstractmethod

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ballroom.core.validate import (
    check_choice,
    check_int,
    check_positive,
    check_probability,
    check_same_size,
    check_tensor,
)
from ballroom.flowformer.functional import (
    FeatureMap,
    causal_flow_attention_naive,
    causal_linear_product,
    flow_attention,
)

__all__ = ["FlowAttention", "LinearAttention", "SoftmaxAttention"]


class _MultiHead(nn.Module, ABC):
    """Q/K/V projections (with bias) into ``n_heads`` heads, attention, concat, output projection, dropout.

    Parameter names ``query_projection``, ``key_projection``, ``value_projection``,
    ``out_projection`` follow the official Flow-Attention core module, so its weights load directly.
    ``forward(queries (B, L, d_input), keys (B, S, d_input), values (B, S, d_input),
    key_padding_mask (B, S) | None) -> (B, L, d_output)``.
    """

    def __init__(self, d_input: int, d_model: int, d_output: int, n_heads: int, dropout: float) -> None:
        super().__init__()
        for name, value in (
            ("d_input", d_input),
            ("d_model", d_model),
            ("d_output", d_output),
            ("n_heads", n_heads),
        ):
            check_int(value, name, min=1)
        check_probability(dropout, "dropout", open_high=True)
        if d_model % n_heads:
            raise ValueError(f"d_model={d_model} must be divisible by n_heads={n_heads}")
        self.n_heads = n_heads
        self.query_projection = nn.Linear(d_input, d_model)
        self.key_projection = nn.Linear(d_input, d_model)
        self.value_projection = nn.Linear(d_input, d_model)
        self.out_projection = nn.Linear(d_model, d_output)
        self.dropout = nn.Dropout(dropout)

    def _heads(self, x: Tensor) -> Tensor:
        b, length, _ = x.shape
        return x.view(b, length, self.n_heads, -1).transpose(1, 2)

    @abstractmethod
    def _attend(self, q: Tensor, k: Tensor, v: Tensor, key_padding_mask: Tensor | None) -> Tensor:
        """Attention on heads: ``q (B, H, L, D)``, ``k (B, H, S, D)``, ``v (B, H, S, D)`` -> ``(B, H, L, D)``."""

    def forward(
        self, queries: Tensor, keys: Tensor, values: Tensor, key_padding_mask: Tensor | None = None
    ) -> Tensor:
        d_in, dtype = self.query_projection.in_features, self.query_projection.weight.dtype
        for name, t in (("queries", queries), ("keys", keys), ("values", values)):
            check_tensor(t, name, ndim=3, finite=False)  # NaN is not checked here: see flow_attention
            if t.shape[-1] != d_in:
                raise ValueError(f"{name} must have shape (B, *, d_input={d_in}), got {tuple(t.shape)}")
            if t.dtype != dtype:
                raise TypeError(
                    f"{name} has dtype {t.dtype} but the layer's weights are {dtype}: cast one of them "
                    f"(module.to({t.dtype}) or {name}.to({dtype}))"
                )
        check_same_size(("queries", queries, 0), ("keys", keys, 0), ("values", values, 0))
        check_same_size(("keys", keys, 1), ("values", values, 1))
        q = self._heads(self.query_projection(queries))
        k = self._heads(self.key_projection(keys))
        v = self._heads(self.value_projection(values))
        out = self._attend(q, k, v, key_padding_mask)
        b, _, length, _ = out.shape
        return self.dropout(self.out_projection(out.transpose(1, 2).reshape(b, length, -1)))


class FlowAttention(_MultiHead):
    """Multi-head Flow-Attention (the official core module's layout and defaults: dropout 0.05, eps 1e-6).

    ``forward(queries (B, L, d_input), keys (B, S, d_input), values (B, S, d_input),
    key_padding_mask (B, S) | None) -> (B, L, d_output)``. ``causal=True`` needs ``L == S``;
    ``causal_impl="naive"`` switches the causal aggregation to the official materialised prefix
    states (``O(L D Dv)`` memory; for checks), ``chunk_size`` sets the chunked path's block size,
    ``recompute=True`` trades one extra forward pass for activation memory (see ``flow_attention``).

    Args:
        d_input: the feature size of ``queries``, ``keys`` and ``values``.
        d_model: the total width of the heads (divisible by ``n_heads``).
        d_output: the output feature size.
        n_heads: the number of heads.
        causal: causal self-attention (needs ``L == S``).
        dropout: dropout on the output projection, in ``[0, 1)``.
        eps: the ``epsilon`` added to both factors of each of the four flows (>= 0).
        source_clamp: clamp the conserved outgoing flow to ``[-c, c]`` (the official core: 1);
            ``None``: no clamp.
        feature_map: ``"sigmoid"`` (the reference core), ``"relu"`` (``relu(x) + 1e-6``, the LRA code)
            or a callable applied element-wise.
        competition: the softmax competition among sources (``False``: the paper's ablation).
        allocation: the sigmoid allocation gate on sinks (``False``: the paper's ablation).
        chunk_size: positions per block of the chunked causal path (>= 1).
        causal_impl: ``"chunked"`` (default) or ``"naive"`` (no padding masks).
        recompute: activation checkpointing (see :func:`~ballroom.flowformer.functional.flow_attention`).

    Raises:
        ValueError: a size below 1, ``d_model`` not divisible by ``n_heads``, ``dropout`` outside
            ``[0, 1)``, an unknown ``causal_impl``, ``eps < 0`` or ``chunk_size < 1``.
    """

    def __init__(
        self,
        d_input: int,
        d_model: int,
        d_output: int,
        n_heads: int,
        *,
        causal: bool = False,
        dropout: float = 0.05,
        eps: float = 1e-6,
        source_clamp: float | None = 1.0,
        feature_map: FeatureMap = "sigmoid",
        competition: bool = True,
        allocation: bool = True,
        chunk_size: int = 64,
        causal_impl: str = "chunked",
        recompute: bool = False,
    ) -> None:
        super().__init__(d_input, d_model, d_output, n_heads, dropout)
        check_choice(causal_impl, "causal_impl", ("chunked", "naive"))
        check_positive(eps, "eps", strict=False)
        check_int(chunk_size, "chunk_size", min=1)
        self.causal, self.eps, self.source_clamp, self.feature_map = causal, eps, source_clamp, feature_map
        self.competition, self.allocation, self.chunk_size = competition, allocation, chunk_size
        self.causal_impl, self.recompute = causal_impl, recompute

    def _attend(self, q: Tensor, k: Tensor, v: Tensor, key_padding_mask: Tensor | None) -> Tensor:
        if self.causal and self.causal_impl == "naive":
            if key_padding_mask is not None:
                raise ValueError("causal_impl='naive' (the official formulation) has no padding support")
            return causal_flow_attention_naive(
                q,
                k,
                v,
                eps=self.eps,
                source_clamp=self.source_clamp,
                feature_map=self.feature_map,
                competition=self.competition,
                allocation=self.allocation,
            )
        return flow_attention(
            q,
            k,
            v,
            causal=self.causal,
            eps=self.eps,
            source_clamp=self.source_clamp,
            feature_map=self.feature_map,
            competition=self.competition,
            allocation=self.allocation,
            key_padding_mask=key_padding_mask,
            chunk_size=self.chunk_size,
            recompute=self.recompute,
        )


class LinearAttention(_MultiHead):
    """Katharopoulos et al.'s linear attention: ``phi = elu + 1``, normaliser ``phiQ_i . sum_j phiK_j`` (+eps).

    ``forward(queries (B, L, d_input), keys (B, S, d_input), values (B, S, d_input),
    key_padding_mask (B, S) | None) -> (B, L, d_output)``.

    Args:
        d_input: the feature size of ``queries``, ``keys`` and ``values``.
        d_model: the total width of the heads (divisible by ``n_heads``).
        d_output: the output feature size.
        n_heads: the number of heads.
        causal: causal self-attention (needs ``L == S``).
        dropout: dropout on the output projection, in ``[0, 1)``.
        eps: added to the normaliser.
        chunk_size: positions per block of the causal prefix product.

    Raises:
        ValueError: a size below 1, ``d_model`` not divisible by ``n_heads`` or ``dropout`` outside
            ``[0, 1)``.
    """

    def __init__(
        self,
        d_input: int,
        d_model: int,
        d_output: int,
        n_heads: int,
        *,
        causal: bool = False,
        dropout: float = 0.0,
        eps: float = 1e-6,
        chunk_size: int = 64,
    ) -> None:
        super().__init__(d_input, d_model, d_output, n_heads, dropout)
        self.causal, self.eps, self.chunk_size = causal, eps, chunk_size

    def _attend(self, q: Tensor, k: Tensor, v: Tensor, key_padding_mask: Tensor | None) -> Tensor:
        fq, fk = F.elu(q) + 1, F.elu(k) + 1
        if key_padding_mask is not None:
            fk = fk * (~key_padding_mask).to(fk.dtype)[:, None, :, None]
        if self.causal:
            num = causal_linear_product(fq, fk, v, self.chunk_size)
            den = (fq * fk.cumsum(-2)).sum(-1, keepdim=True)
        else:
            num = fq @ (fk.transpose(-2, -1) @ v)
            den = (fq * fk.sum(-2, keepdim=True)).sum(-1, keepdim=True)
        return num / (den + self.eps)


class SoftmaxAttention(_MultiHead):
    """Softmax attention through ``F.scaled_dot_product_attention`` (flash/memory-efficient kernels when available).

    ``forward(queries (B, L, d_input), keys (B, S, d_input), values (B, S, d_input),
    key_padding_mask (B, S) | None) -> (B, L, d_output)``.

    Args:
        d_input: the feature size of ``queries``, ``keys`` and ``values``.
        d_model: the total width of the heads (divisible by ``n_heads``).
        d_output: the output feature size.
        n_heads: the number of heads.
        causal: causal attention (query ``i`` sees keys ``j <= i``, top-left aligned as SDPA's
            ``is_causal``); with a ``key_padding_mask`` the two masks are combined.
        dropout: dropout on the output projection, in ``[0, 1)``.

    Raises:
        ValueError: a size below 1, ``d_model`` not divisible by ``n_heads`` or ``dropout`` outside
            ``[0, 1)``.
    """

    def __init__(
        self,
        d_input: int,
        d_model: int,
        d_output: int,
        n_heads: int,
        *,
        causal: bool = False,
        dropout: float = 0.0,
    ) -> None:
        super().__init__(d_input, d_model, d_output, n_heads, dropout)
        self.causal = causal

    def _attend(self, q: Tensor, k: Tensor, v: Tensor, key_padding_mask: Tensor | None) -> Tensor:
        if key_padding_mask is None:
            return F.scaled_dot_product_attention(q, k, v, is_causal=self.causal)
        mask = ~key_padding_mask[:, None, None, :]  # (B, 1, 1, S): True = attend
        if self.causal:  # SDPA takes is_causal or attn_mask, not both: fold the causal mask in
            L, S = q.shape[-2], k.shape[-2]
            mask = mask & torch.ones(L, S, dtype=torch.bool, device=q.device).tril()
        return F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
