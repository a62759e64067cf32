"""Flow-Attention (Wu et al., ICML 2022) as pure functions on ``(B, H, L, D)`` tensors.

Attention as a flow network: values are sources, outputs are sinks, non-negative feature-map
similarities are capacities. Conserving the incoming flow of every sink and the outgoing flow of
every source gives two linear-time normalisers, turned into a competition among sources (softmax)
and an allocation gate on sinks (sigmoid). See the package README for the equations.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor

from ballroom.core.validate import check_int, check_positive

__all__ = [
    "FeatureMap",
    "causal_flow_attention_naive",
    "causal_linear_product",
    "flow_attention",
    "flow_attention_quadratic",
    "resolve_feature_map",
]

FeatureMap = Literal["sigmoid", "relu"] | Callable[[Tensor], Tensor]


def resolve_feature_map(name: FeatureMap) -> Callable[[Tensor], Tensor]:
    """``"sigmoid"`` (the reference core), ``"relu"`` (the LRA code: ``relu(x) + 1e-6``) or a callable.

    Args:
        name: ``"sigmoid"``, ``"relu"`` or a callable (returned as is).

    Returns:
        The element-wise feature map ``Tensor -> Tensor``.

    Raises:
        ValueError: any other name.
    """
    if callable(name):
        return name
    if name == "sigmoid":
        return torch.sigmoid
    if name == "relu":
        return lambda x: F.relu(x) + 1e-6
    raise ValueError(f"feature_map must be 'sigmoid', 'relu' or a callable, got {name!r}")


def _check(q: Tensor, k: Tensor, v: Tensor, causal: bool) -> None:
    for name, t in (("q", q), ("k", k), ("v", v)):
        if not isinstance(t, Tensor) or t.ndim != 4 or not t.is_floating_point():
            raise ValueError(
                f"{name} must be a floating (B, H, L, D) tensor, got {getattr(t, 'shape', type(t))}"
            )
        if t.numel() == 0:
            raise ValueError(f"{name} is empty: {tuple(t.shape)}")
    if q.shape[:2] != k.shape[:2] or k.shape[:3] != v.shape[:3] or q.shape[-1] != k.shape[-1]:
        raise ValueError(
            f"shapes do not pair up: q {tuple(q.shape)} (B, H, L, D), k {tuple(k.shape)} (B, H, S, D), "
            f"v {tuple(v.shape)} (B, H, S, Dv)"
        )
    if causal and q.shape[2] != k.shape[2]:
        raise ValueError(f"causal attention needs L == S, got L={q.shape[2]}, S={k.shape[2]}")


def _valid(
    mask: Tensor | None, b: int, length: int, device: torch.device, dtype: torch.dtype, what: str
) -> Tensor:
    """``(B, 1, length)`` 1.0 on valid positions (``mask`` is True on padding, as in ``nn.MultiheadAttention``)."""
    if mask is None:
        return torch.ones(b, 1, length, device=device, dtype=dtype)
    if mask.dtype != torch.bool or mask.shape != (b, length):
        raise ValueError(
            f"{what} must be a bool tensor of shape ({b}, {length}) (True = padding), got {mask.dtype} {tuple(mask.shape)}"
        )
    valid = (~mask).to(device=device, dtype=dtype).unsqueeze(1)
    if bool((valid.sum(-1) == 0).any()):
        raise ValueError(f"{what}: a sample has no valid position")
    return valid


def _accumulation_dtype(dtype: torch.dtype) -> torch.dtype:
    """Normalisers, prefix sums and gates run in float32 for half inputs (``1/I`` and ``exp`` under-/overflow)."""
    return torch.float32 if dtype in (torch.float16, torch.bfloat16) else dtype


def flow_attention(
    q: Tensor,
    k: Tensor,
    v: Tensor,
    *,
    causal: bool = False,
    eps: float = 1e-6,
    source_clamp: float | None = 1.0,
    feature_map: FeatureMap = "sigmoid",
    competition: bool = True,
    allocation: bool = True,
    key_padding_mask: Tensor | None = None,
    query_padding_mask: Tensor | None = None,
    chunk_size: int = 64,
    recompute: bool = False,
) -> Tensor:
    """Flow-Attention: ``q (B, H, L, D)``, ``k (B, H, S, D)``, ``v (B, H, S, Dv)`` -> ``(B, H, L, Dv)``.

    Non-causal: linear time ``O((L + S) D Dv)``. Causal (``L == S``): prefix sums for the
    normalisers and a chunked aggregation (``chunk_size`` positions per block: quadratic inside a
    block, a ``D x Dv`` state carried between blocks), so memory grows as ``L (chunk + D Dv / chunk)``
    rather than the official ``L D Dv``. ``key_padding_mask (B, S)`` is True on padded keys;
    ``query_padding_mask (B, L)`` likewise (defaults to the key mask when ``L == S``): padded
    positions leave every sum, the counts ``n``, ``m`` become per-sample valid counts and padded
    query rows return 0. ``competition=False`` / ``allocation=False`` are the paper's ablations;
    ``source_clamp=None`` removes the clamp of the conserved outgoing flow.

    Half-precision inputs (float16/bfloat16): feature maps, the four flows, the gates and the prefix
    sums are computed in float32, as is the (cheap) non-causal aggregation; the causal block products
    run in the input dtype with float32 carried states; the result has the input dtype.

    Shapes, dtypes, masks and arguments are validated; values are not checked for NaN/inf here (that
    would cost a device synchronisation per call): the model entry points (``FlowformerClassifier``,
    ``FlowformerLM``) check their inputs once per step.

    ``recompute=True`` keeps only ``q``, ``k``, ``v`` for the backward pass and recomputes the rest
    there (activation checkpointing): about SDPA's activation memory for one more forward pass.

    Args:
        q: queries ``(B, H, L, D)``, floating point.
        k: keys ``(B, H, S, D)``.
        v: values ``(B, H, S, Dv)``.
        causal: causal self-attention (needs ``L == S``).
        eps: the ``epsilon`` added to both factors of each of the four flows (>= 0).
        source_clamp: clamp the conserved outgoing flow to ``[-c, c]`` (the official core: 1);
            ``None``: no clamp.
        feature_map: ``"sigmoid"`` (the reference core), ``"relu"`` (``relu(x) + 1e-6``, the LRA code)
            or a callable applied element-wise.
        competition: the softmax competition among sources (``False``: the paper's ablation).
        allocation: the sigmoid allocation gate on sinks (``False``: the paper's ablation).
        key_padding_mask: ``(B, S)`` bool, True on padded keys.
        query_padding_mask: ``(B, L)`` bool, True on padded queries (above).
        chunk_size: positions per block of the causal aggregation (>= 1).
        recompute: activation checkpointing (above).

    Returns:
        ``(B, H, L, Dv)`` in the input dtype.

    Raises:
        ValueError: shapes that do not pair up, ``L != S`` with ``causal``, bad masks (or a sample
            with no valid position), ``eps < 0``, ``source_clamp <= 0``, ``chunk_size < 1``, or an
            unknown ``feature_map``.
    """
    _check(q, k, v, causal)
    check_positive(eps, "eps", strict=False)
    check_int(chunk_size, "chunk_size", min=1)
    if source_clamp is not None:
        check_positive(source_clamp, "source_clamp")
    if q.shape[1] > q.shape[2] and q.shape[1] > 64:
        warnings.warn(
            f"q has {q.shape[1]} heads (dim 1) and {q.shape[2]} positions (dim 2): flow_attention takes "
            "(B, H, L, D); transpose (B, L, H, D) inputs with .transpose(1, 2)",
            UserWarning,
            stacklevel=2,
        )
    if recompute and torch.is_grad_enabled() and any(t.requires_grad for t in (q, k, v)):
        from torch.utils.checkpoint import checkpoint

        def run(q_: Tensor, k_: Tensor, v_: Tensor) -> Tensor:
            return flow_attention(
                q_, k_, v_, causal=causal, eps=eps, source_clamp=source_clamp, feature_map=feature_map,
                competition=competition, allocation=allocation, key_padding_mask=key_padding_mask,
                query_padding_mask=query_padding_mask, chunk_size=chunk_size,
            )  # fmt: skip

        return checkpoint(run, q, k, v, use_reentrant=False)
    b, _, length, _ = q.shape
    s = k.shape[2]
    acc = _accumulation_dtype(q.dtype)
    if query_padding_mask is None and key_padding_mask is not None and length == s:
        query_padding_mask = key_padding_mask
    vk = _valid(key_padding_mask, b, s, q.device, acc, "key_padding_mask")  # (B, 1, S), checked first:
    vq = _valid(query_padding_mask, b, length, q.device, acc, "query_padding_mask")  # it may be the default
    phi = resolve_feature_map(feature_map)
    # one contiguous copy up front (heads split from (B, L, H*D) are strided): every matmul below
    # then works on views instead of making, and saving for backward, a copy of its own
    q, k, v = q.contiguous(), k.contiguous(), v.contiguous()
    fq, fk = phi(q.to(acc)), phi(k.to(acc))
    if query_padding_mask is not None:  # no multiply (and no saved copy for backward) without padding
        fq = fq * vq.unsqueeze(-1)
    if key_padding_mask is not None:
        fk = fk * vk.unsqueeze(-1)
    if causal:
        return _causal(fq, fk, v, vq, vk, eps, source_clamp, competition, allocation, chunk_size)
    n = vq.sum(-1, keepdim=True)  # (B, 1, 1) valid sinks
    m = vk.sum(-1, keepdim=True)  # (B, 1, 1) valid sources
    # Each flow (a + eps) . (b + eps) is evaluated as a . (b + eps) + eps * sum(b + eps): a
    # matrix-vector product, so no (L, D) temporary is made for "a + eps" (same value, same eps).
    sum_k = fk.sum(-2, keepdim=True) + eps  # (B, H, 1, D): sum_j phiK_j + eps
    sum_q = fq.sum(-2, keepdim=True) + eps
    incoming = _dot_eps(fq, sum_k, eps)  # I (B, H, L)
    outgoing = _dot_eps(fk, sum_q, eps)  # O (B, H, S)
    k_over_o = (1.0 / outgoing).unsqueeze(-2) @ fk + eps  # (B, H, 1, D): sum_j phiK_j / O_j + eps
    q_over_i = (1.0 / incoming).unsqueeze(-2) @ fq + eps
    cons_in = _dot_eps(fq, k_over_o, eps)  # Î (B, H, L)
    cons_out = _dot_eps(fk, q_over_i, eps)  # Ô (B, H, S)
    if source_clamp is not None:
        cons_out = cons_out.clamp(-source_clamp, source_clamp)
    values = v.to(acc)
    if competition:
        logits = cons_out.masked_fill(vk == 0, float("-inf"))
        comp = torch.softmax(logits, dim=-1) * m  # (B, H, S)
        values = values * comp.unsqueeze(-1)
    kv = fk.transpose(-2, -1) @ values  # (B, H, D, Dv)
    scale = 1.0 / incoming
    if allocation:
        scale = scale * torch.sigmoid(cons_in * (n / m))
    return ((fq @ kv) * scale.unsqueeze(-1)).to(q.dtype)


def _dot_eps(a: Tensor, b_eps: Tensor, eps: float) -> Tensor:
    """``((a + eps) * b_eps).sum(-1)`` for ``a (B, H, L, D)``, ``b_eps (B, H, 1, D)`` without an ``(L, D)`` temporary."""
    return (a @ b_eps.transpose(-2, -1)).squeeze(-1) + eps * b_eps.sum(-1)


def _rowdot_eps(a: Tensor, b: Tensor, eps: float) -> Tensor:
    """``((a + eps) * (b + eps)).sum(-1)`` expanded as ``a.b + eps (sum a + sum b) + D eps^2``.

    Same value; autograd keeps only ``a`` and ``b`` (no ``(L, D)`` copies of ``a + eps``, ``b + eps``).
    """
    return (a * b).sum(-1) + eps * (a.sum(-1) + b.sum(-1)) + a.shape[-1] * eps * eps


def _causal_terms(
    fq: Tensor,
    fk: Tensor,
    vq: Tensor,
    vk: Tensor,
    eps: float,
    source_clamp: float | None,
    competition: bool,
    allocation: bool,
) -> tuple[Tensor, Tensor | None, Tensor | None]:
    """``1/I (B,H,L)``, ``comp (B,H,L)`` and ``alloc (B,H,L)`` of the causal formulas (1-based positions)."""
    pos_q = vq.cumsum(-1).clamp_min(1.0)  # (B, 1, L): valid positions so far (= i without padding)
    pos_k = vk.cumsum(-1).clamp_min(1.0)
    incoming = _rowdot_eps(fq, fk.cumsum(-2), eps)
    comp = alloc = None
    if allocation:
        outgoing = _rowdot_eps(fk, fq.cumsum(-2), eps)
        acc = (fk * (pos_k / outgoing).unsqueeze(-1)).cumsum(-2)
        cons_in = _rowdot_eps(fq, acc, eps) / pos_q
        alloc = torch.sigmoid(cons_in)
    if competition:
        acc = (fq * (pos_q / incoming).unsqueeze(-1)).cumsum(-2)
        cons_out = _rowdot_eps(fk, acc, eps) / pos_k
        if source_clamp is not None:
            cons_out = cons_out.clamp(-source_clamp, source_clamp)
        logits = cons_out.masked_fill(vk == 0, float("-inf"))
        # causal softmax over the SOURCE's own prefix, via a running log-sum-exp (no overflow)
        comp = pos_k * torch.exp(logits - torch.logcumsumexp(logits, dim=-1))
        comp = comp.masked_fill(vk == 0, 0.0)
    return 1.0 / incoming, comp, alloc


def causal_linear_product(q: Tensor, k: Tensor, v: Tensor, chunk_size: int = 64) -> Tensor:
    """``out_i = q_i . sum_{j<=i} k_j v_j^T`` for ``q (B, H, L, D)``, ``k (B, H, L, D)``, ``v (B, H, L, Dv)``.

    Chunked: positions are grouped in blocks of ``chunk_size``; inside a block the product is the
    masked quadratic form, across blocks an exclusive prefix sum of the per-block ``D x Dv`` states
    (accumulated in float32 for half inputs) is added. All blocks run in one batched call, no
    Python loop over the sequence. Memory ``O(L (chunk_size + D Dv / chunk_size))`` per head instead of
    the ``O(L D Dv)`` of materialised prefix states.
    """
    if chunk_size < 1:
        raise ValueError(f"chunk_size must be >= 1, got {chunk_size}")
    b, h, length, d = q.shape
    dv = v.shape[-1]
    pad = (-length) % chunk_size
    if pad:
        q, k, v = (F.pad(t, (0, 0, 0, pad)) for t in (q, k, v))
    c = (length + pad) // chunk_size
    qc = q.reshape(b, h, c, chunk_size, d)
    kc = k.reshape(b, h, c, chunk_size, d)
    vc = v.reshape(b, h, c, chunk_size, dv)
    states = kc.transpose(-2, -1) @ vc  # (B, H, C, D, Dv): each block's sum of k_j v_j^T
    acc = _accumulation_dtype(states.dtype)
    prev = torch.cat([states.new_zeros(b, h, 1, d, dv), states[:, :, :-1]], dim=2).to(acc).cumsum(2)
    out = torch.tril(qc @ kc.transpose(-2, -1)) @ vc + qc @ prev.to(q.dtype)
    return out.reshape(b, h, c * chunk_size, dv)[:, :, :length]


def _causal(
    fq: Tensor,
    fk: Tensor,
    v: Tensor,
    vq: Tensor,
    vk: Tensor,
    eps: float,
    source_clamp: float | None,
    competition: bool,
    allocation: bool,
    chunk_size: int,
) -> Tensor:
    inv_in, comp, alloc = _causal_terms(fq, fk, vq, vk, eps, source_clamp, competition, allocation)
    values = v if comp is None else v * comp.unsqueeze(-1).to(v.dtype)
    # the 1/I_i factor is applied to the (float32) queries before the product: out_i = (fq_i / I_i) . S_i
    out = causal_linear_product(
        (fq * inv_in.unsqueeze(-1)).to(v.dtype), fk.to(v.dtype), values.to(v.dtype), chunk_size
    )
    if alloc is not None:
        out = out * alloc.unsqueeze(-1).to(out.dtype)
    return out


def causal_flow_attention_naive(
    q: Tensor,
    k: Tensor,
    v: Tensor,
    *,
    eps: float = 1e-6,
    source_clamp: float | None = 1.0,
    feature_map: FeatureMap = "sigmoid",
    competition: bool = True,
    allocation: bool = True,
) -> Tensor:
    """The official causal formulation (materialised ``(B, H, L, D, Dv)`` prefix states): the test oracle.

    No padding masks; inputs are not cast (no float32 accumulation for half precision).

    Args:
        q: queries ``(B, H, L, D)``, floating point.
        k: keys ``(B, H, L, D)``.
        v: values ``(B, H, L, Dv)``.
        eps: the ``epsilon`` added to both factors of each of the four flows (>= 0).
        source_clamp: clamp the conserved outgoing flow to ``[-c, c]`` (the official core: 1);
            ``None``: no clamp.
        feature_map: ``"sigmoid"`` (the reference core), ``"relu"`` (``relu(x) + 1e-6``, the LRA code)
            or a callable applied element-wise.
        competition: the softmax competition among sources (``False``: the paper's ablation).
        allocation: the sigmoid allocation gate on sinks (``False``: the paper's ablation).

    Returns:
        ``(B, H, L, Dv)``.

    Raises:
        ValueError: shapes that do not pair up or differ in length.
    """
    _check(q, k, v, True)
    b, _, length, _ = q.shape
    ones = torch.ones(b, 1, length, device=q.device, dtype=q.dtype)
    phi = resolve_feature_map(feature_map)
    fq, fk = phi(q), phi(k)
    inv_in, comp, alloc = _causal_terms(fq, fk, ones, ones, eps, source_clamp, competition, allocation)
    values = v if comp is None else v * comp.unsqueeze(-1)
    kv = torch.einsum("bhld,bhle->bhlde", fk, values).cumsum(2)
    out = torch.einsum("bhld,bhlde->bhle", fq, kv) * inv_in.unsqueeze(-1)
    return out if alloc is None else out * alloc.unsqueeze(-1)


def flow_attention_quadratic(
    q: Tensor,
    k: Tensor,
    v: Tensor,
    *,
    causal: bool = False,
    eps: float = 1e-6,
    source_clamp: float | None = 1.0,
    feature_map: FeatureMap = "sigmoid",
    competition: bool = True,
    allocation: bool = True,
) -> Tensor:
    """Flow-Attention written with explicit ``(L, S)`` matrices and loops over positions (tests only).

    An independent transcription of the spec's equations (1-based causal positions), ``O(L S D)``.
    No padding masks.

    Args:
        q: queries ``(B, H, L, D)``, floating point.
        k: keys ``(B, H, S, D)``.
        v: values ``(B, H, S, Dv)``.
        causal: the causal formulation (needs ``L == S``).
        eps: the ``epsilon`` added to both factors of each of the four flows (>= 0).
        source_clamp: clamp the conserved outgoing flow to ``[-c, c]`` (the official core: 1);
            ``None``: no clamp.
        feature_map: ``"sigmoid"`` (the reference core), ``"relu"`` (``relu(x) + 1e-6``, the LRA code)
            or a callable applied element-wise.
        competition: the softmax competition among sources (``False``: the paper's ablation).
        allocation: the sigmoid allocation gate on sinks (``False``: the paper's ablation).

    Returns:
        ``(B, H, L, Dv)``.

    Raises:
        ValueError: shapes that do not pair up, or ``L != S`` with ``causal``.
    """
    _check(q, k, v, causal)
    phi = resolve_feature_map(feature_map)
    fq, fk = phi(q), phi(k)
    b, h, n, _ = fq.shape
    m = fk.shape[2]
    out = torch.zeros(b, h, n, v.shape[-1], dtype=q.dtype, device=q.device)
    for bi in range(b):
        for hi in range(h):
            qm, km, vm = fq[bi, hi], fk[bi, hi], v[bi, hi]
            if not causal:
                inc = torch.stack([(qm[i] + eps) @ (km.sum(0) + eps) for i in range(n)])
                outg = torch.stack([(km[j] + eps) @ (qm.sum(0) + eps) for j in range(m)])
                cons_in = torch.stack([(qm[i] + eps) @ ((km / outg[:, None]).sum(0) + eps) for i in range(n)])
                cons_out = torch.stack([(km[j] + eps) @ ((qm / inc[:, None]).sum(0) + eps) for j in range(m)])
                if source_clamp is not None:
                    cons_out = cons_out.clamp(-source_clamp, source_clamp)
                alloc = torch.sigmoid(cons_in * n / m) if allocation else torch.ones(n, dtype=q.dtype)
                comp = m * torch.softmax(cons_out, 0) if competition else torch.ones(m, dtype=q.dtype)
                weights = (qm @ km.T) / inc[:, None]
                out[bi, hi] = alloc[:, None] * (weights @ (comp[:, None] * vm))
            else:
                idx = torch.arange(1, n + 1, dtype=q.dtype)
                inc = torch.stack([(qm[i] + eps) @ (km[: i + 1].sum(0) + eps) for i in range(n)])
                outg = torch.stack([(km[j] + eps) @ (qm[: j + 1].sum(0) + eps) for j in range(n)])
                cons_in = torch.stack(
                    [
                        (qm[i] + eps)
                        @ ((km[: i + 1] * (idx[: i + 1] / outg[: i + 1])[:, None]).sum(0) + eps)
                        / (i + 1)
                        for i in range(n)
                    ]
                )
                cons_out = torch.stack(
                    [
                        (km[j] + eps)
                        @ ((qm[: j + 1] * (idx[: j + 1] / inc[: j + 1])[:, None]).sum(0) + eps)
                        / (j + 1)
                        for j in range(n)
                    ]
                )
                if source_clamp is not None:
                    cons_out = cons_out.clamp(-source_clamp, source_clamp)
                alloc = torch.sigmoid(cons_in) if allocation else torch.ones(n, dtype=q.dtype)
                comp = (
                    torch.stack(
                        [
                            (j + 1) * torch.exp(cons_out[j]) / torch.exp(cons_out[: j + 1]).sum()
                            for j in range(n)
                        ]
                    )
                    if competition
                    else torch.ones(n, dtype=q.dtype)
                )
                weights = torch.tril(qm @ km.T) / inc[:, None]
                out[bi, hi] = alloc[:, None] * (weights @ (comp[:, None] * vm))
    return out
